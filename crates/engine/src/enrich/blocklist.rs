//! Blocklists in the common plain-text format: one IP or CIDR per line, `#` (or `;`, as in
//! Spamhaus DROP) starts a comment, anything after the first field is ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::table::{parse_network, PrefixTable};
use super::LoadError;

/// `[[engine.enrichment.blocklists]]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlocklistConfig {
    /// List name, the value of `src_blocklist` / `dst_blocklist` for an address on it.
    pub name: String,
    pub path: PathBuf,
}

/// Adds every entry of one list file to `table` with the list's name.
pub fn load_into(
    path: &Path,
    name: &Arc<str>,
    table: &mut PrefixTable<Arc<str>>,
) -> Result<(), LoadError> {
    let text = super::read(path)?;
    for (i, line) in text.lines().enumerate() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let Some(field) = line.split_whitespace().next() else {
            continue;
        };
        let net = parse_network(field).map_err(|reason| LoadError::Line {
            path: path.display().to_string(),
            line: i + 1,
            reason,
        })?;
        table.insert(net, name.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_list_with_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drop.txt");
        std::fs::write(
            &p,
            "# Spamhaus-style list\n\n192.0.2.0/24 ; SBL123\n198.51.100.7   # a host\n2001:db8:bad::/48\n",
        )
        .unwrap();
        let mut t = PrefixTable::default();
        load_into(&p, &Arc::from("drop"), &mut t).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.lookup("192.0.2.9".parse().unwrap()).map(|s| &**s),
            Some("drop")
        );
        assert!(t.lookup("198.51.100.8".parse().unwrap()).is_none());
        assert!(t.lookup("2001:db8:bad::1".parse().unwrap()).is_some());
    }

    #[test]
    fn a_bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.txt");
        std::fs::write(&p, "192.0.2.1\nnot-an-ip\n").unwrap();
        let err = load_into(&p, &Arc::from("x"), &mut PrefixTable::default()).unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
    }
}
