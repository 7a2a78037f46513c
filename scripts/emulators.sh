# shellcheck shell=bash
# Local stand-ins for the cloud services flowlogd talks to, for tests:
#   moto 5.2.5      (AWS: S3, SQS, STS, IAM)      http://127.0.0.1:$MOTO_PORT
#   Azurite 3.35.0  (Azure Blob)                  http://127.0.0.1:$AZURITE_PORT/devstoreaccount1
#   tansu 0.6.0     (Kafka-compatible broker)     127.0.0.1:$KAFKA_PORT
#
# Source it from a `set -euo pipefail` script (scripts/test.sh does):
#   source scripts/emulators.sh
# It installs what is missing into a cache that outlives the clone
# (${FLOWLOGD_CACHE:-$HOME/.cache/flowlogd}/emulators: a Python venv, an npm prefix, a cargo
# install root), starts the three services on loopback ports, waits until each answers, exports
# the variables tests read (MOTO_ENDPOINT, AWS_*, AZURITE_*, AZURE_STORAGE_CONNECTION_STRING,
# KAFKA_BROKERS, FLOWLOGD_PYTHON) and stops them by PID when the sourcing shell exits (EXIT
# trap; INT/TERM exit through it). A caller with its own EXIT trap must call `emu_stop` from it.
#
# Cold cost: pip + npm installs about 1-2 min; tansu's `cargo install` 15-18 min on 2 cores
# (skipped when the binary exists). Warm: about 2 s to ready.
#
# Knobs: FLOWLOGD_CACHE, EMU_DIR, MOTO_PORT, AZURITE_PORT, KAFKA_PORT (a busy default port is
# replaced by the next free one; an explicitly set busy port is an error), EMU_SKIP_TANSU=1
# (no Kafka: KAFKA_BROKERS stays unset and Kafka tests skip themselves).

EMU_DIR="${EMU_DIR:-${FLOWLOGD_CACHE:-$HOME/.cache/flowlogd}/emulators}"
MOTO_VERSION=5.2.5
AZURITE_VERSION=3.35.0   # 3.36+ needs node >= 22
TANSU_VERSION=0.6.0
EMU_PIDS=()

