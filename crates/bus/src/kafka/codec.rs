//! Messages ↔ Kafka records.
//!
//! `flowlogd.raw`: key `source|object` (an object's chunks and its ledger entry share a
//! partition, in order); header `flowlogd-type` = `chunk` | `ledger` | `failed`.
//! A chunk's value is its bytes; its headers carry what the parser needs to read it alone
//! (`source`, `object`, `format`, `offset`, `first-line`, `seq`, `fields`). Ledger entries and
//! failed objects are JSON values.
//!
//! `flowlogd.partials`: one record per (chunk, summary, window), key `summary|window_start`,
//! value an Arrow IPC stream of the partial rows (empty when the chunk has records in the
//! window but none pass the summary's filter), headers `chunk`, `object`, `summary`,
//! `window`, `records`, and `stats` / `unwindowed` on the record that carries the
//! chunk's accounting.

use std::collections::BTreeMap;
use std::io::Cursor;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use flowlogd_formats::{Chunk, ChunkFormat, DeadLetter, ObjectStats};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::Message;

use super::error::CodecError;
use crate::message::{ChunkPartials, LedgerEntry, RawMessage, SummaryPartial};

pub const TYPE: &str = "flowlogd-type";

/// A record ready to produce: key, value, headers.
pub struct Encoded {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub headers: OwnedHeaders,
}

fn h(headers: OwnedHeaders, key: &str, value: &str) -> OwnedHeaders {
    headers.insert(Header {
        key,
        value: Some(value.as_bytes()),
    })
}

fn err(m: impl Into<String>) -> CodecError {
    CodecError(m.into())
}

/// Encodes a raw-stream message.
pub fn encode_raw(msg: &RawMessage) -> Result<Encoded, CodecError> {
    let json = |v: &dyn erased::Json| v.to_json().map_err(|e| err(e.to_string()));
    Ok(match msg {
        RawMessage::Chunk(c) => {
            let mut headers = h(OwnedHeaders::new(), TYPE, "chunk");
            headers = h(headers, "source", &c.source);
            headers = h(headers, "object", &c.object);
            headers = h(headers, "format", format_name(c.format));
            headers = h(headers, "offset", &c.offset.to_string());
            headers = h(headers, "first-line", &c.first_line.to_string());
            headers = h(headers, "seq", &c.seq.to_string());
            if let Some(f) = &c.fields {
                headers = h(headers, "fields", &f.join(" "));
            }
            Encoded {
                key: format!("{}|{}", c.source, c.object).into_bytes(),
                value: c.data.clone(),
                headers,
            }
        }
        RawMessage::Ledger(e) => Encoded {
            key: format!("{}|{}", e.source, e.object).into_bytes(),
            value: json(e)?,
            headers: h(OwnedHeaders::new(), TYPE, "ledger"),
        },
        RawMessage::ObjectFailed(dl) => Encoded {
            key: dl.object.clone().into_bytes(),
            value: json(dl)?,
            headers: h(OwnedHeaders::new(), TYPE, "failed"),
        },
    })
}

mod erased {
    pub trait Json {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}

fn format_name(f: ChunkFormat) -> &'static str {
    match f {
        ChunkFormat::AwsText => "aws-text",
        ChunkFormat::AwsParquet => "aws-parquet",
        ChunkFormat::AzureJson => "azure-json",
    }
}

fn parse_format(s: &str) -> Result<ChunkFormat, CodecError> {
    Ok(match s {
        "aws-text" => ChunkFormat::AwsText,
        "aws-parquet" => ChunkFormat::AwsParquet,
        "azure-json" => ChunkFormat::AzureJson,
        other => return Err(err(format!("unknown chunk format {other:?}"))),
    })
}

/// The headers of a record as text (a header that is not UTF-8 is an error).
fn headers_of<M: Message>(m: &M) -> Result<BTreeMap<String, String>, CodecError> {
    let mut out = BTreeMap::new();
    if let Some(hs) = m.headers() {
        for hd in hs.iter() {
            let v = hd.value.unwrap_or_default();
            let v = std::str::from_utf8(v)
                .map_err(|_| err(format!("header {:?} is not UTF-8", hd.key)))?;
            out.insert(hd.key.to_owned(), v.to_owned());
        }
    }
    Ok(out)
}

