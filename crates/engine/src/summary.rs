//! A summary compiled into the three SQL statements of two-phase aggregation:
//!
//! - **partial** (per chunk, over table `flows`): group by window, keys and the hidden
//!   distinct columns; count/sum/min/max per group.
//! - **compact** (over table `partials`): merges partials of one window into one partial of
//!   the same shape, so window state stays one small batch however many chunks arrive.
//! - **merge** (over table `partials`): the emitted rows: sums of counts and sums, min of
//!   mins, max of maxes, `count(DISTINCT …)` of the hidden distinct columns.
//!
//! Because partial rows never mix windows and every merge function is associative, the
//! result is the same however records are cut into chunks or spread over processes.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use flowlogd_formats::{Col, COLUMNS};

use crate::config::{MetricFn, SummaryConfig};
use crate::derive::derived_schema;
use crate::error::EngineError;
use crate::prepared::PreparedQuery;

/// Name of the derived window column added before aggregation.
pub const WINDOW_COL: &str = "window_start";

/// A summary ready to run.
#[derive(Debug, Clone)]
pub struct CompiledSummary {
    pub name: String,
    pub keys: Vec<String>,
    /// The merge query does more than a compaction (distinct counts, `having`); otherwise a
    /// compacted partial already is the emitted result.
    pub needs_merge: bool,
    pub partial_sql: String,
    pub compact_sql: String,
    pub merge_sql: String,
}

pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn hidden(metric: &str) -> String {
    format!("__d_{metric}")
}

impl CompiledSummary {
    pub fn compile(cfg: &SummaryConfig) -> Self {
        let keys: Vec<String> = cfg.group_by.clone();
        let qkeys: Vec<String> = keys.iter().map(|k| quote(k)).collect();
        let distinct: Vec<(String, String)> = cfg
            .metrics
            .iter()
            .filter(|m| m.func == MetricFn::Distinct)
            .map(|m| (hidden(&m.name), m.column.clone().unwrap_or_default()))
            .collect();
        let qdistinct: Vec<String> = distinct.iter().map(|(h, _)| quote(h)).collect();

        let mut partial_select = vec![quote(WINDOW_COL)];
        partial_select.extend(qkeys.iter().cloned());
        partial_select.extend(
            distinct
                .iter()
                .map(|(h, c)| format!("{} AS {}", quote(c), quote(h))),
        );
        let mut partial_group = vec![quote(WINDOW_COL)];
        partial_group.extend(qkeys.iter().cloned());
        partial_group.extend(distinct.iter().map(|(_, c)| quote(c)));

        let mut compact_select: Vec<String> = qkeys.iter().chain(&qdistinct).cloned().collect();
        let compact_group = compact_select.clone();
        let mut merge_select: Vec<String> = qkeys.clone();

        for m in &cfg.metrics {
            let name = quote(&m.name);
            let col = m.column.as_deref().map(quote).unwrap_or_default();
            let (partial, merge) = match m.func {
                MetricFn::Count => ("CAST(count(*) AS BIGINT)".to_string(), "sum"),
                MetricFn::Flows => (
                    "CAST(sum(CASE WHEN \"flow_state\" IS NULL OR \"flow_state\" IN ('B', 'D') \
                     THEN 1 ELSE 0 END) AS BIGINT)"
                        .to_string(),
                    "sum",
                ),
                MetricFn::Sum => (format!("sum({col})"), "sum"),
                MetricFn::Min => (format!("min({col})"), "min"),
                MetricFn::Max => (format!("max({col})"), "max"),
                MetricFn::Distinct => {
                    merge_select.push(format!(
                        "CAST(count(DISTINCT {}) AS BIGINT) AS {name}",
                        quote(&hidden(&m.name))
                    ));
                    continue;
                }
            };
            partial_select.push(format!("{partial} AS {name}"));
            compact_select.push(format!("{merge}({name}) AS {name}"));
            merge_select.push(format!("{merge}({name}) AS {name}"));
        }

        let filter = match &cfg.filter {
            Some(f) if !f.trim().is_empty() => format!("({f}) AND "),
            _ => String::new(),
        };
        let group_clause = |cols: &[String]| {
            if cols.is_empty() {
                String::new()
            } else {
                format!(" GROUP BY {}", cols.join(", "))
            }
        };
        let partial_sql = format!(
            "SELECT {} FROM flows WHERE {filter}{} IS NOT NULL{}",
            partial_select.join(", "),
            quote(WINDOW_COL),
            group_clause(&partial_group)
        );
        let compact_sql = format!(
            "SELECT {} FROM partials{}",
            compact_select.join(", "),
            group_clause(&compact_group)
        );
        let mut merge_sql = format!(
            "SELECT {} FROM partials{}",
            merge_select.join(", "),
            group_clause(&qkeys)
        );
        // `having` filters the merged rows only: partials and compaction keep every group,
        // so a group that crosses the threshold with a later chunk is still exact.
        if let Some(h) = cfg.having.as_deref().filter(|h| !h.trim().is_empty()) {
            merge_sql = format!("SELECT * FROM ({merge_sql}) AS merged WHERE ({h})");
        }
        Self {
            name: cfg.name.clone(),
            keys,
            needs_merge: !distinct.is_empty()
                || cfg.having.as_deref().is_some_and(|h| !h.trim().is_empty()),
            partial_sql,
            compact_sql,
            merge_sql,
        }
    }
}

