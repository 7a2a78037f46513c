//! Azure NSG (v1, v2) and VNet flow logs: simulated subscriptions/NSGs/NICs, flow-state
//! tuples and the `PT1H.json` blobs.
//!
//! Azure logs a flow once per NIC (source = initiator, direction relative to the NIC) with
//! both directions' counters in one tuple, as a sequence of states: `B` at the start, `C`
//! about every 5 minutes with the counters since the previous tuple, `E` with the rest. Each
//! conversation therefore becomes a chain of timed events, kept in a min-heap; the simulation
//! walks minute by minute, pops the minute's events, groups the tuples by NIC and rule, and
//! appends one record per NIC to that NIC's hourly blob. Blobs of an hour are finished when the
//! hour ends, so only one hour's files are open at a time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::model::{self, ephemeral_port, pick, InetHost, Kind, Role, Shape, Svc, SHORT_MIX};
use super::text::{civil, guid, hex_digits, push_azure_time, push_i64, push_padded, push_u64};
use super::{create_file, GenConfig, GenFile, GenReport, SampleFormat};

/// Azure writes a `C` tuple for a running flow about this often.
const CONTINUE_MS: i64 = 300_000;
const PERSISTENT_SHARE: f64 = 0.3;
const N_ROLES: usize = 8;
const REGIONS: &[&str] = &["EASTUS", "WESTEUROPE", "WESTUS2"];

/// Rule names, indexed by [`Rule`].
const RULES: &[&str] = &[
    "DefaultRule_AllowVnetOutBound",
    "DefaultRule_AllowInternetOutBound",
    "DefaultRule_AllowVnetInBound",
    "UserRule_Allow-HTTPS-Inbound",
    "UserRule_Allow-SSH-Office",
    "DefaultRule_DenyAllInBound",
];

#[derive(Clone, Copy)]
#[repr(u8)]
enum Rule {
    VnetOut = 0,
    InternetOut = 1,
    VnetIn = 2,
    HttpsIn = 3,
    SshIn = 4,
    DenyIn = 5,
}

fn role_idx(r: Role) -> usize {
    match r {
        Role::Lb => 0,
        Role::Bastion => 1,
        Role::App => 2,
        Role::Worker => 3,
        Role::Db => 4,
        Role::Cache => 5,
        Role::Kafka => 6,
        Role::Idle => 7,
    }
}

struct Sub {
    format: SampleFormat,
    /// Subscription id, upper case (as in resource ids and blob paths).
    id: String,
    region: &'static str,
    /// VNet flow log: name, GUID, resource id, target VNet resource id.
    fl_name: String,
    fl_guid: String,
    fl_rid: String,
    target: String,
    by_role: [Vec<u32>; N_ROLES],
    clients: Vec<u32>,
    active: Vec<u32>,
}

struct Nsg {
    rg: String,
    name: String,
    resource_id: String,
    acl_id: String,
    system_id: String,
}

struct Nic {
    sub: usize,
    nsg: usize,
    mac: String,
    ip: String,
    windows_like: bool,
    db_svc: Svc,
}

struct World {
    subs: Vec<Sub>,
    nsgs: Vec<Nsg>,
    nics: Vec<Nic>,
    inet: Vec<InetHost>,
    resolvers: Vec<u32>,
    ntp: Vec<u32>,
    web: Vec<u32>,
    scanners: Vec<u32>,
}

fn any<R: Rng>(rng: &mut R, v: &[u32]) -> Option<u32> {
    (!v.is_empty()).then(|| v[rng.random_range(0..v.len())])
}

