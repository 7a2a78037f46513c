//! AWS VPC flow logs: the simulated accounts/VPCs/ENIs, the per-interval record emission and
//! the delivery writers (gzip text with a header line, or Parquet).
//!
//! Time is processed in *epochs* of one aggregation interval `L`. Every ENI has its own phase
//! `ph ∈ [0, L)`; in epoch `e` the ENI closes its capture window `[t0 + (e-1)L + ph,
//! t0 + eL + ph)` and logs one record per direction for every conversation that overlapped it.
//! New conversations starting in epoch `e` are spawned before its windows close, so a window
//! sees every conversation that touched it. Records of a window end in `[t0 + (e-1)L,
//! t0 + (e+1)L)`, so once epoch `e` is done no later record can fall into a 5-minute slot that
//! ends before `t0 + eL`: those slot files are finished and closed, which bounds the number of
//! open files to a handful per flow log.

use std::fs::File;
use std::io;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::deflate::Deflater;
use super::model::{self, ephemeral_port, pick, InetHost, Kind, Role, Shape, Svc, SHORT_MIX};
use super::text::{civil, decimal_digits, hex_digits, push_i64, push_padded, push_u64, splitmix64};
use super::{create_file, GenConfig, GenFile, GenReport, SampleFormat, AWS_V5_CUSTOM_FIELDS};
use crate::AWS_V2_FIELDS;

/// Length of an S3 delivery slot (the `THHmmZ` stamp of a file name).
const SLOT_SECS: i64 = 300;
/// Share of the record budget carried by long-lived (pooled) connections.
const PERSISTENT_SHARE: f64 = 0.3;
/// Chance that an active interface logs a SKIPDATA row in a window.
const SKIPDATA_P: f64 = 0.0005;
/// Rows per Arrow batch handed to the Parquet writer, and rows per row group.
const PARQUET_BATCH: usize = 16 * 1024;
const PARQUET_ROW_GROUP: usize = 128 * 1024;
/// Text bytes buffered per file before a write into its gzip stream.
const TEXT_BUF: usize = 64 * 1024;

const REGIONS: &[(&str, &str)] = &[
    ("us-east-1", "use1"),
    ("eu-west-1", "euw1"),
    ("us-west-2", "usw2"),
    ("ap-southeast-2", "apse2"),
    ("eu-central-1", "euc1"),
];

const N_ROLES: usize = 8;

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

/// One flow log: one VPC's records, one format, one `fl-` id.
struct FlowLog {
    account_id: String,
    region: &'static str,
    id: String,
    format: SampleFormat,
}

struct Eni {
    id: String,
    flow_log: usize,
    vpc: usize,
    vpc_id: String,
    subnet_id: String,
    /// `-` for load-balancer interfaces (no instance).
    instance_id: String,
    az_id: String,
    ip4: String,
    ip6: Option<String>,
    role: Role,
    /// Offset of this interface's capture windows from the epoch grid.
    phase: i64,
    /// Uses the 49152–65535 ephemeral range.
    windows_like: bool,
    /// Database engine it serves, when a database.
    db_svc: Svc,
}

struct Vpc {
    account: usize,
    by_role: [Vec<u32>; N_ROLES],
}

struct World {
    flow_logs: Vec<FlowLog>,
    enis: Vec<Eni>,
    vpcs: Vec<Vpc>,
    all_by_role: [Vec<u32>; N_ROLES],
    /// App and worker interfaces (they open connections).
    clients: Vec<u32>,
    /// Clients with an IPv6 address.
    v6_clients: Vec<u32>,
    /// Every interface that has traffic (DNS/NTP clients).
    active: Vec<u32>,
    inet: Vec<InetHost>,
    resolvers: Vec<u32>,
    ntp: Vec<u32>,
    web: Vec<u32>,
    web_v6: Vec<u32>,
    scanners: Vec<u32>,
}