/// A summary with its three queries planned, ready to run per chunk and per window.
#[derive(Debug)]
pub struct PreparedSummary {
    pub name: String,
    pub keys: Vec<String>,
    pub partial: PreparedQuery,
    pub compact: PreparedQuery,
    pub merge: PreparedQuery,
    /// Schema of a partial aggregate as kept in window state (no window column).
    pub partial_schema: SchemaRef,
    /// Reads a client/server orientation column.
    pub uses_orientation: bool,
    pub needs_merge: bool,
    /// Which enrichment columns it reads.
    pub enrich_used: crate::enrich::Used,
    /// Per-object columns (see [`PER_OBJECT_COLUMNS`]) its SQL may read.
    pub reads_per_object: Vec<Col>,
}

/// Columns a parser fills from the object (its key, provider, format) rather than from the
/// record: the only ones it can skip for a consumer that does not read them.
pub const PER_OBJECT_COLUMNS: &[Col] = &[
    Col::Provider,
    Col::Format,
    Col::ObjectKey,
    Col::AccountId,
    Col::Region,
    Col::ResourceGroup,
    Col::ResourceId,
];

/// The prepared summaries, shared by the parse stage and the aggregator.
pub type Summaries = Arc<Vec<PreparedSummary>>;

impl CompiledSummary {
    pub async fn prepare(&self) -> Result<PreparedSummary, EngineError> {
        let q = |source| EngineError::Query {
            summary: self.name.clone(),
            source,
        };
        let partial = PreparedQuery::new("flows", derived_schema(), &self.partial_sql)
            .await
            .map_err(q)?;
        let out = partial.schema();
        let partial_schema = Arc::new(out.project(&(1..out.fields().len()).collect::<Vec<_>>())?);
        let compact = PreparedQuery::new("partials", partial_schema.clone(), &self.compact_sql)
            .await
            .map_err(q)?;
        let merge = PreparedQuery::new("partials", partial_schema.clone(), &self.merge_sql)
            .await
            .map_err(q)?;
        // Case-insensitive, since unquoted identifiers are; a name that only appears in a
        // string literal merely keeps a column that could have been skipped.
        let sql = self.partial_sql.to_lowercase();
        let reads_per_object = PER_OBJECT_COLUMNS
            .iter()
            .copied()
            .filter(|c| sql.contains(COLUMNS[*c as usize].name))
            .collect();
        let uses_orientation = crate::orientation::ORIENTED_COLUMNS
            .iter()
            .any(|(n, _)| self.partial_sql.contains(n));
        Ok(PreparedSummary {
            uses_orientation,
            needs_merge: self.needs_merge,
            enrich_used: crate::enrich::used_by(&self.partial_sql),
            reads_per_object,
            name: self.name.clone(),
            keys: self.keys.clone(),
            partial,
            compact,
            merge,
            partial_schema,
        })
    }
}

/// Compiles and prepares every summary.
pub async fn prepare_all(cfgs: &[SummaryConfig]) -> Result<Summaries, EngineError> {
    let mut out = Vec::with_capacity(cfgs.len());
    for c in cfgs {
        out.push(CompiledSummary::compile(c).prepare().await?);
    }
    Ok(Arc::new(out))
}

/// The one-phase SQL a summary is defined by: a plain GROUP BY over all records of table
/// `flows`, windows by `date_bin`. The streaming result must equal it; tests check that.
pub fn reference_sql(cfg: &SummaryConfig, window_secs: u64) -> String {
    let mut select = vec![format!(
        "date_bin(INTERVAL '{window_secs} seconds', \"start\", TIMESTAMP '1970-01-01T00:00:00Z') AS {}",
        quote(WINDOW_COL)
    )];
    select.extend(cfg.group_by.iter().map(|k| quote(k)));
    for m in &cfg.metrics {
        let col = m.column.as_deref().map(quote).unwrap_or_default();
        let expr = match m.func {
            MetricFn::Count => "CAST(count(*) AS BIGINT)".to_string(),
            MetricFn::Flows => "CAST(sum(CASE WHEN \"flow_state\" IS NULL OR \"flow_state\" IN ('B', 'D') THEN 1 ELSE 0 END) AS BIGINT)".to_string(),
            MetricFn::Sum => format!("sum({col})"),
            MetricFn::Min => format!("min({col})"),
            MetricFn::Max => format!("max({col})"),
            MetricFn::Distinct => format!("CAST(count(DISTINCT {col}) AS BIGINT)"),
        };
        select.push(format!("{expr} AS {}", quote(&m.name)));
    }
    let filter = match &cfg.filter {
        Some(f) if !f.trim().is_empty() => format!("({f}) AND "),
        _ => String::new(),
    };
    let mut group = vec!["1".to_string()];
    group.extend(cfg.group_by.iter().map(|k| quote(k)));
    let sql = format!(
        "SELECT {} FROM flows WHERE {filter}\"start\" IS NOT NULL GROUP BY {}",
        select.join(", "),
        group.join(", ")
    );
    match cfg.having.as_deref().filter(|h| !h.trim().is_empty()) {
        Some(h) => format!("SELECT * FROM ({sql}) AS grouped WHERE ({h})"),
        None => sql,
    }
}
