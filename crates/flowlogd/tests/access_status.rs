//! A running flowlogd with cloud sources serves their access report under `access` in
//! `/status`: per account None / Partial / Full, per destination the failed permission.

mod aws_common;
mod ops_common;

use std::time::Duration;

use serde_json::json;

#[test]
fn status_serves_the_access_report_of_cloud_sources() {
    let Some(moto) = aws_common::moto("status_serves_the_access_report_of_cloud_sources") else {
        return;
    };
    let readable = aws_common::unique("status-ok");
    let missing = aws_common::unique("status-missing");
    aws_common::steps(json!([{"op": "create_bucket", "bucket": readable}]));

    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let s3 = |name: &str, bucket: &str| {
        format!(
            "[[sources.s3]]\nname = \"{name}\"\nbucket = \"{bucket}\"\naccount = \"123456789012\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto}\"\nforce_path_style = true\n"
        )
    };
    let extra = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\n{}{}",
        s3("readable", &readable),
        s3("missing", &missing)
    );
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, ops_common::config(&input, &out, &extra)).unwrap();

    let mut d = ops_common::Daemon::start(&["run", "--config", cfg.to_str().unwrap()], &[]);
    let addr = d.admin_addr();
    let status = ops_common::wait_status(addr, "the access report", Duration::from_secs(90), |v| {
        v["access"]["accounts"].is_array()
    });
    let access = &status["access"];
    assert_eq!(
        access["accounts"][0]["account"], "123456789012",
        "{access:#}"
    );
    assert_eq!(access["accounts"][0]["access"], "partial", "{access:#}");
    let dests = access["destinations"].as_array().unwrap();
    let find = |bucket: &str| {
        dests
            .iter()
            .find(|d| d["destination"].as_str().unwrap_or("").contains(bucket))
            .unwrap_or_else(|| panic!("no destination for {bucket}: {access:#}"))
    };
    assert_eq!(find(&readable)["readable"], true, "{access:#}");
    let bad = find(&missing);
    assert_eq!(bad["readable"], false, "{access:#}");
    let failed: Vec<_> = bad["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .collect();
    assert!(
        !failed.is_empty() && failed[0]["fix"].is_string(),
        "the missing bucket names a failed permission and its fix: {access:#}"
    );

    d.signal("TERM");
    let (code, _, stderr) = d.wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{stderr}");
}