impl World {
    fn build(rng: &mut StdRng, cfg: &GenConfig, formats: &[SampleFormat]) -> World {
        let accounts = cfg.accounts.max(1) as usize;
        let vpcs_per_account = 2.max(formats.len().div_ceil(accounts));
        let per_vpc = if cfg.hosts_per_network > 0 {
            cfg.hosts_per_network as usize
        } else {
            (cfg.records / 25_000).clamp(12, 200) as usize
        };
        let mut w = World {
            flow_logs: Vec::new(),
            enis: Vec::new(),
            vpcs: Vec::new(),
            all_by_role: Default::default(),
            clients: Vec::new(),
            v6_clients: Vec::new(),
            active: Vec::new(),
            inet: model::internet_hosts(rng, 60 + per_vpc * 4),
            resolvers: Vec::new(),
            ntp: Vec::new(),
            web: Vec::new(),
            web_v6: Vec::new(),
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
                if h.ip6.is_some() {
                    w.web_v6.push(i);
                }
            }
        }
        for a in 0..accounts {
            let account_id = decimal_digits(rng, 12);
            let (region, az_prefix) = REGIONS[a % REGIONS.len()];
            for _ in 0..vpcs_per_account {
                let vpc = w.vpcs.len();
                let fl = w.flow_logs.len();
                w.flow_logs.push(FlowLog {
                    account_id: account_id.clone(),
                    region,
                    id: format!("fl-{}", hex_digits(rng, 17)),
                    format: formats[vpc % formats.len()],
                });
                let vpc_id = format!("vpc-{}", hex_digits(rng, 17));
                let octet2 = 10 + (vpc % 240) as u8;
                let v6_net: Option<[u16; 3]> =
                    (vpc & 1 == 0).then(|| [0x2600, 0x1f18, rng.random::<u16>()]);
                let subnets: Vec<(String, String)> = (0..3)
                    .map(|s| {
                        (
                            format!("subnet-{}", hex_digits(rng, 17)),
                            format!("{az_prefix}-az{}", s + 1),
                        )
                    })
                    .collect();
                let mut by_role: [Vec<u32>; N_ROLES] = Default::default();
                for i in 0..per_vpc {
                    let role = Role::for_index(rng, i);
                    // Public interfaces live in the first subnet; the rest spread over two.
                    let subnet = if role.public() { 0 } else { 1 + i % 2 };
                    let k = i + 4;
                    let ip4 = format!("10.{octet2}.{}.{}", subnet * 16 + k / 250, k % 250 + 4);
                    let ip6 = v6_net.filter(|_| rng.random_bool(0.5)).map(|p| {
                        Ipv6Addr::new(
                            p[0],
                            p[1],
                            p[2],
                            subnet as u16,
                            rng.random(),
                            rng.random(),
                            rng.random(),
                            rng.random(),
                        )
                        .to_string()
                    });
                    let idx = w.enis.len() as u32;
                    by_role[role_idx(role)].push(idx);
                    w.all_by_role[role_idx(role)].push(idx);
                    if matches!(role, Role::App | Role::Worker) {
                        w.clients.push(idx);
                        if ip6.is_some() {
                            w.v6_clients.push(idx);
                        }
                    }
                    if role != Role::Idle && role != Role::Lb {
                        w.active.push(idx);
                    }
                    w.enis.push(Eni {
                        id: format!("eni-{}", hex_digits(rng, 17)),
                        flow_log: fl,
                        vpc,
                        vpc_id: vpc_id.clone(),
                        subnet_id: subnets[subnet].0.clone(),
                        instance_id: if role == Role::Lb {
                            "-".into()
                        } else {
                            format!("i-{}", hex_digits(rng, 17))
                        },
                        az_id: subnets[subnet].1.clone(),
                        ip4,
                        ip6,
                        role,
                        phase: rng.random_range(0..i64::from(cfg.aggregation_secs)),
                        windows_like: rng.random_bool(0.1),
                        db_svc: if rng.random_bool(0.3) {
                            Svc::Mysql
                        } else {
                            Svc::Postgres
                        },
                    });
                }
                w.vpcs.push(Vpc {
                    account: a,
                    by_role,
                });
            }
        }
        w
    }

    /// A server of `role` for a client in `vpc`: usually the same VPC, sometimes a peered VPC
    /// of the same account.
    fn server_near<R: Rng>(&self, rng: &mut R, vpc: usize, role: Role) -> Option<u32> {
        let r = role_idx(role);
        let same = &self.vpcs[vpc].by_role[r];
        if !same.is_empty() && rng.random_bool(0.85) {
            return Some(same[rng.random_range(0..same.len())]);
        }
        let account = self.vpcs[vpc].account;
        let peers: Vec<usize> = (0..self.vpcs.len())
            .filter(|&v| self.vpcs[v].account == account && !self.vpcs[v].by_role[r].is_empty())
            .collect();
        let v = *peers.get(rng.random_range(0..peers.len().max(1)))?;
        let list = &self.vpcs[v].by_role[r];
        Some(list[rng.random_range(0..list.len())])
    }
}

