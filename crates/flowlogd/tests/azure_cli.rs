//! `flowlogd access grant azure` prints a least-privilege script (az CLI or PowerShell), and
//! `[[sources.azure_blob]]` mistakes are reported by key with a fix. No emulator needed.

mod common;

use std::process::Command;

use common::*;

const SUB: &str = "00000000-1111-2222-3333-444444444444";
const ASSIGNEE: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";

fn grant(extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "access",
        "grant",
        "azure",
        "--subscription",
        SUB,
        "--resource-group",
        "rg-flowlogs",
        "--storage-account",
        "flowlogsacct",
        "--assignee",
        ASSIGNEE,
    ];
    args.extend_from_slice(extra);
    Command::new(bin()).args(&args).output().unwrap()
}

#[test]
fn azure_grant_az_script_is_least_privilege() {
    let out = grant(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).unwrap();
    let account = format!(
        "/subscriptions/{SUB}/resourceGroups/rg-flowlogs/providers/Microsoft.Storage/storageAccounts/flowlogsacct"
    );
    assert!(
        script.contains(&format!("ACCOUNT_SCOPE='{account}'")),
        "{script}"
    );
    assert!(script.contains(&format!("ASSIGNEE='{ASSIGNEE}'")));
    // One container-scoped data-reader assignment per flow-log container, one Reader on the
    // Network Watcher resource group, nothing else.
    assert_eq!(
        script.matches("az role assignment create").count(),
        3,
        "{script}"
    );
    assert_eq!(
        script.matches("--role 'Storage Blob Data Reader'").count(),
        2
    );
    for c in [
        "insights-logs-flowlogflowevent",
        "insights-logs-networksecuritygroupflowevent",
    ] {
        assert!(
            script.contains(&format!(
                "--scope \"$ACCOUNT_SCOPE/blobServices/default/containers/{c}\""
            )),
            "{script}"
        );
    }
    assert!(script.contains(&format!(
        "--role 'Reader' \\\n  --scope '/subscriptions/{SUB}/resourceGroups/NetworkWatcherRG'"
    )));
    for broad in [
        "Contributor",
        "Owner",
        "Storage Blob Data Owner",
        "listKeys",
    ] {
        assert!(!script.contains(broad), "{broad} in:\n{script}");
    }
    // The script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grant.sh");
    std::fs::write(&path, &script).unwrap();
    let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn azure_grant_powershell_and_one_container() {
    let out = grant(&[
        "--shell",
        "powershell",
        "--container",
        "insights-logs-flowlogflowevent",
        "--network-watcher-resource-group",
        "rg-watchers",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains(&format!("Set-AzContext -Subscription '{SUB}'")));
    assert!(script.contains(
        "New-AzRoleAssignment -ObjectId $Assignee -RoleDefinitionName $Role -Scope $Scope"
    ));
    assert_eq!(script.matches("\nGrant-Role ").count(), 2, "{script}");
    assert!(script.contains(
        "Grant-Role 'Storage Blob Data Reader' \"$AccountScope/blobServices/default/containers/insights-logs-flowlogflowevent\""
    ));
    assert!(!script.contains("networksecuritygroupflowevent"));
    assert!(script.contains(&format!(
        "Grant-Role 'Reader' '/subscriptions/{SUB}/resourceGroups/rg-watchers'"
    )));
    // A sign-in name is assigned by -SignInName.
    let out = Command::new(bin())
        .args([
            "access",
            "grant",
            "azure",
            "--subscription",
            SUB,
            "--resource-group",
            "rg",
            "--storage-account",
            "flowlogsacct",
            "--assignee",
            "ops@example.com",
            "--shell",
            "powershell",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("-SignInName $Assignee"));
}

#[test]
fn azure_grant_refuses_bad_names() {
    let out = Command::new(bin())
        .args([
            "access",
            "grant",
            "azure",
            "--subscription",
            SUB,
            "--resource-group",
            "rg",
            "--storage-account",
            "Bad_Account",
            "--assignee",
            "x'; rm -rf /",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--storage-account \"Bad_Account\""), "{err}");
    assert!(err.contains("--assignee"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn azure_blob_config_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("flowlogd.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[sources.azure_blob]]
name = "vnet"
container = "Insights_Logs"
connection_string_env = "FLOWLOGD_TEST_UNSET_CONNECTION_STRING"
max_chunk_bytes = 1000

[[sources.azure_blob]]
name = "vnet"
auth = "sas"
sas_env = "FLOWLOGD_TEST_UNSET_SAS"

[sinks.jsonl]
path = "{}/out.jsonl"
"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["validate-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "sources.azure_blob[0].container",
        "sources.azure_blob[0].connection_string_env: environment variable FLOWLOGD_TEST_UNSET_CONNECTION_STRING is not set",
        "sources.azure_blob[0].max_chunk_bytes",
        "sources.azure_blob[1].account_url",
        "sources.azure_blob[1].sas_env",
        "sources.azure_blob[1].name",
    ] {
        assert!(err.contains(key), "{key} missing in:\n{err}");
    }
}
