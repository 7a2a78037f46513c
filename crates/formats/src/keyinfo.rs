//! What an object's key (S3 key, Azure blob name or local path) says about its records.
//!
//! AWS text/Parquet records may lack `account-id`/`region` (custom formats); the S3 layout
//! carries both. Azure tuples never carry the subscription, resource group, NSG or NIC MAC:
//! the record and the blob path do. Parsers apply these values with
//! [`crate::FlowBatchBuilder::set_default`], i.e. only where a row has none.

/// Fields derived from an object key. All optional: unknown layouts yield `KeyInfo::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    /// AWS account id (from `AWSLogs/{acct}/`, `aws-account-id=` or the file name).
    pub account_id: Option<String>,
    /// AWS region, or the Azure region named by a `NETWORKWATCHER_{REGION}` segment.
    pub region: Option<String>,
    /// AWS flow-log id (`fl-…`) from the file name.
    pub flow_log_id: Option<String>,
    /// Azure subscription id.
    pub subscription_id: Option<String>,
    /// Azure resource group (upper case, as Azure writes it in paths).
    pub resource_group: Option<String>,
    /// Azure NSG resource id (`/SUBSCRIPTIONS/…/NETWORKSECURITYGROUPS/…`) or flow-log
    /// resource id (VNet flow logs).
    pub resource_id: Option<String>,
    /// NIC MAC address: 12 upper-case hex digits, no separators.
    pub mac: Option<String>,
    /// `y=/m=/d=/h=` (Azure) or `yyyy/MM/dd[/HH]` (AWS) as `YYYY-MM-DDTHH` (hour optional).
    pub hour: Option<String>,
}

/// Parses an S3 key or Azure blob path. Never fails; unknown parts are `None`.
pub fn from_key(key: &str) -> KeyInfo {
    let mut k = KeyInfo::default();
    let segs: Vec<&str> = key.split('/').collect();
    if let Some(pos) = segs.iter().position(|s| *s == "AWSLogs") {
        aws_layout(&segs[pos + 1..], &mut k);
    }
    if let Some(file) = segs.last() {
        aws_file_name(file, &mut k);
    }
    azure_path(key, &segs, &mut k);
    k
}