impl World {
    fn build(rng: &mut StdRng, cfg: &GenConfig, formats: &[SampleFormat], records: u64) -> World {
        let per_sub = if cfg.hosts_per_network > 0 {
            cfg.hosts_per_network as usize
        } else {
            (records / 25_000).clamp(12, 200) as usize
        };
        let mut w = World {
            subs: Vec::new(),
            nsgs: Vec::new(),
            nics: Vec::new(),
            inet: model::internet_hosts(rng, 60 + per_sub * 4),
            resolvers: Vec::new(),
            ntp: Vec::new(),
            web: Vec::new(),
            scanners: Vec::new(),
        };
        for (i, h) in w.inet.iter().enumerate() {
            let i = i as u32;
            if h.resolver {
                w.resolvers.push(i);
            } else if i < 6 {
                w.ntp.push(i);
            } else if h.scanner {
                w.scanners.push(i);
            } else {
                w.web.push(i);
            }
        }
        for (s, &format) in formats.iter().enumerate() {
            let id = guid(rng).to_ascii_uppercase();
            let region = REGIONS[s % REGIONS.len()];
            let fl_name = format!("FL-VNET-PROD-{}", s + 1);
            let fl_rid = format!(
                "/SUBSCRIPTIONS/{id}/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_{region}/FLOWLOGS/{fl_name}"
            );
            let target = format!(
                "/subscriptions/{}/resourceGroups/rg-net-prod/providers/Microsoft.Network/virtualNetworks/vnet-prod-{}",
                id.to_ascii_lowercase(),
                region.to_ascii_lowercase()
            );
            let mut sub = Sub {
                format,
                id,
                region,
                fl_name,
                fl_guid: guid(rng),
                fl_rid,
                target,
                by_role: Default::default(),
                clients: Vec::new(),
                active: Vec::new(),
            };
            let first_nsg = w.nsgs.len();
            for (rg, names) in [
                ("RG-WEB-PROD", ["NSG-WEB-FRONTEND", "NSG-WEB-BASTION"]),
                ("RG-DATA-PROD", ["NSG-APP-TIER", "NSG-DATA-TIER"]),
            ] {
                for name in names {
                    let resource_id = format!(
                        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/{rg}/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/{name}",
                        sub.id
                    );
                    w.nsgs.push(Nsg {
                        rg: rg.to_string(),
                        name: name.to_string(),
                        resource_id,
                        acl_id: guid(rng),
                        system_id: guid(rng),
                    });
                }
            }
            for i in 0..per_sub {
                let role = Role::for_index(rng, i);
                // Public hosts sit behind the front-end NSG, the rest spread over the others.
                let nsg = first_nsg
                    + match role {
                        Role::Lb => 0,
                        Role::Bastion => 1,
                        Role::Db | Role::Cache | Role::Kafka => 3,
                        _ => 2,
                    };
                let subnet = nsg - first_nsg;
                let idx = w.nics.len() as u32;
                sub.by_role[role_idx(role)].push(idx);
                if matches!(role, Role::App | Role::Worker) {
                    sub.clients.push(idx);
                }
                if role != Role::Idle && role != Role::Lb {
                    sub.active.push(idx);
                }
                w.nics.push(Nic {
                    sub: s,
                    nsg,
                    mac: format!("000D3A{}", hex_digits(rng, 6).to_ascii_uppercase()),
                    ip: format!("10.{}.{}.{}", 100 + s, subnet, 4 + i % 250),
                    windows_like: rng.random_bool(0.3),
                    db_svc: if rng.random_bool(0.5) {
                        Svc::Mysql
                    } else {
                        Svc::Postgres
                    },
                });
            }
            w.subs.push(sub);
        }
        w
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ep {
    Nic(u32),
    Inet(u32),
}

#[derive(Debug, Clone)]
struct Conv {
    client: Ep,
    server: Ep,
    sub: u32,
    cport: u16,
    sport: u16,
    proto: u8,
    deny: bool,
    /// Denied: attempts still to log.
    retries: u8,
    encrypted: bool,
    persistent: bool,
    cs_ms: i64,
    ce_ms: i64,
    /// Time of the previous tuple (counters are deltas since then).
    last_ms: i64,
    begun: bool,
    shape: Shape,
}

impl Conv {
    fn nics(&self) -> u32 {
        u32::from(matches!(self.client, Ep::Nic(_))) + u32::from(matches!(self.server, Ep::Nic(_)))
    }

    fn expected_tuples(&self) -> f64 {
        if self.deny {
            return f64::from(self.retries);
        }
        f64::from(self.nics()) * (2.0 + ((self.ce_ms - self.cs_ms) / CONTINUE_MS) as f64)
    }
}

fn spawn(
    w: &World,
    rng: &mut StdRng,
    sub_idx: usize,
    kind: Kind,
    cs_ms: i64,
    long: bool,
) -> Option<Conv> {
    let sub = &w.subs[sub_idx];
    let nsg_format = sub.format != SampleFormat::AzureVnet;
    let near = |rng: &mut StdRng, role: Role| any(rng, &sub.by_role[role_idx(role)]);
    let (client, server, svc) = match kind {
        Kind::InternalApp | Kind::InternalData | Kind::Ping => {
            let c = any(rng, &sub.clients)?;
            let role = match kind {
                Kind::InternalData => pick(
                    rng,
                    &[(Role::Db, 0.45), (Role::Cache, 0.35), (Role::Kafka, 0.2)],
                ),
                _ => Role::App,
            };
            let s = near(rng, role)?;
            if s == c {
                return None;
            }
            let svc = match (kind, role) {
                // NSG logs have only T and U: ICMP never shows up there.
                (Kind::Ping, _) if nsg_format => return None,
                (Kind::Ping, _) => Svc::Icmp,
                (_, Role::App) => Svc::AppHttp,
                (_, Role::Db) => w.nics[s as usize].db_svc,
                (_, Role::Cache) => Svc::Redis,
                _ => Svc::Kafka,
            };
            (Ep::Nic(c), Ep::Nic(s), svc)
        }
        Kind::LbToApp => (
            Ep::Nic(near(rng, Role::Lb)?),
            Ep::Nic(near(rng, Role::App)?),
            Svc::AppHttp,
        ),
        Kind::InboundWeb => {
            let svc = if rng.random_bool(0.85) {
                Svc::Https
            } else {
                Svc::Http
            };
            (
                Ep::Inet(any(rng, &w.web)?),
                Ep::Nic(near(rng, Role::Lb)?),
                svc,
            )
        }
        Kind::InboundSsh => (
            Ep::Inet(any(rng, &w.web)?),
            Ep::Nic(near(rng, Role::Bastion)?),
            Svc::Ssh,
        ),
        Kind::Outbound | Kind::OutboundV6 => {
            let svc = if rng.random_bool(0.85) {
                Svc::Https
            } else {
                Svc::Http
            };
            (
                Ep::Nic(any(rng, &sub.clients)?),
                Ep::Inet(any(rng, &w.web)?),
                svc,
            )
        }
        Kind::Dns => (
            Ep::Nic(any(rng, &sub.active)?),
            Ep::Inet(any(rng, &w.resolvers)?),
            Svc::Dns,
        ),
        Kind::Ntp => (
            Ep::Nic(any(rng, &sub.active)?),
            Ep::Inet(any(rng, &w.ntp)?),
            Svc::Ntp,
        ),
        // Scans are many denied probes: see `spawn_scan`.
        Kind::Scan => return None,
    };
    let shape = model::shape(rng, svc, long);
    let windows_like = match client {
        Ep::Nic(i) => w.nics[i as usize].windows_like,
        Ep::Inet(_) => rng.random_bool(0.4),
    };
    let (cport, sport) = if svc == Svc::Icmp {
        (0, 0)
    } else {
        (ephemeral_port(rng, windows_like), svc.port())
    };
    let internal = matches!((client, server), (Ep::Nic(_), Ep::Nic(_)));
    Some(Conv {
        client,
        server,
        sub: sub_idx as u32,
        cport,
        sport,
        proto: svc.proto(),
        deny: false,
        retries: 0,
        encrypted: internal && rng.random_bool(0.1),
        persistent: long,
        cs_ms,
        ce_ms: cs_ms + i64::from(shape.dur) * 1000 + rng.random_range(20..1000),
        last_ms: cs_ms,
        begun: false,
        shape,
    })
}

/// A scanner probing ports of a public NIC: each probe is denied and retried 1–3 times a few
/// seconds apart (several `B`/`D` tuples for one 5-tuple).
fn spawn_scan(w: &World, rng: &mut StdRng, sub_idx: usize, cs_ms: i64, out: &mut Vec<Conv>) -> f64 {
    let sub = &w.subs[sub_idx];
    let role = if rng.random_bool(0.7) {
        Role::Lb
    } else {
        Role::Bastion
    };
    let (Some(src), Some(dst)) = (
        any(rng, &w.scanners),
        any(rng, &sub.by_role[role_idx(role)]),
    ) else {
        return 0.0;
    };
    let k = rng.random_range(2..=12);
    let mut expected = 0.0;
    for j in 0..k {
        let sport = if rng.random_bool(0.5) {
            model::SCAN_PORTS[rng.random_range(0..model::SCAN_PORTS.len())]
        } else {
            rng.random_range(1..=65535)
        };
        let t = cs_ms + j * rng.random_range(50..400);
        let retries = rng.random_range(1..=3u8);
        expected += f64::from(retries);
        out.push(Conv {
            client: Ep::Inet(src),
            server: Ep::Nic(dst),
            sub: sub_idx as u32,
            cport: ephemeral_port(rng, false),
            sport,
            proto: if rng.random_bool(0.9) { 6 } else { 17 },
            deny: true,
            retries,
            encrypted: false,
            persistent: false,
            cs_ms: t,
            ce_ms: t,
            last_ms: t,
            begun: false,
            shape: model::shape(rng, Svc::Probe, false),
        });
    }
    expected
}

fn spawn_persistent(w: &World, rng: &mut StdRng, sub: usize, cs_range: (i64, i64)) -> Option<Conv> {
    let cs = rng.random_range(cs_range.0..cs_range.1.max(cs_range.0 + 1));
    let kind = pick(
        rng,
        &[
            (Kind::InternalData, 0.85),
            (Kind::InboundSsh, 0.03),
            (Kind::Outbound, 0.12),
        ],
    );
    spawn(w, rng, sub, kind, cs, true)
}

/// Conversations with their pending events (min-heap on event time; ties broken by slot).
struct Sched {
    convs: Vec<Option<Conv>>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(i64, u32)>>,
}

impl Sched {
    fn add(&mut self, c: Conv, at: i64) {
        let idx = match self.free.pop() {
            Some(i) => {
                self.convs[i as usize] = Some(c);
                i
            }
            None => {
                self.convs.push(Some(c));
                (self.convs.len() - 1) as u32
            }
        };
        self.heap.push(Reverse((at, idx)));
    }
}

pub(super) fn generate(
    cfg: &GenConfig,
    formats: &[SampleFormat],
    records: u64,
    out_dir: &Path,
    report: &mut GenReport,
) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xB7B7_0000_0000_0002);
    let w = World::build(&mut rng, cfg, formats, records);
    let t0 = cfg.start.timestamp() * 1000;
    let minutes = i64::from(cfg.hours) * 60;
    let n_subs = w.subs.len();
    // Per-subscription tuple budget per minute.
    let budget = records as f64 / minutes as f64 / n_subs as f64;
    let mut sched = Sched {
        convs: Vec::new(),
        free: Vec::new(),
        heap: BinaryHeap::new(),
    };
    // Persistent tuples per minute, per subscription: one `C` per NIC every 5 minutes.
    let mut persistent_rate = vec![0.0f64; n_subs];
    let rate_of = |c: &Conv| f64::from(c.nics()) * 60_000.0 / CONTINUE_MS as f64;
    for (s, rate) in persistent_rate.iter_mut().enumerate() {
        let mut guard = 0;
        while *rate < PERSISTENT_SHARE * budget && guard < 100_000 {
            guard += 1;
            let Some(mut c) = spawn_persistent(&w, &mut rng, s, (t0 - 4 * 3_600_000, t0)) else {
                continue;
            };
            if c.ce_ms < t0 {
                continue;
            }
            // Already running: its `B` was before the range; continue from the last `C`.
            c.begun = true;
            c.last_ms = c.cs_ms + (t0 - c.cs_ms) / CONTINUE_MS * CONTINUE_MS;
            let next = (c.last_ms + CONTINUE_MS).min(c.ce_ms);
            *rate += rate_of(&c);
            sched.add(c, next);
        }
    }
    let mut out = HourFiles::new(w.nics.len());
    let mut minute = MinuteBuf::default();
    let mut scratch = Vec::new();
    for m in 0..minutes {
        let m_start = t0 + m * 60_000;
        let m_end = m_start + 60_000;
        if m % 60 == 0 {
            out.finish_all(out_dir, &mut report_sink(report))?;
        }
        // Indexes two per-subscription tables (`persistent_rate`, `w.subs`).
        #[allow(clippy::needless_range_loop)]
        for s in 0..n_subs {
            let mut guard = 0;
            while persistent_rate[s] < PERSISTENT_SHARE * budget && guard < 10_000 {
                guard += 1;
                if let Some(c) = spawn_persistent(&w, &mut rng, s, (m_start, m_end)) {
                    persistent_rate[s] += rate_of(&c);
                    let at = c.cs_ms;
                    sched.add(c, at);
                }
            }
            let mut expected = persistent_rate[s];
            let mut misses = 0;
            while expected < budget && misses < 10_000 {
                let cs = m_start + rng.random_range(0..60_000);
                let kind = pick(&mut rng, SHORT_MIX);
                if kind == Kind::Scan {
                    scratch.clear();
                    expected += spawn_scan(&w, &mut rng, s, cs, &mut scratch);
                    for c in scratch.drain(..) {
                        let at = c.cs_ms;
                        sched.add(c, at);
                    }
                } else if let Some(c) = spawn(&w, &mut rng, s, kind, cs, false) {
                    expected += c.expected_tuples();
                    let at = c.cs_ms;
                    sched.add(c, at);
                } else {
                    misses += 1;
                }
            }
        }
        minute.clear();
        while let Some(&Reverse((at, idx))) = sched.heap.peek() {
            if at >= m_end {
                break;
            }
            sched.heap.pop();
            let Some(c) = sched.convs[idx as usize].as_mut() else {
                continue;
            };
            let next = step(&w, &mut rng, c, at, &mut minute);
            match next {
                Some(n) => sched.heap.push(Reverse((n, idx))),
                None => {
                    if let Some(c) = sched.convs[idx as usize].take() {
                        if c.persistent {
                            persistent_rate[c.sub as usize] -= rate_of(&c);
                        }
                    }
                    sched.free.push(idx);
                }
            }
        }
        minute.write(&w, &mut rng, m_start, out_dir, &mut out)?;
    }
    out.finish_all(out_dir, &mut report_sink(report))?;
    Ok(())
}

