//! Which prefixes a poll lists. A flow-log container keeps every hour of every NSG or
//! flow log for the whole retention (tens of thousands of blobs), but Azure only appends to
//! the blobs of the current hour and, for a while, the previous one. So a poll lists the
//! whole container only every `full_listing_interval`; in between it lists just the open
//! hours of the flow-log resources seen so far (`<root>y=2026/m=11/d=25/h=10/`), one small
//! listing per resource and hour. A resource that appears between full listings, or a blob
//! written into an hour that has settled, is found by the next full listing.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{Datelike, TimeZone, Timelike, Utc};

use super::layout;

/// What the next listing covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Plan {
    /// Everything under the configured prefix.
    Full,
    /// Only these prefixes (open hours of known resources).
    Hot(Vec<String>),
}

/// The listing schedule of one container.
#[derive(Debug, Default)]
pub(super) struct Lister {
    /// Blob-name parts before `y=` (one per NSG or flow log), from full listings.
    roots: BTreeSet<String>,
    last_full: Option<SystemTime>,
}

impl Lister {
    /// The plan at `now`; backfills (`continuous = false`) and a zero interval always list
    /// everything.
    pub fn plan(
        &self,
        now: SystemTime,
        continuous: bool,
        full_every: Duration,
        settle: Duration,
    ) -> Plan {
        let due = match self.last_full {
            None => true,
            // A clock that went back counts as due.
            Some(t) => now.duration_since(t).map_or(true, |d| d >= full_every),
        };
        if !continuous || full_every.is_zero() || due {
            return Plan::Full;
        }
        let hours = open_hours(now, settle);
        Plan::Hot(
            self.roots
                .iter()
                .flat_map(|r| hours.iter().map(move |h| format!("{r}{h}")))
                .collect(),
        )
    }

    /// Records a listing that was made under `plan` and returned `names`.
    pub fn listed<'a>(
        &mut self,
        plan: &Plan,
        now: SystemTime,
        names: impl Iterator<Item = &'a str>,
    ) {
        if *plan == Plan::Full {
            // Rebuilt, so that deleted resources stop being listed.
            self.roots = names.filter_map(root).map(str::to_owned).collect();
            self.last_full = Some(now);
        }
    }

    pub fn roots(&self) -> usize {
        self.roots.len()
    }
}

/// The part of a flow-log blob's name before its `y=` segment, if it has the date layout.
fn root(name: &str) -> Option<&str> {
    layout::hour_start(name)?;
    let at = name
        .find("/y=")
        .map(|i| i + 1)
        .or_else(|| name.starts_with("y=").then_some(0))?;
    Some(&name[..at])
}

/// `y=…/m=…/d=…/h=…/` of every hour that may still be appended to at `now`: the current
/// one and those that ended less than `settle` ago.
fn open_hours(now: SystemTime, settle: Duration) -> Vec<String> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let current = now - now.rem_euclid(3600);
    let mut out = Vec::new();
    let mut h = current;
    while h + 3600 + settle.as_secs() as i64 > now {
        if let Some(t) = Utc.timestamp_opt(h, 0).single() {
            out.push(format!(
                "y={:04}/m={:02}/d={:02}/h={:02}/",
                t.year(),
                t.month(),
                t.day(),
                t.hour()
            ));
        }
        h -= 3600;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        let t = chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap();
        UNIX_EPOCH + Duration::from_secs(t.timestamp() as u64)
    }

    const NSG: &str = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N/";

    #[test]
    fn open_hours_cover_the_settle_period() {
        let settle = Duration::from_secs(15 * 60);
        assert_eq!(
            open_hours(at("2026-11-25T10:10:00Z"), settle),
            vec!["y=2026/m=11/d=25/h=10/", "y=2026/m=11/d=25/h=09/"]
        );
        assert_eq!(
            open_hours(at("2026-11-25T10:20:00Z"), settle),
            vec!["y=2026/m=11/d=25/h=10/"]
        );
        assert_eq!(
            open_hours(at("2026-12-01T00:05:00Z"), settle),
            vec!["y=2026/m=12/d=01/h=00/", "y=2026/m=11/d=30/h=23/"]
        );
        assert_eq!(
            open_hours(at("2026-11-25T10:05:00Z"), Duration::ZERO).len(),
            1
        );
    }

    #[test]
    fn full_listing_first_then_hot_hours_of_known_roots() {
        let full = Duration::from_secs(3600);
        let settle = Duration::from_secs(900);
        let t0 = at("2026-11-25T10:30:00Z");
        let mut l = Lister::default();
        assert_eq!(l.plan(t0, true, full, settle), Plan::Full);
        let blob = format!("{NSG}y=2026/m=11/d=25/h=09/m=00/macAddress=A/PT1H.json");
        let vnet = "flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_X_FL/y=2026/m=11/d=24/h=01/m=00/macAddress=B/PT1H.json";
        l.listed(
            &Plan::Full,
            t0,
            [blob.as_str(), vnet, "notes.txt"].into_iter(),
        );
        assert_eq!(l.roots(), 2);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(
            l.plan(later, true, full, settle),
            Plan::Hot(vec![
                "flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_X_FL/y=2026/m=11/d=25/h=10/"
                    .into(),
                format!("{NSG}y=2026/m=11/d=25/h=10/"),
            ])
        );
        // Hot listings do not forget roots; the next full one is due after the interval.
        l.listed(
            &l.plan(later, true, full, settle),
            later,
            std::iter::empty(),
        );
        assert_eq!(l.roots(), 2);
        assert_eq!(l.plan(t0 + full, true, full, settle), Plan::Full);
        assert_eq!(l.plan(later, false, full, settle), Plan::Full);
        assert_eq!(l.plan(later, true, Duration::ZERO, settle), Plan::Full);
        assert_eq!(
            l.plan(t0 - Duration::from_secs(1), true, full, settle),
            Plan::Full
        );
        // A full listing rebuilds the roots.
        l.listed(&Plan::Full, later, [vnet].into_iter());
        assert_eq!(l.roots(), 1);
    }
}
