//! Format detection: by content first (gzip magic → AWS text, `PAR1` → Parquet, `{`/`[`/BOM
//! → Azure JSON), then by name, else AWS text.

use std::str::FromStr;

use crate::ChunkFormat;

/// What the user (or config) says an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatHint {
    #[default]
    Auto,
    AwsText,
    AwsParquet,
    AzureJson,
}

/// Error for an unknown hint name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: expected auto, aws-text, aws-parquet or azure-json")]
pub struct UnknownHint(pub String);

impl FromStr for FormatHint {
    type Err = UnknownHint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(FormatHint::Auto),
            "aws-text" | "aws_text" | "text" => Ok(FormatHint::AwsText),
            "aws-parquet" | "aws_parquet" | "parquet" => Ok(FormatHint::AwsParquet),
            "azure-json" | "azure_json" | "azure" | "json" => Ok(FormatHint::AzureJson),
            _ => Err(UnknownHint(s.to_owned())),
        }
    }
}

impl std::fmt::Display for FormatHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FormatHint::Auto => "auto",
            FormatHint::AwsText => "aws-text",
            FormatHint::AwsParquet => "aws-parquet",
            FormatHint::AzureJson => "azure-json",
        })
    }
}

impl FormatHint {
    /// The names accepted on the command line.
    pub const NAMES: &'static [&'static str] = &["auto", "aws-text", "aws-parquet", "azure-json"];
}

/// gzip member magic.
pub fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
}

/// Decides the format of an object from its first bytes (a few KiB suffice) and its name.
pub fn detect(hint: FormatHint, name: &str, head: &[u8]) -> ChunkFormat {
    match hint {
        FormatHint::AwsText => return ChunkFormat::AwsText,
        FormatHint::AwsParquet => return ChunkFormat::AwsParquet,
        FormatHint::AzureJson => return ChunkFormat::AzureJson,
        FormatHint::Auto => {}
    }
    if is_gzip(head) {
        return ChunkFormat::AwsText;
    }
    if head.starts_with(b"PAR1") {
        return ChunkFormat::AwsParquet;
    }
    let body = head.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(head);
    if matches!(body.trim_ascii_start().first(), Some(b'{' | b'[')) {
        return ChunkFormat::AzureJson;
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".parquet") {
        ChunkFormat::AwsParquet
    } else if lower.ends_with(".json") && head.is_empty() {
        ChunkFormat::AzureJson
    } else {
        ChunkFormat::AwsText
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_content_and_name() {
        assert_eq!(
            detect(FormatHint::Auto, "x", &[0x1f, 0x8b, 8]),
            ChunkFormat::AwsText
        );
        assert_eq!(
            detect(FormatHint::Auto, "x", b"PAR1...."),
            ChunkFormat::AwsParquet
        );
        assert_eq!(
            detect(FormatHint::Auto, "x", b"\xEF\xBB\xBF {"),
            ChunkFormat::AzureJson
        );
        assert_eq!(
            detect(FormatHint::Auto, "x", b"  [ "),
            ChunkFormat::AzureJson
        );
        assert_eq!(
            detect(FormatHint::Auto, "a.log", b"version x"),
            ChunkFormat::AwsText
        );
        assert_eq!(
            detect(FormatHint::Auto, "a.parquet", b""),
            ChunkFormat::AwsParquet
        );
        assert_eq!(
            detect(FormatHint::AzureJson, "a.log", b"v"),
            ChunkFormat::AzureJson
        );
        assert_eq!(
            "aws-parquet".parse::<FormatHint>().unwrap(),
            FormatHint::AwsParquet
        );
        assert!("nope".parse::<FormatHint>().is_err());
    }
}
