//! Logs, traces and metrics of a running flowlogd, set up once per process.
//!
//! - Logs: `tracing` to stderr, text or JSON; level from `RUST_LOG` when set, else from the
//!   config, else `info`; changeable at run time ([`Telemetry::set_log_level`]).
//! - Metrics: OpenTelemetry instruments ([`crate::metrics`]) read by a Prometheus registry
//!   (served on `/metrics`) and, when OTLP is on, pushed over OTLP/gRPC.
//! - Traces: `tracing` spans exported over OTLP/gRPC through `tracing-opentelemetry`.
//!
//! The OTLP exporters honour the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the
//! `_METRICS_`/`_TRACES_` variants), `_HEADERS`, `_TIMEOUT`, `_COMPRESSION`,
//! `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_METRICS_EXPORTER=none`, `OTEL_TRACES_EXPORTER=none`,
//! `OTEL_SDK_DISABLED=true`.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Layer, Registry};

/// `[telemetry]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log filter, e.g. `info` or `info,flowlogd_engine=debug` (`RUST_LOG` wins when set).
    /// Reloaded on SIGHUP.
    #[serde(default)]
    pub log_level: Option<String>,
    /// `text` (default) or `json`; `--log-format`/`FLOWLOGD_LOG_FORMAT` win when set.
    #[serde(default)]
    pub log_format: Option<LogFormat>,
    /// OTLP export: `auto` (default: on when an `OTEL_EXPORTER_OTLP_*ENDPOINT` variable is
    /// set), `on` (default endpoint `http://localhost:4317`), or `off`.
    #[serde(default)]
    pub otlp: OtlpMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OtlpMode {
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry.log_level: {0:?} is not a valid filter: {1} (use e.g. \"info\" or \"info,flowlogd_engine=debug\")")]
    Level(String, String),
    #[error("OTLP exporter: {0}")]
    Otlp(String),
    #[error("Prometheus exporter: {0}")]
    Prometheus(String),
}

/// Libraries that speak on the OTLP export path itself: their debug events would be
/// exported as span events of the export (a loop), and could carry request headers.
const QUIET: &[&str] = &[
    "h2=warn",
    "hyper=warn",
    "hyper_util=warn",
    "tonic=warn",
    "tower=warn",
    "opentelemetry=warn",
    "opentelemetry_sdk=warn",
    "opentelemetry_otlp=warn",
    "reqwest=warn",
    "aws_smithy_runtime=warn",
    "aws_config=warn",
    "azure_core=warn",
    "rdkafka=warn",
];

/// Running telemetry: keep it alive for the life of the process and call
/// [`Telemetry::shutdown`] at the end (flushes the last OTLP batch).
pub struct Telemetry {
    registry: prometheus::Registry,
    meter_provider: SdkMeterProvider,
    tracer_provider: Option<SdkTracerProvider>,
    filter: Option<reload::Handle<EnvFilter, Registry>>,
    otlp_metrics: bool,
    otlp_traces: bool,
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
}

/// The filter in force: `RUST_LOG`, else the configured level, else `info`; plus
/// [`QUIET`] for libraries not named explicitly.
pub fn build_filter(level: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let spec = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => v,
        _ => level.unwrap_or("info").to_owned(),
    };
    let mut filter = EnvFilter::builder()
        .parse(&spec)
        .map_err(|e| TelemetryError::Level(spec.clone(), e.to_string()))?;
    for q in QUIET {
        let target = q.split('=').next().unwrap_or_default();
        if !spec.contains(target) {
            if let Ok(d) = q.parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    Ok(filter)
}

fn resource() -> Resource {
    let mut b = Resource::builder();
    let named = env_set("OTEL_SERVICE_NAME")
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|v| v.contains("service.name"));
    if !named {
        b = b.with_service_name("flowlogd");
    }
    b.with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ))
    .build()
}

/// Whether OTLP export is on for this process, given the config and `OTEL_*` variables.
fn otlp_wanted(mode: OtlpMode) -> bool {
    if env_is("OTEL_SDK_DISABLED", "true") {
        return false;
    }
    match mode {
        OtlpMode::Off => false,
        OtlpMode::On => true,
        OtlpMode::Auto => [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ]
        .iter()
        .any(|v| env_set(v)),
    }
}

