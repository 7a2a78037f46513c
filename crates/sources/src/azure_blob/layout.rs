//! The hour a flow-log blob covers, from its name
//! (`…/y=2026/m=11/d=25/h=10/m=00/macAddress=…/PT1H.json`; `m=` appears twice).

use chrono::{NaiveDate, TimeZone, Utc};

/// Start of the blob's hour (seconds since the epoch), if the name has the date layout.
pub fn hour_start(name: &str) -> Option<i64> {
    let mut y = None;
    let mut mo = None;
    let mut d = None;
    let mut h = None;
    for seg in name.split('/') {
        let Some((k, v)) = seg.split_once('=') else {
            continue;
        };
        let Ok(n) = v.parse::<u32>() else { continue };
        match k {
            "y" => y = Some(n),
            // The first `m=` is the month, the second (always 00) the minute.
            "m" if mo.is_none() => mo = Some(n),
            "d" => d = Some(n),
            "h" => h = Some(n),
            _ => {}
        }
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(y?).ok()?, mo?, d?)?;
    let t = date.and_hms_opt(h?, 0, 0)?;
    Some(Utc.from_utc_datetime(&t).timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_of_nsg_and_vnet_names() {
        let nsg = "resourceId=/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N/y=2026/m=11/d=25/h=10/m=00/macAddress=000D3AF87856/PT1H.json";
        assert_eq!(hour_start(nsg), Some(1_795_600_800));
        let vnet = "flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_FL/y=2026/m=11/d=25/h=10/m=00/macAddress=A/PT1H.json";
        assert_eq!(hour_start(vnet), Some(1_795_600_800));
        assert_eq!(hour_start("other/PT1H.json"), None);
        assert_eq!(hour_start("y=2026/m=13/d=1/h=0/x"), None);
    }
}
