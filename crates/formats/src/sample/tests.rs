//! Generator tests: determinism, counts against the report, names, headers and JSON shapes.
//! Sizes are small so the whole module runs in well under a second in debug builds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use super::*;

fn cfg(records: u64, formats: &[SampleFormat]) -> GenConfig {
    GenConfig {
        records,
        hours: 1,
        seed: 42,
        formats: formats.to_vec(),
        late_fraction: 0.05,
        ..GenConfig::default()
    }
}

fn read_all(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

#[test]
fn format_names_round_trip() {
    for f in SampleFormat::ALL {
        assert_eq!(f.name().parse::<SampleFormat>().unwrap(), *f);
        assert_eq!(f.to_string(), f.name());
    }
    assert!("aws-v9".parse::<SampleFormat>().is_err());
    assert_eq!(
        " VNET ".parse::<SampleFormat>().unwrap(),
        SampleFormat::AzureVnet
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let c = cfg(4_000, SampleFormat::ALL);
    let (a, b, d) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let ra = generate(&c, a.path()).unwrap();
    let rb = generate(&c, b.path()).unwrap();
    assert_eq!(ra.files, rb.files);
    let (fa, fb) = (read_all(a.path()), read_all(b.path()));
    assert_eq!(fa.len(), ra.files.len());
    assert!(fa == fb, "same seed must give identical files");
    let other = GenConfig { seed: 43, ..c };
    generate(&other, d.path()).unwrap();
    assert!(read_all(d.path()) != fa);
}

#[test]
fn aws_text_files_match_report_names_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(6_000, &[SampleFormat::AwsV2Gz, SampleFormat::AwsV5Custom]);
    let rep = generate(&c, dir.path()).unwrap();
    let total = rep.records(SampleFormat::AwsV2Gz) + rep.records(SampleFormat::AwsV5Custom);
    assert!(
        (4_000..=8_000).contains(&total),
        "about 6000 records, got {total}"
    );
    assert!(rep.late_records > 0);
    let (t0, t1) = (c.start.timestamp(), c.start.timestamp() + 3600);
    let mut seen = BTreeMap::<&str, u64>::new();
    let (mut rejects, mut nodata, mut v6, mut syn, mut synack) = (0, 0, 0, 0, 0);
    for f in &rep.files {
        let p = f.path.to_string_lossy();
        let parts: Vec<&str> = p.split('/').collect();
        assert_eq!(parts.len(), 8, "{p}");
        assert_eq!((parts[0], parts[2]), ("AWSLogs", "vpcflowlogs"));
        let name = parts[7];
        assert!(name.ends_with(".log.gz"));
        let np: Vec<&str> = name.trim_end_matches(".log.gz").split('_').collect();
        // {acct}_vpcflowlogs_{region}_{fl-id}_{YYYYMMDDTHHmmZ}_{hash}
        assert_eq!(np.len(), 6, "{name}");
        assert_eq!((np[0], np[1], np[2]), (parts[1], "vpcflowlogs", parts[3]));
        assert!(np[3].starts_with("fl-") && np[3].len() == 20);
        let stamp = np[4];
        assert_eq!(stamp.len(), 14);
        assert_eq!(&stamp[..4], parts[4]);
        assert_eq!(&stamp[4..6], parts[5]);
        assert_eq!(&stamp[6..8], parts[6]);
        assert!(stamp[11..13].parse::<u32>().unwrap() % 5 == 0);
        assert_eq!(np[5].len(), 8);
        let text = gunzip(&std::fs::read(dir.path().join(&f.path)).unwrap());
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let fields: &[&str] = if f.format == SampleFormat::AwsV5Custom {
            AWS_V5_CUSTOM_FIELDS
        } else {
            crate::AWS_V2_FIELDS
        };
        assert_eq!(header, fields.join(" "));
        let stamp_t = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ")
            .unwrap()
            .and_utc()
            .timestamp();
        let mut n = 0;
        for line in lines {
            let v: Vec<&str> = line.split(' ').collect();
            assert_eq!(v.len(), fields.len(), "{line}");
            let get = |name: &str| v[fields.iter().position(|f| *f == name).unwrap()];
            let (start, end): (i64, i64) =
                (get("start").parse().unwrap(), get("end").parse().unwrap());
            assert!(start <= end && end - start < 600, "{line}");
            assert!((t0..t1).contains(&end), "{line}");
            if f.late {
                assert!(
                    stamp_t >= end + 3300 && stamp_t <= end + 7200,
                    "{line} in {name}"
                );
            } else {
                assert!(stamp_t <= end && end < stamp_t + 300, "{line} in {name}");
            }
            match get("log-status") {
                "OK" => {
                    assert!(get("packets").parse::<u64>().unwrap() >= 1);
                    let proto = get("protocol");
                    if proto == "1" {
                        assert_eq!((get("srcport"), get("dstport")), ("0", "0"));
                    }
                }
                "NODATA" => {
                    nodata += 1;
                    assert_eq!((get("srcaddr"), get("action")), ("-", "-"));
                }
                "SKIPDATA" => {}
                s => panic!("bad status {s}"),
            }
            if get("action") == "REJECT" {
                rejects += 1;
                assert_eq!(get("packets"), "1");
            }
            if get("srcaddr").contains(':') {
                v6 += 1;
            }
            if f.format == SampleFormat::AwsV5Custom {
                match get("tcp-flags") {
                    "2" | "3" => syn += 1,
                    "18" | "19" => synack += 1,
                    _ => {}
                }
                if get("flow-direction") == "ingress" {
                    assert_eq!(get("traffic-path"), "-");
                }
            }
            n += 1;
        }
        assert_eq!(n, f.records, "{name}");
        *seen.entry(f.format.name()).or_default() += n;
    }
    assert_eq!(seen["aws-v2"], rep.records(SampleFormat::AwsV2Gz));
    assert_eq!(seen["aws-v5"], rep.records(SampleFormat::AwsV5Custom));
    assert!(
        rejects > 0 && nodata > 0 && v6 > 0 && syn > 0 && synack > 0,
        "{rejects} {nodata} {v6} {syn} {synack}"
    );
}

#[test]
fn request_and_response_on_both_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let rep = generate(&cfg(3_000, &[SampleFormat::AwsV2Gz]), dir.path()).unwrap();
    // Count (eni, src, dst, sport, dport) keys and their reverses among 8080 traffic.
    let mut keys = std::collections::HashSet::new();
    for f in &rep.files {
        for line in gunzip(&std::fs::read(dir.path().join(&f.path)).unwrap())
            .lines()
            .skip(1)
        {
            let v: Vec<&str> = line.split(' ').collect();
            if v[13] == "OK" {
                keys.insert((
                    v[3].to_string(),
                    v[4].to_string(),
                    v[5].to_string(),
                    v[6].to_string(),
                    v[2].to_string(),
                ));
            }
        }
    }
    let internal = keys.iter().filter(|k| k.3 == "8080").collect::<Vec<_>>();
    assert!(!internal.is_empty());
    let enis_per_flow = |src: &str, dst: &str, sp: &str, dp: &str| {
        keys.iter()
            .filter(|k| k.0 == src && k.1 == dst && k.2 == sp && k.3 == dp)
            .map(|k| k.4.clone())
            .collect::<std::collections::HashSet<_>>()
    };
    let both = internal
        .iter()
        .filter(|k| {
            let fwd = enis_per_flow(&k.0, &k.1, &k.2, &k.3);
            let rev = enis_per_flow(&k.1, &k.0, &k.3, &k.2);
            fwd.len() == 2 && rev.len() == 2
        })
        .count();
    assert!(
        both * 2 > internal.len(),
        "internal 8080 flows should be logged both ways on two ENIs: {both}/{}",
        internal.len()
    );
}