/// Sets up logs, metrics (Prometheus registry, OTLP when wanted) and traces, and installs
/// the global subscriber and the [`crate::metrics`] instruments. Must run inside a Tokio
/// runtime when OTLP may be on (the gRPC client lives on it).
pub fn init(
    cfg: &TelemetryConfig,
    format_override: Option<&str>,
) -> Result<Telemetry, TelemetryError> {
    let filter = build_filter(cfg.log_level.as_deref())?;
    let json = match format_override {
        Some(f) => f.eq_ignore_ascii_case("json"),
        None => cfg.log_format == Some(LogFormat::Json),
    };

    let resource = resource();
    let registry = prometheus::Registry::new();
    let prom = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .scope_info_enabled(false)
        .build()
        .map_err(|e| TelemetryError::Prometheus(e.to_string()))?;
    let mut meters = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_reader(prom);

    let otlp = otlp_wanted(cfg.otlp);
    let mut otlp_protocol_note = None;
    if otlp {
        if let Ok(p) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
            if !p.trim().eq_ignore_ascii_case("grpc") {
                otlp_protocol_note = Some(p);
            }
        }
    }
    let otlp_metrics = otlp && !env_is("OTEL_METRICS_EXPORTER", "none");
    let otlp_traces = otlp && !env_is("OTEL_TRACES_EXPORTER", "none");
    if otlp_metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
        // The periodic reader reads OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
        meters = meters.with_periodic_exporter(exporter);
    }
    let meter_provider = meters.build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    let meter = opentelemetry::global::meter("flowlogd");
    crate::metrics::install(&meter);

    let tracer_provider = if otlp_traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Otlp(e.to_string()))?;
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource)
                .with_batch_exporter(exporter)
                .build(),
        )
    } else {
        None
    };
    let otel_layer = tracer_provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("flowlogd")));

    let (filter, handle) = reload::Layer::new(filter);
    // Colours only on a terminal: journald and log shippers get plain text.
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let fmt = if json {
        fmt.json().boxed()
    } else {
        fmt.with_target(false).boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel_layer)
        .try_init()
        .is_ok();
    if let Some(p) = otlp_protocol_note {
        tracing::warn!(protocol = %p, "OTEL_EXPORTER_OTLP_PROTOCOL: flowlogd exports OTLP over gRPC only; using grpc");
    }
    if otlp {
        tracing::info!(
            metrics = otlp_metrics,
            traces = otlp_traces,
            "OTLP export on"
        );
    }
    Ok(Telemetry {
        registry,
        meter_provider,
        tracer_provider,
        filter: installed.then_some(handle),
        otlp_metrics,
        otlp_traces,
    })
}

impl Telemetry {
    /// The registry `/metrics` serves.
    pub fn registry(&self) -> prometheus::Registry {
        self.registry.clone()
    }

    pub fn otlp(&self) -> (bool, bool) {
        (self.otlp_metrics, self.otlp_traces)
    }

    /// Applies a new configured log level (no-op while `RUST_LOG` is set, which wins).
    pub fn set_log_level(&self, level: Option<&str>) -> Result<(), TelemetryError> {
        let filter = build_filter(level)?;
        if let Some(h) = &self.filter {
            h.reload(filter).map_err(|e| {
                TelemetryError::Level(level.unwrap_or("info").into(), e.to_string())
            })?;
        }
        Ok(())
    }

    /// Flushes and stops the exporters. Call it outside async code (it blocks until the
    /// last export is done) while the runtime still runs.
    pub fn shutdown(self) {
        if let Some(t) = &self.tracer_provider {
            if let Err(e) = t.shutdown() {
                tracing::debug!(error = %e, "tracer shutdown");
            }
        }
        if let Err(e) = self.meter_provider.shutdown() {
            tracing::debug!(error = %e, "meter shutdown");
        }
    }
}

/// Checks a log filter (the `telemetry.log_level` syntax) without applying it.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::builder()
        .parse(level)
        .map(|_| ())
        .map_err(|e| format!("{level:?} is not a valid log filter: {e}"))
}
