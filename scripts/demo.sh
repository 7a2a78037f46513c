#!/usr/bin/env bash
# The embedded pipeline on generated sample data, no Kafka or cloud needed:
#   1. `flowlogd gen` writes realistic AWS (text + Parquet), Azure NSG v1/v2 and VNet flow logs,
#   2. `flowlogd run --once` summarizes them into Parquet + JSON lines,
#   3. `flowlogd query` shows the top talkers and the top services.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same build cache as scripts/test.sh (FLOWLOGD_CACHE, default ~/.cache/flowlogd).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${FLOWLOGD_CACHE:-$HOME/.cache/flowlogd}/target}"
PROFILE="${FLOWLOGD_PROFILE:-dev}"              # FLOWLOGD_PROFILE=release for the fast binary
RECORDS="${FLOWLOGD_DEMO_RECORDS:-100000}"

cargo build --profile "$PROFILE" -p flowlogd
dir=debug; [ "$PROFILE" = dev ] || dir="$PROFILE"
flowlogd="$CARGO_TARGET_DIR/$dir/flowlogd"

rm -rf sample out
"$flowlogd" gen --out sample --records "$RECORDS" --hours 3
"$flowlogd" run --once --input sample --output out
echo
echo "== top talkers (traffic) =="
"$flowlogd" query --data out/parquet \
  "SELECT src_addr, dst_addr, dst_port, action, sum(records) AS records, sum(bytes) AS bytes
   FROM traffic GROUP BY 1, 2, 3, 4 ORDER BY bytes DESC NULLS LAST LIMIT 10"
echo
echo "== top services (connections) =="
"$flowlogd" query --data out/parquet \
  "SELECT server_addr, server_port, protocol, count(DISTINCT client_addr) AS clients,
          sum(bytes_c2s) AS bytes_up, sum(bytes_s2c) AS bytes_down
   FROM connections GROUP BY 1, 2, 3
   ORDER BY coalesce(bytes_up, 0) + coalesce(bytes_down, 0) DESC LIMIT 10"
echo
echo "== scanners (rejected_by_source) =="
"$flowlogd" query --data out/parquet \
  "SELECT src_addr, sum(records) AS rejected, max(distinct_dst_ports) AS max_ports_per_hour
   FROM rejected_by_source GROUP BY 1 ORDER BY rejected DESC LIMIT 5"
echo
echo "Outputs: out/parquet (Hive layout), out/summaries.jsonl, out/deadletter.jsonl"
