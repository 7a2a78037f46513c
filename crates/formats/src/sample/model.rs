//! The traffic model shared by the AWS and Azure generators: host roles, services, traffic
//! profiles, internet hosts and the conversation mix.
//!
//! A *conversation* is one transport connection (or UDP/ICMP exchange) from a client endpoint
//! to a server endpoint over `[cs, ce]`. Each provider's generator turns it into records the
//! way that provider logs it (AWS: one record per direction per ENI per aggregation interval;
//! Azure: begin/continue/end tuples per NIC). The numbers below are not measurements; they are
//! chosen so that summaries over the output look like a real estate: a few heavy talkers,
//! many short HTTPS calls, long-lived database/cache/Kafka pools, DNS and NTP chatter, and
//! internet scanners knocking on public interfaces.

use std::net::{Ipv4Addr, Ipv6Addr};

use rand::Rng;

/// What a host does; decides which services it serves and which it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Public load balancer interface (no instance id): internet clients, forwards to apps.
    Lb,
    /// Public SSH jump host.
    Bastion,
    /// Application server: serves 8080, calls databases, caches, Kafka and the internet.
    App,
    /// Batch worker: a client only.
    Worker,
    Db,
    Cache,
    Kafka,
    /// An interface that never sees traffic (AWS logs NODATA rows for it).
    Idle,
}

impl Role {
    /// Picks a role for the `i`-th interface of a network of `n` (the first few are public).
    pub(crate) fn for_index<R: Rng>(rng: &mut R, i: usize) -> Role {
        match i {
            0 | 1 => Role::Lb,
            2 => Role::Bastion,
            3 => Role::Db,
            4 => Role::Cache,
            5 => Role::Kafka,
            6 => Role::App,
            _ => {
                let x: f64 = rng.random();
                if x < 0.40 {
                    Role::App
                } else if x < 0.68 {
                    Role::Worker
                } else if x < 0.78 {
                    Role::Db
                } else if x < 0.85 {
                    Role::Cache
                } else if x < 0.91 {
                    Role::Kafka
                } else if x < 0.95 {
                    Role::Lb
                } else {
                    Role::Idle
                }
            }
        }
    }

    /// Whether the internet can reach this host (scanners and clients come in).
    pub(crate) fn public(self) -> bool {
        matches!(self, Role::Lb | Role::Bastion)
    }
}

/// A service a conversation uses; fixes the server port, the protocol and the traffic shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Svc {
    Https,
    Http,
    Ssh,
    Postgres,
    Mysql,
    Redis,
    Kafka,
    AppHttp,
    Dns,
    Ntp,
    Icmp,
    /// A scanner's probe to an arbitrary port; rejected.
    Probe,
}

impl Svc {
    pub(crate) fn port(self) -> u16 {
        match self {
            Svc::Https => 443,
            Svc::Http => 80,
            Svc::Ssh => 22,
            Svc::Postgres => 5432,
            Svc::Mysql => 3306,
            Svc::Redis => 6379,
            Svc::Kafka => 9092,
            Svc::AppHttp => 8080,
            Svc::Dns => 53,
            Svc::Ntp => 123,
            Svc::Icmp | Svc::Probe => 0,
        }
    }

    /// IANA protocol number.
    pub(crate) fn proto(self) -> u8 {
        match self {
            Svc::Dns | Svc::Ntp => 17,
            Svc::Icmp => 1,
            _ => 6,
        }
    }
}

/// The byte/packet shape of one conversation. Totals are over the whole conversation
/// `[cs, ce]`; a record covering part of it gets a proportional share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    /// Duration in seconds (0 = all packets within one second).
    pub dur: u32,
    pub req_bytes: u64,
    pub resp_bytes: u64,
    /// Mean packet size client→server and server→client (bytes, headers included).
    pub req_pkt: u16,
    pub resp_pkt: u16,
}

/// Log-uniform draw in `[lo, hi]`: heavy-tailed sizes and durations without a distribution
/// crate.
pub(crate) fn log_uniform<R: Rng>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    let (a, b) = (lo.max(1e-9).ln(), hi.max(lo * 1.000_001).ln());
    rng.random_range(a..b).exp()
}

