//! The Parquet output is readable by DuckDB with the same results as DataFusion.
//! Needs `FLOWLOGD_PYTHON` (a Python with the `duckdb` package; `scripts/test.sh` sets it).

mod common;

use std::process::Command;

use common::*;

const QUERY: &str =
    "SELECT {W} AS w, count(*) AS n, sum(records) AS records, sum(bytes) AS bytes, \
    sum(packets) AS packets, count(DISTINCT src_addr) AS srcs, max(revision) AS rev \
    FROM traffic GROUP BY 1 ORDER BY 1";

#[tokio::test(flavor = "multi_thread")]
async fn duckdb_reads_the_same_summaries_as_datafusion() {
    let Ok(python) = std::env::var("FLOWLOGD_PYTHON") else {
        eprintln!(
            "skipped: FLOWLOGD_PYTHON is unset (a Python with duckdb; scripts/test.sh sets it)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 30_000, "2024-05-01T00:00:00Z", 2, 3);
    run_once(&input, &out);
    let parquet = out.join("parquet");

    let df = rows(
        &sql(
            None,
            Some(&parquet),
            &QUERY.replace("{W}", "CAST(window_start AS BIGINT)"),
        )
        .await,
    );

    let glob = parquet.join("summary=traffic/**/*.parquet");
    let script = format!(
        "import duckdb\n\
         con = duckdb.connect()\n\
         con.execute(\"CREATE VIEW traffic AS SELECT * FROM read_parquet('{}', hive_partitioning=false)\")\n\
         for r in con.execute(\"{}\").fetchall():\n    print('|'.join(str(v) for v in r))\n",
        glob.display(),
        QUERY.replace("{W}", "epoch_ms(window_start)")
    );
    let out = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "duckdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut duck: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    duck.sort();
    assert!(!duck.is_empty());
    assert_eq!(
        duck, df,
        "DuckDB and DataFusion disagree on the Parquet output"
    );
}
