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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use flowlogd_formats::{Col, COLUMNS};

use crate::config::{MetricConfig, MetricFn, SummaryConfig};
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
    config: SummaryConfig,
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

        let mut compact_select: Vec<String> = qkeys.iter().chain(&qdistinct).cloned().collect();
        let compact_group = compact_select.clone();
        let mut merge_select: Vec<String> = qkeys.clone();

        for m in &cfg.metrics {
            let name = quote(&m.name);
            match merge_fn(m.func) {
                Some(merge) => {
                    compact_select.push(format!("{merge}({name}) AS {name}"));
                    merge_select.push(format!("{merge}({name}) AS {name}"));
                }
                None => merge_select.push(format!(
                    "CAST(count(DISTINCT {}) AS BIGINT) AS {name}",
                    quote(&hidden(&m.name))
                )),
            }
        }

        let partial_sql = partial_sql(cfg, &|_| true);
        let compact_sql = format!(
            "SELECT {} FROM partials{}",
            compact_select.join(", "),
            group_by(&compact_group)
        );
        let mut merge_sql = format!(
            "SELECT {} FROM partials{}",
            merge_select.join(", "),
            group_by(&qkeys)
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
            config: cfg.clone(),
        }
    }
}

/// How partials of a metric merge (`None` for distinct counts, merged from hidden columns).
fn merge_fn(func: MetricFn) -> Option<&'static str> {
    match func {
        MetricFn::Count | MetricFn::Flows | MetricFn::Sum => Some("sum"),
        MetricFn::Min => Some("min"),
        MetricFn::Max => Some("max"),
        MetricFn::Distinct => None,
    }
}

/// A metric's aggregate over records (phase one, and the one-phase reference).
fn aggregate_expr(m: &MetricConfig) -> String {
    let col = m.column.as_deref().map(quote).unwrap_or_default();
    match m.func {
        MetricFn::Count => "CAST(count(*) AS BIGINT)".to_string(),
        MetricFn::Flows => {
            "CAST(sum(CASE WHEN \"flow_state\" IS NULL OR \"flow_state\" IN ('B', 'D') \
             THEN 1 ELSE 0 END) AS BIGINT)"
                .to_string()
        }
        MetricFn::Sum => format!("sum({col})"),
        MetricFn::Min => format!("min({col})"),
        MetricFn::Max => format!("max({col})"),
        MetricFn::Distinct => format!("CAST(count(DISTINCT {col}) AS BIGINT)"),
    }
}

/// The summary's filter as the first condition of a WHERE clause (empty without one).
fn where_filter(cfg: &SummaryConfig) -> String {
    match &cfg.filter {
        Some(f) if !f.trim().is_empty() => format!("({f}) AND "),
        _ => String::new(),
    }
}

fn group_by(cols: &[String]) -> String {
    if cols.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", cols.join(", "))
    }
}

/// Phase one's SQL: the window, the group keys for which `keep(i)` holds, the hidden
/// distinct columns, then the metrics. Keys left out are constant within the chunk and put
/// back by the caller (see [`crate::partial`]); the window always stays, so the query
/// keeps a GROUP BY and an empty input yields no row.
pub(crate) fn partial_sql(cfg: &SummaryConfig, keep: &dyn Fn(usize) -> bool) -> String {
    let keys: Vec<String> = (cfg.group_by.iter().enumerate())
        .filter(|(i, _)| keep(*i))
        .map(|(_, k)| quote(k))
        .collect();
    let mut select = vec![quote(WINDOW_COL)];
    let mut group = select.clone();
    select.extend(keys.iter().cloned());
    group.extend(keys);
    for m in cfg.metrics.iter().filter(|m| m.func == MetricFn::Distinct) {
        let col = quote(m.column.as_deref().unwrap_or_default());
        select.push(format!("{col} AS {}", quote(&hidden(&m.name))));
        group.push(col);
    }
    for m in cfg.metrics.iter().filter(|m| m.func != MetricFn::Distinct) {
        select.push(format!("{} AS {}", aggregate_expr(m), quote(&m.name)));
    }
    let filter = where_filter(cfg);
    format!(
        "SELECT {} FROM flows WHERE {filter}{} IS NOT NULL{}",
        select.join(", "),
        quote(WINDOW_COL),
        group_by(&group)
    )
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
    config: SummaryConfig,
    /// Phase one planned without some group keys, by the mask of keys left out.
    partial_variants: Mutex<HashMap<u64, Arc<PreparedQuery>>>,
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
            config: self.config.clone(),
            partial_variants: Mutex::default(),
        })
    }
}

/// Variants of phase one kept per summary; beyond, chunks with other constant keys use the
/// full query (a variant is planned once per set of constant keys, and inputs of one
/// format share a few).
const MAX_PARTIAL_VARIANTS: usize = 32;

impl PreparedSummary {
    /// Phase one grouping by every key whose bit is clear in `omitted` (bit i: key i),
    /// planned on first use. Its output lacks the omitted key columns.
    pub(crate) async fn partial_without(
        &self,
        omitted: u64,
    ) -> Result<Option<Arc<PreparedQuery>>, EngineError> {
        let known = self.variants()?.get(&omitted).cloned();
        if let Some(q) = known {
            return Ok(Some(q));
        }
        if self.variants()?.len() >= MAX_PARTIAL_VARIANTS {
            return Ok(None);
        }
        let sql = partial_sql(&self.config, &|i| i >= 64 || omitted & (1 << i) == 0);
        let q = PreparedQuery::new("flows", derived_schema(), &sql)
            .await
            .map_err(|source| EngineError::Query {
                summary: self.name.clone(),
                source,
            })?;
        let q = Arc::new(q);
        self.variants()?.insert(omitted, q.clone());
        Ok(Some(q))
    }

    /// Phase-one variants planned so far.
    pub fn partial_variant_count(&self) -> usize {
        self.variants().map_or(0, |v| v.len())
    }

    fn variants(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<u64, Arc<PreparedQuery>>>, EngineError> {
        self.partial_variants
            .lock()
            .map_err(|_| EngineError::Task("phase-one variants lock poisoned".into()))
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
        select.push(format!("{} AS {}", aggregate_expr(m), quote(&m.name)));
    }
    let filter = where_filter(cfg);
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