fn nonempty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn aws_layout(segs: &[&str], k: &mut KeyInfo) {
    // Hive-compatible: aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…
    let mut hive = false;
    let (mut y, mut mo, mut d, mut h) = (None, None, None, None);
    for s in segs {
        if let Some((name, v)) = s.split_once('=') {
            hive = true;
            match name {
                "aws-account-id" => k.account_id = nonempty(v),
                "aws-region" => k.region = nonempty(v),
                "year" => y = Some(v),
                "month" => mo = Some(v),
                "day" => d = Some(v),
                "hour" => h = Some(v),
                _ => {}
            }
        }
    }
    if !hive {
        // default: {acct}/vpcflowlogs/{region}/{yyyy}/{MM}/{dd}[/{HH}]/file
        if segs.len() >= 3 && segs[1] == "vpcflowlogs" {
            k.account_id = nonempty(segs[0]);
            k.region = nonempty(segs[2]);
            let nums: Vec<&str> = segs[3..]
                .iter()
                .copied()
                .take_while(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .collect();
            y = nums.first().copied();
            mo = nums.get(1).copied();
            d = nums.get(2).copied();
            h = nums.get(3).copied();
        }
    }
    k.hour = fmt_hour(y, mo, d, h);
}

fn fmt_hour(y: Option<&str>, mo: Option<&str>, d: Option<&str>, h: Option<&str>) -> Option<String> {
    let (y, mo, d) = (y?, mo?, d?);
    Some(match h {
        Some(h) => format!("{y}-{mo}-{d}T{h}"),
        None => format!("{y}-{mo}-{d}"),
    })
}

/// `{acct}_vpcflowlogs_{region}_{fl-id}_{stamp}_{hash}.log.gz`
fn aws_file_name(file: &str, k: &mut KeyInfo) {
    let parts: Vec<&str> = file.split('_').collect();
    if parts.len() >= 4 && parts[1] == "vpcflowlogs" {
        if k.account_id.is_none() {
            k.account_id = nonempty(parts[0]);
        }
        if k.region.is_none() {
            k.region = nonempty(parts[2]);
        }
        if parts[3].starts_with("fl-") {
            k.flow_log_id = nonempty(parts[3]);
        }
    }
}

/// Normalizes a MAC address to 12 upper-case hex digits without separators; `None` if the
/// value is not a MAC.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let hex: String = mac
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Subscription and resource group of an ARM resource id (`/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/{rg}/…`,
/// any case). The resource group is upper-cased.
pub fn arm_parts(id: &str) -> (Option<String>, Option<String>) {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    let mut sub = None;
    let mut rg = None;
    for w in segs.windows(2) {
        if w[0].eq_ignore_ascii_case("subscriptions") {
            sub = nonempty(w[1]);
        } else if w[0].eq_ignore_ascii_case("resourcegroups") {
            rg = nonempty(&w[1].to_ascii_uppercase());
        }
    }
    (sub, rg)
}

/// Region named by a `NETWORKWATCHER_{REGION}` segment (lower-cased).
pub fn network_watcher_region(id: &str) -> Option<String> {
    let up = id.to_ascii_uppercase();
    let pos = up.find("NETWORKWATCHER_")?;
    let rest = &up[pos + "NETWORKWATCHER_".len()..];
    let end = rest.find(['/', '_']).unwrap_or(rest.len());
    nonempty(&rest[..end].to_ascii_lowercase())
}

fn azure_path(key: &str, segs: &[&str], k: &mut KeyInfo) {
    // The resource id runs from `resourceId=` / `flowLogResourceID=` to the `y=` segment.
    let idx = segs.iter().position(|s| {
        s.starts_with("resourceId=")
            || s.starts_with("flowLogResourceID=")
            || s.starts_with("resourceID=")
    });
    if let Some(i) = idx {
        let first = segs[i].split_once('=').map(|(_, v)| v).unwrap_or("");
        let mut parts = vec![first];
        for s in &segs[i + 1..] {
            if s.starts_with("y=") {
                break;
            }
            parts.push(s);
        }
        let id = parts.join("/");
        let (sub, rg) = arm_parts(&id);
        if sub.is_some() {
            k.subscription_id = sub;
            k.resource_group = rg;
        } else {
            // Short VNet shape: `/{SUB}_NETWORKWATCHERRG/NETWORKWATCHER_{REGION}_{NAME}`.
            let body: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
            if let Some((sub, rg)) = body.first().and_then(|s| s.split_once('_')) {
                k.subscription_id = nonempty(sub);
                k.resource_group = nonempty(&rg.to_ascii_uppercase());
            }
        }
        k.region = k.region.take().or_else(|| network_watcher_region(&id));
        k.resource_id = nonempty(&id);
    }
    let (mut y, mut mo, mut d, mut h) = (None, None, None, None);
    for s in segs {
        if let Some((name, v)) = s.split_once('=') {
            match name {
                "y" => y = Some(v),
                // `m=` appears twice: month, then minute (always 00). The first one wins.
                "m" if mo.is_none() => mo = Some(v),
                "d" => d = Some(v),
                "h" => h = Some(v),
                "macAddress" | "macaddress" | "MACADDRESS" => k.mac = normalize_mac(v),
                _ => {}
            }
        }
    }
    if y.is_some() && k.hour.is_none() {
        k.hour = fmt_hour(y, mo, d, h);
    }
    let _ = key;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_default_layout() {
        let k = from_key("bucket/p/AWSLogs/123456789012/vpcflowlogs/us-east-1/2018/06/20/123456789012_vpcflowlogs_us-east-1_fl-1234abcd_20180620T1620Z_fe123456.log.gz");
        assert_eq!(k.account_id.as_deref(), Some("123456789012"));
        assert_eq!(k.region.as_deref(), Some("us-east-1"));
        assert_eq!(k.flow_log_id.as_deref(), Some("fl-1234abcd"));
        assert_eq!(k.hour.as_deref(), Some("2018-06-20"));
    }

    #[test]
    fn aws_hourly_and_hive() {
        let k = from_key("AWSLogs/111/vpcflowlogs/eu-west-1/2024/01/02/03/x.log.gz");
        assert_eq!(k.hour.as_deref(), Some("2024-01-02T03"));
        let k = from_key("pre/AWSLogs/aws-account-id=222/aws-service=vpcflowlogs/aws-region=ap-south-1/year=2024/month=05/day=06/hour=07/f.log.parquet");
        assert_eq!(k.account_id.as_deref(), Some("222"));
        assert_eq!(k.region.as_deref(), Some("ap-south-1"));
        assert_eq!(k.hour.as_deref(), Some("2024-05-06T07"));
    }

    #[test]
    fn aws_file_name_only() {
        let k = from_key("/tmp/333_vpcflowlogs_us-west-2_fl-9_20240101T0000Z_ab.log.gz");
        assert_eq!(k.account_id.as_deref(), Some("333"));
        assert_eq!(k.region.as_deref(), Some("us-west-2"));
    }

    #[test]
    fn azure_nsg_path() {
        let k = from_key("resourceId=/SUBSCRIPTIONS/SUB1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1/y=2024/m=03/d=04/h=05/m=00/macAddress=00-0d-3a-f8-78-56/PT1H.json");
        assert_eq!(k.subscription_id.as_deref(), Some("SUB1"));
        assert_eq!(k.resource_group.as_deref(), Some("RG1"));
        assert_eq!(
            k.resource_id.as_deref(),
            Some("/SUBSCRIPTIONS/SUB1/RESOURCEGROUPS/RG1/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG1")
        );
        assert_eq!(k.mac.as_deref(), Some("000D3AF87856"));
        assert_eq!(k.hour.as_deref(), Some("2024-03-04T05"));
    }

    #[test]
    fn azure_vnet_paths() {
        let k = from_key("flowLogResourceID=/SUBSCRIPTIONS/S/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_EASTUS/FLOWLOGS/FL/y=2024/m=01/d=01/h=00/m=00/macAddress=0022485D8CF8/PT1H.json");
        assert_eq!(k.subscription_id.as_deref(), Some("S"));
        assert_eq!(k.region.as_deref(), Some("eastus"));
        assert_eq!(k.mac.as_deref(), Some("0022485D8CF8"));
        let k = from_key("flowLogResourceID=/S2_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_MYFL/y=2024/m=01/d=01/h=00/m=00/macAddress=0022485d8cf8/PT1H.json");
        assert_eq!(k.subscription_id.as_deref(), Some("S2"));
        assert_eq!(k.resource_group.as_deref(), Some("NETWORKWATCHERRG"));
        assert_eq!(k.region.as_deref(), Some("westeurope"));
        assert_eq!(k.mac.as_deref(), Some("0022485D8CF8"));
    }

    #[test]
    fn junk_is_empty() {
        assert_eq!(from_key(""), KeyInfo::default());
        assert_eq!(
            from_key("a/b=c/=/AWSLogs"),
            KeyInfo {
                ..KeyInfo::default()
            }
        );
    }
}
