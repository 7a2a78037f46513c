//! Chunks: bounded, self-contained pieces of an object, the unit the pipeline moves, parses,
//! deduplicates and checkpoints. A chunk's identity is (source, object, offset), never an
//! ETag: a growing `PT1H.json` changes ETag on every commit while the bytes already read
//! stay the same.

use serde::{Deserialize, Serialize};

use crate::{FormatError, ParseOptions, Parsed};

/// How a chunk's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChunkFormat {
    /// Line-aligned slice of a decompressed AWS text object.
    AwsText,
    /// A whole AWS Parquet object.
    AwsParquet,
    /// A whole Azure `PT1H.json`, or the bytes appended to it since an earlier read
    /// (starting at a record seam such as `,{…}` and possibly ending in `]}`).
    AzureJson,
}

/// One chunk with the metadata the parser needs to read it alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Source name from the config (`local`, an S3 destination, ...).
    pub source: String,
    /// Object key, blob name or path.
    pub object: String,
    pub format: ChunkFormat,
    /// Offset of `data` in the object: decompressed bytes for AWS text, raw bytes for Azure
    /// JSON, rows for Parquet (index of the chunk's first row).
    pub offset: u64,
    /// 1-based number of the first line in `data` (AWS text) or of its first row in the
    /// object (AWS Parquet); 1 elsewhere.
    pub first_line: u64,
    /// AWS text: the header field list in force where the chunk starts (`None` until a
    /// header was seen: the parser then uses the configured default format).
    pub fields: Option<Vec<String>>,
    /// Index of this chunk within its object read (0-based); informational.
    pub seq: u64,
    #[serde(with = "serde_bytes_b64")]
    pub data: Vec<u8>,
}

impl Chunk {
    /// Stable identity used for deduplication: (source, object, offset).
    pub fn id(&self) -> String {
        format!("{}|{}|{}", self.source, self.object, self.offset)
    }
}

/// Parses one chunk into normalized batches (at most `opts.batch_rows` rows each).
/// Line- and record-level problems become dead-letter records; only a chunk that cannot be
/// read at all (corrupt Parquet, JSON that is not flow-log JSON) is an error.
pub fn parse_chunk(chunk: &Chunk, opts: &ParseOptions) -> Result<Vec<Parsed>, FormatError> {
    match chunk.format {
        ChunkFormat::AwsText => Ok(crate::aws_text::parse_chunk(chunk, opts)),
        ChunkFormat::AwsParquet => {
            crate::aws_parquet::parse_bytes_from(&chunk.object, &chunk.data, chunk.first_line, opts)
        }
        ChunkFormat::AzureJson => crate::azure::parse_chunk(chunk, opts),
    }
}

/// Cuts a decompressed AWS text stream into line-aligned chunks of at most
/// `max_chunk_bytes` (see [`TextChunker::new`]).
pub use crate::aws_text::chunker::TextChunker;

/// Cuts Azure `PT1H.json` bytes into record-aligned chunks; see
/// [`crate::azure::scan::json_chunks`].
pub use crate::azure::scan::json_chunks;

/// Chunks travel as JSON in tests and debugging output; data is base64 there.
mod serde_bytes_b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_roundtrips_through_json() {
        for n in 0..5 {
            let c = Chunk {
                source: "s".into(),
                object: "o".into(),
                format: ChunkFormat::AwsText,
                offset: 7,
                first_line: 2,
                fields: None,
                seq: 0,
                data: (0..n as u8).collect(),
            };
            let j = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Chunk>(&j).unwrap(), c);
        }
    }
}
