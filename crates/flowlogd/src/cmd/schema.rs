//! `flowlogd schema`: the normalized flow schema and the derived columns, as a Markdown
//! table (the README's schema section is this output).

use std::process::ExitCode;

use clap::Args;
use flowlogd_engine::enrich::ENRICH_COLUMNS;
use flowlogd_engine::orientation::ORIENTED_COLUMNS;
use flowlogd_formats::COLUMNS;

#[derive(Debug, Args)]
pub struct SchemaArgs {}

const DERIVED: [(&str, &str, &str); 23] = [
    ("client_addr", "Utf8", "Derived: the client side of the record (see Orientation)."),
    ("server_addr", "Utf8", "Derived: the server side of the record."),
    ("server_port", "UInt16", "Derived: the service port; null for records without ports."),
    ("orientation", "Utf8", "Derived: `request` (src is the client), `response` (src is the server) or `unknown`."),
    ("orientation_rule", "Utf8", "Derived: the rule that decided: `tcp_flags`, `service_port`, `ephemeral`, `unknown`, `no_ports`."),
    ("packets_c2s", "UInt64", "Derived: packets client to server (`packets` of requests, `packets_rev` of responses)."),
    ("bytes_c2s", "UInt64", "Derived: bytes client to server."),
    ("packets_s2c", "UInt64", "Derived: packets server to client."),
    ("bytes_s2c", "UInt64", "Derived: bytes server to client."),
    ("src_label_app", "Utf8", "Enrichment: inventory `app` of the source (longest-prefix match; else by interface id for the local side)."),
    ("src_label_env", "Utf8", "Enrichment: inventory `env` of the source."),
    ("src_label_owner", "Utf8", "Enrichment: inventory `owner` of the source."),
    ("src_label_account_name", "Utf8", "Enrichment: inventory `account_name` of the source."),
    ("dst_label_app", "Utf8", "Enrichment: inventory `app` of the destination."),
    ("dst_label_env", "Utf8", "Enrichment: inventory `env` of the destination."),
    ("dst_label_owner", "Utf8", "Enrichment: inventory `owner` of the destination."),
    ("dst_label_account_name", "Utf8", "Enrichment: inventory `account_name` of the destination."),
    ("src_blocklist", "Utf8", "Enrichment: name of the blocklist the source is on, else null."),
    ("dst_blocklist", "Utf8", "Enrichment: name of the blocklist the destination is on, else null."),
    ("src_service", "Utf8", "Enrichment: cloud service (ranges file) of the source, e.g. `S3`."),
    ("dst_service", "Utf8", "Enrichment: cloud service of the destination."),
    ("traffic_class", "Utf8", "Derived: `intra_vpc`, `private`, `to_cloud_service`, `from_cloud_service`, `outbound_internet`, `inbound_internet`, `public`; null when an address does not parse."),
    ("window_start", "Timestamp(ms, UTC)", "Derived: start of the record's window (from `start`)."),
];

pub fn run(_: SchemaArgs) -> anyhow::Result<ExitCode> {
    debug_assert_eq!(
        ORIENTED_COLUMNS.len() + ENRICH_COLUMNS.len() + 1,
        DERIVED.len()
    );
    println!("| column | type | meaning and source |");
    println!("|---|---|---|");
    for c in COLUMNS {
        println!("| `{}` | {} | {} |", c.name, c.kind.data_type(), c.doc);
    }
    for (n, t, d) in DERIVED {
        println!("| `{n}` | {t} | {d} |");
    }
    Ok(ExitCode::SUCCESS)
}