fn get<'a>(hs: &'a BTreeMap<String, String>, k: &str) -> Result<&'a str, CodecError> {
    hs.get(k)
        .map(String::as_str)
        .ok_or_else(|| err(format!("missing header {k:?}")))
}

fn num<T: std::str::FromStr>(hs: &BTreeMap<String, String>, k: &str) -> Result<T, CodecError> {
    let v = get(hs, k)?;
    v.parse()
        .map_err(|_| err(format!("header {k:?} is not a number: {v:?}")))
}

/// The object a record names, for dead letters of records that do not decode.
pub fn object_hint<M: Message>(m: &M) -> Option<String> {
    headers_of(m).ok().and_then(|h| h.get("object").cloned())
}

/// Decodes a raw-stream record.
pub fn decode_raw<M: Message>(m: &M) -> Result<RawMessage, CodecError> {
    let hs = headers_of(m)?;
    let value = m.payload().unwrap_or_default();
    match get(&hs, TYPE)? {
        "chunk" => Ok(RawMessage::Chunk(Chunk {
            source: get(&hs, "source")?.to_owned(),
            object: get(&hs, "object")?.to_owned(),
            format: parse_format(get(&hs, "format")?)?,
            offset: num(&hs, "offset")?,
            first_line: num(&hs, "first-line")?,
            seq: num(&hs, "seq")?,
            fields: hs
                .get("fields")
                .map(|f| f.split_whitespace().map(str::to_owned).collect()),
            data: value.to_vec(),
        })),
        "ledger" => serde_json::from_slice::<LedgerEntry>(value)
            .map(RawMessage::Ledger)
            .map_err(|e| err(format!("ledger entry is not valid JSON: {e}"))),
        "failed" => serde_json::from_slice::<DeadLetter>(value)
            .map(RawMessage::ObjectFailed)
            .map_err(|e| err(format!("failed-object record is not valid JSON: {e}"))),
        other => Err(err(format!("unknown {TYPE} {other:?}"))),
    }
}

/// Key of a partial on `flowlogd.partials`: one partition owns a (summary, window).
pub fn partial_key(summary: &str, window_start_ms: i64) -> String {
    format!("{summary}|{window_start_ms}")
}

/// Splits a chunk's partials into one record per (summary, window). `summaries` is the
/// configured order; the first summary's record of each window carries the window's record
/// count (every window of the chunk gets one, even without rows), and the first record of
/// the chunk carries its accounting. Dead letters are not included (the parse role writes
/// them to the dead-letter topic itself).
///
/// Each record's chunk id is `<chunk id>#<summary>`: an aggregator that owns several
/// summaries of a window deduplicates each (chunk, summary) on its own.
pub fn encode_partials(
    cp: &ChunkPartials,
    summaries: &[String],
) -> Result<Vec<Encoded>, CodecError> {
    let Some(first) = summaries.first() else {
        return Ok(Vec::new());
    };
    let mut by_key: BTreeMap<(usize, i64), Vec<&RecordBatch>> = BTreeMap::new();
    for p in &cp.partials {
        let idx = summaries
            .iter()
            .position(|s| *s == p.summary)
            .ok_or_else(|| err(format!("partial of unknown summary {:?}", p.summary)))?;
        by_key
            .entry((idx, p.window_start_ms))
            .or_default()
            .push(&p.batch);
    }
    for &w in cp.window_records.keys() {
        by_key.entry((0, w)).or_default();
    }
    let mut out = Vec::with_capacity(by_key.len());
    let mut accounted = false;
    for ((idx, w), batches) in by_key {
        let summary = &summaries[idx];
        let records = if idx == 0 {
            cp.window_records.get(&w).copied().unwrap_or(0)
        } else {
            0
        };
        let mut headers = h(
            OwnedHeaders::new(),
            "chunk",
            &format!("{}#{summary}", cp.chunk_id),
        );
        headers = h(headers, "object", &cp.object);
        headers = h(headers, "summary", summary);
        headers = h(headers, "window", &w.to_string());
        headers = h(headers, "records", &records.to_string());
        if !accounted && summary == first {
            accounted = true;
            let stats = serde_json::to_string(&cp.stats).map_err(|e| err(e.to_string()))?;
            headers = h(headers, "stats", &stats);
            headers = h(headers, "unwindowed", &cp.unwindowed.to_string());
        }
        out.push(Encoded {
            key: partial_key(summary, w).into_bytes(),
            value: ipc(&batches)?,
            headers,
        });
    }
    Ok(out)
}