fn any<R: Rng>(rng: &mut R, v: &[u32]) -> Option<u32> {
    (!v.is_empty()).then(|| v[rng.random_range(0..v.len())])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ep {
    Eni(u32),
    Inet(u32),
}

#[derive(Debug, Clone)]
struct Conv {
    client: Ep,
    server: Ep,
    cport: u16,
    sport: u16,
    proto: u8,
    v6: bool,
    reject: bool,
    /// Ends with RST rather than FIN.
    rst: bool,
    persistent: bool,
    cs: i64,
    ce: i64,
    shape: Shape,
}

impl Conv {
    fn logged_enis(&self) -> u32 {
        u32::from(matches!(self.client, Ep::Eni(_))) + u32::from(matches!(self.server, Ep::Eni(_)))
    }

    /// Records this conversation is expected to produce (for the volume budget).
    fn expected_records(&self, l: i64) -> f64 {
        let per_window = if self.reject { 1.0 } else { 2.0 };
        f64::from(self.logged_enis()) * per_window * (1.0 + (self.ce - self.cs) as f64 / l as f64)
    }

    /// Records per window while active (persistent connections).
    fn per_window(&self) -> f64 {
        f64::from(self.logged_enis()) * if self.reject { 1.0 } else { 2.0 }
    }
}

/// Builds one new conversation of `kind` starting at `cs`, or `None` when the estate has no
/// host for that role.
fn spawn(w: &World, rng: &mut StdRng, kind: Kind, cs: i64, long: bool) -> Option<Conv> {
    let mut v6 = false;
    let (client, server, svc) = match kind {
        Kind::InternalApp | Kind::InternalData => {
            let c = any(rng, &w.clients)?;
            let vpc = w.enis[c as usize].vpc;
            let role = if kind == Kind::InternalApp {
                Role::App
            } else {
                pick(
                    rng,
                    &[(Role::Db, 0.45), (Role::Cache, 0.35), (Role::Kafka, 0.2)],
                )
            };
            let s = w.server_near(rng, vpc, role)?;
            if s == c {
                return None;
            }
            let svc = match role {
                Role::App => Svc::AppHttp,
                Role::Db => w.enis[s as usize].db_svc,
                Role::Cache => Svc::Redis,
                _ => Svc::Kafka,
            };
            (Ep::Eni(c), Ep::Eni(s), svc)
        }
        Kind::LbToApp => {
            let c = any(rng, &w.all_by_role[role_idx(Role::Lb)])?;
            let s = w.server_near(rng, w.enis[c as usize].vpc, Role::App)?;
            (Ep::Eni(c), Ep::Eni(s), Svc::AppHttp)
        }
        Kind::InboundWeb | Kind::InboundSsh => {
            let role = if kind == Kind::InboundWeb {
                Role::Lb
            } else {
                Role::Bastion
            };
            let s = any(rng, &w.all_by_role[role_idx(role)])?;
            let svc = match kind {
                Kind::InboundSsh => Svc::Ssh,
                _ if rng.random_bool(0.85) => Svc::Https,
                _ => Svc::Http,
            };
            let want_v6 = w.enis[s as usize].ip6.is_some() && rng.random_bool(0.2);
            let c = if want_v6 { any(rng, &w.web_v6) } else { None };
            match c {
                Some(c) => {
                    v6 = true;
                    (Ep::Inet(c), Ep::Eni(s), svc)
                }
                None => (Ep::Inet(any(rng, &w.web)?), Ep::Eni(s), svc),
            }
        }
        Kind::Outbound => {
            let c = any(rng, &w.clients)?;
            let svc = if rng.random_bool(0.85) {
                Svc::Https
            } else {
                Svc::Http
            };
            (Ep::Eni(c), Ep::Inet(any(rng, &w.web)?), svc)
        }
        Kind::OutboundV6 => {
            let c = any(rng, &w.v6_clients)?;
            v6 = true;
            (Ep::Eni(c), Ep::Inet(any(rng, &w.web_v6)?), Svc::Https)
        }
        Kind::Dns => (
            Ep::Eni(any(rng, &w.active)?),
            Ep::Inet(any(rng, &w.resolvers)?),
            Svc::Dns,
        ),
        Kind::Ntp => (
            Ep::Eni(any(rng, &w.active)?),
            Ep::Inet(any(rng, &w.ntp)?),
            Svc::Ntp,
        ),
        Kind::Ping => {
            let c = any(rng, &w.clients)?;
            let s = w.server_near(rng, w.enis[c as usize].vpc, Role::App)?;
            if s == c {
                return None;
            }
            (Ep::Eni(c), Ep::Eni(s), Svc::Icmp)
        }
        // Scans are many one-packet conversations: see `spawn_scan`.
        Kind::Scan => return None,
    };
    let shape = model::shape(rng, svc, long);
    let windows_like = match client {
        Ep::Eni(i) => w.enis[i as usize].windows_like,
        Ep::Inet(_) => rng.random_bool(0.4),
    };
    let (cport, sport) = if svc == Svc::Icmp {
        (0, 0)
    } else {
        (ephemeral_port(rng, windows_like), svc.port())
    };
    Some(Conv {
        client,
        server,
        cport,
        sport,
        proto: svc.proto(),
        v6,
        reject: false,
        rst: rng.random_bool(0.08),
        persistent: long,
        cs,
        ce: cs + i64::from(shape.dur),
        shape,
    })
}

/// A scanner probing `k` ports of one public interface within a few seconds; each probe is a
/// rejected one-packet SYN.
fn spawn_scan(w: &World, rng: &mut StdRng, cs: i64, out: &mut Vec<Conv>) -> f64 {
    let (Some(src), Some(dst)) = (any(rng, &w.scanners), {
        let public: &[u32] = if rng.random_bool(0.7) {
            &w.all_by_role[role_idx(Role::Lb)]
        } else {
            &w.all_by_role[role_idx(Role::Bastion)]
        };
        any(rng, public)
    }) else {
        return 0.0;
    };
    let k = rng.random_range(3..=30);
    let cport = ephemeral_port(rng, false);
    for j in 0..k {
        let sport = if rng.random_bool(0.5) {
            model::SCAN_PORTS[rng.random_range(0..model::SCAN_PORTS.len())]
        } else {
            rng.random_range(1..=65535)
        };
        let t = cs + j / 4;
        out.push(Conv {
            client: Ep::Inet(src),
            server: Ep::Eni(dst),
            cport,
            sport,
            proto: 6,
            v6: false,
            reject: true,
            rst: false,
            persistent: false,
            cs: t,
            ce: t,
            shape: model::shape(rng, Svc::Probe, false),
        });
    }
    f64::from(k as u32)
}

/// A persistent conversation: DB/cache/Kafka pools, SSH sessions, websockets.
fn spawn_persistent(w: &World, rng: &mut StdRng, cs_range: (i64, i64)) -> Option<Conv> {
    #[derive(Clone, Copy)]
    enum P {
        Data,
        Ssh,
        Ws,
    }
    let cs = rng.random_range(cs_range.0..cs_range.1.max(cs_range.0 + 1));
    match pick(rng, &[(P::Data, 0.85), (P::Ssh, 0.03), (P::Ws, 0.12)]) {
        P::Data => spawn(w, rng, Kind::InternalData, cs, true),
        P::Ssh => spawn(w, rng, Kind::InboundSsh, cs, true),
        P::Ws => spawn(w, rng, Kind::Outbound, cs, true),
    }
}

/// Generates all AWS formats of `formats` into `out_dir`.
pub(super) fn generate(
    cfg: &GenConfig,
    formats: &[SampleFormat],
    out_dir: &Path,
    report: &mut GenReport,
) -> io::Result<()> {
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xA5A5_0000_0000_0001);
    let world = World::build(&mut rng, cfg, formats);
    let l = i64::from(cfg.aggregation_secs);
    let t0 = cfg.start.timestamp();
    let t_end = t0 + i64::from(cfg.hours) * 3600;
    let n_epochs = (t_end - t0) / l;
    let budget = cfg.records as f64 / n_epochs as f64;
    let mut out = Outputs::new(cfg, &world, out_dir)?;
    let mut active: Vec<Conv> = Vec::new();
    let mut persistent_rate = 0.0f64;
    // Connection pools already open when the range starts.
    while persistent_rate < PERSISTENT_SHARE * budget {
        let Some(c) = spawn_persistent(&world, &mut rng, (t0 - 4 * 3600, t0)) else {
            break;
        };
        if c.ce >= t0 {
            persistent_rate += c.per_window();
            active.push(c);
        }
    }
    let mut scratch = Vec::new();
    for e in 0..=n_epochs {
        let epoch_start = t0 + e * l;
        if e < n_epochs {
            // Replace pooled connections that closed, then fill the rest of the budget with
            // short conversations starting in this epoch.
            let mut guard = 0;
            while persistent_rate < PERSISTENT_SHARE * budget && guard < 100_000 {
                guard += 1;
                if let Some(c) = spawn_persistent(&world, &mut rng, (epoch_start, epoch_start + l))
                {
                    persistent_rate += c.per_window();
                    active.push(c);
                }
            }
            let mut expected = persistent_rate;
            let mut misses = 0;
            while expected < budget && misses < 10_000 {
                let cs = epoch_start + rng.random_range(0..l);
                let kind = pick(&mut rng, SHORT_MIX);
                if kind == Kind::Scan {
                    scratch.clear();
                    expected += spawn_scan(&world, &mut rng, cs, &mut scratch);
                    active.append(&mut scratch);
                } else if let Some(c) = spawn(&world, &mut rng, kind, cs, false) {
                    expected += c.expected_records(l);
                    active.push(c);
                } else {
                    misses += 1;
                }
            }
        }
        for c in &active {
            for (ep, is_client) in [(c.client, true), (c.server, false)] {
                if let Ep::Eni(x) = ep {
                    out.window_records(&world, &mut rng, c, x, is_client, epoch_start)?;
                }
            }
        }
        for &x in &world.all_by_role[role_idx(Role::Idle)] {
            out.status_row(&world, &mut rng, x, epoch_start, "NODATA")?;
        }
        for x in 0..world.enis.len() {
            if world.enis[x].role != Role::Idle && rng.random_bool(SKIPDATA_P) {
                out.status_row(&world, &mut rng, x as u32, epoch_start, "SKIPDATA")?;
            }
        }
        // Every later window starts at or after `epoch_start`.
        active.retain(|c| {
            let keep = c.ce >= epoch_start;
            if !keep && c.persistent {
                persistent_rate -= c.per_window();
            }
            keep
        });
        out.close_before(epoch_start)?;
    }
    out.finish(report)
}

