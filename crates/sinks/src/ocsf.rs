//! OCSF output: a summary row as an aggregated OCSF Network Activity event
//! (class 4001, activity 6 "Traffic"; schema 1.3.0).
//!
//! Mapping of the built-in columns (any summary works; what has no OCSF place goes to
//! `unmapped`):
//!
//! | OCSF | from |
//! |---|---|
//! | `count` | `records` |
//! | `start_time`, `end_time` | `first_seen`, `last_seen` (else the window bounds) |
//! | `time` | `end_time` |
//! | `src_endpoint.ip` / `.port` | `src_addr`, `src_port` (`client_addr` for `connections`) |
//! | `dst_endpoint.ip` / `.port` | `dst_addr`, `dst_port` (`server_addr`, `server_port`) |
//! | `connection_info` | `protocol` → `protocol_num`/`protocol_name`; `direction` → `direction_id` (ingress 1 Inbound, egress 2 Outbound) |
//! | `traffic` | `bytes`/`packets` → `bytes_out`/`packets_out`, `bytes_rev`/`packets_rev` → `bytes_in`/`packets_in` (`*_c2s`/`*_s2c` for `connections`) |
//! | `action`, `disposition` | `action`: ACCEPT → Allowed (1/1), REJECT → Denied (2) / Blocked (2) |
//! | `cloud` | `provider`, `account_id`, `region`, `vpc_id` |
//! | `metadata` | product flowlogd, `log_name` = summary, `uid` = the row's Kafka key |
//! | `unmapped.flowlogd` | summary, window bounds, revision, provisional and every other key and metric |

