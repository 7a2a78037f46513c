//! `[[sources.s3]]` errors name the key and the fix.

mod common;

use std::process::Command;

use common::bin;

fn validate(sources: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        format!("[sinks.jsonl]\npath = \"/tmp/x.jsonl\"\n{sources}"),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["validate-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn s3_source_errors_name_key_and_fix() {
    let (code, out) = validate(
        "[[sources.s3]]\nname = \"a\"\nbucket = \"b\"\nfrom_date = \"2025-01-01\"\nsqs_queue_url = \"https://q/1/x\"\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 sources"), "{out}");

    let (code, out) = validate(
        "[[sources.s3]]\nname = \"a\"\nbucket = \"b/p\"\nrole_arn = \"arn:aws:iam::1:user/u\"\nmax_chunk_bytes = 10\nsqs_queue_url = \"q\"\n\
         [[sources.s3]]\nname = \"a\"\nbucket = \"c\"\nexternal_id = \"x\"\nsqs_queue_url = \"q\"\n",
    );
    assert_eq!(code, 1, "{out}");
    for want in [
        "sources.s3[0].bucket",
        "put folders into prefix",
        "sources.s3[0].role_arn",
        "arn:aws:iam::<account>:role/<name>",
        "sources.s3[0].max_chunk_bytes",
        "sources.s3[1].external_id",
        "sources.s3[1].sqs_queue_url",
        "sources.s3[1].name",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }

    let (code, out) =
        validate("[[sources.s3]]\nname = \"a\"\nbucket = \"b\"\nfrom_date = \"May 1\"\n");
    assert_eq!(code, 1);
    assert!(
        out.contains("from_date") && out.contains("YYYY-MM-DD"),
        "{out}"
    );
    let (code, out) = validate("[[sources.s3]]\nname = \"a\"\nbucket = \"b\"\nrole = \"x\"\n");
    assert_eq!(code, 1);
    assert!(out.contains("unknown field `role`"), "{out}");
}