/// The flow part of a record (absent on NODATA/SKIPDATA rows).
struct Flow<'a> {
    src: &'a str,
    dst: &'a str,
    sport: u16,
    dport: u16,
    proto: u8,
    packets: u64,
    bytes: u64,
    action: &'static str,
    tcp_flags: Option<u16>,
    v6: bool,
    ingress: bool,
    traffic_path: Option<u8>,
    src_svc: Option<&'static str>,
    dst_svc: Option<&'static str>,
}

struct Rec<'a> {
    eni: &'a Eni,
    fl: &'a FlowLog,
    flow: Option<Flow<'a>>,
    start: i64,
    end: i64,
    status: &'static str,
}

enum Sink {
    /// A gzip stream on the [`Deflater`] thread, fed from `buf`.
    Text { id: u64, buf: Vec<u8>, v5: bool },
    Parquet {
        w: Box<ArrowWriter<File>>,
        cols: Box<PqCols>,
    },
}

struct OpenFile {
    /// Slot of the records' `end` (not of the name's stamp, which differs for late files).
    slot: i64,
    late: bool,
    part: u32,
    stamp: i64,
    rel: PathBuf,
    format: SampleFormat,
    records: u64,
    sink: Sink,
}

struct Outputs<'a> {
    out_dir: &'a Path,
    seed: u64,
    gzip_level: u32,
    max_records: u64,
    late_fraction: f64,
    t0: i64,
    t_end: i64,
    l: i64,
    open: Vec<Vec<OpenFile>>,
    done: Vec<Done>,
    deflater: Deflater,
    late_records: u64,
    schema: SchemaRef,
}

