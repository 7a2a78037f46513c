//! Azure NSG (v1, v2) and VNet flow logs (`PT1H.json` blobs): one tuple = one row.
//!
//! Records are located by [`scan`] (no whole-blob `Value` is ever built) and each is
//! deserialized alone into the typed shapes of [`record`]. A bad tuple or record becomes a
//! dead letter with its record's byte offset; only bytes with no record structure at all
//! make the chunk fail.

pub mod record;
pub mod scan;
pub mod tuple;

use crate::keyinfo::{self, arm_parts, network_watcher_region, normalize_mac};
use crate::schema::Col;
use crate::{Chunk, DeadLetter, FlowBatchBuilder, FormatError, ObjectStats, ParseOptions, Parsed};
use record::{version_of, Record};
use tuple::{set_tuple, TupleKind};

/// Parses one Azure JSON chunk: a whole blob, or bytes appended to it since an earlier read.
pub fn parse_chunk(chunk: &Chunk, opts: &ParseOptions) -> Result<Vec<Parsed>, FormatError> {
    let mut p = AzureParser::new(&chunk.object, opts);
    let mut out = Vec::new();
    p.feed(&chunk.data, chunk.offset, true, &mut out)?;
    out.push(p.take());
    Ok(out)
}

/// Incremental parser of one blob's records.
pub struct AzureParser {
    object: String,
    batch_rows: usize,
    max_raw: usize,
    builder: FlowBatchBuilder,
    dead: Vec<DeadLetter>,
    stats: ObjectStats,
}

impl AzureParser {
    pub fn new(object: &str, opts: &ParseOptions) -> Self {
        let mut builder = FlowBatchBuilder::new().without_defaults_for(&opts.skip_columns);
        let k = keyinfo::from_key(object);
        builder.set_default(Col::Provider, Some("azure"));
        builder.set_default(Col::ObjectKey, Some(object));
        builder.set_default(Col::AccountId, k.subscription_id.as_deref());
        builder.set_default(Col::ResourceGroup, k.resource_group.as_deref());
        builder.set_default(Col::ResourceId, k.resource_id.as_deref());
        builder.set_default(Col::InterfaceId, k.mac.as_deref());
        builder.set_default(Col::Region, k.region.as_deref());
        Self {
            object: object.to_owned(),
            batch_rows: opts.batch_rows.max(1),
            max_raw: opts.max_raw_bytes,
            builder,
            dead: Vec::new(),
            stats: ObjectStats::default(),
        }
    }

    /// Parses the records in `data` (raw offset `offset`). With `final_piece`, a trailing
    /// incomplete record is reported (truncated blob) instead of silently left for later.
    pub fn feed(
        &mut self,
        data: &[u8],
        offset: u64,
        final_piece: bool,
        out: &mut Vec<Parsed>,
    ) -> Result<(), FormatError> {
        let sc = scan::scan(data);
        if sc.records.is_empty() {
            if let Some((pos, reason)) = &sc.error {
                return Err(FormatError::Json {
                    object: self.object.clone(),
                    offset: offset + *pos as u64,
                    reason: reason.clone(),
                });
            }
        }
        for r in &sc.records {
            let at = offset + r.start as u64;
            match serde_json::from_slice::<Record>(&data[r.clone()]) {
                Ok(rec) => self.record(&rec, at, &data[r.clone()], out),
                Err(e) => self.reject(
                    at,
                    "bad_record",
                    format!("record is not flow-log JSON: {e}"),
                    &data[r.clone()],
                ),
            }
        }
        if let Some((pos, reason)) = sc.error {
            self.reject(offset + pos as u64, "bad_json", reason, &data[pos..]);
        } else if let (true, Some(pos)) = (final_piece, sc.incomplete) {
            self.reject(
                offset + pos as u64,
                "truncated_json",
                "record does not end (truncated blob?)".into(),
                &data[pos..],
            );
        }
        Ok(())
    }

    fn reject(&mut self, at: u64, kind: &str, reason: String, raw: &[u8]) {
        self.stats.rejected += 1;
        self.dead.push(
            DeadLetter::new(&self.object, kind, reason)
                .at_offset(at)
                .with_raw(raw, self.max_raw),
        );
    }

    fn flush_if_full(&mut self, out: &mut Vec<Parsed>) {
        if self.builder.rows() >= self.batch_rows {
            out.push(self.take());
        }
    }

