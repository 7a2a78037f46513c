#![no_main]
//! AWS text: whole-chunk parse and TextChunker + parse_chunk must never panic.
use flowlogd_formats::{aws_text, chunk::TextChunker, Chunk, ChunkFormat, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions {
        batch_rows: 8,
        ..ParseOptions::default()
    };
    let c = Chunk {
        source: "f".into(),
        object: "o".into(),
        format: ChunkFormat::AwsText,
        offset: 0,
        first_line: 1,
        fields: None,
        seq: 0,
        data: data.to_vec(),
    };
    let _ = aws_text::parse_chunk(&c, &opts);
    for c in TextChunker::new(
        "f",
        "o",
        Box::new(std::io::Cursor::new(data.to_vec())),
        64,
        &opts,
    )
    .flatten()
    {
        let _ = aws_text::parse_chunk(&c, &opts);
    }
});
