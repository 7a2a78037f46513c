#![no_main]
//! Arbitrary bytes as a Parquet object: must be rows or `FormatError::Parquet`, never a panic.
use flowlogd_formats::{aws_parquet, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = aws_parquet::parse_bytes("o", data, &ParseOptions::default());
});
