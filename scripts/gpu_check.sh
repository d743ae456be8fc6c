#!/usr/bin/env bash
# What a CUDA machine adds to the CPU test suite, in one short run: the bench's GPU preset (models of width
# 2,048 under bf16 autocast, every variant, peak CUDA memory, TRL's GKD beside ours), the quick demo, whose
# rows train, describe and evaluate on the GPU, and the test suite itself on that machine's torch (tests
# that leave the device on `auto` then run on CUDA).
# Usage: scripts/gpu_check.sh OUT_DIR  (audistill importable, a GPU seen).
# Each stage has its own time limit, so one that hangs still leaves the others' figures in OUT_DIR.
set -uo pipefail
out=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 AUDISTILL_TRACEBACK=1  # a failing stage leaves the line it failed on

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$py" - <<'EOF'
import platform, torch, transformers, peft, accelerate
print(f"python {platform.python_version()} torch {torch.__version__} cuda {torch.version.cuda} "
      f"transformers {transformers.__version__} peft {peft.__version__} accelerate {accelerate.__version__}")
print("cuda available:", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} 2>&1 | tee "$out/environment.txt"

stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc after $((SECONDS - start)) s" | tee -a "$out/stages.txt"
  tail -n 40 "$out/$name.log"
}

stage bench-gpu "${BENCH_LIMIT:-300}" "$py" -m audistill bench --gpu --out "$out/bench-gpu.json"
demo=${DEMO_DIR:-/tmp/audistill-gpu-demo}
stage demo-quick "${DEMO_LIMIT:-300}" "$py" -m audistill demo --quick --out "$demo"
for f in report.md report.json; do cp "$demo/$f" "$out/demo-quick-$f" 2>/dev/null; done
# Where the rows really ran: each training run records what `auto` resolved to.
"$py" - "$demo" <<'PY' | tee -a "$out/stages.txt"
import json, sys
from pathlib import Path
for run in sorted(Path(sys.argv[1]).glob("rows/*/seed-*/train/run.json")):
    record = json.loads(run.read_text())
    print(f"{run.parts[-4]}: device {record.get('device')}, mixed precision {record.get('mixed_precision')}")
PY

stage pytest "${PYTEST_LIMIT:-240}" "$py" -m pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-8}" tests
