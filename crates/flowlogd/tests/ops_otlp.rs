//! OpenTelemetry export of the real binary: a small OTLP/gRPC receiver (the collector's
//! metrics and trace services, from `opentelemetry-proto`) gets flowlogd's metrics, with
//! counts equal to the run's accounting, and its spans; both configured only through the
//! standard `OTEL_*` variables.

mod ops_common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use ops_common::*;

/// What the receiver got: the latest value of every (metric, attributes) data point
/// (cumulative sums: the latest is the total), span names, and resource service names.
#[derive(Default)]
struct Received {
    points: BTreeMap<(String, String), f64>,
    spans: Vec<String>,
    /// (name, span id, parent span id) of every span.
    span_ids: Vec<(String, Vec<u8>, Vec<u8>)>,
    services: Vec<String>,
    metric_exports: usize,
}

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Received>>);

fn attrs(kv: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> String {
    let mut parts: Vec<String> = kv
        .iter()
        .map(|k| {
            let v = match k.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}={v}", k.key)
        })
        .collect();
    parts.sort();
    parts.join(",")
}

#[tonic::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let mut r = self.0.lock().unwrap();
        r.metric_exports += 1;
        for rm in &req.get_ref().resource_metrics {
            if let Some(res) = &rm.resource {
                r.services.push(attrs(&res.attributes));
            }
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    let points = match &m.data {
                        Some(metric::Data::Sum(s)) => s.data_points.clone(),
                        Some(metric::Data::Gauge(g)) => g.data_points.clone(),
                        Some(metric::Data::Histogram(h)) => {
                            for p in &h.data_points {
                                r.points.insert(
                                    (format!("{}.count", m.name), attrs(&p.attributes)),
                                    p.count as f64,
                                );
                            }
                            Vec::new()
                        }
                        _ => Vec::new(),
                    };
                    for p in points {
                        let v = match p.value {
                            Some(number_data_point::Value::AsInt(i)) => i as f64,
                            Some(number_data_point::Value::AsDouble(d)) => d,
                            None => continue,
                        };
                        r.points.insert((m.name.clone(), attrs(&p.attributes)), v);
                    }
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut r = self.0.lock().unwrap();
        for rs in &req.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    r.spans.push(s.name.clone());
                    r.span_ids
                        .push((s.name.clone(), s.span_id.clone(), s.parent_span_id.clone()));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

async fn start_receiver() -> (Receiver, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recv = Receiver::default();
    let server = tonic::transport::Server::builder()
        .add_service(MetricsServiceServer::new(recv.clone()))
        .add_service(TraceServiceServer::new(recv.clone()));
    tokio::spawn(async move {
        server
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    (recv, addr)
}

fn objects_total_spans(r: &Received) -> usize {
    sum(r, "flowlogd.objects.read") as usize
}

fn sum(r: &Received, name: &str) -> f64 {
    r.points
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_receiver_gets_metrics_and_spans_of_a_backfill() {
    let (recv, addr) = start_receiver().await;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    gen(&input, 3_000, 2, 5);
    let objects = count_files(&input);
    let out = tmp.path().join("out");
    let bin = bin();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["run", "--once", "--quiet", "--input"])
            .arg(&input)
            .arg("--output")
            .arg(&out)
            .env_remove("RUST_LOG")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"))
            .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
            .env("OTEL_SERVICE_NAME", "flowlogd-otlp-test")
            .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let acct = accounting(&String::from_utf8_lossy(&output.stdout));

    // The last export happens at shutdown, before the process exits; spans are batched.
    let start = Instant::now();
    loop {
        {
            let r = recv.0.lock().unwrap();
            if sum(&r, "flowlogd.objects.read") == objects as f64 && !r.spans.is_empty() {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "metrics/spans did not arrive: {:?}\n{stderr}",
            recv.0.lock().unwrap().points.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = recv.0.lock().unwrap();
    assert_eq!(sum(&r, "flowlogd.records.read"), acct["records_in"] as f64);
    assert!(r.points.contains_key(&(
        "flowlogd.records.read".to_owned(),
        "source=local".to_owned()
    )));
    assert!(sum(&r, "flowlogd.revisions.emitted") >= 3.0);
    assert_eq!(
        sum(&r, "flowlogd.summary.rows"),
        acct["summary_rows"] as f64
    );
    assert!(sum(&r, "flowlogd.process.rss") > 1e6);
    assert!(sum(&r, "flowlogd.window.records") > 0.0);
    assert!(r.spans.iter().any(|s| s == "chunk"), "{:?}", r.spans);
    // Every chunk span is the child of an object span (trace: object -> chunks).
    let objects: Vec<&Vec<u8>> = r
        .span_ids
        .iter()
        .filter(|(n, _, _)| n == "object")
        .map(|(_, id, _)| id)
        .collect();
    assert_eq!(
        objects.len(),
        objects_total_spans(&r),
        "one span per object"
    );
    for (name, _, parent) in &r.span_ids {
        if name == "chunk" {
            assert!(
                objects.contains(&parent),
                "chunk span without its object span"
            );
        }
    }
    assert!(r.spans.iter().any(|s| s == "emit"), "{:?}", r.spans);
    assert!(
        r.services
            .iter()
            .any(|s| s.contains("service.name=flowlogd-otlp-test")
                && s.contains("deployment.environment=test")),
        "{:?}",
        r.services
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_metrics_arrive_periodically_from_the_daemon() {
    let (recv, addr) = start_receiver().await;
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 2_000, 1, 9);
    let objects = count_files(&input);
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&input, &out, "[admin]\nenabled = false\n")).unwrap();
    let endpoint = format!("http://{addr}");
    let mut d = Daemon::start(
        &["run", "--config", cfg.to_str().unwrap()],
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str()),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    // While it runs (no shutdown flush involved): several periodic exports.
    let start = Instant::now();
    loop {
        {
            let r = recv.0.lock().unwrap();
            if r.metric_exports >= 3 && sum(&r, "flowlogd.objects.read") == objects as f64 {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "periodic exports missing:\n{}",
            d.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(d.child.try_wait().unwrap().is_none(), "still running");
    d.signal("TERM");
    let (code, _, stderr) =
        tokio::task::spawn_blocking(move || d.wait_exit(Duration::from_secs(60)))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    let r = recv.0.lock().unwrap();
    assert!(
        r.spans.is_empty(),
        "OTEL_TRACES_EXPORTER=none still exported spans"
    );
    assert!(r
        .services
        .iter()
        .any(|s| s.contains("service.name=flowlogd")));
}
