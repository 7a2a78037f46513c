//! Filters and the two table views of a report: by destination account (what it owns and
//! which flow logs write into it) and by source account (its flow logs and where they go).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::model::{Access, Cloud, FlowLog, Report};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    #[default]
    Destination,
    Source,
}

/// What to keep of a report; empty fields keep everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub account: Option<String>,
    pub cloud: Option<Cloud>,
    pub region: Option<String>,
    pub access: Option<Access>,
}

impl Filter {
    /// The report restricted to matching accounts, destinations and flow logs. The
    /// account filter keeps an account's own destinations and the flow logs it writes or
    /// receives.
    pub fn apply(&self, r: &Report) -> Report {
        let account_ok = |cloud: Cloud, account: &str| -> bool {
            self.cloud.is_none_or(|c| c == cloud)
                && self.access.is_none_or(|a| r.access(cloud, account) == a)
        };
        let region_ok = |region: &Option<String>| -> bool {
            self.region
                .as_ref()
                .is_none_or(|want| region.as_deref() == Some(want.as_str()))
        };
        let id_ok = |account: &str| self.account.as_ref().is_none_or(|a| a == account);
        let destinations = r
            .destinations
            .iter()
            .filter(|d| {
                account_ok(d.cloud, &d.account) && region_ok(&d.region) && id_ok(&d.account)
            })
            .cloned()
            .collect();
        let flow_logs = r
            .flow_logs
            .iter()
            .filter(|f| {
                let owner = f.destination_account.as_deref().unwrap_or("");
                self.cloud.is_none_or(|c| c == f.cloud)
                    && region_ok(&f.region)
                    && (id_ok(&f.account) || id_ok(owner))
                    && self
                        .access
                        .is_none_or(|a| f.access.unwrap_or(Access::None) == a)
            })
            .cloned()
            .collect();
        let mut out = Report::new(destinations, flow_logs, r.notes.clone());
        // Access per account stays what the whole report says (a filter hides
        // destinations, it does not make an account more readable).
        for a in &mut out.accounts {
            a.access = r.access(a.cloud, &a.account);
        }
        out
    }
}

fn access_word(a: Option<Access>) -> &'static str {
    match a {
        Some(Access::Full) => "FULL",
        Some(Access::Partial) => "PARTIAL",
        Some(Access::None) => "NONE",
        None => "NOT CONFIGURED",
    }
}

fn cloud_word(c: Cloud) -> &'static str {
    match c {
        Cloud::Aws => "aws",
        Cloud::Azure => "azure",
    }
}

/// Table text of a view.
pub fn render(r: &Report, view: View) -> String {
    let mut s = String::new();
    match view {
        View::Destination => by_destination(r, &mut s),
        View::Source => by_source(r, &mut s),
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

fn by_destination(r: &Report, s: &mut String) {
    for a in &r.accounts {
        let _ = writeln!(
            s,
            "{} account {}: {} ({}/{} destinations readable)",
            cloud_word(a.cloud),
            a.account,
            access_word(Some(a.access)),
            a.readable,
            a.destinations
        );
        for d in r
            .destinations
            .iter()
            .filter(|d| d.cloud == a.cloud && d.account == a.account)
        {
            let region = d.region.as_deref().unwrap_or("-");
            match d.missing() {
                None => {
                    let _ = writeln!(s, "  {}  [{region}]  readable", d.destination);
                }
                Some(c) => {
                    let _ = writeln!(
                        s,
                        "  {}  [{region}]  MISSING {} on {}\n      error: {}\n      fix:   {}",
                        d.destination,
                        c.action,
                        c.resource,
                        c.error.as_deref().unwrap_or("-"),
                        c.fix.as_deref().unwrap_or("-")
                    );
                }
            }
            for f in r
                .flow_logs
                .iter()
                .filter(|f| f.destination.starts_with(d.destination.as_str()))
            {
                let _ = writeln!(
                    s,
                    "      <- {} {} (account {}, {})",
                    f.id,
                    f.resource,
                    f.account,
                    f.region.as_deref().unwrap_or("-")
                );
            }
        }
    }
    let unconfigured: Vec<&FlowLog> = r.flow_logs.iter().filter(|f| f.access.is_none()).collect();
    if !unconfigured.is_empty() {
        let _ = writeln!(s, "flow logs into destinations flowlogd does not read:");
        for f in unconfigured {
            let _ = writeln!(
                s,
                "  {} {} (account {}) -> {}\n      fix:   {}",
                f.id,
                f.resource,
                f.account,
                f.destination,
                f.fix.as_deref().unwrap_or("-")
            );
        }
    }
}

fn by_source(r: &Report, s: &mut String) {
    let mut accounts: Vec<(Cloud, &str)> = r
        .flow_logs
        .iter()
        .map(|f| (f.cloud, f.account.as_str()))
        .collect();
    accounts.sort();
    accounts.dedup();
    if accounts.is_empty() {
        let _ = writeln!(s, "no flow logs found (inventory empty or not readable)");
    }
    for (cloud, account) in accounts {
        let _ = writeln!(s, "{} account {account}:", cloud_word(cloud));
        for f in r
            .flow_logs
            .iter()
            .filter(|f| f.cloud == cloud && f.account == account)
        {
            let _ = writeln!(
                s,
                "  {} {} [{}] -> {} (owner {}, {} {})  {}",
                f.id,
                f.resource,
                f.region.as_deref().unwrap_or("-"),
                f.destination,
                f.destination_account.as_deref().unwrap_or("unknown"),
                f.file_format.as_deref().unwrap_or("plain-text"),
                f.status.as_deref().unwrap_or(""),
                access_word(f.access)
            );
            if let Some(fix) = &f.fix {
                let _ = writeln!(s, "      fix:   {fix}");
            }
        }
    }
}
