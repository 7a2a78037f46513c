//! Orientation: which side of a record is the client and which the server.
//!
//! Flow logs record each direction of a conversation separately, so the response to a
//! request to `10.0.1.5:443` shows up as `10.0.1.5:443 → client:51234`. Orienting every
//! record into client → server:service_port (with bytes both ways) folds the response into
//! the connection it answers. Rules, first match wins:
//!
//! 1. `tcp_flags`: SYN-ACK comes from the server, SYN without ACK from the client;
//! 2. `service_port`: the side using a configured service port is the server;
//! 3. `ephemeral`: the side in the ephemeral range is the client when the other is not;
//! 4. otherwise `unknown`: kept as recorded (src is the client).
//!
//! Records without ports (ICMP and other protocols) are `unknown` with no server port.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray, UInt16Array};
use arrow::compute::kernels::zip::zip;
use arrow::datatypes::{UInt16Type, UInt8Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use flowlogd_formats::Col;
use serde::{Deserialize, Serialize};

use crate::error::ConfigIssue;

/// `[engine.orientation]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrientationConfig {
    /// Use TCP flags (AWS v3+ `tcp-flags`) when present.
    pub use_tcp_flags: bool,
    /// Ports that identify a server. Default: every port below 1024 plus common service
    /// ports (databases, caches, Kafka, Elasticsearch, RDP, alternative HTTP).
    pub service_ports: Vec<PortRange>,
    /// Client (ephemeral) port range: Linux 32768-60999 and Windows 49152-65535 both fall
    /// in the default 32768-65535.
    pub ephemeral: PortRange,
}

/// A port or an inclusive range, written `443` or `"1024-2048"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PortSpec", into = "PortSpec")]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum PortSpec {
    One(u16),
    Range(String),
}

impl TryFrom<PortSpec> for PortRange {
    type Error = String;
    fn try_from(s: PortSpec) -> Result<Self, String> {
        match s {
            PortSpec::One(p) => Ok(PortRange { lo: p, hi: p }),
            PortSpec::Range(r) => {
                let (a, b) = r.split_once('-').unwrap_or((&r, &r));
                let lo = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad port range {r:?}: use \"LO-HI\""))?;
                let hi = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad port range {r:?}: use \"LO-HI\""))?;
                if lo > hi {
                    return Err(format!("bad port range {r:?}: low end above high end"));
                }
                Ok(PortRange { lo, hi })
            }
        }
    }
}

impl From<PortRange> for PortSpec {
    fn from(r: PortRange) -> Self {
        if r.lo == r.hi {
            PortSpec::One(r.lo)
        } else {
            PortSpec::Range(format!("{}-{}", r.lo, r.hi))
        }
    }
}

impl PortRange {
    fn contains(&self, p: u16) -> bool {
        (self.lo..=self.hi).contains(&p)
    }
}

impl Default for OrientationConfig {
    fn default() -> Self {
        let mut service_ports = vec![PortRange { lo: 1, hi: 1023 }];
        service_ports.extend(
            [
                1433, 1521, 2049, 3306, 3389, 5432, 5439, 6379, 8080, 8443, 9092, 9200, 27017,
            ]
            .map(|p| PortRange { lo: p, hi: p }),
        );
        Self {
            use_tcp_flags: true,
            service_ports,
            ephemeral: PortRange {
                lo: 32768,
                hi: 65535,
            },
        }
    }
}

impl OrientationConfig {
    pub fn validate(&self, issues: &mut Vec<ConfigIssue>) {
        if self.service_ports.iter().any(|r| r.lo == 0) {
            issues.push(ConfigIssue::new(
                "engine.orientation.service_ports",
                "port 0 is not a service port",
                "start ranges at 1",
            ));
        }
    }
}

/// Orientation values and the rule that decided them.
pub const REQUEST: &str = "request";
pub const RESPONSE: &str = "response";
pub const UNKNOWN: &str = "unknown";

