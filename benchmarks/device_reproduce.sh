#!/usr/bin/env bash
# One device call (H100/H200): the Table II reproduction on MovieLens-1M.
# Here, first:   PY=.venv/bin/python ../shared/tools/prepare_device_carry.sh
#                (cd ../shared/data && zip -qr "$OLDPWD/.device_carry/ml-1m.zip" ml-1m)   # ~6 MB; the raw
#                files (25 MB) plus the bf16 MiniLM (45 MB) would pass the 64 MiB carry limit
# Then run with carry [".device_carry"] and timeout_s 570:
#   bash benchmarks/device_reproduce.sh
set -eu
python3 -m pip install -q --no-index --no-deps --target /tmp/site .device_carry/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
python3 benchmarks/reproduce.py --data_dir .device_carry/ml-1m.zip --plm .device_carry/minilm-bf16 --bf16 2>&1 | tee "${OUT:-/tmp}/reproduce.log"
cp benchmarks/results/reproduce_* "${OUT:-/tmp}/" 2>/dev/null || true