impl<'a> Outputs<'a> {
    fn new(cfg: &GenConfig, world: &World, out_dir: &'a Path) -> io::Result<Self> {
        Ok(Outputs {
            out_dir,
            seed: cfg.seed,
            gzip_level: cfg.gzip_level.min(9),
            max_records: cfg.max_records_per_file.max(1),
            late_fraction: cfg.late_fraction,
            t0: cfg.start.timestamp(),
            t_end: cfg.start.timestamp() + i64::from(cfg.hours) * 3600,
            l: i64::from(cfg.aggregation_secs),
            open: (0..world.flow_logs.len()).map(|_| Vec::new()).collect(),
            done: Vec::new(),
            late_records: 0,
            schema: parquet_schema(),
            deflater: Deflater::new(TEXT_BUF + 1024)?,
        })
    }

    /// Closes everything, waits for the gzip worker, then records sizes and delivery times.
    fn finish(mut self, report: &mut GenReport) -> io::Result<()> {
        self.close_before(i64::MAX)?;
        self.deflater.finish()?;
        report.late_records += self.late_records;
        for d in self.done {
            let path = self.out_dir.join(&d.file.path);
            if let (Ok(file), Ok(secs)) = (
                File::options().write(true).open(&path),
                u64::try_from(d.delivered),
            ) {
                let _ =
                    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
            }
            let bytes = std::fs::metadata(&path)?.len();
            report.add(GenFile { bytes, ..d.file });
        }
        Ok(())
    }

    /// The records interface `x` logs for conversation `c` in the window it closes during the
    /// epoch starting at `epoch_start`: request and response, as egress/ingress depending on
    /// which end `x` is.
    fn window_records(
        &mut self,
        w: &World,
        rng: &mut StdRng,
        c: &Conv,
        x: u32,
        is_client: bool,
        epoch_start: i64,
    ) -> io::Result<()> {
        let eni = &w.enis[x as usize];
        let ws = epoch_start - self.l + eni.phase;
        let we = ws + self.l;
        if c.cs >= we || c.ce < ws {
            return Ok(());
        }
        let rs = c.cs.max(ws);
        let re = c.ce.min(we - 1);
        if re < self.t0 || re >= self.t_end {
            return Ok(());
        }
        let first = c.cs >= ws;
        let last = c.ce < we;
        let (num, den) = ((re - rs + 1) as u64, (c.ce - c.cs + 1) as u64);
        let addr = |ep: Ep| -> (&str, Option<&'static str>, bool) {
            match ep {
                Ep::Eni(i) => {
                    let e = &w.enis[i as usize];
                    (
                        if c.v6 {
                            e.ip6.as_deref().unwrap_or(&e.ip4)
                        } else {
                            &e.ip4
                        },
                        None,
                        false,
                    )
                }
                Ep::Inet(i) => {
                    let h = &w.inet[i as usize];
                    (
                        if c.v6 {
                            h.ip6.as_deref().unwrap_or(&h.ip4)
                        } else {
                            &h.ip4
                        },
                        h.aws_service,
                        true,
                    )
                }
            }
        };
        let (caddr, csvc, c_inet) = addr(c.client);
        let (saddr, ssvc, s_inet) = addr(c.server);
        let fl = &w.flow_logs[eni.flow_log];
        let tcp = c.proto == 6;
        let end_flag = if c.rst { 4 } else { 1 };
        let egress_path = |other_inet: bool, other: Ep| -> u8 {
            if other_inet {
                if eni.role == Role::Lb {
                    2
                } else {
                    8
                }
            } else if let Ep::Eni(o) = other {
                if w.enis[o as usize].vpc == eni.vpc {
                    1
                } else {
                    4
                }
            } else {
                1
            }
        };
        // Request: client → server.
        let (p, b) = model::share(rng, c.shape.req_bytes, c.shape.req_pkt, num, den, c.proto);
        let req_flags = if c.reject {
            2
        } else {
            (if first { 2 } else { 0 }) | (if last { end_flag } else { 0 })
        };
        let req = Flow {
            src: caddr,
            dst: saddr,
            sport: c.cport,
            dport: c.sport,
            proto: c.proto,
            packets: p,
            bytes: b,
            action: if c.reject { "REJECT" } else { "ACCEPT" },
            tcp_flags: Some(if tcp { req_flags } else { 0 }),
            v6: c.v6,
            ingress: !is_client,
            traffic_path: is_client.then(|| egress_path(s_inet, c.server)),
            src_svc: csvc,
            dst_svc: ssvc,
        };
        self.emit(
            rng,
            Rec {
                eni,
                fl,
                flow: Some(req),
                start: rs,
                end: re,
                status: "OK",
            },
        )?;
        if c.reject {
            return Ok(());
        }
        // Response: server → client, addresses and ports swapped.
        let (p, b) = model::share(rng, c.shape.resp_bytes, c.shape.resp_pkt, num, den, c.proto);
        let resp_flags = (if first { 18 } else { 0 }) | (if last { 1 } else { 0 });
        let resp = Flow {
            src: saddr,
            dst: caddr,
            sport: c.sport,
            dport: c.cport,
            proto: c.proto,
            packets: p,
            bytes: b,
            action: "ACCEPT",
            tcp_flags: Some(if tcp { resp_flags } else { 0 }),
            v6: c.v6,
            ingress: is_client,
            traffic_path: (!is_client).then(|| egress_path(c_inet, c.client)),
            src_svc: ssvc,
            dst_svc: csvc,
        };
        self.emit(
            rng,
            Rec {
                eni,
                fl,
                flow: Some(resp),
                start: rs,
                end: re,
                status: "OK",
            },
        )
    }

