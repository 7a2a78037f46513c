#![no_main]
//! Gzip-wrapped text through the streaming reader (decompression errors, bomb limit).
use flowlogd_formats::{reader::from_read, FormatHint, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions {
        max_decompressed_bytes: 1 << 20,
        ..ParseOptions::default()
    };
    let mut v = vec![0x1f, 0x8b];
    v.extend_from_slice(data);
    if let Ok(r) = from_read(
        "o",
        Box::new(std::io::Cursor::new(v)),
        FormatHint::AwsText,
        &opts,
    ) {
        for _ in r {}
    }
});