/// Draws the traffic shape of a conversation. `long` conversations (connection pools, SSH
/// sessions, websockets) last for hours; their totals come from a rate.
pub(crate) fn shape<R: Rng>(rng: &mut R, svc: Svc, long: bool) -> Shape {
    let lu = |rng: &mut R, lo: f64, hi: f64| log_uniform(rng, lo, hi);
    let (dur, req_rate_or_total, resp_rate_or_total, req_pkt, resp_pkt): (f64, f64, f64, u16, u16) =
        if long {
            let dur = lu(rng, 1800.0, 5.0 * 3600.0);
            let (rq, rs, pq, ps) = match svc {
                Svc::Postgres | Svc::Mysql => (lu(rng, 50.0, 5e3), lu(rng, 200.0, 6e4), 180, 900),
                Svc::Redis => (lu(rng, 100.0, 2e4), lu(rng, 100.0, 2e4), 120, 220),
                Svc::Kafka => (lu(rng, 1e3, 5e5), lu(rng, 100.0, 5e3), 1200, 120),
                Svc::Ssh => (lu(rng, 2.0, 200.0), lu(rng, 10.0, 2e3), 90, 160),
                _ => (lu(rng, 5.0, 500.0), lu(rng, 20.0, 5e3), 200, 600),
            };
            (dur, rq * dur, rs * dur, pq, ps)
        } else {
            match svc {
                Svc::Https => (
                    lu(rng, 1.0, 600.0),
                    lu(rng, 500.0, 2e5),
                    lu(rng, 2e3, 2e7),
                    350,
                    1300,
                ),
                Svc::Http => (
                    lu(rng, 1.0, 60.0),
                    lu(rng, 300.0, 5e3),
                    lu(rng, 1e3, 2e6),
                    300,
                    1200,
                ),
                Svc::AppHttp => (
                    lu(rng, 1.0, 120.0),
                    lu(rng, 500.0, 5e4),
                    lu(rng, 1e3, 5e5),
                    400,
                    1100,
                ),
                Svc::Ssh => (
                    lu(rng, 60.0, 3600.0),
                    lu(rng, 5e3, 2e6),
                    lu(rng, 1e4, 5e6),
                    90,
                    160,
                ),
                Svc::Postgres | Svc::Mysql => (
                    lu(rng, 1.0, 30.0),
                    lu(rng, 300.0, 2e4),
                    lu(rng, 500.0, 5e5),
                    180,
                    900,
                ),
                Svc::Redis => (
                    lu(rng, 1.0, 10.0),
                    lu(rng, 100.0, 5e3),
                    lu(rng, 100.0, 2e4),
                    120,
                    220,
                ),
                Svc::Kafka => (
                    lu(rng, 5.0, 300.0),
                    lu(rng, 1e3, 1e7),
                    lu(rng, 200.0, 5e4),
                    1200,
                    120,
                ),
                Svc::Dns => (
                    0.0,
                    rng.random_range(60.0..90.0),
                    rng.random_range(90.0..500.0),
                    75,
                    250,
                ),
                Svc::Ntp => (0.0, 76.0, 76.0, 76, 76),
                Svc::Icmp => {
                    let d = lu(rng, 1.0, 300.0);
                    (d, 84.0 * (d + 1.0), 84.0 * (d + 1.0), 84, 84)
                }
                Svc::Probe => (0.0, rng.random_range(40.0..=60.0), 0.0, 60, 60),
            }
        };
    Shape {
        dur: dur as u32,
        req_bytes: req_rate_or_total.max(1.0) as u64,
        resp_bytes: resp_rate_or_total as u64,
        req_pkt,
        resp_pkt,
    }
}

/// Packets and bytes for the share `num/den` of a conversation direction's totals, with a
/// little noise; at least one packet, and never fewer than 40 bytes per TCP packet (28 for
/// UDP/ICMP) so the numbers stay physically possible.
#[inline]
pub(crate) fn share<R: Rng>(
    rng: &mut R,
    total_bytes: u64,
    pkt: u16,
    num: u64,
    den: u64,
    proto: u8,
) -> (u64, u64) {
    let frac = num as f64 / den.max(1) as f64;
    let noise = 0.85 + 0.3 * rng.random::<f64>();
    let bytes = (total_bytes as f64 * frac.min(1.0) * noise) as u64;
    let packets = (bytes / u64::from(pkt.max(1))).max(1);
    let min = if proto == 6 { 40 } else { 28 };
    (packets, bytes.max(packets * min))
}

/// Where a conversation's new connections come from, by weight. Internal = both ends are
/// hosts of the simulated network (logged on both interfaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// App/worker → app (8080), same network.
    InternalApp,
    /// LB → app (8080).
    LbToApp,
    /// App/worker → db/cache/kafka, short-lived.
    InternalData,
    /// Internet client → public LB (443/80) or bastion (22).
    InboundWeb,
    InboundSsh,
    /// Host → internet (443/80).
    Outbound,
    /// Host → internet over IPv6 (443).
    OutboundV6,
    /// Host → public resolver / NTP server (UDP).
    Dns,
    Ntp,
    /// Ping between hosts.
    Ping,
    /// A scanner probing a public interface (rejected, one packet per port).
    Scan,
}

/// The mix of new short conversations (weights sum to 1).
pub(crate) const SHORT_MIX: &[(Kind, f64)] = &[
    (Kind::InternalApp, 0.22),
    (Kind::LbToApp, 0.10),
    (Kind::InternalData, 0.09),
    (Kind::InboundWeb, 0.20),
    (Kind::InboundSsh, 0.005),
    (Kind::Outbound, 0.17),
    (Kind::OutboundV6, 0.02),
    (Kind::Dns, 0.10),
    (Kind::Ntp, 0.02),
    (Kind::Ping, 0.015),
    (Kind::Scan, 0.012),
];