use serde_json::{json, Map, Value};

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// Converts one summary row (a parsed line of [`crate::jsonl::emission_rows`]) into an OCSF
/// 4001 event.
pub fn network_activity(row: &Value, uid: &str) -> Value {
    let empty = Map::new();
    let keys = row.get("keys").and_then(Value::as_object).unwrap_or(&empty);
    let metrics = row
        .get("metrics")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut rest: Map<String, Value> = Map::new();
    for k in [
        "summary",
        "window_start",
        "window_end",
        "revision",
        "provisional",
    ] {
        if let Some(v) = row.get(k) {
            rest.insert(k.into(), v.clone());
        }
    }
    let mut used: Vec<&str> = Vec::new();
    let mut take = |name: &'static str| -> Option<&Value> {
        let v = keys.get(name).or_else(|| metrics.get(name))?;
        used.push(name);
        (!v.is_null()).then_some(v)
    };

    let (src_ip, src_port, dst_ip, dst_port) = if keys.contains_key("client_addr") {
        (
            take("client_addr").cloned(),
            None,
            take("server_addr").cloned(),
            take("server_port").cloned(),
        )
    } else {
        (
            take("src_addr").cloned(),
            take("src_port").cloned(),
            take("dst_addr").cloned(),
            take("dst_port").cloned(),
        )
    };
    let (bytes_out, packets_out, bytes_in, packets_in) = if metrics.contains_key("bytes_c2s") {
        (
            take("bytes_c2s").cloned(),
            take("packets_c2s").cloned(),
            take("bytes_s2c").cloned(),
            take("packets_s2c").cloned(),
        )
    } else {
        (
            take("bytes").cloned(),
            take("packets").cloned(),
            take("bytes_rev").cloned(),
            take("packets_rev").cloned(),
        )
    };
    let count = take("records").cloned();
    let window_start = row.get("window_start").and_then(ms);
    let window_end = row.get("window_end").and_then(ms);
    let start_time = take("first_seen").and_then(ms).or(window_start);
    let end_time = take("last_seen").and_then(ms).or(window_end);
    let protocol = take("protocol").and_then(Value::as_u64);
    let direction = take("direction").and_then(Value::as_str).map(str::to_owned);
    let action = take("action").and_then(Value::as_str).map(str::to_owned);
    let provider = take("provider").and_then(Value::as_str).map(str::to_owned);
    let account = take("account_id").cloned();
    let region = take("region").cloned();
    let vpc = take("vpc_id").cloned();

    let mut ev = Map::new();
    ev.insert("class_uid".into(), json!(4001));
    ev.insert("class_name".into(), json!("Network Activity"));
    ev.insert("category_uid".into(), json!(4));
    ev.insert("category_name".into(), json!("Network Activity"));
    ev.insert("activity_id".into(), json!(6));
    ev.insert("activity_name".into(), json!("Traffic"));
    ev.insert("type_uid".into(), json!(400106));
    ev.insert("type_name".into(), json!("Network Activity: Traffic"));
    ev.insert("severity_id".into(), json!(1));
    ev.insert("severity".into(), json!("Informational"));
    if let Some(t) = end_time.or(window_end) {
        ev.insert("time".into(), json!(t));
    }
    if let Some(t) = start_time {
        ev.insert("start_time".into(), json!(t));
    }
    if let Some(t) = end_time {
        ev.insert("end_time".into(), json!(t));
    }
    if let Some(c) = count {
        ev.insert("count".into(), c);
    }
    ev.insert("src_endpoint".into(), endpoint(src_ip, src_port));
    ev.insert("dst_endpoint".into(), endpoint(dst_ip, dst_port));
    let mut conn = Map::new();
    if let Some(p) = protocol {
        conn.insert("protocol_num".into(), json!(p));
        if let Some(n) = protocol_name(p) {
            conn.insert("protocol_name".into(), json!(n));
        }
    }
    let (dir_id, dir) = match direction.as_deref() {
        Some("ingress") => (1, "Inbound"),
        Some("egress") => (2, "Outbound"),
        _ => (0, "Unknown"),
    };
    conn.insert("direction_id".into(), json!(dir_id));
    conn.insert("direction".into(), json!(dir));
    ev.insert("connection_info".into(), Value::Object(conn));
    let mut traffic = Map::new();
    let sum = |a: &Option<Value>, b: &Option<Value>| -> Option<u64> {
        match (
            a.as_ref().and_then(Value::as_u64),
            b.as_ref().and_then(Value::as_u64),
        ) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0) + y.unwrap_or(0)),
        }
    };
    if let Some(b) = sum(&bytes_out, &bytes_in) {
        traffic.insert("bytes".into(), json!(b));
    }
    if let Some(p) = sum(&packets_out, &packets_in) {
        traffic.insert("packets".into(), json!(p));
    }
    for (k, v) in [
        ("bytes_out", bytes_out),
        ("packets_out", packets_out),
        ("bytes_in", bytes_in),
        ("packets_in", packets_in),
    ] {
        if let Some(v) = v {
            traffic.insert(k.into(), v);
        }
    }
    ev.insert("traffic".into(), Value::Object(traffic));
    let (action_id, action_name, disp_id, disp) = match action.as_deref() {
        Some("ACCEPT") => (1, "Allowed", 1, "Allowed"),
        Some("REJECT") => (2, "Denied", 2, "Blocked"),
        _ => (0, "Unknown", 0, "Unknown"),
    };
    ev.insert("action_id".into(), json!(action_id));
    ev.insert("action".into(), json!(action_name));
    ev.insert("disposition_id".into(), json!(disp_id));
    ev.insert("disposition".into(), json!(disp));
    let mut cloud = Map::new();
    cloud.insert(
        "provider".into(),
        json!(match provider.as_deref() {
            Some("aws") => "AWS".to_owned(),
            Some("azure") => "Azure".to_owned(),
            Some(p) => p.to_owned(),
            None => "Unknown".to_owned(),
        }),
    );
    if let Some(a) = account {
        cloud.insert("account".into(), json!({ "uid": a }));
    }
    if let Some(r) = region {
        cloud.insert("region".into(), r);
    }
    if let Some(v) = vpc {
        cloud.insert("network_uid".into(), v);
    }
    ev.insert("cloud".into(), Value::Object(cloud));
    ev.insert(
        "metadata".into(),
        json!({
            "version": OCSF_VERSION,
            "product": { "name": "flowlogd", "vendor_name": "flowlogd" },
            "log_name": row.get("summary").cloned().unwrap_or(Value::Null),
            "uid": uid,
        }),
    );
    for (k, v) in keys.iter().chain(metrics.iter()) {
        if !used.contains(&k.as_str()) {
            rest.insert(k.clone(), v.clone());
        }
    }
    ev.insert("unmapped".into(), json!({ "flowlogd": rest }));
    Value::Object(ev)
}