    fn record(&mut self, rec: &Record, at: u64, raw: &[u8], out: &mut Vec<Parsed>) {
        if let Some(nested) = &rec.records {
            for r in nested {
                self.record(r, at, raw, out);
            }
            if rec.properties.is_none() && rec.flow_records.is_none() {
                return;
            }
        }
        let is_vnet = rec.flow_records.is_some()
            || rec
                .category
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case("FlowLogFlowEvent"));
        let mac = rec.mac_address.as_deref().and_then(normalize_mac);
        if is_vnet {
            self.vnet(rec, mac, at, raw, out);
        } else if let Some(flows) = rec.properties.as_ref().and_then(|p| p.flows.as_ref()) {
            let version = rec.properties.as_ref().and_then(|p| version_of(&p.version));
            let (sub, rg) = rec
                .resource_id
                .as_deref()
                .map(arm_parts)
                .unwrap_or_default();
            let ctx = Ctx {
                version,
                sub,
                rg,
                resource_id: rec.resource_id.clone(),
                target: None,
                region: None,
            };
            for rule in flows {
                for mf in &rule.flows {
                    let mac = mf
                        .mac
                        .as_deref()
                        .and_then(normalize_mac)
                        .or_else(|| mac.clone());
                    for t in &mf.flow_tuples {
                        let kind = match version {
                            Some(1) => TupleKind::NsgV1,
                            Some(2) => TupleKind::NsgV2,
                            _ if t.split(',').count() == 8 => TupleKind::NsgV1,
                            _ => TupleKind::NsgV2,
                        };
                        self.tuple(
                            &ctx,
                            kind,
                            rule.rule.as_deref(),
                            None,
                            mac.as_deref(),
                            t,
                            at,
                        );
                        self.flush_if_full(out);
                    }
                }
            }
        } else {
            self.reject(
                at,
                "not_flow_log",
                "record has neither properties.flows (NSG) nor flowRecords (VNet)".into(),
                raw,
            );
        }
    }

    fn vnet(
        &mut self,
        rec: &Record,
        mac: Option<String>,
        at: u64,
        raw: &[u8],
        out: &mut Vec<Parsed>,
    ) {
        let Some(fr) = &rec.flow_records else {
            self.reject(
                at,
                "not_flow_log",
                "VNet record without flowRecords".into(),
                raw,
            );
            return;
        };
        // Subscription and resource group of the monitored resource, else of the flow log.
        let (mut sub, mut rg) = rec
            .target_resource_id
            .as_deref()
            .map(arm_parts)
            .unwrap_or_default();
        if sub.is_none() {
            (sub, rg) = rec
                .flow_log_resource_id
                .as_deref()
                .map(arm_parts)
                .unwrap_or_default();
        }
        let ctx = Ctx {
            version: version_of(&rec.flow_log_version),
            sub,
            rg,
            resource_id: rec
                .flow_log_resource_id
                .clone()
                .or_else(|| rec.resource_id.clone()),
            target: rec.target_resource_id.clone(),
            region: rec
                .flow_log_resource_id
                .as_deref()
                .and_then(network_watcher_region),
        };
        for acl in &fr.flows {
            for g in &acl.flow_groups {
                for t in &g.flow_tuples {
                    self.tuple(
                        &ctx,
                        TupleKind::Vnet,
                        g.rule.as_deref(),
                        acl.acl_id.as_deref(),
                        mac.as_deref(),
                        t,
                        at,
                    );
                    self.flush_if_full(out);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn tuple(
        &mut self,
        ctx: &Ctx,
        kind: TupleKind,
        rule: Option<&str>,
        acl: Option<&str>,
        mac: Option<&str>,
        t: &str,
        at: u64,
    ) {
        self.stats.lines_read += 1;
        let b = &mut self.builder;
        match set_tuple(b, kind, t) {
            Ok(()) => {
                b.set_str(Col::Format, kind.format_name());
                if let Some(v) = ctx.version.and_then(|v| u8::try_from(v).ok()) {
                    b.set_u8(Col::Version, v);
                }
                for (col, v) in [
                    (Col::AccountId, ctx.sub.as_deref()),
                    (Col::ResourceGroup, ctx.rg.as_deref()),
                    (Col::ResourceId, ctx.resource_id.as_deref()),
                    (Col::TargetResourceId, ctx.target.as_deref()),
                    (Col::Region, ctx.region.as_deref()),
                    (Col::Rule, rule),
                    (Col::AclId, acl),
                    (Col::InterfaceId, mac),
                ] {
                    if let Some(v) = v {
                        b.set_str(col, v);
                    }
                }
                b.end_row();
                self.stats.records += 1;
            }
            Err(reason) => {
                b.discard_row();
                self.reject(at, "bad_tuple", reason, t.as_bytes());
            }
        }
    }

    /// The batch in progress with its dead letters and counts.
    pub fn take(&mut self) -> Parsed {
        Parsed {
            batch: self.builder.finish(),
            dead_letters: std::mem::take(&mut self.dead),
            stats: std::mem::take(&mut self.stats),
        }
    }

    /// Rows pending in the current batch.
    pub fn pending_rows(&self) -> usize {
        self.builder.rows()
    }
}

/// Per-record values copied to each of its rows.
struct Ctx {
    version: Option<u64>,
    sub: Option<String>,
    rg: Option<String>,
    resource_id: Option<String>,
    target: Option<String>,
    region: Option<String>,
}
