//! The Azure Blob source against Azurite, through the real `flowlogd` binary:
//! - NSG v2 and VNet blobs in the real path layout, read continuously, give the same
//!   summaries as `run --once` over the same files in a local directory;
//! - a `PT1H.json` that grows block by block between polls (Put Block + Put Block List
//!   with a new `]}` tail, as Azure does) gives the same summaries as reading the final blob
//!   once, and only the new bytes are fetched, across a restart too;
//! - a blob with bad JSON and a replaced blob go to the dead-letter output while the rest
//!   is read;
//! - between full listings a poll lists only the open hours of the flow logs already seen.
//!
//! Skipped unless `AZURITE_BLOB_ENDPOINT` is set (scripts/emulators.sh starts Azurite).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use azure_core::http::RequestContent;
use azure_storage_blob::models::BlockLookupList;
use azure_storage_blob::BlobContainerClient;
use common::*;
use flowlogd_sources::azure_blob::{account_sas, container_url};

struct Azurite {
    endpoint: String,
    account: String,
    key: String,
}

fn azurite(test: &str) -> Option<Azurite> {
    let Ok(endpoint) = std::env::var("AZURITE_BLOB_ENDPOINT") else {
        eprintln!("skipping {test}: AZURITE_BLOB_ENDPOINT is not set (run it via scripts/test.sh, which starts Azurite)");
        return None;
    };
    Some(Azurite {
        endpoint,
        account: std::env::var("AZURITE_ACCOUNT").unwrap_or_else(|_| "devstoreaccount1".into()),
        key: std::env::var("AZURITE_KEY").expect("AZURITE_KEY is set with AZURITE_BLOB_ENDPOINT"),
    })
}

impl Azurite {
    /// A new container (unique name) and a client with write access for fixtures.
    async fn container(&self, tag: &str) -> (String, BlobContainerClient) {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("t{}-{tag}-{}", std::process::id(), nanos % 1_000_000_000);
        let sas = account_sas(
            &self.account,
            &self.key,
            "rwdlac",
            SystemTime::now(),
            Duration::from_secs(3600),
        )
        .unwrap();
        let url = container_url(&self.endpoint, &name, Some(&sas)).unwrap();
        let client = BlobContainerClient::new(url, None, None).unwrap();
        client.create(None).await.unwrap();
        (name, client)
    }
}

async fn upload(client: &BlobContainerClient, name: &str, data: Vec<u8>) {
    client
        .blob_client(name)
        .upload(RequestContent::from(data), None)
        .await
        .unwrap();
}

/// Uploads every file under `root/<top>/` as blob `<relative path below top>`.
async fn upload_tree(client: &BlobContainerClient, top: &Path, files: &[PathBuf]) {
    for f in files {
        let name = f.strip_prefix(top).unwrap().to_string_lossy().into_owned();
        upload(client, &name, std::fs::read(f).unwrap()).await;
    }
}

/// The hour that began `hours_ago` hours ago (RFC 3339): data there is in closed windows.
fn hours_ago(hours_ago: i64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t = now - now.rem_euclid(3600) - hours_ago * 3600;
    let days = t.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:00:00Z",
        t.rem_euclid(86_400) / 3600
    )
}

/// Days since 1970-01-01 → (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn gen_azure(dir: &Path, formats: &str, start: &str, hours: u32, tuples: u64, seed: u64) {
    run_ok(&[
        "gen",
        "--out",
        dir.to_str().unwrap(),
        "--formats",
        formats,
        "--azure-records",
        &tuples.to_string(),
        "--start",
        start,
        "--hours",
        &hours.to_string(),
        "--seed",
        &seed.to_string(),
    ]);
}

fn source_toml(name: &str, container: &str) -> String {
    format!(
        r#"
[[sources.azure_blob]]
name = "{name}"
container = "{container}"
auth = "connection_string"
connection_string_env = "AZURE_STORAGE_CONNECTION_STRING"
poll_interval = "100ms"
# The test blobs are in past hours, which only full listings look at.
full_listing_interval = "0s"
"#
    )
}

