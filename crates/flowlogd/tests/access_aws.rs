//! `flowlogd access check` and `flowlogd access grant aws` against moto with IAM
//! enforcement on: the policy of the generated CloudFormation template (parsed as YAML)
//! makes the check report Full; the same template for one of two buckets gives Partial,
//! without its s3:GetObject statement None with exactly that permission missing; the
//! template's role (trust policy with ExternalId) is assumable only with that ExternalId.
//! Flow logs into a bucket flowlogd does not read are reported with a fix. Skips when
//! MOTO_ENDPOINT is unset. One test: moto's auth switch is global.

mod aws_common;
mod common;

use std::path::Path;
use std::process::Command;

use aws_common::*;
use common::*;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

fn grant(args: &[&str]) -> Value {
    let mut all = vec!["access", "grant", "aws"];
    all.extend_from_slice(args);
    let out = run_ok(&all);
    let yaml = String::from_utf8(out.stdout).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("grant output is YAML");
    serde_json::to_value(v).unwrap()
}

fn role_props(t: &Value) -> &Value {
    &t["Resources"]["FlowlogdReadRole"]["Properties"]
}

fn policy_of(t: &Value) -> Value {
    role_props(t)["Policies"][0]["PolicyDocument"].clone()
}

fn without(policy: &Value, sid: &str) -> Value {
    let mut p = policy.clone();
    p["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != sid);
    p
}

fn write_config(dir: &Path, name: &str, sources: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[sinks.jsonl]\npath = \"{}/out.jsonl\"\n{sources}",
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// Source `a` reads its whole bucket, `b` the prefix `vpc`.
fn source(moto: &str, name: &str, bucket: &str, extra: &str) -> String {
    let prefix = if name == "a" { "" } else { "vpc" };
    format!(
        "[[sources.s3]]\nname = \"{name}\"\nbucket = \"{bucket}\"\nprefix = \"{prefix}\"\naccount = \"{ACCOUNT}\"\nregion = \"us-east-1\"\nendpoint_url = \"{moto}\"\nforce_path_style = true\n{extra}\n"
    )
}

/// Runs `access check --format json` with the given keys.
fn check(cfg: &Path, keys: &Value, extra: &[&str]) -> Value {
    let mut args = vec![
        "access",
        "check",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = Command::new(bin())
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", keys["AccessKeyId"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            keys["SecretAccessKey"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "access check failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn access(report: &Value) -> String {
    report["accounts"][0]["access"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

fn failed_actions(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for d in report["destinations"].as_array().unwrap() {
        for c in d["checks"].as_array().unwrap() {
            if c["ok"] == false {
                assert!(
                    c["fix"].as_str().is_some_and(|f| !f.is_empty()),
                    "no fix: {c}"
                );
                out.push(c["action"].as_str().unwrap().to_owned());
            }
        }
    }
    out
}

#[test]
fn grant_gives_exactly_full_access() {
    let Some(moto) = moto("grant_gives_exactly_full_access") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, c) = (unique("acc-a"), unique("acc-b"), unique("acc-c"));
    let obj = tmp.path().join("o.log");
    std::fs::write(&obj, "version account-id\n2 123\n").unwrap();
    let key = "vpc/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/x.log";
    let queue_name = unique("acc-q");
    let r = steps(json!([
        {"op": "create_bucket", "bucket": a},
        {"op": "create_bucket", "bucket": b},
        {"op": "create_bucket", "bucket": c},
        {"op": "put", "bucket": a, "key": key.trim_start_matches("vpc/"), "path": obj},
        {"op": "put", "bucket": b, "key": key, "path": obj},
        {"op": "create_queue", "name": queue_name},
        {"op": "flow_log", "destination": format!("arn:aws:s3:::{a}")},
        {"op": "flow_log", "destination": format!("arn:aws:s3:::{c}")},
    ]));
    let queue = r[5].as_str().unwrap().to_owned();
    let queue_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}");
    let principal = format!(
        "arn:aws:iam::{ACCOUNT}:user/flowlogd-{}",
        std::process::id()
    );

    let dest_a = format!("s3://{a}");
    let dest_b = format!("s3://{b}/vpc/");
    let common_args = [
        "--principal",
        &principal,
        "--external-id",
        "ext-42",
        "--sqs-queue-arn",
        &queue_arn,
    ];
    let mut both_args = vec!["--destination", &dest_a, "--destination", &dest_b];
    both_args.extend_from_slice(&common_args);
    let both = grant(&both_args);
    let mut only_a_args = vec!["--destination", &dest_a];
    only_a_args.extend_from_slice(&common_args);
    let only_a = grant(&only_a_args);
    assert_eq!(
        role_props(&both)["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"]
            ["sts:ExternalId"],
        "ext-42"
    );

    let full = policy_of(&both);
    let pid = std::process::id();
    let users = steps(json!([
        {"op": "user", "name": format!("full-{pid}"), "policies": [full]},
        {"op": "user", "name": format!("partial-{pid}"), "policies": [policy_of(&only_a)]},
        {"op": "user", "name": format!("noget-{pid}"), "policies": [without(&full, "ReadFlowLogObjects")]},
        {"op": "user", "name": format!("nosqs-{pid}"), "policies": [without(&full, "ConsumeNotifications")]},
        {"op": "user", "name": format!("flowlogd-{pid}"), "policies": [
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}]},
        {"op": "role", "name": format!("flowlogd-read-{pid}"),
         "trust": role_props(&both)["AssumeRolePolicyDocument"], "policies": [full]},
    ]));
    let role_arn = users[5].as_str().unwrap().to_owned();

    let sqs = format!("sqs_queue_url = \"{queue}\"");
    let direct = write_config(
        tmp.path(),
        "direct",
        &(source(&moto, "a", &a, &sqs) + &source(&moto, "b", &b, &sqs)),
    );
    let role = |ext: &str| {
        let extra = format!("role_arn = \"{role_arn}\"\nexternal_id = \"{ext}\"\n{sqs}");
        write_config(
            tmp.path(),
            &format!("role-{ext}"),
            &(source(&moto, "a", &a, &extra) + &source(&moto, "b", &b, &extra)),
        )
    };
    let (role_ok, role_bad) = (role("ext-42"), role("wrong"));

    let _auth = AuthOn::new(&moto);
    let r = check(&direct, &users[0], &[]);
    assert_eq!(access(&r), "full", "{r:#}");
    assert_eq!(failed_actions(&r), Vec::<String>::new());
    // Inventory: the flow log into `a` is read (Full); the one into `c` is not configured.
    let fls = r["flow_logs"].as_array().unwrap();
    let into = |bucket: &str| {
        fls.iter()
            .find(|f| f["destination"].as_str().unwrap().contains(bucket))
            .unwrap_or_else(|| panic!("no flow log into {bucket}: {r:#}"))
            .clone()
    };
    assert_eq!(into(&a)["access"], "full");
    assert!(into(&c)["access"].is_null());
    assert!(into(&c)["fix"].as_str().unwrap().contains("[[sources.s3]]"));

    // `flowlogd inventory` lists the same flow logs, with their destinations.
    let inv = Command::new(bin())
        .args([
            "inventory",
            "--config",
            direct.to_str().unwrap(),
            "--format",
            "json",
        ])
        .env(
            "AWS_ACCESS_KEY_ID",
            users[0]["AccessKeyId"].as_str().unwrap(),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            users[0]["SecretAccessKey"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    assert!(
        inv.status.success(),
        "{}",
        String::from_utf8_lossy(&inv.stderr)
    );
    let inv: Value = serde_json::from_slice(&inv.stdout).unwrap();
    for bucket in [&a, &c] {
        assert!(
            inv.as_array()
                .unwrap()
                .iter()
                .any(|f| f["destination"] == format!("s3://{bucket}/")
                    && f["destination_type"] == "s3"
                    && f["account"] == ACCOUNT),
            "{inv:#}"
        );
    }

    let r = check(&direct, &users[1], &[]);
    assert_eq!(access(&r), "partial", "{r:#}");
    assert_eq!(failed_actions(&r), vec!["s3:ListBucket"]);

    let r = check(&direct, &users[2], &[]);
    assert_eq!(access(&r), "none", "{r:#}");
    assert_eq!(failed_actions(&r), vec!["s3:GetObject", "s3:GetObject"]);

    let r = check(&direct, &users[3], &["--no-inventory"]);
    assert_eq!(access(&r), "none", "{r:#}");
    assert_eq!(
        failed_actions(&r),
        vec!["sqs:ReceiveMessage", "sqs:ReceiveMessage"]
    );

    // Through the template's role: Full with its ExternalId, None (sts:AssumeRole) without.
    let r = check(&role_ok, &users[4], &["--no-inventory"]);
    assert_eq!(access(&r), "full", "{r:#}");
    let r = check(&role_bad, &users[4], &["--no-inventory"]);
    assert_eq!(access(&r), "none", "{r:#}");
    assert_eq!(failed_actions(&r), vec!["sts:AssumeRole", "sts:AssumeRole"]);

    // Filters and the table views.
    let r = check(&direct, &users[1], &["--access", "full"]);
    assert!(r["accounts"].as_array().unwrap().is_empty(), "{r:#}");
    let out = Command::new(bin())
        .args([
            "access",
            "check",
            "--config",
            direct.to_str().unwrap(),
            "--view",
            "source",
        ])
        .env(
            "AWS_ACCESS_KEY_ID",
            users[0]["AccessKeyId"].as_str().unwrap(),
        )
        .env(
            "AWS_SECRET_ACCESS_KEY",
            users[0]["SecretAccessKey"].as_str().unwrap(),
        )
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(
        table.contains(&format!("-> s3://{c}/")) && table.contains("NOT CONFIGURED"),
        "{table}"
    );
}
