//! Enrichment and detection end to end with the real binary: the `blocklist_hits` and
//! `scan_sources` summaries of `run --once` equal hand-written SQL over `flowlogd parse`
//! output joined to the same lists.

mod common;

use common::*;

const WINDOW: &str =
    "date_bin(INTERVAL '3600 seconds', \"start\", TIMESTAMP '1970-01-01T00:00:00Z') AS window_start";
const HIT_KEYS: &str =
    "provider, account_id, vpc_id, src_addr, dst_addr, dst_port, protocol, action, src_blocklist, dst_blocklist";

#[tokio::test(flavor = "multi_thread")]
async fn blocklist_hits_and_scans_equal_sql_over_parsed_records() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 30_000, "2024-05-01T00:00:00Z", 3, 21);
    let flows = tmp.path().join("flows.parquet");
    parse_to_parquet(&input, &flows);

    // The list: the three public sources with the most rejected records (the generator's
    // scanners) as single hosts; a second list holds a /24 of public resolvers.
    let scanners = rows(
        &sql(
            Some(&flows),
            None,
            "SELECT src_addr FROM flows WHERE action = 'REJECT' AND src_addr NOT LIKE '10.%' \
             AND src_addr NOT LIKE '172.%' AND src_addr NOT LIKE '192.168.%' AND src_addr NOT LIKE '%:%' \
             GROUP BY src_addr ORDER BY count(*) DESC, src_addr LIMIT 3",
        )
        .await,
    );
    assert_eq!(scanners.len(), 3);
    let scan_list = tmp.path().join("scanners.txt");
    std::fs::write(
        &scan_list,
        format!("# top scanners\n{}\n", scanners.join("   # host\n")),
    )
    .unwrap();
    let resolver_list = tmp.path().join("resolvers.txt");
    std::fs::write(&resolver_list, "8.8.8.0/24 ; Google\n").unwrap();

    let config = tmp.path().join("flowlogd.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"
[engine.enrichment]
blocklists = [{{ name = "scanners", path = "{scan}" }}, {{ name = "resolvers", path = "{res}" }}]
[engine.detection.scan]
min_rejects = 40
min_distinct_dst_ports = 30
[[sources.local]]
path = "{input}"
[sinks.parquet]
path = "{out}/parquet"
"#,
            state = tmp.path().join("state").display(),
            scan = scan_list.display(),
            res = resolver_list.display(),
            input = input.display(),
            out = out.display(),
        ),
    )
    .unwrap();
    run_ok(&["validate-config", config.to_str().unwrap()]);
    run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
    ]);
    let parquet = out.join("parquet");

    // The same lists as a join: hosts by equality, the /24 by its text prefix.
    let hosts = scanners
        .iter()
        .map(|a| format!("('{a}', 'scanners')"))
        .collect::<Vec<_>>()
        .join(", ");
    let expected = rows(
        &sql(
            Some(&flows),
            None,
            &format!(
                "WITH bl AS (SELECT column1 AS addr, column2 AS list FROM (VALUES {hosts})), \
                 f AS (SELECT flows.*, \
                   coalesce(s.list, CASE WHEN flows.src_addr LIKE '8.8.8.%' THEN 'resolvers' END) AS src_blocklist, \
                   coalesce(d.list, CASE WHEN flows.dst_addr LIKE '8.8.8.%' THEN 'resolvers' END) AS dst_blocklist \
                   FROM flows LEFT JOIN bl s ON flows.src_addr = s.addr LEFT JOIN bl d ON flows.dst_addr = d.addr) \
                 SELECT {WINDOW}, {HIT_KEYS}, count(*) AS records, sum(packets) AS packets, \
                 sum(bytes) AS bytes, min(\"start\") AS first_seen, max(\"end\") AS last_seen FROM f \
                 WHERE log_status = 'OK' AND (src_blocklist IS NOT NULL OR dst_blocklist IS NOT NULL) \
                 AND \"start\" IS NOT NULL GROUP BY 1, {HIT_KEYS}"
            ),
        )
        .await,
    );
    let actual = rows(
        &sql(
            None,
            Some(&parquet),
            &format!(
                "SELECT window_start, {HIT_KEYS}, records, packets, bytes, first_seen, last_seen \
                 FROM blocklist_hits"
            ),
        )
        .await,
    );
    assert!(
        expected.iter().any(|r| r.contains("|scanners|"))
            && expected.iter().any(|r| r.contains("resolvers")),
        "both lists should be hit: {expected:?}"
    );
    assert_same_rows(
        &actual,
        &expected,
        "blocklist_hits vs SQL over parsed records",
    );

    // Scan detection: the threshold applies to whole windows, as a HAVING would.
    let scan_keys = "provider, account_id, src_addr";
    let expected = rows(
        &sql(
            Some(&flows),
            None,
            &format!(
                "SELECT {WINDOW}, {scan_keys}, count(*) AS rejects, count(DISTINCT dst_port) AS p, \
                 count(DISTINCT dst_addr) AS a, min(\"start\"), max(\"end\") FROM flows \
                 WHERE log_status = 'OK' AND action = 'REJECT' AND \"start\" IS NOT NULL \
                 GROUP BY 1, {scan_keys} HAVING count(*) >= 40 OR count(DISTINCT dst_port) >= 30"
            ),
        )
        .await,
    );
    let actual = rows(
        &sql(
            None,
            Some(&parquet),
            &format!(
                "SELECT window_start, {scan_keys}, rejects, distinct_dst_ports, distinct_dst_addrs, \
                 first_seen, last_seen FROM scan_sources"
            ),
        )
        .await,
    );
    let all_sources = rows(
        &sql(
            Some(&flows),
            None,
            "SELECT count(DISTINCT src_addr) FROM flows WHERE action = 'REJECT'",
        )
        .await,
    );
    assert!(!expected.is_empty());
    assert!(
        (expected.len() as u64) < all_sources[0].parse::<u64>().unwrap(),
        "the threshold should leave some sources out"
    );
    assert_same_rows(&actual, &expected, "scan_sources vs SQL with HAVING");
}

#[test]
fn a_missing_lookup_file_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(
        &config,
        r#"
[engine.enrichment]
blocklists = [{ name = "x", path = "/nonexistent/list.txt" }]
[[sources.local]]
path = "in"
[sinks.parquet]
path = "out"
"#,
    )
    .unwrap();
    let out = std::process::Command::new(bin())
        .args(["validate-config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("engine.enrichment") && err.contains("/nonexistent/list.txt"),
        "{err}"
    );

    // A list that exists but does not parse: `validate-config` parses it and says where.
    let list = tmp.path().join("list.txt");
    std::fs::write(&list, "192.0.2.1\nnot an address\n").unwrap();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("/nonexistent/list.txt", list.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(bin())
        .args(["validate-config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("list.txt:2"), "{err}");
}