fn config(out: &Path, sources: &str) -> String {
    format!(
        r#"
state_dir = "{out}/state"
[engine]
tick = "300ms"
checkpoint_interval = "300ms"
{sources}
[sinks.parquet]
path = "{out}/parquet"
[sinks.jsonl]
path = "{out}/summaries.jsonl"
[sinks.dead_letter]
path = "{out}/deadletter.jsonl"
"#,
        out = out.display()
    )
}

/// `flowlogd run` (continuous) with debug logs of the sources as JSON in `out/stderr.log`.
fn start_daemon(cfg: &Path, out: &Path) -> Child {
    // Appended to: a restarted daemon logs after the first one.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("stderr.log"))
        .unwrap();
    Command::new(bin())
        .args(["run", "--config", cfg.to_str().unwrap()])
        .env("RUST_LOG", "info,flowlogd_sources=debug")
        .env("FLOWLOGD_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

fn stop_daemon(child: Child, out: &Path) {
    send_sigterm(child.id());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "flowlogd run failed:\n{}",
        std::fs::read_to_string(out.join("stderr.log")).unwrap_or_default()
    );
}

/// `(offset, bytes)` of every ranged read of `object` logged so far.
fn reads_of(out: &Path, object: &str) -> Vec<(u64, u64)> {
    std::fs::read_to_string(out.join("stderr.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "read blob range" && v["fields"]["object"] == object)
        .map(|v| {
            (
                v["fields"]["offset"].as_u64().unwrap(),
                v["fields"]["bytes"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every `traffic` and `rejected_by_source` row of a Parquet output (a summary without
/// rows has no directory). `None` while the daemon is between creating a directory and
/// renaming its first file into it.
async fn try_summary_rows(parquet: &Path) -> Option<Vec<String>> {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    let ctx = SessionContext::new();
    let mut out = Vec::new();
    for (table, query) in [
        ("traffic", traffic_output_sql()),
        ("rejected_by_source", rejected_output_sql()),
    ] {
        let dir = parquet.join(format!("summary={table}"));
        if !dir.exists() {
            continue;
        }
        let url = format!("{}/", dir.canonicalize().ok()?.display());
        ctx.register_parquet(table, &url, ParquetReadOptions::default())
            .await
            .ok()?;
        let batches = ctx.sql(&query).await.ok()?.collect().await.ok()?;
        out.extend(rows(&batches));
    }
    out.sort();
    Some(out)
}

async fn summary_rows(parquet: &Path) -> Vec<String> {
    try_summary_rows(parquet)
        .await
        .expect("readable Parquet summaries")
}

/// `wait_for`, printing the end of the daemon's log when it times out.
fn wait_logged(out: &Path, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            let log = std::fs::read_to_string(out.join("stderr.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "timed out waiting for {what}; flowlogd log (last lines first):\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until the continuous run's summaries equal `expected` (the run emits revisions as
/// data arrives; the test waits for the last one).
async fn wait_for_rows(out: &Path, expected: &[String], what: &str) {
    let start = std::time::Instant::now();
    loop {
        let parquet = out.join("parquet");
        let actual = try_summary_rows(&parquet).await.unwrap_or_default();
        if actual == expected {
            return;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(out.join("stderr.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            eprintln!("flowlogd log (last lines first):\n{}", tail.join("\n"));
            assert_same_rows(&actual, expected, what);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_blob_continuous_equals_once_over_local_files() {
    let Some(az) = azurite("azure_blob_continuous_equals_once_over_local_files") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen_azure(&all, "nsg-v2,vnet", &hours_ago(3), 2, 4000, 61);
    let once = tmp.path().join("once");
    run_once(&all, &once);
    let expected = summary_rows(&once.join("parquet")).await;
    assert!(!expected.is_empty());

    let (nsg, nsg_client) = az.container("nsg").await;
    let (vnet, vnet_client) = az.container("vnet").await;
    let nsg_top = all.join("insights-logs-networksecuritygroupflowevent");
    let vnet_top = all.join("insights-logs-flowlogflowevent");
    let nsg_files = files(&nsg_top);
    let vnet_files = files(&vnet_top);
    assert!(nsg_files.len() > 2 && vnet_files.len() > 2);
    assert!(nsg_files[0]
        .to_string_lossy()
        .contains("/resourceId=/SUBSCRIPTIONS/"));
    // Half of the blobs exist before the daemon starts, the rest arrive while it runs.
    let (nsg_early, nsg_late) = nsg_files.split_at(nsg_files.len() / 2);
    let (vnet_early, vnet_late) = vnet_files.split_at(vnet_files.len() / 2);
    upload_tree(&nsg_client, &nsg_top, nsg_early).await;
    upload_tree(&vnet_client, &vnet_top, vnet_early).await;

    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    let sources = source_toml("azure-nsg", &nsg) + &source_toml("azure-vnet", &vnet);
    std::fs::write(&cfg, config(&out, &sources)).unwrap();
    let child = start_daemon(&cfg, &out);
    let first = &nsg_early[0];
    let first_object = format!(
        "{nsg}/{}",
        first.strip_prefix(&nsg_top).unwrap().to_string_lossy()
    );
    wait_logged(
        &out,
        "the first blobs read",
        Duration::from_secs(60),
        || !reads_of(&out, &first_object).is_empty(),
    );
    upload_tree(&nsg_client, &nsg_top, nsg_late).await;
    upload_tree(&vnet_client, &vnet_top, vnet_late).await;
    wait_for_rows(
        &out,
        &expected,
        "continuous Azure Blob vs --once over local files",
    )
    .await;
    stop_daemon(child, &out);
    let dead = std::fs::read_to_string(out.join("deadletter.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "unexpected dead letters:\n{dead}");

    // A backfill (`run --once`) straight from the containers gives the same summaries.
    let backfill = tmp.path().join("backfill");
    std::fs::create_dir_all(&backfill).unwrap();
    let cfg = backfill.join("flowlogd.toml");
    std::fs::write(&cfg, config(&backfill, &sources)).unwrap();
    let output = run_ok(&[
        "run",
        "--once",
        "--quiet",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let acct = accounting(&output.stdout);
    assert_eq!(
        acct["objects"].parse::<usize>().unwrap(),
        nsg_files.len() + vnet_files.len()
    );
    let actual = summary_rows(&backfill.join("parquet")).await;
    assert_same_rows(
        &actual,
        &expected,
        "run --once from Azure Blob vs local files",
    );
}

/// One `PT1H.json` written like Azure does: a `{"records":[` block, one block per batch of
/// records (each after the first starting with `,`), a `]}` block; every commit inserts new
/// blocks before a new tail block.
struct GrowingBlob {
    name: String,
    committed: Vec<Vec<u8>>,
    next_id: u32,
    records: Vec<String>,
    written: usize,
    bytes: Vec<u8>,
}

impl GrowingBlob {
    fn block_id(&mut self) -> Vec<u8> {
        self.next_id += 1;
        format!("blk{:06}", self.next_id).into_bytes()
    }

    async fn stage(&mut self, client: &BlobContainerClient, data: &[u8]) -> Vec<u8> {
        let id = self.block_id();
        client
            .blob_client(&self.name)
            .block_blob_client()
            .stage_block(
                &id,
                data.len() as u64,
                RequestContent::from(data.to_vec()),
                None,
            )
            .await
            .unwrap();
        id
    }

    /// Commits the next `n` records (in batches of 2) and a new tail; returns the new size.
    async fn grow(&mut self, client: &BlobContainerClient, n: usize) -> usize {
        let mut blocks = self.committed.clone();
        if blocks.is_empty() {
            blocks.push(self.stage(client, br#"{"records":["#).await);
            self.bytes.extend_from_slice(br#"{"records":["#);
        } else {
            blocks.pop();
            self.bytes.truncate(self.bytes.len() - 2);
        }
        let upto = (self.written + n).min(self.records.len());
        let batch: Vec<String> = self.records[self.written..upto].to_vec();
        for pair in batch.chunks(2) {
            let mut data = Vec::new();
            for r in pair {
                if self.written > 0 {
                    data.push(b',');
                }
                data.extend_from_slice(r.as_bytes());
                self.written += 1;
            }
            blocks.push(self.stage(client, &data).await);
            self.bytes.extend_from_slice(&data);
        }
        blocks.push(self.stage(client, b"]}").await);
        self.bytes.extend_from_slice(b"]}");
        let list = BlockLookupList {
            latest: Some(blocks.clone()),
            ..Default::default()
        };
        client
            .blob_client(&self.name)
            .block_blob_client()
            .commit_block_list(list.try_into().unwrap(), None)
            .await
            .unwrap();
        self.committed = blocks;
        self.bytes.len()
    }
}

/// The records of a generated `PT1H.json`, one compact JSON text each.
fn records_of(path: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_blob_growing_blob_reads_only_new_bytes() {
    let Some(az) = azurite("azure_blob_growing_blob_reads_only_new_bytes") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen_azure(&all, "nsg-v2", &hours_ago(3), 1, 3000, 62);
    // The blob with the most records.
    let src = files(&all)
        .into_iter()
        .max_by_key(|p| records_of(p).len())
        .unwrap();
    let records = records_of(&src);
    assert!(
        records.len() >= 12,
        "need a blob with records to grow: {}",
        records.len()
    );
    let top = all.join("insights-logs-networksecuritygroupflowevent");
    let name = src
        .strip_prefix(&top)
        .unwrap()
        .to_string_lossy()
        .into_owned();

    let (container, client) = az.container("grow").await;
    let object = format!("{container}/{name}");
    let mut blob = GrowingBlob {
        name: name.clone(),
        committed: Vec::new(),
        next_id: 0,
        records,
        written: 0,
        bytes: Vec::new(),
    };
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&out, &source_toml("azure-grow", &container))).unwrap();

    let step = blob.records.len() / 4;
    blob.grow(&client, step).await;
    let mut child = start_daemon(&cfg, &out);
    let mut commits = 1;
    loop {
        let want = commits;
        wait_logged(
            &out,
            "a read of the new blocks",
            Duration::from_secs(60),
            || reads_of(&out, &object).len() >= want,
        );
        if blob.written == blob.records.len() {
            break;
        }
        if commits == 2 {
            // A restart in the middle: SIGTERM checkpoints, the new process resumes from the
            // ledger (the read checks below prove it does not start over).
            stop_daemon(child, &out);
            child = start_daemon(&cfg, &out);
        }
        blob.grow(&client, step).await;
        commits += 1;
    }
    let final_size = blob.bytes.len() as u64;

    // Reading the final blob once, from a local directory.
    let local = tmp.path().join("local");
    let path = local.join(&container).join(&name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &blob.bytes).unwrap();
    let once = tmp.path().join("once");
    run_once(&local, &once);
    let expected = summary_rows(&once.join("parquet")).await;
    wait_for_rows(&out, &expected, "growing blob vs the final blob read once").await;
    stop_daemon(child, &out);

    let reads = reads_of(&out, &object);
    assert!(reads.len() >= commits, "{reads:?}");
    let fetched: u64 = reads.iter().map(|r| r.1).sum();
    // Each read after the first starts 32 bytes before the consumed offset (read again to
    // check the blob is still the same) and ends with the 2-byte `]}` tail.
    let overhead = 32 + 2;
    assert!(
        fetched <= final_size + overhead * reads.len() as u64,
        "fetched {fetched} bytes for a {final_size}-byte blob: {reads:?}"
    );
    for w in reads.windows(2) {
        assert!(
            w[1].0 + overhead >= w[0].0 + w[0].1,
            "a read started before the end of the previous one: {reads:?}"
        );
    }
    let dead = std::fs::read_to_string(out.join("deadletter.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "unexpected dead letters:\n{dead}");
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_blob_bad_and_replaced_blobs_go_to_dead_letters() {
    let Some(az) = azurite("azure_blob_bad_and_replaced_blobs_go_to_dead_letters") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen_azure(&all, "vnet", &hours_ago(3), 1, 2000, 63);
    let top = all.join("insights-logs-flowlogflowevent");
    let mut good = files(&top);
    assert!(good.len() >= 3);
    good.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let (container, client) = az.container("bad").await;
    upload_tree(&client, &top, &good).await;
    let bad_name = "flowLogResourceID=/X_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_BAD/y=2026/m=01/d=01/h=00/m=00/macAddress=000D3A000001/PT1H.json";
    upload(&client, bad_name, b"this is not JSON at all\n".to_vec()).await;
    let rel = |p: &Path| p.strip_prefix(&top).unwrap().to_string_lossy().into_owned();
    // Two small blobs are later replaced by the content of the largest one: one by a new
    // block list (Azure keeps its creation time: only the bytes before the consumed offset
    // tell), one by a new upload.
    let by_blocks = rel(&good[0]);
    let by_upload = rel(&good[1]);
    let larger = std::fs::read(good.last().unwrap()).unwrap();

    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    std::fs::write(&cfg, config(&out, &source_toml("azure-bad", &container))).unwrap();

    // Expected: every good blob, read once.
    let once = tmp.path().join("once");
    run_once(&all, &once);
    let expected = summary_rows(&once.join("parquet")).await;

    let child = start_daemon(&cfg, &out);
    for name in [&by_blocks, &by_upload] {
        let object = format!("{container}/{name}");
        wait_logged(
            &out,
            "the blobs to be replaced were read",
            Duration::from_secs(60),
            || !reads_of(&out, &object).is_empty(),
        );
    }
    wait_for_rows(&out, &expected, "good blobs next to a bad one").await;
    let blocks = client.blob_client(&by_blocks).block_blob_client();
    blocks
        .stage_block(
            b"new000001",
            larger.len() as u64,
            RequestContent::from(larger.clone()),
            None,
        )
        .await
        .unwrap();
    let list = BlockLookupList {
        latest: Some(vec![b"new000001".to_vec()]),
        ..Default::default()
    };
    blocks
        .commit_block_list(list.try_into().unwrap(), None)
        .await
        .unwrap();
    upload(&client, &by_upload, larger.clone()).await;
    let dead_path = out.join("deadletter.jsonl");
    wait_logged(
        &out,
        "dead letters for the bad and the replaced blobs",
        Duration::from_secs(60),
        || {
            let d = std::fs::read_to_string(&dead_path).unwrap_or_default();
            d.matches("blob_replaced").count() == 2 && d.contains(bad_name)
        },
    );
    // Summaries are still those of the good blobs as first read: nothing counted twice.
    std::thread::sleep(Duration::from_secs(1));
    let actual = summary_rows(&out.join("parquet")).await;
    assert_same_rows(&actual, &expected, "after a bad and two replaced blobs");
    stop_daemon(child, &out);
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(&dead_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for name in [&by_blocks, &by_upload] {
        let object = format!("{container}/{name}");
        let dl = dead
            .iter()
            .find(|d| d["kind"] == "blob_replaced" && d["object"] == object.as_str())
            .unwrap_or_else(|| panic!("no blob_replaced dead letter for {object}: {dead:?}"));
        assert!(dl["offset"].as_u64().unwrap() > 0);
    }
    let bad_object = format!("{container}/{bad_name}");
    assert!(
        dead.iter().any(|d| d["object"] == bad_object.as_str()),
        "no dead letter names {bad_object}: {dead:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn azure_blob_sas_auth_and_denied_access() {
    let Some(az) = azurite("azure_blob_sas_auth_and_denied_access") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen_azure(&all, "vnet", &hours_ago(3), 1, 500, 64);
    let top = all.join("insights-logs-flowlogflowevent");
    let blobs = files(&top);
    let (container, client) = az.container("sas").await;
    upload_tree(&client, &top, &blobs).await;
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let cfg = out.join("flowlogd.toml");
    let source = format!(
        r#"
[[sources.azure_blob]]
name = "azure-sas"
container = "{container}"
auth = "sas"
account_url = "{}"
sas_env = "FLOWLOGD_TEST_SAS"
"#,
        az.endpoint
    );
    std::fs::write(&cfg, config(&out, &source)).unwrap();
    let run = |sas: &str| {
        Command::new(bin())
            .args([
                "run",
                "--once",
                "--quiet",
                "--config",
                cfg.to_str().unwrap(),
            ])
            .env("FLOWLOGD_TEST_SAS", sas)
            .output()
            .unwrap()
    };
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);

    // Signed with another key: the run fails, naming the status, the code and what to do.
    let wrong_key =
        "AAAAAdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    let bad = run(&account_sas(&az.account, wrong_key, "rl", now, hour).unwrap());
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("HTTP 403 AuthorizationFailure") && err.contains("authentication failed"),
        "{err}"
    );
    assert!(!err.contains("sig="), "the SAS signature leaked: {err}");

    // Read but not list: the fix names the role and the SAS permissions.
    let no_list = run(&account_sas(&az.account, &az.key, "r", now, hour).unwrap());
    assert!(!no_list.status.success());
    let err = String::from_utf8_lossy(&no_list.stderr);
    assert!(
        err.contains("AuthorizationPermissionMismatch")
            && err.contains("Storage Blob Data Reader")
            && err.contains("sp=rl"),
        "{err}"
    );

    // A valid read + list SAS reads every blob.
    let ok = run(&account_sas(&az.account, &az.key, "rl", now, hour).unwrap());
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(
        accounting(&ok.stdout)["objects"].parse::<usize>().unwrap(),
        blobs.len()
    );
}

/// `<root>y=…/m=…/d=…/h=…/m=00/macAddress=<mac>/PT1H.json` for the hour `hours_ago` before `t`.
fn blob_name(root: &str, t: SystemTime, hours_ago: u64, mac: &str) -> String {
    let t: chrono::DateTime<chrono::Utc> = (t - Duration::from_secs(hours_ago * 3600)).into();
    format!(
        "{root}{}/m=00/macAddress={mac}/PT1H.json",
        t.format("y=%Y/m=%m/d=%d/h=%H")
    )
}

#[test]
fn azure_blob_polls_list_only_open_hours_between_full_listings() {
    use flowlogd_sources::azure_blob::{AzureBlobSource, AzureBlobSourceConfig};
    use flowlogd_sources::Source;
    let Some(az) = azurite("azure_blob_polls_list_only_open_hours_between_full_listings") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    gen_azure(&all, "nsg-v2", &hours_ago(3), 1, 200, 64);
    let body = std::fs::read(&files(&all)[0]).unwrap();
    let (container, client) = rt.block_on(az.container("hot"));
    let r1 = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/ONE/";
    let r2 = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/TWO/";
    let t = SystemTime::now();
    let put = |names: &[&String]| {
        for n in names {
            rt.block_on(upload(&client, n, body.clone()));
        }
    };
    let a = blob_name(r1, t, 0, "A");
    let b = blob_name(r1, t, 5, "B");
    put(&[&a, &b]);

    let cfg = AzureBlobSourceConfig::new("hot", &container);
    assert_eq!(cfg.full_listing_interval, Duration::from_secs(3600));
    let mut src = AzureBlobSource::new(cfg, &Default::default()).unwrap();
    let (tx, rx) = flowlogd_bus::channel(100_000);
    let mut rx = rx.into_inner();
    let mut scan = |now: SystemTime| {
        let mut read = Vec::new();
        src.scan(&tx, now, true, &mut |object, _| {
            read.push(object.split_once('/').unwrap().1.to_owned())
        })
        .unwrap();
        while rx.try_recv().is_ok() {}
        read.sort();
        read
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    // The first poll lists everything.
    assert_eq!(scan(t), sorted(vec![&a, &b]));

    // Between full listings only the open hours of known flow logs are listed: a new MAC
    // in the current hour is found; a blob in an old hour and a new flow log are not yet.
    let c = blob_name(r1, t, 0, "C");
    let d = blob_name(r1, t, 5, "D");
    let e = blob_name(r2, t, 0, "E");
    put(&[&c, &d, &e]);
    assert_eq!(scan(t + Duration::from_secs(60)), vec![c.clone()]);
    // The next full listing finds the rest; nothing is read twice.
    assert_eq!(scan(t + Duration::from_secs(3601)), sorted(vec![&d, &e]));
    assert_eq!(scan(t + Duration::from_secs(3661)), Vec::<String>::new());
}