/// Compiled rules (a bitmap of service ports for O(1) lookups).
#[derive(Debug, Clone)]
pub struct Orienter {
    use_tcp_flags: bool,
    service: Arc<Vec<bool>>,
    ephemeral: PortRange,
}

const TCP: u8 = 6;
const SYN: u16 = 0x02;
const ACK: u16 = 0x10;

impl Orienter {
    pub fn new(cfg: &OrientationConfig) -> Self {
        let mut service = vec![false; 65536];
        for r in &cfg.service_ports {
            for p in r.lo..=r.hi {
                service[p as usize] = true;
            }
        }
        Self {
            use_tcp_flags: cfg.use_tcp_flags,
            service: Arc::new(service),
            ephemeral: cfg.ephemeral,
        }
    }

    /// (is_response, orientation, rule) for one record; `None` ports mean no ports.
    pub fn orient(
        &self,
        proto: Option<u8>,
        sport: Option<u16>,
        dport: Option<u16>,
        flags: Option<u16>,
    ) -> (bool, &'static str, &'static str) {
        let (Some(s), Some(d)) = (sport, dport) else {
            return (false, UNKNOWN, "no_ports");
        };
        if !matches!(proto, Some(6) | Some(17) | Some(132)) && proto.is_some() {
            return (false, UNKNOWN, "no_ports");
        }
        if self.use_tcp_flags && proto == Some(TCP) {
            if let Some(f) = flags {
                if f & SYN != 0 && f & ACK != 0 {
                    return (true, RESPONSE, "tcp_flags");
                }
                if f & SYN != 0 {
                    return (false, REQUEST, "tcp_flags");
                }
            }
        }
        let (ss, ds) = (self.service[s as usize], self.service[d as usize]);
        if ds && !ss {
            return (false, REQUEST, "service_port");
        }
        if ss && !ds {
            return (true, RESPONSE, "service_port");
        }
        let (se, de) = (self.ephemeral.contains(s), self.ephemeral.contains(d));
        if se && !de {
            return (false, REQUEST, "ephemeral");
        }
        if de && !se {
            return (true, RESPONSE, "ephemeral");
        }
        (false, UNKNOWN, "unknown")
    }

    /// The oriented columns for a normalized batch, in [`ORIENTED_COLUMNS`] order.
    pub fn columns(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>, ArrowError> {
        let proto = batch
            .column(Col::Protocol as usize)
            .as_primitive::<UInt8Type>();
        let sport = batch
            .column(Col::SrcPort as usize)
            .as_primitive::<UInt16Type>();
        let dport = batch
            .column(Col::DstPort as usize)
            .as_primitive::<UInt16Type>();
        let flags = batch
            .column(Col::TcpFlags as usize)
            .as_primitive::<UInt16Type>();
        let n = batch.num_rows();
        let mut response = Vec::with_capacity(n);
        let mut orientation = Vec::with_capacity(n);
        let mut rule = Vec::with_capacity(n);
        let mut server_port = Vec::with_capacity(n);
        for i in 0..n {
            let get8 =
                |a: &arrow::array::PrimitiveArray<UInt8Type>| (!a.is_null(i)).then(|| a.value(i));
            let get16 = |a: &UInt16Array| (!a.is_null(i)).then(|| a.value(i));
            let (s, d) = (get16(sport), get16(dport));
            let (resp, o, r) = self.orient(get8(proto), s, d, get16(flags));
            response.push(resp);
            orientation.push(o);
            rule.push(r);
            server_port.push(if r == "no_ports" {
                None
            } else if resp {
                s
            } else {
                d
            });
        }
        let mask = BooleanArray::from(response);
        let src = batch.column(Col::SrcAddr as usize);
        let dst = batch.column(Col::DstAddr as usize);
        let p = batch.column(Col::Packets as usize);
        let b = batch.column(Col::Bytes as usize);
        let pr = batch.column(Col::PacketsRev as usize);
        let br = batch.column(Col::BytesRev as usize);
        Ok(vec![
            zip(&mask, dst, src)?,
            zip(&mask, src, dst)?,
            Arc::new(UInt16Array::from(server_port)),
            Arc::new(StringArray::from(orientation)),
            Arc::new(StringArray::from(rule)),
            zip(&mask, pr, p)?,
            zip(&mask, br, b)?,
            zip(&mask, p, pr)?,
            zip(&mask, b, br)?,
        ])
    }
}

/// Oriented columns added to every record (name, is u16 / u64 / string).
pub const ORIENTED_COLUMNS: [(&str, OrientedKind); 9] = [
    ("client_addr", OrientedKind::Str),
    ("server_addr", OrientedKind::Str),
    ("server_port", OrientedKind::U16),
    ("orientation", OrientedKind::Str),
    ("orientation_rule", OrientedKind::Str),
    ("packets_c2s", OrientedKind::U64),
    ("bytes_c2s", OrientedKind::U64),
    ("packets_s2c", OrientedKind::U64),
    ("bytes_s2c", OrientedKind::U64),
];

#[derive(Debug, Clone, Copy)]
pub enum OrientedKind {
    Str,
    U16,
    U64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o() -> Orienter {
        Orienter::new(&OrientationConfig::default())
    }

