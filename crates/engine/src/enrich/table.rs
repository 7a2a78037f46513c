//! Longest-prefix match over IPv4 and IPv6 (a tree bitmap per family, from
//! `ip_network_table`), and parsing of addresses and CIDRs as lookup files write them.

use std::net::IpAddr;

use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;

/// CIDR (or single address) → value; the most specific prefix wins on lookup.
pub struct PrefixTable<T> {
    table: IpNetworkTable<T>,
    len: usize,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        Self {
            table: IpNetworkTable::new(),
            len: 0,
        }
    }
}

impl<T> std::fmt::Debug for PrefixTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrefixTable({} prefixes)", self.len)
    }
}

impl<T> PrefixTable<T> {
    /// Inserts unless the same prefix is already there: the first file/line that names a
    /// prefix keeps it, so the configured order decides between lists.
    pub fn insert(&mut self, net: IpNetwork, value: T) {
        // One walk of the tree for the usual case (a new prefix); a duplicate puts the
        // earlier value back.
        match self.table.insert(net, value) {
            None => self.len += 1,
            Some(earlier) => {
                self.table.insert(net, earlier);
            }
        }
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<&T> {
        self.table.longest_match(ip).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Parses `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32`. Host bits are cleared (`10.1.2.3/8`
/// means `10.0.0.0/8`), as published lists are not always canonical.
pub fn parse_network(s: &str) -> Result<IpNetwork, String> {
    let s = s.trim();
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let ip: IpAddr = addr
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let mask = match mask {
        Some(m) => m
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|m| *m <= max)
            .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
        None => max,
    };
    IpNetwork::new_truncate(ip, mask).map_err(|e| format!("{s:?}: {e}"))
}

/// Whether an address is private to a network (RFC 1918, CGNAT 100.64/10, link-local,
/// loopback; IPv6 unique-local fc00::/7, link-local, loopback): traffic between two such
/// addresses never crossed the internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments()[0];
            v6.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins_ipv4_and_ipv6() {
        let mut t = PrefixTable::default();
        for (n, v) in [
            ("10.0.0.0/8", "wide"),
            ("10.1.0.0/16", "narrow"),
            ("10.1.2.3", "host"),
            ("2001:db8::/32", "v6-wide"),
            ("2001:db8:1::/48", "v6-narrow"),
        ] {
            t.insert(parse_network(n).unwrap(), v);
        }
        assert_eq!(t.lookup(ip("10.9.9.9")), Some(&"wide"));
        assert_eq!(t.lookup(ip("10.1.9.9")), Some(&"narrow"));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(&"host"));
        assert_eq!(t.lookup(ip("11.0.0.1")), None);
        assert_eq!(t.lookup(ip("2001:db8:2::1")), Some(&"v6-wide"));
        assert_eq!(t.lookup(ip("2001:db8:1::1")), Some(&"v6-narrow"));
        assert_eq!(t.lookup(ip("2001:db9::1")), None);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn first_insert_of_a_prefix_is_kept() {
        let mut t = PrefixTable::default();
        t.insert(parse_network("192.0.2.0/24").unwrap(), "first");
        t.insert(parse_network("192.0.2.0/24").unwrap(), "second");
        assert_eq!(t.lookup(ip("192.0.2.7")), Some(&"first"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn networks_parse_leniently_and_reject_garbage() {
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap(),
            parse_network("10.0.0.0/8").unwrap()
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("not-an-ip").is_err());
        assert!(parse_network("::1/129").is_err());
    }

    #[test]
    fn private_ranges() {
        for a in [
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_private(ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1"] {
            assert!(!is_private(ip(a)), "{a}");
        }
    }
}
