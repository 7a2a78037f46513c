//! Inventory: CIDRs, addresses or interface ids → labels (app, env, owner, account name,
//! VPC/VNet id). CSV with a header row, or a JSON array of objects with the same keys:
//!
//! ```text
//! cidr,app,env,owner,account_name,vpc_id
//! 10.1.0.0/16,shop,prod,team-a,prod-main,vpc-1
//! eni-0abc,db,prod,team-b,,          <- `interface_id` column instead of `cidr`
//! ```
//!
//! CSV fields are split on commas (quotes around a field are removed; no embedded commas).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::table::{parse_network, PrefixTable};
use super::LoadError;

/// `[[engine.enrichment.inventory]]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// `.json` is read as JSON, anything else as CSV.
    pub path: PathBuf,
}

/// Labels of one inventory entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Labels {
    pub app: Option<Arc<str>>,
    pub env: Option<Arc<str>>,
    pub owner: Option<Arc<str>>,
    pub account_name: Option<Arc<str>>,
    /// VPC/VNet of the address: two private addresses of the same one are `intra_vpc`.
    pub vpc_id: Option<Arc<str>>,
}

/// One row of the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default, alias = "ip")]
    cidr: Option<String>,
    #[serde(default)]
    interface_id: Option<String>,
    #[serde(flatten)]
    labels: Labels,
}

/// The loaded inventory.
#[derive(Debug, Default)]
pub struct Inventory {
    pub by_addr: PrefixTable<Arc<Labels>>,
    pub by_interface: HashMap<String, Arc<Labels>>,
}

impl Inventory {
    pub fn load_into(&mut self, path: &Path) -> Result<(), LoadError> {
        let text = super::read(path)?;
        let at = |line: usize, reason: String| LoadError::Line {
            path: path.display().to_string(),
            line,
            reason,
        };
        let entries: Vec<(usize, Entry)> = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            let v: Vec<Entry> =
                serde_json::from_str(&text).map_err(|e| at(e.line(), e.to_string()))?;
            v.into_iter().enumerate().map(|(i, e)| (i + 1, e)).collect()
        } else {
            parse_csv(&text).map_err(|(l, r)| at(l, r))?
        };
        for (line, e) in entries {
            let labels = Arc::new(e.labels);
            match (
                e.cidr.filter(|c| !c.is_empty()),
                e.interface_id.filter(|c| !c.is_empty()),
            ) {
                (Some(c), None) => {
                    let net = parse_network(&c).map_err(|r| at(line, r))?;
                    self.by_addr.insert(net, labels);
                }
                (None, Some(i)) => {
                    self.by_interface.entry(i).or_insert(labels);
                }
                _ => {
                    return Err(at(
                        line,
                        "give exactly one of cidr (or ip) and interface_id".into(),
                    ))
                }
            }
        }
        Ok(())
    }
}

fn parse_csv(text: &str) -> Result<Vec<(usize, Entry)>, (usize, String)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let header: Vec<String> = split(header).map(str::to_ascii_lowercase).collect();
    for h in &header {
        if !matches!(
            h.as_str(),
            "cidr" | "ip" | "interface_id" | "app" | "env" | "owner" | "account_name" | "vpc_id"
        ) {
            return Err((1, format!("unknown column {h:?}: use cidr (or ip), interface_id, app, env, owner, account_name, vpc_id")));
        }
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let mut e = Entry {
            cidr: None,
            interface_id: None,
            labels: Labels::default(),
        };
        for (h, v) in header.iter().zip(split(line)) {
            if v.is_empty() {
                continue;
            }
            let s = Some(Arc::<str>::from(v));
            match h.as_str() {
                "cidr" | "ip" => e.cidr = Some(v.to_string()),
                "interface_id" => e.interface_id = Some(v.to_string()),
                "app" => e.labels.app = s,
                "env" => e.labels.env = s,
                "owner" => e.labels.owner = s,
                "account_name" => e.labels.account_name = s,
                _ => e.labels.vpc_id = s,
            }
        }
        out.push((i + 1, e));
    }
    Ok(out)
}

fn split(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(|f| f.trim().trim_matches('"').trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_inventories() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("inv.csv");
        std::fs::write(
            &csv,
            "cidr,app,env,owner,account_name,vpc_id\n10.1.0.0/16,shop,prod,team-a,main,vpc-1\n10.1.2.0/24,\"db\",prod,team-b,,vpc-1\n",
        )
        .unwrap();
        let json = dir.path().join("inv.json");
        std::fs::write(
            &json,
            r#"[{"ip": "2001:db8::5", "app": "api", "env": "dev"}, {"interface_id": "eni-1", "app": "nat"}]"#,
        )
        .unwrap();
        let mut inv = Inventory::default();
        inv.load_into(&csv).unwrap();
        inv.load_into(&json).unwrap();
        let app = |a: &str| {
            inv.by_addr
                .lookup(a.parse().unwrap())
                .and_then(|l| l.app.clone())
                .map(|s| s.to_string())
        };
        assert_eq!(app("10.1.9.9").as_deref(), Some("shop"));
        assert_eq!(app("10.1.2.9").as_deref(), Some("db"));
        assert_eq!(app("2001:db8::5").as_deref(), Some("api"));
        assert_eq!(app("10.2.0.1"), None);
        let db = inv.by_addr.lookup("10.1.2.9".parse().unwrap()).unwrap();
        assert_eq!(db.account_name, None);
        assert_eq!(db.vpc_id.as_deref(), Some("vpc-1"));
        assert_eq!(inv.by_interface["eni-1"].app.as_deref(), Some("nat"));
    }

    #[test]
    fn unknown_columns_and_rows_without_a_key_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inv.csv");
        std::fs::write(&p, "cidr,team\n10.0.0.0/8,x\n").unwrap();
        assert!(Inventory::default().load_into(&p).is_err());
        std::fs::write(&p, "cidr,app\n,x\n").unwrap();
        assert!(Inventory::default().load_into(&p).is_err());
    }
}