fn ipc(batches: &[&RecordBatch]) -> Result<Vec<u8>, CodecError> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, &first.schema())
            .map_err(|e| err(format!("arrow ipc: {e}")))?;
        for b in batches {
            w.write(b).map_err(|e| err(format!("arrow ipc: {e}")))?;
        }
        w.finish().map_err(|e| err(format!("arrow ipc: {e}")))?;
    }
    Ok(buf)
}

/// Decodes a partials record into the aggregator's message for one (summary, window).
pub fn decode_partial<M: Message>(m: &M) -> Result<ChunkPartials, CodecError> {
    let hs = headers_of(m)?;
    let summary = get(&hs, "summary")?.to_owned();
    let window: i64 = num(&hs, "window")?;
    let records: u64 = num(&hs, "records")?;
    let stats: ObjectStats = match hs.get("stats") {
        Some(s) => serde_json::from_str(s).map_err(|e| err(format!("header \"stats\": {e}")))?,
        None => ObjectStats::default(),
    };
    let unwindowed = match hs.get("unwindowed") {
        Some(_) => num(&hs, "unwindowed")?,
        None => 0,
    };
    let mut partials = Vec::new();
    let value = m.payload().unwrap_or_default();
    if !value.is_empty() {
        let r = StreamReader::try_new(Cursor::new(value), None)
            .map_err(|e| err(format!("partial is not an Arrow IPC stream: {e}")))?;
        for b in r {
            let batch = b.map_err(|e| err(format!("partial is not an Arrow IPC stream: {e}")))?;
            partials.push(SummaryPartial {
                summary: summary.clone(),
                window_start_ms: window,
                batch,
                part: None,
            });
        }
    }
    Ok(ChunkPartials {
        chunk_id: get(&hs, "chunk")?.to_owned(),
        object: get(&hs, "object")?.to_owned(),
        stats,
        dead_letters: Vec::new(),
        window_records: BTreeMap::from([(window, records)]),
        unwindowed,
        partials,
    })
}

/// A dead letter as a record of `flowlogd.deadletter` (key: the object).
pub fn encode_dead_letter(dl: &DeadLetter) -> Result<Encoded, CodecError> {
    Ok(Encoded {
        key: dl.object.clone().into_bytes(),
        value: serde_json::to_vec(dl).map_err(|e| err(e.to_string()))?,
        headers: OwnedHeaders::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::OwnedMessage;
    use rdkafka::Timestamp;

    fn record(e: Encoded) -> OwnedMessage {
        OwnedMessage::new(
            Some(e.value),
            Some(e.key),
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(e.headers),
        )
    }

    #[test]
    fn chunk_roundtrips() {
        let c = Chunk {
            source: "local".into(),
            object: "a/b.log.gz".into(),
            format: ChunkFormat::AwsText,
            offset: 1024,
            first_line: 17,
            fields: Some(vec!["version".into(), "srcaddr".into()]),
            seq: 3,
            data: b"2 1 2\n".to_vec(),
        };
        let m = record(encode_raw(&RawMessage::Chunk(c.clone())).unwrap());
        match decode_raw(&m).unwrap() {
            RawMessage::Chunk(d) => assert_eq!(d, c),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn records_without_headers_are_rejected_with_a_reason() {
        let m = OwnedMessage::new(
            Some(b"junk".to_vec()),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            None,
        );
        let e = decode_raw(&m).unwrap_err();
        assert!(e.0.contains("flowlogd-type"), "{e}");
    }
}
