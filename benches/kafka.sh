#!/usr/bin/env bash
# Kafka mode against the embedded pipeline, same input, same run: records/s per core.
#
#   cargo build --release -p flowlogd
#   benches/kafka.sh [RECORDS]            # default 1000000 AWS v2 records
#
# Generates AWS default-format `.log.gz` objects (`flowlogd gen --formats aws-v2`), runs
# `flowlogd run --once` (embedded), then `flowlogd run` in Kafka mode (all roles in one
# process) through a tansu broker started by scripts/emulators.sh, once per engine tick in
# KAFKA_TICKS (default "10m 5s"): 10m is the production cadence (every window of the
# backfill is emitted once), 5s re-emits every window that got data every 5 seconds (what
# a backfill through Kafka pays when ticks are short). Each Kafka run is stopped with SIGTERM
# (which emits what is due) once its aggregate checkpoints hold every record, and must then
# have written the `run --once` summaries. Per core = records / CPU seconds of the process
# (user + system, from /usr/bin/time); the broker's CPU is reported apart.
# Repeated KAFKA_REPEAT times (default 3), each Kafka run paired with an embedded run just
# before it; the summary line gives the median and range of the per-pair ratios.
# Knobs: FLOWLOGD_BIN (default the release binary), KAFKA_PARTITIONS (default 4), KAFKA_TICKS,
# KAFKA_REPEAT.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS="${1:-1000000}"
BIN="${FLOWLOGD_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/flowlogd/target}/release/flowlogd}"
PARTITIONS="${KAFKA_PARTITIONS:-4}"
TICKS="${KAFKA_TICKS:-10m 5s}"
REPEAT="${KAFKA_REPEAT:-3}"
EMU_QUIET=1 source scripts/emulators.sh >/dev/null
W=$(mktemp -d); trap 'emu_stop; rm -rf "$W"' EXIT

"$BIN" gen --out "$W/in" --records "$RECORDS" --start 2024-05-01T00:00:00Z --hours 3 --formats aws-v2 --seed 5 >/dev/null
bytes=$(du -sb "$W/in" | cut -f1)

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
tck=$(getconf CLK_TCK)

row() { awk -v n="$1" -v r="$records" -v w="$2" -v c="$3" -v m="$4" \
  'BEGIN { printf "%-34s %8.2f %8.2f %14.0f %16.0f %9.0f\n", n, w, c, r / w, r / c, m / 1024 }'; }

# ---- embedded: run --once ----
embedded_run() {
  rm -rf "$W/once"
  /usr/bin/time -f "%e %U %S %M" -o "$W/once.time" \
    "$BIN" run --once --quiet --input "$W/in" --output "$W/once" > "$W/once.out"
  read -r e_wall e_user e_sys e_rss < "$W/once.time"
  if [ -z "${records:-}" ]; then
    records=$(grep -o 'records_in=[0-9]*' "$W/once.out" | cut -d= -f2)
    windowed=$(grep -o 'records_summarized=[0-9]*' "$W/once.out" | cut -d= -f2)
    printf 'input: %d records, %.1f MB gzip; %d partitions; %d repetitions\n' "$records" \
      "$(awk -v b="$bytes" 'BEGIN{print b/1e6}')" "$PARTITIONS" "$REPEAT"
    printf '%-34s %8s %8s %14s %16s %9s\n' mode "wall s" "cpu s" records/s records/s/core "RSS MB"
  fi
  e_cpu=$(awk -v u="$e_user" -v s="$e_sys" 'BEGIN{print u + s}')
  row "embedded (run --once)" "$e_wall" "$e_cpu" "$e_rss"
}

