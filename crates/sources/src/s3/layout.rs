//! The S3 delivery layouts of VPC flow logs (FORMATS.md §1.6), relative to the custom prefix:
//! `AWSLogs/<account>/vpcflowlogs/<region>/YYYY/MM/DD/[HH/]<file>` and the Hive-compatible
//! `AWSLogs/aws-account-id=<a>/aws-service=vpcflowlogs/aws-region=<r>/year=YYYY/month=MM/day=DD/[hour=HH/]<file>`.
//! A *root* is the folder of one (account, region) stream, ending in `/`.

use chrono::NaiveDate;

/// Root and delivery day of a key, when it follows one of the layouts.
pub fn root_and_day(prefix: &str, key: &str) -> Option<(String, NaiveDate)> {
    let rel = key.strip_prefix(prefix)?;
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.len() < 8 || parts[0] != "AWSLogs" {
        return None;
    }
    let service = parts[2].trim_start_matches("aws-service=");
    if service != "vpcflowlogs" {
        return None;
    }
    let (y, m, d) = (
        strip_kv(parts[4], "year"),
        strip_kv(parts[5], "month"),
        strip_kv(parts[6], "day"),
    );
    let day = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
    let root = format!("{prefix}{}/", parts[..4].join("/"));
    Some((root, day))
}

fn strip_kv<'a>(part: &'a str, name: &str) -> &'a str {
    part.strip_prefix(name)
        .and_then(|p| p.strip_prefix('='))
        .unwrap_or(part)
}

/// `start_after` that lists a root from `day` on: the day's folder without its trailing
/// `/` sorts before every key of that day and after every key of earlier days.
pub fn start_after(root: &str, day: NaiveDate) -> String {
    let hive = root.contains("aws-region=");
    let date = if hive {
        day.format("year=%Y/month=%m/day=%d").to_string()
    } else {
        day.format("%Y/%m/%d").to_string()
    };
    format!("{root}{date}")
}

/// Objects that can hold VPC flow logs (text, gzip, Parquet).
pub fn is_flow_log_key(key: &str) -> bool {
    !key.ends_with('/')
        && [".log", ".log.gz", ".gz", ".txt", ".parquet"]
            .iter()
            .any(|s| key.ends_with(s))
}

/// Decodes a key from an S3 event notification (`application/x-www-form-urlencoded`:
/// `+` is a space, `%XX` a byte).
pub fn decode_event_key(key: &str) -> String {
    let b = key.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn layouts() {
        let k = "p/AWSLogs/123/vpcflowlogs/us-east-1/2024/05/01/123_vpcflowlogs_us-east-1_fl-1_20240501T0005Z_ab.log.gz";
        let (root, day) = root_and_day("p/", k).unwrap();
        assert_eq!(root, "p/AWSLogs/123/vpcflowlogs/us-east-1/");
        assert_eq!(day, NaiveDate::from_ymd_opt(2024, 5, 1).unwrap());
        let hourly = "AWSLogs/123/vpcflowlogs/eu-west-1/2024/05/01/07/x.log.gz";
        assert!(root_and_day("", hourly).is_some());
        let hive = "AWSLogs/aws-account-id=123/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=02/hour=03/x.parquet";
        let (root, day) = root_and_day("", hive).unwrap();
        assert_eq!(day, NaiveDate::from_ymd_opt(2024, 5, 2).unwrap());
        let sa = start_after(&root, day);
        assert!(sa.as_str() < hive);
        assert!(sa.as_str() > "AWSLogs/aws-account-id=123/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/z");
        assert!(root_and_day("", "AWSLogs/123/elasticloadbalancing/r/2024/05/01/x.log").is_none());
        assert!(root_and_day("other/", k).is_none());
    }

    #[test]
    fn start_after_orders_days() {
        let d = NaiveDate::from_ymd_opt(2024, 5, 2).unwrap();
        let sa = start_after("AWSLogs/1/vpcflowlogs/r/", d);
        assert!(sa.as_str() > "AWSLogs/1/vpcflowlogs/r/2024/05/01/zzz.log");
        assert!(sa.as_str() < "AWSLogs/1/vpcflowlogs/r/2024/05/02/a.log");
    }

    #[test]
    fn event_keys() {
        assert_eq!(
            decode_event_key("AWSLogs%2F1%2Fa+b%3D.log"),
            "AWSLogs/1/a b=.log"
        );
        assert_eq!(decode_event_key("bad%zz%4"), "bad%zz%4");
    }
}