    #[test]
    fn tcp_flags_decide_first() {
        // SYN-ACK from 51234 → 443: the sender is the server even with odd ports.
        assert_eq!(
            o().orient(Some(6), Some(51234), Some(443), Some(18)),
            (true, RESPONSE, "tcp_flags")
        );
        assert_eq!(
            o().orient(Some(6), Some(443), Some(51234), Some(2)),
            (false, REQUEST, "tcp_flags")
        );
        // FIN/ACK only: flags say nothing, the service port decides.
        assert_eq!(
            o().orient(Some(6), Some(443), Some(51234), Some(17)),
            (true, RESPONSE, "service_port")
        );
    }

    #[test]
    fn service_ports_then_ephemeral_then_unknown() {
        assert_eq!(
            o().orient(Some(6), Some(51234), Some(5432), None),
            (false, REQUEST, "service_port")
        );
        assert_eq!(
            o().orient(Some(17), Some(53), Some(40000), None),
            (true, RESPONSE, "service_port")
        );
        assert_eq!(
            o().orient(Some(6), Some(40000), Some(12345), None),
            (false, REQUEST, "ephemeral")
        );
        assert_eq!(
            o().orient(Some(6), Some(12345), Some(40000), None),
            (true, RESPONSE, "ephemeral")
        );
        // Both ephemeral, both well known: kept as recorded.
        assert_eq!(
            o().orient(Some(6), Some(40000), Some(50000), None),
            (false, UNKNOWN, "unknown")
        );
        assert_eq!(
            o().orient(Some(6), Some(80), Some(443), None),
            (false, UNKNOWN, "unknown")
        );
    }

    #[test]
    fn icmp_and_missing_ports_have_no_server_port() {
        assert_eq!(
            o().orient(Some(1), Some(0), Some(0), None),
            (false, UNKNOWN, "no_ports")
        );
        assert_eq!(
            o().orient(Some(6), None, None, None),
            (false, UNKNOWN, "no_ports")
        );
    }

    #[test]
    fn windows_ephemeral_range_is_configurable() {
        let cfg = OrientationConfig {
            ephemeral: PortRange {
                lo: 49152,
                hi: 65535,
            },
            ..Default::default()
        };
        let w = Orienter::new(&cfg);
        assert_eq!(
            w.orient(Some(6), Some(40000), Some(12345), None),
            (false, UNKNOWN, "unknown")
        );
        assert_eq!(
            w.orient(Some(6), Some(50000), Some(12345), None),
            (false, REQUEST, "ephemeral")
        );
    }

    #[test]
    fn port_ranges_parse() {
        #[derive(Deserialize)]
        struct T {
            p: Vec<PortRange>,
        }
        let t: T = toml::from_str("p = [443, \"8000-8100\"]").unwrap();
        assert_eq!(
            t.p,
            vec![
                PortRange { lo: 443, hi: 443 },
                PortRange { lo: 8000, hi: 8100 }
            ]
        );
    }
}