fn report_sink(report: &mut GenReport) -> impl FnMut(GenFile) + '_ {
    move |f| report.add(f)
}

/// Logs the event of `c` at `at` into `minute` and returns the time of its next event, or
/// `None` when the flow is over.
fn step(w: &World, rng: &mut StdRng, c: &mut Conv, at: i64, minute: &mut MinuteBuf) -> Option<i64> {
    let format = w.subs[c.sub as usize].format;
    if c.deny {
        tuples(w, c, at, State::Deny, None, format, minute);
        c.retries = c.retries.saturating_sub(1);
        return (c.retries > 0).then(|| at + rng.random_range(2_500..9_000));
    }
    if !c.begun {
        c.begun = true;
        tuples(w, c, at, State::Begin, None, format, minute);
        return Some((at + CONTINUE_MS + rng.random_range(-2_000..2_000)).min(c.ce_ms));
    }
    let den = (c.ce_ms - c.cs_ms).max(1) as u64;
    let num = (at - c.last_ms).max(1) as u64;
    let fwd = model::share(rng, c.shape.req_bytes, c.shape.req_pkt, num, den, c.proto);
    let rev = if c.shape.resp_bytes > 0 {
        model::share(rng, c.shape.resp_bytes, c.shape.resp_pkt, num, den, c.proto)
    } else {
        (0, 0)
    };
    c.last_ms = at;
    if at >= c.ce_ms {
        tuples(w, c, at, State::End, Some((fwd, rev)), format, minute);
        None
    } else {
        tuples(w, c, at, State::Continue, Some((fwd, rev)), format, minute);
        Some((at + CONTINUE_MS + rng.random_range(-2_000..2_000)).min(c.ce_ms))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Begin,
    Continue,
    End,
    Deny,
}

type Counters = ((u64, u64), (u64, u64));

/// Appends the tuple for each NIC end of `c` (direction `O` on the client's NIC, `I` on the
/// server's) to `minute`.
fn tuples(
    w: &World,
    c: &Conv,
    at: i64,
    st: State,
    counters: Option<Counters>,
    format: SampleFormat,
    minute: &mut MinuteBuf,
) {
    let ip = |ep: Ep| match ep {
        Ep::Nic(i) => w.nics[i as usize].ip.as_str(),
        Ep::Inet(i) => w.inet[i as usize].ip4.as_str(),
    };
    let (src, dst) = (ip(c.client), ip(c.server));
    for (ep, outbound) in [(c.client, true), (c.server, false)] {
        let Ep::Nic(nic) = ep else { continue };
        let other_inet = matches!(if outbound { c.server } else { c.client }, Ep::Inet(_));
        let rule = match (outbound, other_inet) {
            (true, true) => Rule::InternetOut,
            (true, false) => Rule::VnetOut,
            (false, false) => Rule::VnetIn,
            (false, true) if c.deny => Rule::DenyIn,
            (false, true) if c.sport == 22 => Rule::SshIn,
            (false, true) => Rule::HttpsIn,
        };
        let b = &mut minute.arena;
        let start = b.len();
        let vnet = format == SampleFormat::AzureVnet;
        push_i64(b, if vnet { at } else { at / 1000 });
        for part in [src, dst] {
            b.push(b',');
            b.extend_from_slice(part.as_bytes());
        }
        b.push(b',');
        push_u64(b, u64::from(c.cport));
        b.push(b',');
        push_u64(b, u64::from(c.sport));
        b.push(b',');
        if vnet {
            push_u64(b, u64::from(c.proto));
        } else {
            b.push(if c.proto == 17 { b'U' } else { b'T' });
        }
        b.extend_from_slice(if outbound { b",O," } else { b",I," });
        match format {
            SampleFormat::AzureNsgV1 => b.push(if c.deny { b'D' } else { b'A' }),
            SampleFormat::AzureNsgV2 => {
                b.extend_from_slice(if c.deny { b"D," } else { b"A," });
                b.push(match st {
                    State::Begin | State::Deny => b'B',
                    State::Continue => b'C',
                    State::End => b'E',
                });
                // `B` tuples have empty counters.
                push_counters(b, counters, false);
            }
            _ => {
                b.push(match st {
                    State::Begin => b'B',
                    State::Continue => b'C',
                    State::End => b'E',
                    State::Deny => b'D',
                });
                b.extend_from_slice(if c.encrypted { b",X" } else { b",NX" });
                // Real VNet data writes zeros on `B` and `D` tuples.
                push_counters(b, counters, true);
            }
        }
        minute.items.push(Item {
            nic,
            rule: rule as u8,
            start: start as u32,
            end: b.len() as u32,
        });
    }
}

fn push_counters(b: &mut Vec<u8>, counters: Option<Counters>, zeros: bool) {
    match counters {
        Some(((p1, b1), (p2, b2))) => {
            for v in [p1, b1, p2, b2] {
                b.push(b',');
                push_u64(b, v);
            }
        }
        None if zeros => b.extend_from_slice(b",0,0,0,0"),
        None => b.extend_from_slice(b",,,,"),
    }
}

/// One tuple waiting in the current minute.
#[derive(Clone, Copy)]
struct Item {
    nic: u32,
    rule: u8,
    start: u32,
    end: u32,
}

/// The current minute's tuples, as byte ranges into one arena.
#[derive(Default)]
struct MinuteBuf {
    arena: Vec<u8>,
    items: Vec<Item>,
    rec: Vec<u8>,
}

impl MinuteBuf {
    fn clear(&mut self) {
        self.arena.clear();
        self.items.clear();
    }

    /// Writes one record per NIC with tuples this minute into that NIC's hourly blob.
    fn write(
        &mut self,
        w: &World,
        rng: &mut StdRng,
        m_start_ms: i64,
        out_dir: &Path,
        out: &mut HourFiles,
    ) -> io::Result<()> {
        // Stable sort: tuples of one NIC and rule keep their time order.
        self.items.sort_by_key(|it| (it.nic, it.rule));
        let mut i = 0;
        while i < self.items.len() {
            let nic = self.items[i].nic;
            let mut j = i;
            while j < self.items.len() && self.items[j].nic == nic {
                j += 1;
            }
            let n = &w.nics[nic as usize];
            let sub = &w.subs[n.sub];
            let nsg = &w.nsgs[n.nsg];
            let r = &mut self.rec;
            r.clear();
            // Collected up to a minute later than its tuples' times.
            let secs = m_start_ms / 1000 + rng.random_range(30..60);
            r.extend_from_slice(b"{\"time\":\"");
            push_azure_time(r, secs, rng.random_range(0..10_000_000));
            let vnet = sub.format == SampleFormat::AzureVnet;
            if vnet {
                r.extend_from_slice(b"\",\"flowLogGUID\":\"");
                r.extend_from_slice(sub.fl_guid.as_bytes());
                r.extend_from_slice(b"\",\"macAddress\":\"");
                r.extend_from_slice(n.mac.as_bytes());
                r.extend_from_slice(
                    b"\",\"category\":\"FlowLogFlowEvent\",\"flowLogResourceID\":\"",
                );
                r.extend_from_slice(sub.fl_rid.as_bytes());
                r.extend_from_slice(b"\",\"targetResourceID\":\"");
                r.extend_from_slice(sub.target.as_bytes());
                r.extend_from_slice(b"\",\"operationName\":\"FlowLogFlowEvent\",\"flowLogVersion\":4,\"flowRecords\":{\"flows\":[{\"aclID\":\"");
                r.extend_from_slice(nsg.acl_id.as_bytes());
                r.extend_from_slice(b"\",\"flowGroups\":[");
            } else {
                r.extend_from_slice(b"\",\"systemId\":\"");
                r.extend_from_slice(nsg.system_id.as_bytes());
                r.extend_from_slice(b"\",\"macAddress\":\"");
                r.extend_from_slice(n.mac.as_bytes());
                r.extend_from_slice(
                    b"\",\"category\":\"NetworkSecurityGroupFlowEvent\",\"resourceId\":\"",
                );
                r.extend_from_slice(nsg.resource_id.as_bytes());
                r.extend_from_slice(b"\",\"operationName\":\"NetworkSecurityGroupFlowEvents\",\"properties\":{\"Version\":");
                r.push(if sub.format == SampleFormat::AzureNsgV1 {
                    b'1'
                } else {
                    b'2'
                });
                r.extend_from_slice(b",\"flows\":[");
            }
            let mut k = i;
            let mut first_group = true;
            while k < j {
                let rule = self.items[k].rule;
                if !first_group {
                    r.push(b',');
                }
                first_group = false;
                r.extend_from_slice(b"{\"rule\":\"");
                r.extend_from_slice(RULES[rule as usize].as_bytes());
                if vnet {
                    r.extend_from_slice(b"\",\"flowTuples\":[");
                } else {
                    r.extend_from_slice(b"\",\"flows\":[{\"mac\":\"");
                    r.extend_from_slice(n.mac.as_bytes());
                    r.extend_from_slice(b"\",\"flowTuples\":[");
                }
                let mut first = true;
                while k < j && self.items[k].rule == rule {
                    let it = self.items[k];
                    if !first {
                        r.push(b',');
                    }
                    first = false;
                    r.push(b'"');
                    r.extend_from_slice(&self.arena[it.start as usize..it.end as usize]);
                    r.push(b'"');
                    k += 1;
                }
                r.extend_from_slice(if vnet { b"]}" } else { b"]}]}" });
            }
            r.extend_from_slice(if vnet { b"]}]}}" } else { b"]}}" });
            out.append(
                out_dir,
                w,
                nic,
                m_start_ms / 1000,
                &self.rec,
                (j - i) as u64,
            )?;
            i = j;
        }
        Ok(())
    }
}

struct BlobFile {
    w: BufWriter<File>,
    rel: PathBuf,
    format: SampleFormat,
    tuples: u64,
    hour: i64,
}

/// The current hour's open `PT1H.json` blobs, one slot per NIC.
struct HourFiles {
    files: Vec<Option<BlobFile>>,
}

impl HourFiles {
    fn new(nics: usize) -> Self {
        HourFiles {
            files: (0..nics).map(|_| None).collect(),
        }
    }

    fn append(
        &mut self,
        out_dir: &Path,
        w: &World,
        nic: u32,
        secs: i64,
        record: &[u8],
        tuples: u64,
    ) -> io::Result<()> {
        let slot = &mut self.files[nic as usize];
        match slot {
            Some(f) => {
                // Later blocks start with `,` (the appended-block layout of FORMATS §4).
                f.w.write_all(b",")?;
                f.w.write_all(record)?;
                f.w.write_all(b"\r\n")?;
                f.tuples += tuples;
            }
            None => {
                let rel = blob_path(w, nic, secs);
                let (rel, file) = create_file(out_dir, &rel)?;
                let mut bw = BufWriter::with_capacity(32 * 1024, file);
                bw.write_all(b"{\"records\":[")?;
                bw.write_all(record)?;
                bw.write_all(b"\r\n")?;
                *slot = Some(BlobFile {
                    w: bw,
                    rel,
                    format: w.subs[w.nics[nic as usize].sub].format,
                    tuples,
                    hour: secs.div_euclid(3600),
                });
            }
        }
        Ok(())
    }

    fn finish_all(&mut self, out_dir: &Path, sink: &mut impl FnMut(GenFile)) -> io::Result<()> {
        for slot in &mut self.files {
            let Some(mut f) = slot.take() else { continue };
            f.w.write_all(b"]}")?;
            let file = f.w.into_inner().map_err(|e| e.into_error())?;
            // The last commit lands a few minutes after the hour.
            let secs = (f.hour + 1) * 3600 + 180;
            if let Ok(secs) = u64::try_from(secs) {
                let _ =
                    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
            }
            drop(file);
            let bytes = std::fs::metadata(out_dir.join(&f.rel))?.len();
            sink(GenFile {
                path: f.rel,
                format: f.format,
                records: f.tuples,
                bytes,
                late: false,
            });
        }
        Ok(())
    }
}

fn blob_path(w: &World, nic: u32, secs: i64) -> String {
    let n = &w.nics[nic as usize];
    let sub = &w.subs[n.sub];
    let nsg = &w.nsgs[n.nsg];
    let c = civil(secs);
    let mut p: Vec<u8> = Vec::with_capacity(256);
    if sub.format == SampleFormat::AzureVnet {
        p.extend_from_slice(b"insights-logs-flowlogflowevent/flowLogResourceID=/");
        p.extend_from_slice(sub.id.as_bytes());
        p.extend_from_slice(b"_NETWORKWATCHERRG/NETWORKWATCHER_");
        p.extend_from_slice(sub.region.as_bytes());
        p.push(b'_');
        p.extend_from_slice(sub.fl_name.as_bytes());
    } else {
        p.extend_from_slice(
            b"insights-logs-networksecuritygroupflowevent/resourceId=/SUBSCRIPTIONS/",
        );
        p.extend_from_slice(sub.id.as_bytes());
        p.extend_from_slice(b"/RESOURCEGROUPS/");
        p.extend_from_slice(nsg.rg.as_bytes());
        p.extend_from_slice(b"/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/");
        p.extend_from_slice(nsg.name.as_bytes());
    }
    p.extend_from_slice(b"/y=");
    push_padded(&mut p, c.year as u64, 4);
    p.extend_from_slice(b"/m=");
    push_padded(&mut p, u64::from(c.month), 2);
    p.extend_from_slice(b"/d=");
    push_padded(&mut p, u64::from(c.day), 2);
    p.extend_from_slice(b"/h=");
    push_padded(&mut p, u64::from(c.hour), 2);
    p.extend_from_slice(b"/m=00/macAddress=");
    p.extend_from_slice(n.mac.as_bytes());
    p.extend_from_slice(b"/PT1H.json");
    String::from_utf8_lossy(&p).into_owned()
}