emu_log() { printf '[emulators %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Seconds since the epoch with a fraction, for phase timings.
emu_now() { date +%s.%N; }
emu_since() { awk -v a="$1" -v b="$(emu_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Debian packages, only the missing ones, with one `apt-get update`.
emu_apt() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
  command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv python3-pip)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  # systemd-analyze verifies deploy/flowlogd.service (tests/ops_systemd.rs).
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    emu_log "missing ${missing[*]} and no apt-get: install them first"; return 1
  fi
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  emu_log "apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

emu_install() {
  local t
  mkdir -p "$EMU_DIR"
  emu_apt
  # Python venv: moto server + the helpers tests use (boto3, SAS tokens, duckdb checks).
  # The stamp names the package set, so changing it reinstalls.
  local venv_stamp="$EMU_DIR/venv/.flowlogd-moto-$MOTO_VERSION-duckdb"
  if [ ! -x "$EMU_DIR/venv/bin/moto_server" ] || [ ! -f "$venv_stamp" ]; then
    t=$(emu_now); emu_log "installing moto $MOTO_VERSION venv"
    [ -x "$EMU_DIR/venv/bin/python" ] || python3 -m venv "$EMU_DIR/venv"
    "$EMU_DIR/venv/bin/pip" install -q --disable-pip-version-check \
      "moto[server]==$MOTO_VERSION" boto3 azure-storage-blob duckdb
    touch "$venv_stamp"
    emu_log "venv ready in $(emu_since "$t") s"
  fi
  if [ ! -x "$EMU_DIR/npm/node_modules/.bin/azurite-blob" ]; then
    t=$(emu_now); emu_log "installing azurite $AZURITE_VERSION"
    npm install --prefix "$EMU_DIR/npm" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
    emu_log "azurite ready in $(emu_since "$t") s"
  fi
  if [ "${EMU_SKIP_TANSU:-0}" != 1 ] && [ ! -x "$EMU_DIR/tansu/bin/tansu" ]; then
    t=$(emu_now); emu_log "building tansu $TANSU_VERSION (cargo install, 15-18 min cold on 2 cores)"
    # Its own target dir: a shared CARGO_TARGET_DIR would be locked by the workspace build.
    CARGO_TARGET_DIR="$EMU_DIR/tansu-target" cargo install tansu --version "$TANSU_VERSION" --locked \
      --features dynostore,libsql --root "$EMU_DIR/tansu" >"$EMU_DIR/tansu-build.log" 2>&1 \
      || { tail -30 "$EMU_DIR/tansu-build.log"; emu_log "tansu build failed"; return 1; }
    rm -rf "$EMU_DIR/tansu-target"
    emu_log "tansu built in $(emu_since "$t") s"
  fi
}

emu_stop() {
  local p i alive
  [ ${#EMU_PIDS[@]} -eq 0 ] && return 0
  for p in "${EMU_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in $(seq 1 50); do                      # up to 5 s for a clean exit
    alive=0
    for p in "${EMU_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${EMU_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${EMU_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  EMU_PIDS=()
}

emu_tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
emu_http_up() {
  local c; c=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true)
  [ -n "$c" ] && [ "$c" != 000 ]
}

# emu_port VAR DEFAULT: keeps an explicitly set port (fails if busy); otherwise the first free
# port from DEFAULT on, so a developer's own emulators or a parallel run do not collide.
emu_port() {
  local var=$1 def=$2 p
  if [ -n "${!var:-}" ]; then
    if emu_tcp_up "${!var}"; then emu_log "$var=${!var} is already in use"; return 1; fi
    return 0
  fi
  p=$def
  while emu_tcp_up "$p"; do p=$((p + 1)); done
  printf -v "$var" '%s' "$p"
}

emu_wait() {  # name pid probe-command...: ready when the probe succeeds
  local name=$1 pid=$2 i; shift 2
  for i in $(seq 1 300); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { emu_log "$name exited early:"; cat "$EMU_DIR/$name.log" >&2; return 1; }
    sleep 0.1
  done
  emu_log "$name not ready after 30 s"; cat "$EMU_DIR/$name.log" >&2; return 1
}

emu_start() {
  local t pid
  emu_port MOTO_PORT 5055
  emu_port AZURITE_PORT 10000
  "$EMU_DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$EMU_DIR/moto.log" 2>&1 &
  MOTO_PID=$!; EMU_PIDS+=("$MOTO_PID")
  "$EMU_DIR/npm/node_modules/.bin/azurite-blob" --silent --disableTelemetry --inMemoryPersistence \
    --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --skipApiVersionCheck --loose >"$EMU_DIR/azurite.log" 2>&1 &
  AZURITE_PID=$!; EMU_PIDS+=("$AZURITE_PID")
  if [ "${EMU_SKIP_TANSU:-0}" != 1 ]; then
    emu_port KAFKA_PORT 19092
    # Run from the cache dir: tansu reads a `.env` from its working directory or a parent.
    # `exec` keeps the PID (the subshell becomes env, env execs tansu); OTel settings of the
    # caller must not leak into it.
    ( cd "$EMU_DIR" && exec env -u OTEL_EXPORTER_OTLP_ENDPOINT "$EMU_DIR/tansu/bin/tansu" broker \
        --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --storage-engine memory://tansu/ ) >"$EMU_DIR/tansu.log" 2>&1 &
    TANSU_PID=$!; EMU_PIDS+=("$TANSU_PID")
  fi
  t=$(emu_now)
  emu_wait moto "$MOTO_PID" emu_http_up "http://127.0.0.1:$MOTO_PORT/moto-api/"                          # 200
  emu_wait azurite "$AZURITE_PID" emu_http_up "http://127.0.0.1:$AZURITE_PORT/devstoreaccount1?comp=list"  # 403
  if [ "${EMU_SKIP_TANSU:-0}" != 1 ]; then
    emu_wait tansu "$TANSU_PID" emu_tcp_up "$KAFKA_PORT"
  fi
  emu_log "ready in $(emu_since "$t") s: moto :$MOTO_PORT, azurite :$AZURITE_PORT, kafka :${KAFKA_PORT:-skipped}"

  export MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
  export AWS_ENDPOINT_URL="$MOTO_ENDPOINT"         # aws-config (Rust), boto3, awscli
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AZURITE_BLOB_ENDPOINT="http://127.0.0.1:$AZURITE_PORT/devstoreaccount1"
  export AZURITE_ACCOUNT=devstoreaccount1
  export AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
  export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZURITE_ACCOUNT;AccountKey=$AZURITE_KEY;BlobEndpoint=$AZURITE_BLOB_ENDPOINT;"
  if [ "${EMU_SKIP_TANSU:-0}" != 1 ]; then
    export KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
  fi
  export FLOWLOGD_PYTHON="$EMU_DIR/venv/bin/python"
}

# When sourced without EMU_NO_AUTOSTART=1: install, start, and stop on exit.
if [ "${EMU_NO_AUTOSTART:-0}" != 1 ]; then
  trap emu_stop EXIT
  trap 'exit 130' INT; trap 'exit 143' TERM     # run the EXIT trap on signals too
  EMU_T0=$(emu_now)
  emu_install
  emu_log "install check done in $(emu_since "$EMU_T0") s"
  emu_start
  emu_log "emulators up $(emu_since "$EMU_T0") s after start"
fi
