#!/usr/bin/env bash
# `run --once` over the same Azure NSG v2 + VNet blobs, read from Azurite by the Azure Blob
# source and from a local directory. Usage: scripts/bench-azure.sh [tuples] (default 400000).
# FLOWLOGD_BIN picks the binary (default: the debug build in $CARGO_TARGET_DIR or target/).
set -euo pipefail
cd "$(dirname "$0")/.."
TUPLES="${1:-400000}"
BIN="${FLOWLOGD_BIN:-${CARGO_TARGET_DIR:-target}/debug/flowlogd}"
D="$(mktemp -d)"
EMU_SKIP_TANSU=1 source scripts/emulators.sh
trap 'emu_stop; rm -rf "$D"' EXIT
"$BIN" gen --out "$D/data" --formats nsg-v2,vnet --azure-records "$TUPLES" --hours 3 \
  --start 2026-11-20T00:00:00Z --seed 5 | tail -1
"$FLOWLOGD_PYTHON" - "$D/data" <<'PY'
import os, sys, pathlib, concurrent.futures as cf
from azure.storage.blob import BlobServiceClient
s = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
jobs = []
for top in pathlib.Path(sys.argv[1]).iterdir():
    c = s.create_container("bench-" + ("nsg" if "network" in top.name else "vnet"))
    jobs += [(c, str(f.relative_to(top)), f) for f in top.rglob("PT1H.json")]
with cf.ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda j: j[0].upload_blob(j[1], j[2].read_bytes()), jobs))
print("uploaded", len(jobs), "blobs")
PY
cat > "$D/azure.toml" <<TOML
state_dir = "$D/out-azure/state"
[[sources.azure_blob]]
name = "nsg"
container = "bench-nsg"
[[sources.azure_blob]]
name = "vnet"
container = "bench-vnet"
[sinks.parquet]
path = "$D/out-azure/parquet"
TOML
echo "input: $(du -sb "$D/data" | cut -f1) bytes"
/usr/bin/time -f "azure blob: %e s, max RSS %M KB" "$BIN" run --once --quiet --config "$D/azure.toml"
/usr/bin/time -f "local dir:  %e s, max RSS %M KB" "$BIN" run --once --quiet --input "$D/data" --output "$D/out-local"
