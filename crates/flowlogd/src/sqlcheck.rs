//! Planning every summary's SQL against an empty batch catches bad filter expressions and
//! types at startup instead of on the first chunk.

use flowlogd_engine::{CompiledSummary, ConfigIssue};

use crate::config::Config;

pub fn check_summaries(cfg: &Config) -> Vec<ConfigIssue> {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return Vec::new();
    };
    let mut issues = Vec::new();
    for s in cfg.all_summaries() {
        let r = rt.block_on(CompiledSummary::compile(&s).prepare());
        if let Err(e) = r {
            let idx = cfg.summaries.iter().position(|o| o.name == s.name);
            let key = idx
                .map(|i| format!("summaries[{i}]"))
                .unwrap_or_else(|| format!("summary {}", s.name));
            // DataFusion appends every valid column to "no field named" errors; the schema
            // command lists them more readably.
            let msg = e.to_string();
            let msg = msg
                .split("Valid fields are")
                .next()
                .unwrap_or(&msg)
                .trim()
                .replace('\n', " ");
            issues.push(ConfigIssue::new(
                key,
                format!("the summary's SQL does not plan: {msg}"),
                "fix the filter expression or the column names (`flowlogd schema` lists the columns)",
            ));
        }
    }
    issues
}
