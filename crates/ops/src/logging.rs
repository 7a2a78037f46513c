//! Structured logs on stderr, text or JSON; level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `format` is `json` or anything else for text.
pub fn init(format: Option<&str>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests calling main logic twice) is harmless: keep the first.
    let _ = if format == Some("json") {
        builder.json().try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
