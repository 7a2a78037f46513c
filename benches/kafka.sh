#!/usr/bin/env bash
# Kafka mode against the embedded pipeline, same input, same run: records/s per core.
#
#   cargo build --release -p flowlogd
#   benches/kafka.sh [RECORDS]            # default 1000000 AWS v2 records
#
# Generates AWS default-format `.log.gz` objects (`flowlogd gen --formats aws-v2`), runs
# `flowlogd run --once` (embedded), then `flowlogd run` in Kafka mode (all roles in one
# process) through a tansu broker started by scripts/emulators.sh, until the summaries it
# writes equal the `run --once` ones. Per core = records / CPU seconds of the process (user +
# system, from /usr/bin/time); the broker's CPU is reported apart. Knobs: FLOWLOGD_BIN
# (default the release binary), KAFKA_PARTITIONS (default 4), KAFKA_TICK (engine.tick and
# checkpoint_interval of the Kafka run, default 5s: every tick re-emits each window that got
# data and checkpoints every partition, which a backfill through Kafka pays for).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
BIN="${FLOWLOGD_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/flowlogd/target}/release/flowlogd}"
PARTITIONS="${KAFKA_PARTITIONS:-4}"
EMU_QUIET=1 source scripts/emulators.sh >/dev/null
W=$(mktemp -d); trap 'emu_stop; rm -rf "$W"' EXIT

"$BIN" gen --out "$W/in" --records "$RECORDS" --start 2024-05-01T00:00:00Z --hours 3 --formats aws-v2 --seed 5 >/dev/null
bytes=$(du -sb "$W/in" | cut -f1)

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
tck=$(getconf CLK_TCK)

# ---- embedded: run --once ----
/usr/bin/time -f "%e %U %S %M" -o "$W/once.time" \
  "$BIN" run --once --quiet --input "$W/in" --output "$W/once" > "$W/once.out"
read -r e_wall e_user e_sys e_rss < "$W/once.time"
records=$(grep -o 'records_in=[0-9]*' "$W/once.out" | cut -d= -f2)

# ---- Kafka mode: source, parse, aggregate in one process, through tansu ----
p="bench-$$-$(date +%s)"
cat > "$W/kafka.toml" <<TOML
state_dir = "$W/kstate"
[engine]
tick = "${KAFKA_TICK:-5s}"
checkpoint_interval = "${KAFKA_TICK:-5s}"
[[sources.local]]
path = "$W/in"
poll_interval = "500ms"
settle = "0s"
[sinks.jsonl]
path = "$W/kafka/summaries.jsonl"
[kafka]
brokers = "$KAFKA_BROKERS"
group = "$p"
[kafka.topics]
raw = "$p.raw"
partials = "$p.partials"
summaries = "$p.summaries"
deadletter = "$p.deadletter"
partitions = $PARTITIONS
TOML
mkdir -p "$W/kafka"
t_cpu0=$(cpu_of "$TANSU_PID")
start=$(date +%s.%N)
FLOWLOGD_TEST_CLOCK=2024-05-01T06:00:00Z@1 RUST_LOG=warn /usr/bin/time -f "%e %U %S %M" -o "$W/kafka.time" \
  "$BIN" run --config "$W/kafka.toml" 2> "$W/kafka.log" &
KPID=$!
# Done when the latest row per (summary, window, keys) equals run --once.
python3 - "$W/once/summaries.jsonl" "$W/kafka/summaries.jsonl" <<'PY'
import json, sys, time
def rows(path):
    latest = {}
    try:
        with open(path) as f:
            for line in f:
                try: r = json.loads(line)
                except ValueError: continue
                k = (r["summary"], r["window_start"], json.dumps(r["keys"], sort_keys=True))
                if k not in latest or r["revision"] >= latest[k][0]:
                    latest[k] = (r["revision"], json.dumps(r["metrics"], sort_keys=True))
    except FileNotFoundError: pass
    return {k: v[1] for k, v in latest.items()}
want = rows(sys.argv[1]); deadline = time.time() + 3600
while time.time() < deadline:
    if rows(sys.argv[2]) == want: sys.exit(0)
    time.sleep(0.5)
sys.exit("Kafka mode did not reach the run --once result within an hour")
PY
done_at=$(date +%s.%N)
t_cpu1=$(cpu_of "$TANSU_PID")
# Stop flowlogd itself (the child of /usr/bin/time), which then reports its CPU time.
kill -TERM $(pgrep -P "$KPID"); wait "$KPID" || true
read -r _k_wall k_user k_sys k_rss < <(tail -n 1 "$W/kafka.time")
k_wall=$(awk -v a="$start" -v b="$done_at" 'BEGIN{printf "%.2f", b-a}')

awk -v r="$records" -v b="$bytes" -v ew="$e_wall" -v eu="$e_user" -v es="$e_sys" -v erss="$e_rss" \
    -v kw="$k_wall" -v ku="$k_user" -v ks="$k_sys" -v krss="$k_rss" \
    -v tc="$(( t_cpu1 - t_cpu0 ))" -v tck="$tck" -v parts="$PARTITIONS" 'BEGIN {
  ec = eu + es; kc = ku + ks; tcs = tc / tck
  printf "input: %d records, %.1f MB gzip; %d partitions\n", r, b / 1e6, parts
  printf "%-34s %8s %8s %14s %16s %9s\n", "mode", "wall s", "cpu s", "records/s", "records/s/core", "RSS MB"
  printf "%-34s %8.2f %8.2f %14.0f %16.0f %9.0f\n", "embedded (run --once)", ew, ec, r / ew, r / ec, erss / 1024
  printf "%-34s %8.2f %8.2f %14.0f %16.0f %9.0f\n", "kafka (all roles, one process)", kw, kc, r / kw, r / kc, krss / 1024
  printf "%-34s %8s %8.2f %14s %16.0f\n", "kafka incl. broker CPU", "", kc + tcs, "", r / (kc + tcs)
  printf "kafka / embedded per core: %.0f %% (%.0f %% counting the broker)\n", 100 * (r / kc) / (r / ec), 100 * (r / (kc + tcs)) / (r / ec)
}'
