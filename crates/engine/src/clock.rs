//! Wall clock, injectable: tests run days of windows in seconds with a scaled clock, or
//! step event time themselves with a clock read from a file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How often a stepped clock's owner looks at it (real time).
const STEPPED_TICK_MS: u64 = 500;

/// Milliseconds since the epoch as the engine sees them.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    /// `origin_ms` at process start, advancing `speed` times faster than real time.
    Scaled {
        origin_ms: i64,
        speed: f64,
        started: Instant,
    },
    /// The RFC 3339 time written in a file, moved by whoever writes it. A test that steps
    /// the clock only after the daemon has taken in its input cannot race a slow machine,
    /// as a free-running scaled clock can.
    Stepped {
        path: PathBuf,
        last: Arc<AtomicI64>,
    },
}

impl Clock {
    pub fn scaled(origin_ms: i64, speed: f64) -> Self {
        Clock::Scaled {
            origin_ms,
            speed,
            started: Instant::now(),
        }
    }

    /// Parses `RFC3339@SPEED` (e.g. `2024-05-01T00:00:00Z@600`) or `file:PATH`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(path) = spec.strip_prefix("file:") {
            let path = PathBuf::from(path);
            let now = read_time(&path)?;
            return Ok(Clock::Stepped {
                path,
                last: Arc::new(AtomicI64::new(now)),
            });
        }
        let (t, speed) = spec.split_once('@').ok_or_else(|| {
            format!("{spec:?}: expected TIME@SPEED (e.g. 2024-05-01T00:00:00Z@600) or file:PATH")
        })?;
        let t = parse_time(t)?;
        let speed: f64 = speed.parse().map_err(|e| format!("{speed:?}: {e}"))?;
        Ok(Self::scaled(t, speed))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            Clock::Scaled {
                origin_ms,
                speed,
                started,
            } => origin_ms + (started.elapsed().as_secs_f64() * 1000.0 * speed) as i64,
            // A file caught mid-write keeps the last good reading; time never goes back.
            Clock::Stepped { path, last } => match read_time(path) {
                Ok(t) => last.fetch_max(t, Ordering::SeqCst).max(t),
                Err(_) => last.load(Ordering::SeqCst),
            },
        }
    }

    /// Real time until the clock shows `period_ms` more (for a stepped clock: how often
    /// to look whether it moved).
    pub fn real_duration(&self, period_ms: i64) -> std::time::Duration {
        let speed = match self {
            Clock::System => 1.0,
            Clock::Scaled { speed, .. } => speed.max(1e-9),
            Clock::Stepped { .. } => {
                return std::time::Duration::from_millis(STEPPED_TICK_MS);
            }
        };
        std::time::Duration::from_secs_f64((period_ms.max(1) as f64 / 1000.0) / speed)
    }
}

fn parse_time(t: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(t.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{t:?}: {e}"))
}

fn read_time(path: &std::path::Path) -> Result<i64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_time(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepped_clock_follows_its_file_and_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("now");
        std::fs::write(&f, "2024-05-01T00:00:00Z").unwrap();
        let c = Clock::parse(&format!("file:{}", f.display())).unwrap();
        let t0 = c.now_ms();
        std::fs::write(&f, "2024-05-01T01:20:00Z\n").unwrap();
        assert_eq!(c.now_ms() - t0, 80 * 60_000);
        std::fs::write(&f, "garbage").unwrap();
        assert_eq!(c.now_ms() - t0, 80 * 60_000);
        std::fs::write(&f, "2024-05-01T00:30:00Z").unwrap();
        assert_eq!(c.now_ms() - t0, 80 * 60_000);
        assert!(Clock::parse("file:/nonexistent/flowlogd-clock").is_err());
    }

    #[test]
    fn scaled_clock_spec_errors_name_the_form() {
        let e = Clock::parse("bad").unwrap_err();
        assert!(e.contains("TIME@SPEED"), "{e}");
        assert!(Clock::parse("2024-05-01T00:00:00Z@600").is_ok());
    }
}