# ---- Kafka mode: source, parse, aggregate in one process, through tansu ----
kafka_run() {
  local tick="$1" p="bench-$$-$(date +%s)-$1-$2" d="$W/k-$1-$2"
  mkdir -p "$d/out"
  cat > "$d/kafka.toml" <<TOML
state_dir = "$d/state"
[engine]
tick = "$tick"
checkpoint_interval = "5s"
[[sources.local]]
path = "$W/in"
poll_interval = "500ms"
settle = "0s"
[sinks.jsonl]
path = "$d/out/summaries.jsonl"
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
  local t_cpu0 start kpid
  t_cpu0=$(cpu_of "$TANSU_PID")
  start=$(date +%s.%N)
  FLOWLOGD_TEST_CLOCK=2024-05-01T06:00:00Z@1 RUST_LOG=warn /usr/bin/time -f "%e %U %S %M" -o "$d/time" \
    "$BIN" run --config "$d/kafka.toml" 2> "$d/log" &
  kpid=$!
  # Every record is in some partition's saved window state (the checkpoints' accounting).
  python3 - "$d/state/aggregate/$p.partials" "$windowed" <<'PY'
import json, os, sys, time
root, want = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 3600
def windowed():
    n = 0
    for part in os.listdir(root) if os.path.isdir(root) else []:
        cur = os.path.join(root, part, "CURRENT")
        try:
            name = open(cur).read().strip()
            n += json.load(open(os.path.join(root, part, name, "meta.json")))["accounting"]["records_windowed"]
        except (OSError, ValueError, KeyError):
            pass
    return n
while windowed() < want:
    if time.time() > deadline: sys.exit("Kafka mode did not window every record within an hour")
    time.sleep(0.2)
PY
  local t_cpu1
  t_cpu1=$(cpu_of "$TANSU_PID")
  # Stop flowlogd itself (the child of /usr/bin/time): it emits what is due, then exits.
  kill -TERM "$(pgrep -P "$kpid")"; wait "$kpid" || true
  local end k_user k_sys k_rss
  end=$(date +%s.%N)
  read -r _ k_user k_sys k_rss < <(tail -n 1 "$d/time")
  # The latest row per (summary, window, keys) must equal run --once.
  python3 - "$W/once/summaries.jsonl" "$d/out/summaries.jsonl" <<'PY'
import json, sys
def rows(path):
    latest = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            k = (r["summary"], r["window_start"], json.dumps(r["keys"], sort_keys=True))
            if k not in latest or r["revision"] >= latest[k][0]:
                latest[k] = (r["revision"], json.dumps(r["metrics"], sort_keys=True))
    return {k: v[1] for k, v in latest.items()}
if rows(sys.argv[1]) != rows(sys.argv[2]):
    sys.exit("Kafka mode summaries differ from run --once")
PY
  local k_wall k_cpu b_cpu
  k_wall=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}')
  k_cpu=$(awk -v u="$k_user" -v s="$k_sys" 'BEGIN{print u + s}')
  b_cpu=$(awk -v c="$(( t_cpu1 - t_cpu0 ))" -v t="$tck" 'BEGIN{print c / t}')
  row "kafka, tick $tick" "$k_wall" "$k_cpu" "$k_rss"
  row "kafka, tick $tick, incl. broker CPU" "$k_wall" "$(awk -v a="$k_cpu" -v b="$b_cpu" 'BEGIN{print a + b}')" "$k_rss"
  awk -v k="$k_cpu" -v b="$b_cpu" -v e="$e_cpu" -v t="$tick" \
    'BEGIN { printf "  tick %s: kafka / embedded per core: %.0f %% (%.0f %% counting the broker)\n", t, 100 * e / k, 100 * e / (k + b) }'
  awk -v k="$k_cpu" -v b="$b_cpu" -v e="$e_cpu" 'BEGIN { print 100 * e / k, 100 * e / (k + b) }' >> "$W/ratio-$tick"
}
# Each repetition measures embedded, then Kafka mode right after it: the load of a shared
# machine drifts over minutes, and a pair measured together shares it.
for rep in $(seq 1 "$REPEAT"); do
  embedded_run
  for t in $TICKS; do kafka_run "$t" "$rep"; done
done
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for t in $TICKS; do
  printf 'tick %s, %d repetitions: kafka / embedded per core: median %s %% (range %s–%s %%); counting the broker: median %s %%\n' \
    "$t" "$REPEAT" "$(cut -d' ' -f1 "$W/ratio-$t" | median | xargs printf '%.0f')" \
    "$(cut -d' ' -f1 "$W/ratio-$t" | sort -n | head -1 | xargs printf '%.0f')" \
    "$(cut -d' ' -f1 "$W/ratio-$t" | sort -n | tail -1 | xargs printf '%.0f')" \
    "$(cut -d' ' -f2 "$W/ratio-$t" | median | xargs printf '%.0f')"
done