/// Picks from a weight table.
pub(crate) fn pick<R: Rng, T: Copy>(rng: &mut R, table: &[(T, f64)]) -> T {
    let mut x: f64 = rng.random::<f64>() * table.iter().map(|t| t.1).sum::<f64>();
    for &(k, w) in table {
        if x < w {
            return k;
        }
        x -= w;
    }
    table[table.len() - 1].0
}

/// An internet host.
#[derive(Debug, Clone)]
pub(crate) struct InetHost {
    pub ip4: String,
    pub ip6: Option<String>,
    /// `pkt-*-aws-service` value for addresses in AWS's ranges.
    pub aws_service: Option<&'static str>,
    pub scanner: bool,
    /// Services this host offers when a client inside calls out.
    pub resolver: bool,
}

/// A pool of internet hosts: clients, web APIs, public resolvers and NTP servers, scanners.
pub(crate) fn internet_hosts<R: Rng>(rng: &mut R, n: usize) -> Vec<InetHost> {
    // (first octet, fixed second octet or 0 for random, aws service tag)
    const PREFIXES: &[(u8, u8, Option<&str>)] = &[
        (3, 0, Some("AMAZON")),
        (13, 0, Some("AMAZON")),
        (18, 0, Some("EC2")),
        (52, 216, Some("S3")),
        (52, 94, Some("DYNAMODB")),
        (54, 0, Some("EC2")),
        (99, 84, Some("CLOUDFRONT")),
        (20, 0, None),
        (23, 0, None),
        (34, 0, None),
        (35, 0, None),
        (40, 0, None),
        (64, 0, None),
        (66, 0, None),
        (81, 0, None),
        (91, 0, None),
        (104, 16, None),
        (142, 250, None),
        (151, 101, None),
        (157, 240, None),
        (172, 217, None),
        (212, 0, None),
    ];
    const SCANNER_PREFIXES: &[u8] = &[45, 89, 185, 193, 194, 167, 162];
    const V6_PREFIXES: &[[u16; 2]] = &[
        [0x2a02, 0xcf40],
        [0x2606, 0x4700],
        [0x2a00, 0x1450],
        [0x2001, 0x4860],
    ];
    let mut hosts = Vec::with_capacity(n + 12);
    // Well-known resolvers and NTP pools first, so DNS/NTP always have a target.
    for (ip, resolver) in [
        ("8.8.8.8", true),
        ("1.1.1.1", true),
        ("9.9.9.9", true),
        ("162.159.200.1", false),
        ("129.6.15.28", false),
        ("216.239.35.0", false),
    ] {
        hosts.push(InetHost {
            ip4: ip.to_string(),
            ip6: None,
            aws_service: None,
            scanner: false,
            resolver,
        });
    }
    for i in 0..n {
        let scanner = i % 10 == 9;
        let (a, b, svc) = if scanner {
            (
                SCANNER_PREFIXES[rng.random_range(0..SCANNER_PREFIXES.len())],
                0,
                None,
            )
        } else {
            PREFIXES[rng.random_range(0..PREFIXES.len())]
        };
        let b = if b == 0 {
            rng.random_range(1..=254u8)
        } else {
            b
        };
        let ip4 = Ipv4Addr::new(a, b, rng.random_range(0..=255), rng.random_range(1..=254));
        let ip6 = (!scanner && rng.random_bool(0.3)).then(|| {
            let p = V6_PREFIXES[rng.random_range(0..V6_PREFIXES.len())];
            // Mostly short (compressible) host parts, as real servers tend to have.
            let tail = if rng.random_bool(0.5) {
                [0, 0, 0, 0, rng.random_range(1..0x100)]
            } else {
                [rng.random(), rng.random(), 0, rng.random(), rng.random()]
            };
            Ipv6Addr::new(
                p[0],
                p[1],
                rng.random_range(0..0x40),
                tail[0],
                tail[1],
                tail[2],
                tail[3],
                tail[4],
            )
            .to_string()
        });
        hosts.push(InetHost {
            ip4: ip4.to_string(),
            ip6,
            aws_service: svc,
            scanner,
            resolver: false,
        });
    }
    hosts
}

/// A client port from the host's ephemeral range: Linux 32768–60999, Windows and most
/// others 49152–65535.
#[inline]
pub(crate) fn ephemeral_port<R: Rng>(rng: &mut R, windows_like: bool) -> u16 {
    if windows_like {
        rng.random_range(49152..=65535)
    } else {
        rng.random_range(32768..=60999)
    }
}

/// Ports scanners like to try on top of random ones.
pub(crate) const SCAN_PORTS: &[u16] = &[
    22, 23, 25, 80, 110, 135, 139, 443, 445, 1433, 1521, 2375, 3306, 3389, 5060, 5432, 5900, 6379,
    8080, 8443, 8888, 9200, 11211, 27017,
];
