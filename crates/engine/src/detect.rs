//! Built-in detection summaries: blocklist hits and scanning sources. Both are ordinary
//! two-phase summaries, so they are exact and revised with late data like any other.

use serde::{Deserialize, Serialize};

use crate::config::{MetricConfig, MetricFn, SummaryConfig};
use crate::enrich::EnrichmentConfig;
use crate::error::ConfigIssue;
use crate::firstseen::FirstSeenConfig;

/// `[engine.detection]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// The `blocklist_hits` summary, on when at least one blocklist is configured.
    pub blocklist_hits: bool,
    /// The `scan_sources` summary; off unless this table is given.
    pub scan: Option<ScanConfig>,
    /// `[engine.detection.first_seen]`: alerts on pairs never seen before (off by default).
    pub first_seen: FirstSeenConfig,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            blocklist_hits: true,
            scan: None,
            first_seen: FirstSeenConfig::default(),
        }
    }
}

/// `[engine.detection.scan]`: a source is reported in a window when its rejected records
/// or the distinct destination ports of its rejected records reach a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScanConfig {
    pub min_rejects: u64,
    pub min_distinct_dst_ports: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            min_rejects: 100,
            min_distinct_dst_ports: 20,
        }
    }
}

fn m(name: &str, func: MetricFn, column: Option<&str>) -> MetricConfig {
    MetricConfig {
        name: name.into(),
        func,
        column: column.map(Into::into),
    }
}

impl DetectionConfig {
    /// The detection summaries this config turns on.
    pub fn summaries(&self, enrichment: &EnrichmentConfig) -> Vec<SummaryConfig> {
        let mut out = Vec::new();
        if self.blocklist_hits && !enrichment.blocklists.is_empty() {
            out.push(blocklist_hits());
        }
        if let Some(s) = &self.scan {
            out.push(scan_sources(s));
        }
        out
    }

    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        self.first_seen.validate(issues);
        if let Some(s) = &self.scan {
            if s.min_rejects == 0 && s.min_distinct_dst_ports == 0 {
                issues.push(ConfigIssue::new(
                    "engine.detection.scan",
                    "both thresholds are 0: every source would be reported",
                    "set min_rejects and/or min_distinct_dst_ports above 0",
                ));
            }
        }
    }
}

/// `blocklist_hits`: every flow to or from a listed address, with the list's name, so a
/// SIEM can alert on the rows without joining the list itself.
pub fn blocklist_hits() -> SummaryConfig {
    SummaryConfig {
        name: "blocklist_hits".into(),
        group_by: [
            "provider",
            "account_id",
            "vpc_id",
            "src_addr",
            "dst_addr",
            "dst_port",
            "protocol",
            "action",
            "src_blocklist",
            "dst_blocklist",
        ]
        .map(String::from)
        .to_vec(),
        metrics: vec![
            m("records", MetricFn::Count, None),
            m("packets", MetricFn::Sum, Some("packets")),
            m("bytes", MetricFn::Sum, Some("bytes")),
            m("first_seen", MetricFn::Min, Some("start")),
            m("last_seen", MetricFn::Max, Some("end")),
        ],
        filter: Some(
            "log_status = 'OK' AND (src_blocklist IS NOT NULL OR dst_blocklist IS NOT NULL)".into(),
        ),
        having: None,
    }
}

/// `scan_sources`: sources of rejected traffic over a threshold in a window. The threshold
/// is a `having` on the merged window, so a source crossing it only with late records is
/// reported in the window's next revision.
pub fn scan_sources(cfg: &ScanConfig) -> SummaryConfig {
    SummaryConfig {
        name: "scan_sources".into(),
        group_by: ["provider", "account_id", "src_addr"]
            .map(String::from)
            .to_vec(),
        metrics: vec![
            m("rejects", MetricFn::Count, None),
            m("distinct_dst_ports", MetricFn::Distinct, Some("dst_port")),
            m("distinct_dst_addrs", MetricFn::Distinct, Some("dst_addr")),
            m("first_seen", MetricFn::Min, Some("start")),
            m("last_seen", MetricFn::Max, Some("end")),
        ],
        filter: Some("log_status = 'OK' AND action = 'REJECT'".into()),
        having: Some(format!(
            "rejects >= {} OR distinct_dst_ports >= {}",
            nonzero(cfg.min_rejects),
            nonzero(cfg.min_distinct_dst_ports)
        )),
    }
}

/// A threshold of 0 means "not this criterion" rather than "every source".
fn nonzero(v: u64) -> u64 {
    if v == 0 {
        u64::MAX >> 1
    } else {
        v
    }
}