    /// A NODATA or SKIPDATA row for interface `x`'s window closing in this epoch.
    fn status_row(
        &mut self,
        w: &World,
        rng: &mut StdRng,
        x: u32,
        epoch_start: i64,
        status: &'static str,
    ) -> io::Result<()> {
        let eni = &w.enis[x as usize];
        let ws = epoch_start - self.l + eni.phase;
        let end = ws + self.l - 1 - rng.random_range(0..self.l / 10);
        if end < self.t0 || end >= self.t_end {
            return Ok(());
        }
        let fl = &w.flow_logs[eni.flow_log];
        self.emit(
            rng,
            Rec {
                eni,
                fl,
                flow: None,
                start: ws,
                end,
                status,
            },
        )
    }

    fn emit(&mut self, rng: &mut StdRng, rec: Rec<'_>) -> io::Result<()> {
        let late = self.late_fraction > 0.0 && rng.random::<f64>() < self.late_fraction;
        let fl_idx = rec.eni.flow_log;
        let slot = rec.end.div_euclid(SLOT_SECS);
        let files = &mut self.open[fl_idx];
        let idx = match files.iter().position(|f| f.slot == slot && f.late == late) {
            Some(i) if files[i].records < self.max_records => i,
            Some(i) => {
                let old = files.swap_remove(i);
                let part = old.part + 1;
                self.done.push(finish(&mut self.deflater, old)?);
                let f = open_file(
                    &mut self.deflater,
                    self.out_dir,
                    self.seed,
                    self.gzip_level,
                    &self.schema,
                    rec.fl,
                    fl_idx,
                    slot,
                    late,
                    part,
                )?;
                files.push(f);
                files.len() - 1
            }
            None => {
                let f = open_file(
                    &mut self.deflater,
                    self.out_dir,
                    self.seed,
                    self.gzip_level,
                    &self.schema,
                    rec.fl,
                    fl_idx,
                    slot,
                    late,
                    0,
                )?;
                files.push(f);
                files.len() - 1
            }
        };
        let f = &mut files[idx];
        f.records += 1;
        if late {
            self.late_records += 1;
        }
        match &mut f.sink {
            Sink::Text { id, buf, v5 } => {
                if *v5 {
                    line_v5(buf, &rec);
                } else {
                    line_v2(buf, &rec);
                }
                if buf.len() >= TEXT_BUF {
                    self.deflater.write(*id, buf)?;
                }
            }
            Sink::Parquet { w, cols } => {
                cols.push(&rec);
                if cols.rows >= PARQUET_BATCH {
                    let batch = cols.finish(&self.schema)?;
                    w.write(&batch).map_err(io::Error::other)?;
                }
            }
        }
        Ok(())
    }