fn endpoint(ip: Option<Value>, port: Option<Value>) -> Value {
    let mut m = Map::new();
    if let Some(ip) = ip {
        m.insert("ip".into(), ip);
    }
    if let Some(p) = port {
        m.insert("port".into(), p);
    }
    Value::Object(m)
}

/// Epoch milliseconds of a timestamp written as RFC 3339 text or a number.
fn ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_millis())
            .or_else(|| {
                chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc().timestamp_millis())
            }),
        _ => None,
    }
}

fn protocol_name(p: u64) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        47 => "gre",
        50 => "esp",
        58 => "ipv6-icmp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_row_maps_to_network_activity() {
        let row = json!({
            "summary": "traffic", "window_start": "2026-11-25T05:00:00Z",
            "window_end": "2026-11-25T06:00:00Z", "revision": 2, "provisional": false,
            "keys": {"provider": "aws", "account_id": "123456789012", "region": "eu-west-1",
                     "vpc_id": "vpc-1", "src_addr": "10.0.0.1", "dst_addr": "10.0.0.2",
                     "dst_port": 443, "protocol": 6, "action": "REJECT", "direction": "ingress"},
            "metrics": {"records": 3, "flows": 3, "packets": 10, "bytes": 1000,
                        "packets_rev": null, "bytes_rev": null,
                        "first_seen": "2026-11-25T05:01:00Z", "last_seen": "2026-11-25T05:02:00Z"}
        });
        let ev = network_activity(&row, "k");
        assert_eq!(ev["class_uid"], 4001);
        assert_eq!(ev["type_uid"], 400106);
        assert_eq!(ev["count"], 3);
        assert_eq!(ev["start_time"], 1_795_582_860_000i64);
        assert_eq!(ev["end_time"], 1_795_582_920_000i64);
        assert_eq!(ev["src_endpoint"], json!({"ip": "10.0.0.1"}));
        assert_eq!(ev["dst_endpoint"], json!({"ip": "10.0.0.2", "port": 443}));
        assert_eq!(ev["connection_info"]["protocol_name"], "tcp");
        assert_eq!(ev["connection_info"]["direction_id"], 1);
        assert_eq!(
            ev["traffic"],
            json!({"bytes": 1000, "packets": 10, "bytes_out": 1000, "packets_out": 10})
        );
        assert_eq!(ev["disposition_id"], 2);
        assert_eq!(ev["action"], "Denied");
        assert_eq!(ev["cloud"]["account"]["uid"], "123456789012");
        assert_eq!(ev["unmapped"]["flowlogd"]["revision"], 2);
        assert_eq!(ev["unmapped"]["flowlogd"]["flows"], 3);
    }

    #[test]
    fn connections_row_uses_client_and_server() {
        let row = json!({
            "summary": "connections", "window_start": "2026-11-25T05:00:00Z",
            "window_end": "2026-11-25T06:00:00Z", "revision": 1, "provisional": false,
            "keys": {"client_addr": "10.0.0.9", "server_addr": "10.0.0.2", "server_port": 5432,
                     "protocol": 17, "action": "ACCEPT"},
            "metrics": {"records": 1, "bytes_c2s": 5, "packets_c2s": 1, "bytes_s2c": 7, "packets_s2c": 2}
        });
        let ev = network_activity(&row, "k");
        assert_eq!(ev["src_endpoint"], json!({"ip": "10.0.0.9"}));
        assert_eq!(ev["dst_endpoint"], json!({"ip": "10.0.0.2", "port": 5432}));
        assert_eq!(ev["traffic"]["bytes"], 12);
        assert_eq!(ev["traffic"]["bytes_in"], 7);
        assert_eq!(ev["disposition"], "Allowed");
        assert_eq!(ev["start_time"], 1_795_582_800_000i64);
    }
}
