#![no_main]
//! Azure JSON: json_chunks at a fuzzed offset, each chunk parsed, and the whole blob parsed.
use flowlogd_formats::{azure, chunk::json_chunks, Chunk, ChunkFormat, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions {
        batch_rows: 8,
        ..ParseOptions::default()
    };
    let (chunks, resume) = json_chunks("f", "o", 0, data, 128);
    assert!(resume as usize <= data.len());
    for c in &chunks {
        let _ = azure::parse_chunk(c, &opts);
    }
    let whole = Chunk {
        source: "f".into(),
        object: "o".into(),
        format: ChunkFormat::AzureJson,
        offset: 0,
        first_line: 1,
        fields: None,
        seq: 0,
        data: data.to_vec(),
    };
    let _ = azure::parse_chunk(&whole, &opts);
});