    /// Finishes every file whose slot ends at or before `t` (no later record can go there).
    fn close_before(&mut self, t: i64) -> io::Result<()> {
        for files in &mut self.open {
            let mut i = 0;
            while i < files.len() {
                if t == i64::MAX || (files[i].slot + 1) * SLOT_SECS <= t {
                    let f = files.swap_remove(i);
                    self.done.push(finish(&mut self.deflater, f)?);
                } else {
                    i += 1;
                }
            }
        }
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
fn open_file(
    deflater: &mut Deflater,
    out_dir: &Path,
    seed: u64,
    gzip_level: u32,
    schema: &SchemaRef,
    fl: &FlowLog,
    fl_idx: usize,
    slot: i64,
    late: bool,
    part: u32,
) -> io::Result<OpenFile> {
    let h = splitmix64(
        seed ^ (fl_idx as u64).wrapping_mul(0x1000_0000_01B3)
            ^ (slot as u64).rotate_left(20)
            ^ (u64::from(part) << 56)
            ^ u64::from(late),
    );
    // Late files are stamped 60–120 minutes after their records' slot.
    let stamp = if late {
        slot + 12 + (h >> 40) as i64 % 13
    } else {
        slot
    };
    let c = civil(stamp * SLOT_SECS);
    let mut p = Vec::with_capacity(160);
    p.extend_from_slice(b"AWSLogs/");
    p.extend_from_slice(fl.account_id.as_bytes());
    p.extend_from_slice(b"/vpcflowlogs/");
    p.extend_from_slice(fl.region.as_bytes());
    p.push(b'/');
    push_padded(&mut p, c.year as u64, 4);
    p.push(b'/');
    push_padded(&mut p, u64::from(c.month), 2);
    p.push(b'/');
    push_padded(&mut p, u64::from(c.day), 2);
    p.push(b'/');
    p.extend_from_slice(fl.account_id.as_bytes());
    p.extend_from_slice(b"_vpcflowlogs_");
    p.extend_from_slice(fl.region.as_bytes());
    p.push(b'_');
    p.extend_from_slice(fl.id.as_bytes());
    p.push(b'_');
    push_padded(&mut p, c.year as u64, 4);
    push_padded(&mut p, u64::from(c.month), 2);
    push_padded(&mut p, u64::from(c.day), 2);
    p.push(b'T');
    push_padded(&mut p, u64::from(c.hour), 2);
    push_padded(&mut p, u64::from(c.minute), 2);
    p.push(b'Z');
    p.push(b'_');
    p.extend_from_slice(format!("{:08x}", h as u32).as_bytes());
    p.extend_from_slice(if fl.format == SampleFormat::AwsParquet {
        b".log.parquet"
    } else {
        b".log.gz"
    });
    let rel = String::from_utf8_lossy(&p).into_owned();
    let (rel, file) = create_file(out_dir, &rel)?;
    let sink = match fl.format {
        SampleFormat::AwsParquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
                .set_created_by("parquet-cpp-arrow version 10.0.1".to_string())
                .set_key_value_metadata(Some(vec![KeyValue::new(
                    "parquet.avro.schema".to_string(),
                    avro_schema(),
                )]))
                .build();
            let w = ArrowWriter::try_new(file, schema.clone(), Some(props))
                .map_err(io::Error::other)?;
            Sink::Parquet {
                w: Box::new(w),
                cols: Box::new(PqCols::new()),
            }
        }
        format => {
            let v5 = format == SampleFormat::AwsV5Custom;
            let mut buf = Vec::with_capacity(TEXT_BUF + 1024);
            let fields: &[&str] = if v5 {
                AWS_V5_CUSTOM_FIELDS
            } else {
                AWS_V2_FIELDS
            };
            buf.extend_from_slice(fields.join(" ").as_bytes());
            buf.push(b'\n');
            Sink::Text {
                id: deflater.open(file, gzip_level)?,
                buf,
                v5,
            }
        }
    };
    Ok(OpenFile {
        slot,
        late,
        part,
        stamp,
        rel,
        format: fl.format,
        records: 0,
        sink,
    })
}

/// Finishes a file's stream. Its size and time are filled in by [`Outputs::finish`] once the
/// gzip worker is done with it.
fn finish(deflater: &mut Deflater, f: OpenFile) -> io::Result<Done> {
    match f.sink {
        Sink::Text { id, buf, .. } => deflater.close(id, buf)?,
        Sink::Parquet { mut w, mut cols } => {
            if cols.rows > 0 {
                let batch = cols.finish(&parquet_schema())?;
                w.write(&batch).map_err(io::Error::other)?;
            }
            w.close().map_err(io::Error::other)?;
        }
    }
    // S3's Last-Modified is a few minutes after the slot: mirrored in the file time so that
    // tools sorting by mtime see a delivery order.
    let delivered = (f.stamp + 1) * SLOT_SECS
        + 120
        + (splitmix64(f.stamp as u64 ^ u64::from(f.part)) % 480) as i64;
    Ok(Done {
        file: GenFile {
            path: f.rel,
            format: f.format,
            records: f.records,
            bytes: 0,
            late: f.late,
        },
        delivered,
    })
}

/// A finished file and its simulated delivery time.
struct Done {
    file: GenFile,
    delivered: i64,
}

#[inline]
fn opt_u64(buf: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_u64(buf, v),
        None => buf.push(b'-'),
    }
}

