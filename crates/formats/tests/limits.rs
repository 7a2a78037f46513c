//! Object-level failures: decompression bombs, corrupt gzip, truncated Parquet and JSON.

mod common;

use std::io::{Cursor, Write};

use flate2::write::GzEncoder;
use flowlogd_formats::chunk::TextChunker;
use flowlogd_formats::reader::{from_read, open_text};
use flowlogd_formats::{FormatError, FormatHint, ParseOptions};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gz");
    e.finish().expect("gz")
}

fn drain(data: Vec<u8>, hint: FormatHint, opts: &ParseOptions) -> Result<usize, FormatError> {
    let mut rows = 0;
    for p in from_read("obj", Box::new(Cursor::new(data)), hint, opts)? {
        rows += p?.batch.num_rows();
    }
    Ok(rows)
}

#[test]
fn gzip_bomb_is_refused() {
    // 64 MiB of zeros compress to ~64 KiB.
    let bomb = gz(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 200_000);
    let opts = ParseOptions {
        max_decompressed_bytes: 1 << 20,
        ..ParseOptions::default()
    };
    let e = drain(bomb.clone(), FormatHint::Auto, &opts).unwrap_err();
    assert!(
        matches!(e, FormatError::TooLarge { limit, .. } if limit == 1 << 20),
        "{e}"
    );
    assert_eq!(e.kind(), "too_large");
    // Same through the chunker.
    let mut it = TextChunker::new(
        "s",
        "obj",
        open_text(Box::new(Cursor::new(bomb))),
        1 << 16,
        &opts,
    );
    assert!(it.any(|c| matches!(c, Err(FormatError::TooLarge { .. }))));
}

#[test]
fn corrupt_and_truncated_gzip() {
    let text: String = (0..5000)
        .map(|i| {
            format!("2 123 eni-1 10.0.0.1 10.0.0.2 {i} 443 6 1 2 1418530010 1418530070 ACCEPT OK\n")
        })
        .collect();
    let good = gz(text.as_bytes());
    let opts = ParseOptions::default();
    assert_eq!(drain(good.clone(), FormatHint::Auto, &opts).unwrap(), 5000);
    let truncated = good[..good.len() / 2].to_vec();
    let e = drain(truncated, FormatHint::Auto, &opts).unwrap_err();
    assert!(matches!(e, FormatError::CorruptGzip { .. }), "{e}");
    let mut corrupt = good.clone();
    for b in corrupt[20..60].iter_mut() {
        *b ^= 0x5a;
    }
    let e = drain(corrupt, FormatHint::Auto, &opts).unwrap_err();
    assert_eq!(e.kind(), "corrupt_gzip", "{e}");
    assert_eq!(e.to_dead_letter().object, "obj");
}

#[test]
fn truncated_parquet_is_an_object_error() {
    let Some(root) = common::fixtures() else {
        return;
    };
    let data =
        std::fs::read(root.join("aws-vpc-parquet/sekoia__test_parquet.parquet")).expect("read");
    let opts = ParseOptions::default();
    assert_eq!(drain(data.clone(), FormatHint::Auto, &opts).unwrap(), 8);
    for cut in [0, 4, 100, data.len() / 2, data.len() - 1] {
        let r = flowlogd_formats::aws_parquet::parse_bytes("obj", &data[..cut], &opts);
        assert!(matches!(r, Err(FormatError::Parquet { .. })), "cut {cut}");
    }
    let e = drain(
        data[..data.len() - 10].to_vec(),
        FormatHint::AwsParquet,
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "bad_parquet");
}

#[test]
fn invalid_and_truncated_json() {
    let opts = ParseOptions::default();
    // Not JSON at all (forced): one object-level error.
    let e = drain(b"hello world".to_vec(), FormatHint::AzureJson, &opts).unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e}");
    // A blob cut in the middle of its second record: first record kept, tail dead-lettered.
    let blob = br#"{"records":[{"properties":{"Version":1,"flows":[{"rule":"r","flows":[{"mac":"000D3AF87856","flowTuples":["1487282421,42.119.146.95,10.1.0.4,51529,5358,T,I,D"]}]}]}},{"properties":{"Version":1,"flo"#;
    let mut rows = 0;
    let mut dead = Vec::new();
    for p in from_read(
        "obj",
        Box::new(Cursor::new(blob.to_vec())),
        FormatHint::Auto,
        &opts,
    )
    .expect("open")
    {
        let p = p.expect("parsed");
        rows += p.batch.num_rows();
        dead.extend(p.dead_letters);
    }
    assert_eq!(rows, 1);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].kind, "truncated_json");
    assert!(dead[0].offset.is_some());
}
