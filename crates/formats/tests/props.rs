//! Property tests: header-driven AWS text round trips, chunked vs whole parsing, and
//! incremental Azure JSON reads of a growing blob.

mod common;

use std::io::Cursor;

use arrow::compute::concat_batches;
use common::cell;
use flowlogd_formats::azure;
use flowlogd_formats::chunk::{json_chunks, TextChunker};
use flowlogd_formats::schema::{aws_field, Col};
use flowlogd_formats::{
    aws_text, flow_schema, Chunk, ChunkFormat, ObjectStats, ParseOptions, Parsed, RecordBatch,
};
use proptest::prelude::*;
use proptest::sample::subsequence;

/// (field name, value generator) pairs covering every value kind.
fn field_names() -> Vec<&'static str> {
    vec![
        "version",
        "account-id",
        "interface-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
        "vpc-id",
        "tcp-flags",
        "type",
        "pkt-srcaddr",
        "region",
        "flow-direction",
        "traffic-path",
        "tgw-id",
        "packets-lost-no-route",
        "ecs-task-id",
        "reject-reason",
        "encryption-status",
        "interface-type",
    ]
}

fn value_for(name: &'static str) -> BoxedStrategy<String> {
    let dash = Just("-".to_owned());
    let v: BoxedStrategy<String> = match name {
        "version" | "protocol" | "traffic-path" | "encryption-status" => {
            any::<u8>().prop_map(|n| n.to_string()).boxed()
        }
        "srcport" | "dstport" | "tcp-flags" => any::<u16>().prop_map(|n| n.to_string()).boxed(),
        "packets" | "bytes" | "packets-lost-no-route" => {
            any::<u64>().prop_map(|n| n.to_string()).boxed()
        }
        "start" | "end" => (700_000_000u64..4_000_000_000)
            .prop_map(|n| n.to_string())
            .boxed(),
        "srcaddr" | "dstaddr" | "pkt-srcaddr" => prop_oneof![
            (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
                .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
            any::<u16>().prop_map(|x| format!("2001:db8::{x:x}")),
        ]
        .boxed(),
        "action" => prop_oneof![Just("ACCEPT".to_owned()), Just("REJECT".to_owned())].boxed(),
        "log-status" => prop_oneof![
            Just("OK".to_owned()),
            Just("NODATA".to_owned()),
            Just("SKIPDATA".to_owned())
        ]
        .boxed(),
        "flow-direction" => {
            prop_oneof![Just("ingress".to_owned()), Just("egress".to_owned())].boxed()
        }
        _ => "[a-zA-Z0-9_:./-]{1,20}|[a-z]{1,5}б[0-9]{1,3}"
            .prop_filter("not a dash", |s| s != "-")
            .boxed(),
    };
    prop_oneof![4 => v, 1 => dash].boxed()
}

/// A field list (any subset, any order) and rows of values for it.
fn layout_and_rows() -> impl Strategy<Value = (Vec<&'static str>, Vec<Vec<String>>)> {
    subsequence(field_names(), 1..=27)
        .prop_shuffle()
        .prop_flat_map(|names| {
            let row: Vec<BoxedStrategy<String>> = names.iter().map(|n| value_for(n)).collect();
            (Just(names), proptest::collection::vec(row, 0..20))
        })
}

fn text_chunk(data: Vec<u8>) -> Chunk {
    Chunk {
        source: "t".into(),
        object: "obj".into(),
        format: ChunkFormat::AwsText,
        offset: 0,
        first_line: 1,
        fields: None,
        seq: 0,
        data,
    }
}

fn merge(parts: Vec<Parsed>) -> (RecordBatch, ObjectStats, usize) {
    let mut stats = ObjectStats::default();
    let mut dead = 0;
    let mut batches = Vec::new();
    for p in parts {
        stats.add(&p.stats);
        dead += p.dead_letters.len();
        batches.push(p.batch);
    }
    (
        concat_batches(&flow_schema(), &batches).expect("concat"),
        stats,
        dead,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_layout_round_trips((names, rows) in layout_and_rows()) {
        let mut text = names.join(" ");
        text.push('\n');
        for r in &rows {
            text.push_str(&r.join(" "));
            text.push('\n');
        }
        let opts = ParseOptions { batch_rows: 7, ..ParseOptions::default() };
        let (batch, stats, dead) = merge(aws_text::parse_chunk(&text_chunk(text.into_bytes()), &opts));
        prop_assert_eq!(dead, 0);
        prop_assert_eq!(batch.num_rows(), rows.len());
        prop_assert_eq!(stats.records as usize, rows.len());
        for (i, r) in rows.iter().enumerate() {
            for (name, v) in names.iter().zip(r) {
                let col = aws_field(name).expect("known");
                let want = match (v.as_str(), col) {
                    ("-", _) => None,
                    (_, Col::Start | Col::End) => Some((v.parse::<i64>().unwrap() * 1000).to_string()),
                    _ => Some(v.clone()),
                };
                prop_assert_eq!(cell(&batch, col, i), want.clone(), "{} row {}", name, i);
                if col == Col::FlowDirection {
                    prop_assert_eq!(cell(&batch, Col::Direction, i), want);
                }
            }
            prop_assert_eq!(cell(&batch, Col::Provider, i), Some("aws".to_owned()));
        }
    }

    #[test]
    fn chunked_equals_whole(
        (names, rows) in layout_and_rows(),
        noise in proptest::collection::vec(0u8..6, 0..40),
        max_chunk in 1usize..400,
    ) {
        // Interleave data lines with blank lines, comments, bad lines, CRLF and repeated headers.
        let mut text = String::new();
        let mut it = noise.iter();
        text.push_str(&names.join(" "));
        text.push('\n');
        for r in &rows {
            match it.next() {
                Some(0) => text.push('\n'),
                Some(1) => text.push_str("# comment\n"),
                Some(2) => text.push_str("bogus line\n"),
                Some(3) => { text.push_str(&names.join("  ")); text.push_str("\r\n"); }
                _ => {}
            }
            text.push_str(&r.join(" "));
            text.push_str(if noise.len() % 2 == 0 { "\n" } else { "\r\n" });
        }
        let opts = ParseOptions { batch_rows: 5, ..ParseOptions::default() };
        let whole = merge(aws_text::parse_chunk(&text_chunk(text.clone().into_bytes()), &opts));
        let chunker = TextChunker::new("t", "obj", Box::new(Cursor::new(text.clone().into_bytes())), max_chunk, &opts);
        let mut parts = Vec::new();
        let mut expect_offset = 0u64;
        let mut joined = Vec::new();
        for (seq, c) in chunker.enumerate() {
            let c = c.expect("chunk");
            prop_assert_eq!(c.offset, expect_offset);
            prop_assert_eq!(c.seq, seq as u64);
            prop_assert!(c.data.len() <= max_chunk || !c.data[..c.data.len() - 1].contains(&b'\n'));
            expect_offset += c.data.len() as u64;
            joined.extend_from_slice(&c.data);
            parts.extend(aws_text::parse_chunk(&c, &opts));
        }
        prop_assert_eq!(&joined, &text.as_bytes().to_vec());
        let chunked = merge(parts);
        prop_assert_eq!(chunked.0, whole.0);
        prop_assert_eq!(chunked.1, whole.1);
        prop_assert_eq!(chunked.2, whole.2);
    }

    #[test]
    fn growing_blob_reads_equal_one_read(
        tuples in proptest::collection::vec((0u32..1000, 1u16..65535, prop_oneof![Just("B"), Just("C"), Just("E"), Just("D")]), 1..40),
        cuts in proptest::collection::vec(0usize..40, 0..5),
        max_chunk in 1usize..2000,
        pretty in any::<bool>(),
    ) {
        let recs: Vec<String> = tuples.iter().map(|(t, p, s)| format!(
            r#"{{"time":"x","category":"FlowLogFlowEvent","flowLogVersion":4,"macAddress":"00224800AABB","flowRecords":{{"flows":[{{"aclID":"a\"}}","flowGroups":[{{"rule":"r","flowTuples":["{},10.0.0.1,10.0.0.2,{},443,6,O,{},NX,1,2,3,4"]}}]}}]}}}}"#,
            1_700_000_000_000u64 + *t as u64, p, s)).collect();
        let sep = if pretty { ",\n  " } else { "," };
        let blob = |n: usize| format!("{{\"records\":[{}]}}", recs[..n].join(sep)).into_bytes();
        let opts = ParseOptions { batch_rows: 3, ..ParseOptions::default() };
        let mut sizes: Vec<usize> = cuts.iter().map(|c| c % (recs.len() + 1)).collect();
        sizes.sort();
        sizes.push(recs.len());
        let mut resume = 0u64;
        let mut parts = Vec::new();
        for n in sizes {
            let b = blob(n);
            let (chunks, next) = json_chunks("s", "o", resume, &b[resume as usize..], max_chunk);
            for c in &chunks {
                parts.extend(azure::parse_chunk(c, &opts).expect("chunk parses"));
            }
            prop_assert!(next >= resume);
            resume = next;
        }
        let final_blob = blob(recs.len());
        prop_assert_eq!(&final_blob[resume as usize..], b"]}");
        let whole = merge(azure::parse_chunk(&Chunk { format: ChunkFormat::AzureJson, data: final_blob, object: "o".into(), ..text_chunk(vec![]) }, &opts).expect("whole"));
        let inc = merge(parts);
        prop_assert_eq!(inc.0.num_rows(), recs.len());
        prop_assert_eq!(inc.0, whole.0);
        prop_assert_eq!(inc.1, whole.1);
    }
}
