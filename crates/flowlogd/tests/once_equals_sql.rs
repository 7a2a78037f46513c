//! `run --once` equals a plain SQL GROUP BY over the same records (parsed independently by
//! `flowlogd parse`), for every format, with late and out-of-order records in the data; for
//! `connections` the orientation rules are restated in SQL.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn once_output_equals_sql_group_by_over_parsed_records() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    gen(&input, 60_000, "2024-05-01T00:00:00Z", 3, 11);

    let run = run_once(&input, &out);
    let acct = accounting(&run.stdout);

    let flows = tmp.path().join("flows.parquet");
    parse_to_parquet(&input, &flows);

    let parquet = out.join("parquet");
    let expected = rows(&sql(Some(&flows), None, &traffic_reference_sql()).await);
    let actual = rows(&sql(None, Some(&parquet), &traffic_output_sql()).await);
    assert!(
        expected.len() > 1000,
        "too little data to mean anything: {}",
        expected.len()
    );
    assert_eq!(actual.len(), expected.len(), "traffic row count");
    assert_same_rows(&actual, &expected, "traffic vs its SQL definition");

    let expected = rows(&sql(Some(&flows), None, &rejected_reference_sql()).await);
    let actual = rows(&sql(None, Some(&parquet), &rejected_output_sql()).await);
    assert!(!expected.is_empty());
    assert_same_rows(
        &actual,
        &expected,
        "rejected_by_source vs its SQL definition",
    );

    let expected = rows(&sql(Some(&flows), None, &connections_reference_sql()).await);
    let actual = rows(&sql(None, Some(&parquet), &connections_output_sql()).await);
    assert!(expected.len() > 100);
    assert_same_rows(&actual, &expected, "connections vs its SQL definition");

    // Orientation folds responses: fewer rows than `traffic`, the same bytes both ways.
    let totals = rows(
        &sql(
            None,
            Some(&parquet),
            "SELECT (SELECT count(*) FROM traffic) AS t, (SELECT count(*) FROM connections) AS c, \
             (SELECT sum(coalesce(bytes, 0)) + sum(coalesce(bytes_rev, 0)) FROM traffic) AS tb, \
             (SELECT sum(coalesce(bytes_c2s, 0)) + sum(coalesce(bytes_s2c, 0)) FROM connections) AS cb",
        )
        .await,
    );
    let v: Vec<u64> = totals[0].split('|').map(|x| x.parse().unwrap()).collect();
    assert!(
        v[1] * 2 <= v[0],
        "connections {} rows vs traffic {}",
        v[1],
        v[0]
    );
    assert_eq!(
        v[2], v[3],
        "byte totals differ between traffic and connections"
    );

    // Accounting: every parsed record is counted once.
    let total = rows(&sql(Some(&flows), None, "SELECT count(*) FROM flows").await);
    assert_eq!(
        acct["records_in"], total[0],
        "records_in vs records parsed by `flowlogd parse`"
    );
    assert_eq!(acct["too_late"], "0");
    // Every revision of the backfill is 1.
    let revs = rows(
        &sql(
            None,
            Some(&parquet),
            "SELECT DISTINCT revision FROM traffic",
        )
        .await,
    );
    assert_eq!(revs, vec!["1".to_string()]);
}