/// `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes
/// start end action log-status`
fn line_v2(buf: &mut Vec<u8>, r: &Rec<'_>) {
    buf.extend_from_slice(b"2 ");
    buf.extend_from_slice(r.fl.account_id.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(r.eni.id.as_bytes());
    buf.push(b' ');
    match &r.flow {
        Some(f) => {
            buf.extend_from_slice(f.src.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(f.dst.as_bytes());
            buf.push(b' ');
            push_u64(buf, u64::from(f.sport));
            buf.push(b' ');
            push_u64(buf, u64::from(f.dport));
            buf.push(b' ');
            push_u64(buf, u64::from(f.proto));
            buf.push(b' ');
            push_u64(buf, f.packets);
            buf.push(b' ');
            push_u64(buf, f.bytes);
        }
        None => buf.extend_from_slice(b"- - - - - - -"),
    }
    buf.push(b' ');
    push_i64(buf, r.start);
    buf.push(b' ');
    push_i64(buf, r.end);
    buf.push(b' ');
    buf.extend_from_slice(r.flow.as_ref().map_or("-", |f| f.action).as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(r.status.as_bytes());
    buf.push(b'\n');
}

/// The [`AWS_V5_CUSTOM_FIELDS`] order.
fn line_v5(buf: &mut Vec<u8>, r: &Rec<'_>) {
    let sp = |buf: &mut Vec<u8>, s: &str| {
        buf.extend_from_slice(s.as_bytes());
        buf.push(b' ');
    };
    sp(buf, "5");
    sp(buf, &r.eni.vpc_id);
    sp(buf, &r.eni.subnet_id);
    sp(buf, &r.eni.instance_id);
    sp(buf, &r.eni.id);
    sp(buf, &r.fl.account_id);
    let f = r.flow.as_ref();
    sp(buf, f.map_or("-", |f| if f.v6 { "IPv6" } else { "IPv4" }));
    match f {
        Some(f) => {
            sp(buf, f.src);
            sp(buf, f.dst);
            push_u64(buf, u64::from(f.sport));
            buf.push(b' ');
            push_u64(buf, u64::from(f.dport));
            buf.push(b' ');
            sp(buf, f.src);
            sp(buf, f.dst);
            push_u64(buf, u64::from(f.proto));
            buf.push(b' ');
            push_u64(buf, f.bytes);
            buf.push(b' ');
            push_u64(buf, f.packets);
            buf.push(b' ');
        }
        None => buf.extend_from_slice(b"- - - - - - - - - "),
    }
    push_i64(buf, r.start);
    buf.push(b' ');
    push_i64(buf, r.end);
    buf.push(b' ');
    sp(buf, f.map_or("-", |f| f.action));
    opt_u64(buf, f.and_then(|f| f.tcp_flags).map(u64::from));
    buf.push(b' ');
    sp(buf, r.status);
    sp(buf, r.fl.region);
    sp(buf, &r.eni.az_id);
    buf.extend_from_slice(b"- - ");
    sp(buf, f.and_then(|f| f.src_svc).unwrap_or("-"));
    sp(buf, f.and_then(|f| f.dst_svc).unwrap_or("-"));
    sp(
        buf,
        f.map_or("-", |f| if f.ingress { "ingress" } else { "egress" }),
    );
    opt_u64(buf, f.and_then(|f| f.traffic_path).map(u64::from));
    buf.push(b'\n');
}

/// The columns AWS writes for the default format, with its Parquet types.
fn parquet_schema() -> SchemaRef {
    let f = |name: &str, t: DataType| Field::new(name, t, true);
    Arc::new(Schema::new(vec![
        f("version", DataType::Int32),
        f("account_id", DataType::Utf8),
        f("interface_id", DataType::Utf8),
        f("srcaddr", DataType::Utf8),
        f("dstaddr", DataType::Utf8),
        f("srcport", DataType::Int32),
        f("dstport", DataType::Int32),
        f("protocol", DataType::Int32),
        f("packets", DataType::Int64),
        f("bytes", DataType::Int64),
        f("start", DataType::Int64),
        f("end", DataType::Int64),
        f("action", DataType::Utf8),
        f("log_status", DataType::Utf8),
    ]))
}

/// The Avro schema AWS leaves in the footer (`parquet.avro.schema`).
fn avro_schema() -> String {
    let fields: Vec<String> = AWS_V2_FIELDS
        .iter()
        .map(|name| {
            let n = name.replace('-', "_");
            match *name {
                "version" | "srcport" | "dstport" | "protocol" => {
                    format!(r#"{{"name":"{n}","type":["null","int"],"default":null}}"#)
                }
                "packets" | "bytes" | "start" | "end" => {
                    format!(r#"{{"name":"{n}","type":["null","long"],"default":null}}"#)
                }
                _ => format!(r#"{{"name":"{n}","type":["string","null"],"default":"-"}}"#),
            }
        })
        .collect();
    format!(
        r#"{{"type":"record","name":"LogFormatInfo","namespace":"LogFormatSchema","fields":[{}]}}"#,
        fields.join(",")
    )
}

/// Arrow builders for one Parquet file's pending batch.
struct PqCols {
    version: Int32Builder,
    account_id: StringBuilder,
    interface_id: StringBuilder,
    srcaddr: StringBuilder,
    dstaddr: StringBuilder,
    srcport: Int32Builder,
    dstport: Int32Builder,
    protocol: Int32Builder,
    packets: Int64Builder,
    bytes: Int64Builder,
    start: Int64Builder,
    end: Int64Builder,
    action: StringBuilder,
    log_status: StringBuilder,
    rows: usize,
}

impl PqCols {
    fn new() -> Self {
        let s = || StringBuilder::with_capacity(PARQUET_BATCH, PARQUET_BATCH * 16);
        let i = || Int32Builder::with_capacity(PARQUET_BATCH);
        let l = || Int64Builder::with_capacity(PARQUET_BATCH);
        PqCols {
            version: i(),
            account_id: s(),
            interface_id: s(),
            srcaddr: s(),
            dstaddr: s(),
            srcport: i(),
            dstport: i(),
            protocol: i(),
            packets: l(),
            bytes: l(),
            start: l(),
            end: l(),
            action: s(),
            log_status: s(),
            rows: 0,
        }
    }

    fn push(&mut self, r: &Rec<'_>) {
        self.version.append_value(2);
        self.account_id.append_value(&r.fl.account_id);
        self.interface_id.append_value(&r.eni.id);
        match &r.flow {
            Some(f) => {
                self.srcaddr.append_value(f.src);
                self.dstaddr.append_value(f.dst);
                self.srcport.append_value(i32::from(f.sport));
                self.dstport.append_value(i32::from(f.dport));
                self.protocol.append_value(i32::from(f.proto));
                self.packets.append_value(f.packets as i64);
                self.bytes.append_value(f.bytes as i64);
                self.action.append_value(f.action);
            }
            None => {
                // Missing strings are `-`, missing numbers null (as AWS writes them).
                self.srcaddr.append_value("-");
                self.dstaddr.append_value("-");
                self.srcport.append_null();
                self.dstport.append_null();
                self.protocol.append_null();
                self.packets.append_null();
                self.bytes.append_null();
                self.action.append_value("-");
            }
        }
        self.start.append_value(r.start);
        self.end.append_value(r.end);
        self.log_status.append_value(r.status);
        self.rows += 1;
    }

    fn finish(&mut self, schema: &SchemaRef) -> io::Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.version.finish()),
            Arc::new(self.account_id.finish()),
            Arc::new(self.interface_id.finish()),
            Arc::new(self.srcaddr.finish()),
            Arc::new(self.dstaddr.finish()),
            Arc::new(self.srcport.finish()),
            Arc::new(self.dstport.finish()),
            Arc::new(self.protocol.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.start.finish()),
            Arc::new(self.end.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.log_status.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), cols).map_err(io::Error::other)
    }
}
