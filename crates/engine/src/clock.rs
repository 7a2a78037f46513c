//! Wall clock, injectable: tests run days of windows in seconds with a scaled clock.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

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
}

impl Clock {
    pub fn scaled(origin_ms: i64, speed: f64) -> Self {
        Clock::Scaled {
            origin_ms,
            speed,
            started: Instant::now(),
        }
    }

    /// Parses `RFC3339@SPEED`, e.g. `2024-05-01T00:00:00Z@600`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (t, speed) = spec.split_once('@').ok_or_else(|| {
            format!("{spec:?}: expected TIME@SPEED, e.g. 2024-05-01T00:00:00Z@600")
        })?;
        let t = chrono::DateTime::parse_from_rfc3339(t).map_err(|e| format!("{t:?}: {e}"))?;
        let speed: f64 = speed.parse().map_err(|e| format!("{speed:?}: {e}"))?;
        Ok(Self::scaled(t.timestamp_millis(), speed))
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
        }
    }

    /// Real time until the clock shows `period_ms` more.
    pub fn real_duration(&self, period_ms: i64) -> std::time::Duration {
        let speed = match self {
            Clock::System => 1.0,
            Clock::Scaled { speed, .. } => speed.max(1e-9),
        };
        std::time::Duration::from_secs_f64((period_ms.max(1) as f64 / 1000.0) / speed)
    }
}
