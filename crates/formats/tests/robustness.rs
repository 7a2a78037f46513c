//! Fuzz-style robustness in stable CI: arbitrary and mutated bytes into every parser entry
//! point must never panic (a bounded number of proptest cases; `fuzz/` has the cargo-fuzz
//! targets for longer runs).

mod common;

use std::io::{Cursor, Write};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use flate2::write::GzEncoder;
use flowlogd_formats::chunk::{json_chunks, TextChunker};
use flowlogd_formats::reader::from_read;
use flowlogd_formats::{
    aws_parquet, aws_text, azure, Chunk, ChunkFormat, FormatHint, ParseOptions,
};
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;

const TEXT_SEED: &[u8] = b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK\n2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA\n";
const JSON_SEED: &[u8] = br#"{"records":[{"time":"t","macAddress":"000D3AF87856","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/R/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","properties":{"Version":2,"flows":[{"rule":"r","flows":[{"mac":"000D3AF87856","flowTuples":["1542110379,1.128.0.0,1.128.0.1,59932,443,T,O,A,E,1,66,1,66","1542110377,10.0.0.4,13.67.143.118,1,2,U,I,D,B,,,,"]}]}]}},{"category":"FlowLogFlowEvent","flowRecords":{"flows":[{"aclID":"a","flowGroups":[{"rule":"x","flowTuples":["1663146003606,10.0.0.6,52.239.184.180,23956,443,6,O,E,NX,3,767,2,1580"]}]}]}}]}"#;

fn parquet_seed() -> Vec<u8> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int32, true),
        Field::new("srcaddr", DataType::Utf8, true),
        Field::new("dstport", DataType::Int32, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("start", DataType::Int64, true),
        Field::new("log_status", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from(vec![Some(2), None, Some(2)])),
        Arc::new(StringArray::from(vec![
            Some("10.0.0.1"),
            Some("-"),
            Some("None"),
        ])),
        Arc::new(Int32Array::from(vec![Some(443), Some(70000), None])),
        Arc::new(Int64Array::from(vec![Some(1), Some(-5), None])),
        Arc::new(Int64Array::from(vec![Some(1418530010), Some(5), None])),
        Arc::new(StringArray::from(vec![Some("OK"), Some("NODATA"), None])),
    ];
    let batch = RecordBatch::try_new(schema.clone(), cols).expect("batch");
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, schema, None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
    out
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}

/// Applies byte edits (position, value) and an optional truncation to a seed.
fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(p, b) in edits {
        if !v.is_empty() {
            let i = p % v.len();
            v[i] = b;
        }
    }
    if let Some(c) = cut {
        v.truncate(c % (v.len() + 1));
    }
    v
}

fn chunk(format: ChunkFormat, data: Vec<u8>, offset: u64) -> Chunk {
    Chunk {
        source: "f".into(),
        object: "o".into(),
        format,
        offset,
        first_line: 1,
        fields: None,
        seq: 0,
        data,
    }
}

fn exercise_all(data: &[u8]) {
    let opts = ParseOptions {
        batch_rows: 4,
        max_decompressed_bytes: 1 << 22,
        ..ParseOptions::default()
    };
    let _ = aws_text::parse_chunk(&chunk(ChunkFormat::AwsText, data.to_vec(), 0), &opts);
    let _ = azure::parse_chunk(&chunk(ChunkFormat::AzureJson, data.to_vec(), 7), &opts);
    let _ = aws_parquet::parse_bytes("o", data, &opts);
    let (chunks, resume) = json_chunks("f", "o", 3, data, 64);
    assert!(resume >= 3 && resume <= 3 + data.len() as u64);
    for c in chunks {
        let _ = azure::parse_chunk(&c, &opts);
    }
    for c in TextChunker::new("f", "o", Box::new(Cursor::new(data.to_vec())), 17, &opts).flatten() {
        let _ = aws_text::parse_chunk(&c, &opts);
    }
    for hint in [
        FormatHint::Auto,
        FormatHint::AwsText,
        FormatHint::AwsParquet,
        FormatHint::AzureJson,
    ] {
        if let Ok(r) = from_read("o", Box::new(Cursor::new(data.to_vec())), hint, &opts) {
            for p in r {
                let _ = p;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise_all(&data);
    }

    #[test]
    fn mutated_inputs_never_panic(
        which in 0u8..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let seed = match which {
            0 => TEXT_SEED.to_vec(),
            1 => gz(TEXT_SEED),
            2 => JSON_SEED.to_vec(),
            _ => parquet_seed(),
        };
        exercise_all(&mutate(&seed, &edits, cut));
    }
}

#[test]
fn seeds_parse() {
    let opts = ParseOptions::default();
    let out = common::parse_bytes("o", gz(TEXT_SEED), FormatHint::Auto, &opts).expect("text");
    assert_eq!((out.rows(), out.stats.nodata), (2, 1));
    let out = common::parse_bytes("o", JSON_SEED.to_vec(), FormatHint::Auto, &opts).expect("json");
    assert_eq!(out.rows(), 3);
    // Parquet seed: row 2 has port 70000 and bytes -5 → rejected; "-"/"None" strings are null.
    let out =
        common::parse_bytes("o.parquet", parquet_seed(), FormatHint::Auto, &opts).expect("parquet");
    assert_eq!((out.rows(), out.stats.rejected), (2, 1));
    assert_eq!(out.get(flowlogd_formats::Col::SrcAddr, 1), None);
}
