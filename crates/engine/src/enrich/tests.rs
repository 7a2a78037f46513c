use std::sync::Arc;
use std::time::Duration;

use arrow::array::{new_null_array, ArrayRef, AsArray, StringArray};
use arrow::record_batch::RecordBatch;
use flowlogd_formats::{flow_schema, Col};

use super::*;

/// A normalized batch with only addresses, interface and direction set.
fn batch(rows: &[(&str, &str, Option<&str>, Option<&str>)]) -> RecordBatch {
    let schema = flow_schema();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| -> ArrayRef {
            let strs = |k: usize| -> ArrayRef {
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| match k {
                            0 => Some(r.0),
                            1 => Some(r.1),
                            2 => r.2,
                            _ => r.3,
                        })
                        .collect::<Vec<_>>(),
                ))
            };
            match i {
                i if i == Col::SrcAddr as usize => strs(0),
                i if i == Col::DstAddr as usize => strs(1),
                i if i == Col::InterfaceId as usize => strs(2),
                i if i == Col::Direction as usize => strs(3),
                _ => new_null_array(f.data_type(), rows.len()),
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).unwrap()
}

fn col(cols: &[ArrayRef], name: &str) -> Vec<Option<String>> {
    let i = ENRICH_COLUMNS.iter().position(|c| *c == name).unwrap();
    cols[i]
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

struct Fixture {
    _dir: tempfile::TempDir,
    cfg: EnrichmentConfig,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(
        p("bad.txt"),
        "# test list\n203.0.113.0/24\n203.0.113.66\n2001:db8:bad::/48\n",
    )
    .unwrap();
    std::fs::write(p("tor.txt"), "203.0.113.66\n").unwrap();
    std::fs::write(
        p("inv.csv"),
        "cidr,app,env,owner,account_name,vpc_id\n10.0.0.0/8,corp,prod,net,main,\n10.1.0.0/16,shop,prod,team-a,main,vpc-1\n10.1.2.0/24,db,prod,team-b,main,vpc-1\nfd00::/8,v6app,dev,team-c,,vpc-1\n",
    )
    .unwrap();
    std::fs::write(
        p("inv.json"),
        r#"[{"interface_id":"eni-9","app":"nat","env":"prod"}]"#,
    )
    .unwrap();
    std::fs::write(
        p("ranges.json"),
        r#"{"prefixes":[{"ip_prefix":"52.216.0.0/15","service":"S3"}],"ipv6_prefixes":[]}"#,
    )
    .unwrap();
    let cfg = EnrichmentConfig {
        blocklists: vec![
            BlocklistConfig {
                name: "badlist".into(),
                path: p("bad.txt"),
            },
            BlocklistConfig {
                name: "tor".into(),
                path: p("tor.txt"),
            },
        ],
        inventory: vec![
            InventoryConfig { path: p("inv.csv") },
            InventoryConfig {
                path: p("inv.json"),
            },
        ],
        cloud_ranges: Some(CloudRangesConfig {
            path: p("ranges.json"),
            services: vec![],
        }),
        reload_interval: Duration::from_secs(1),
    };
    Fixture { _dir: dir, cfg }
}

#[test]
fn labels_blocklists_services_and_classes_per_record() {
    let f = fixture();
    let e = Enricher::load(&f.cfg).unwrap();
    let b = batch(&[
        ("10.1.2.5", "10.1.0.9", None, None),     // db → shop, same VPC
        ("10.9.0.1", "10.1.0.9", None, None),     // corp (no vpc) → shop
        ("203.0.113.66", "10.1.2.5", None, None), // blocklisted scanner → db
        ("10.1.0.9", "52.217.3.4", None, None),   // to S3
        ("10.1.0.9", "8.8.8.8", None, None),      // outbound internet
        ("fd00::1", "2001:db8:bad::7", None, None), // IPv6 to a listed prefix
        ("192.168.5.5", "198.51.100.1", Some("eni-9"), Some("egress")), // interface labels
        ("garbage", "10.1.0.9", None, None),
    ]);
    let cols = e.tables().columns(&b, &[true; 13]);
    assert_eq!(
        col(&cols, "src_label_app"),
        vec![
            s("db"),
            s("corp"),
            None,
            s("shop"),
            s("shop"),
            s("v6app"),
            s("nat"),
            None
        ]
    );
    assert_eq!(col(&cols, "dst_label_app")[0], s("shop"));
    assert_eq!(col(&cols, "dst_label_owner")[2], s("team-b"));
    assert_eq!(col(&cols, "dst_label_env")[1], s("prod"));
    assert_eq!(col(&cols, "src_label_account_name")[5], None);
    // The longer prefix is on the first list too, so it wins over `tor`'s equal host entry.
    assert_eq!(col(&cols, "src_blocklist")[2], s("badlist"));
    assert_eq!(col(&cols, "dst_blocklist")[5], s("badlist"));
    assert_eq!(col(&cols, "src_blocklist")[0], None);
    assert_eq!(col(&cols, "dst_service")[3], s("S3"));
    assert_eq!(
        col(&cols, "traffic_class"),
        vec![
            s("intra_vpc"),
            s("private"),
            s("inbound_internet"),
            s("to_cloud_service"),
            s("outbound_internet"),
            s("outbound_internet"),
            s("outbound_internet"),
            None
        ]
    );
}

#[test]
fn unused_columns_stay_null_and_classes_need_no_files() {
    let b = batch(&[("10.0.0.1", "1.1.1.1", None, None)]);
    let mut used = [false; 13];
    used[12] = true;
    let cols = Enricher::empty().tables().columns(&b, &used);
    assert_eq!(col(&cols, "traffic_class"), vec![s("outbound_internet")]);
    assert_eq!(cols[0].null_count(), 1);
    assert!(used_by("SELECT \"dst_label_app\" FROM flows")[4]);
}

#[test]
fn reload_on_change_and_keep_old_tables_on_a_bad_file() {
    let f = fixture();
    let e = Enricher::load(&f.cfg).unwrap();
    let b = batch(&[("198.51.100.9", "10.1.0.9", None, None)]);
    let used = [true; 13];
    assert_eq!(
        col(&e.tables().columns(&b, &used), "src_blocklist"),
        vec![None]
    );
    assert!(!e.reload_if_changed(false).unwrap(), "nothing changed");

    let tor = &f.cfg.blocklists[1].path;
    std::fs::write(tor, "203.0.113.66\n198.51.100.0/24\n").unwrap();
    assert!(e.reload_if_changed(false).unwrap());
    assert_eq!(
        col(&e.tables().columns(&b, &used), "src_blocklist"),
        vec![s("tor")]
    );

    // A broken file: the error is reported once, the previous tables stay in force.
    std::fs::write(tor, "198.51.100.0/24\nthis is not an address\n").unwrap();
    let err = e.reload_if_changed(false).unwrap_err();
    assert!(err.to_string().contains("tor.txt:2"), "{err}");
    assert_eq!(
        col(&e.tables().columns(&b, &used), "src_blocklist"),
        vec![s("tor")]
    );
    assert!(
        !e.reload_if_changed(false).unwrap(),
        "not retried until it changes"
    );

    std::fs::write(tor, "# emptied\n").unwrap();
    assert!(e.reload_if_changed(true).unwrap());
    assert_eq!(
        col(&e.tables().columns(&b, &used), "src_blocklist"),
        vec![None]
    );
}