#[test]
fn aws_parquet_rows_match_report() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let rep = generate(&cfg(3_000, &[SampleFormat::AwsParquet]), dir.path()).unwrap();
    assert!(rep.records(SampleFormat::AwsParquet) > 1_500);
    for f in &rep.files {
        assert!(f.path.to_string_lossy().ends_with(".log.parquet"));
        let path = dir.path().join(&f.path);
        assert_eq!(&std::fs::read(&path).unwrap()[..4], b"PAR1");
        let r = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let md = r.metadata();
        assert_eq!(md.file_metadata().num_rows() as u64, f.records);
        let cols: Vec<String> = md
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let expect: Vec<String> = crate::AWS_V2_FIELDS
            .iter()
            .map(|f| f.replace('-', "_"))
            .collect();
        assert_eq!(cols, expect);
        assert_eq!(
            md.row_group(0).column(0).compression(),
            parquet::basic::Compression::SNAPPY
        );
        let kv = md.file_metadata().key_value_metadata().unwrap();
        assert!(kv.iter().any(|k| k.key == "parquet.avro.schema"));
    }
}

#[test]
fn azure_blobs_have_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(
        6_000,
        &[
            SampleFormat::AzureNsgV1,
            SampleFormat::AzureNsgV2,
            SampleFormat::AzureVnet,
        ],
    );
    let rep = generate(&c, dir.path()).unwrap();
    let total = rep.total_records();
    assert!(
        (4_000..=8_500).contains(&total),
        "about 6000 tuples, got {total}"
    );
    let mut states = BTreeMap::<(SampleFormat, String), u64>::new();
    for f in &rep.files {
        let p = f.path.to_string_lossy();
        assert!(p.ends_with("/PT1H.json"));
        assert!(
            p.contains("/y=2025/m=03/d=01/h=00/m=00/macAddress=000D3A"),
            "{p}"
        );
        match f.format {
            SampleFormat::AzureVnet => {
                assert!(p.starts_with("insights-logs-flowlogflowevent/flowLogResourceID=/"));
                assert!(p.contains("_NETWORKWATCHERRG/NETWORKWATCHER_"));
            }
            _ => {
                assert!(p.starts_with(
                    "insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/"
                ));
                assert!(p.contains("/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/"));
            }
        }
        let bytes = std::fs::read(dir.path().join(&f.path)).unwrap();
        assert!(bytes.starts_with(b"{\"records\":[{") && bytes.ends_with(b"]}"));
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut n = 0u64;
        for rec in v["records"].as_array().unwrap() {
            let mac = rec["macAddress"].as_str().unwrap();
            assert!(p.contains(&format!("macAddress={mac}/")));
            assert!(rec["time"].as_str().unwrap().len() == 28);
            let groups: Vec<&serde_json::Value> = if f.format == SampleFormat::AzureVnet {
                assert_eq!(rec["category"], "FlowLogFlowEvent");
                assert_eq!(rec["flowLogVersion"], 4);
                rec["flowRecords"]["flows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|f| f["flowGroups"].as_array().unwrap())
                    .collect()
            } else {
                assert_eq!(rec["category"], "NetworkSecurityGroupFlowEvent");
                let ver = if f.format == SampleFormat::AzureNsgV1 {
                    1
                } else {
                    2
                };
                assert_eq!(rec["properties"]["Version"], ver);
                rec["properties"]["flows"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r["flows"].as_array().unwrap())
                    .inspect(|fl| assert_eq!(fl["mac"].as_str(), Some(mac)))
                    .collect()
            };
            for g in groups {
                for t in g["flowTuples"].as_array().unwrap() {
                    let t = t.as_str().unwrap();
                    let x: Vec<&str> = t.split(',').collect();
                    n += 1;
                    match f.format {
                        SampleFormat::AzureNsgV1 => {
                            assert_eq!(x.len(), 8, "{t}");
                            assert_eq!(x[0].len(), 10);
                            assert!(matches!(x[5], "T" | "U") && matches!(x[7], "A" | "D"));
                        }
                        SampleFormat::AzureNsgV2 => {
                            assert_eq!(x.len(), 13, "{t}");
                            assert_eq!(x[0].len(), 10);
                            if x[8] == "B" {
                                assert_eq!(&x[9..], ["", "", "", ""], "{t}");
                            } else {
                                assert!(x[9].parse::<u64>().is_ok(), "{t}");
                            }
                            *states
                                .entry((f.format, format!("{}{}", x[7], x[8])))
                                .or_default() += 1;
                        }
                        _ => {
                            assert_eq!(x.len(), 13, "{t}");
                            assert_eq!(x[0].len(), 13, "ms timestamps: {t}");
                            assert!(x[5].parse::<u8>().is_ok());
                            assert!(matches!(x[8], "X" | "NX"));
                            if matches!(x[7], "B" | "D") {
                                assert_eq!(&x[9..], ["0", "0", "0", "0"], "{t}");
                            }
                            *states.entry((f.format, x[7].to_string())).or_default() += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(n, f.records, "{p}");
    }
    for s in ["AB", "AC", "AE", "DB"] {
        assert!(
            states.contains_key(&(SampleFormat::AzureNsgV2, s.to_string())),
            "nsg v2 state {s}: {states:?}"
        );
    }
    for s in ["B", "C", "E", "D"] {
        assert!(
            states.contains_key(&(SampleFormat::AzureVnet, s.to_string())),
            "vnet state {s}: {states:?}"
        );
    }
}

#[test]
fn rejects_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generate(
        &GenConfig {
            hours: 0,
            ..GenConfig::default()
        },
        dir.path()
    )
    .is_err());
    assert!(generate(
        &GenConfig {
            late_fraction: 1.5,
            ..GenConfig::default()
        },
        dir.path()
    )
    .is_err());
}
