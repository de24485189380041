#!/usr/bin/env bash
# One device call (H100/H200) of the tables runner's `gpu` profile (MovieLens-1M), or of the
# pretraining speed benchmark. Prepare here, once (wheels, a bf16 MiniLM and the zipped data, ~52 MB):
#   PY=.venv/bin/python bash benchmarks/prepare_device_carry.sh <MovieLens-1M folder>
# Then run with carry [".device_carry"] and timeout_s 540:
#   bash benchmarks/device_tables.sh tables 2      # Table II (then 3, 7 in later calls)
#   bash benchmarks/device_tables.sh speed         # benchmarks/pretrain_speed.py, bf16, batch 1024
# Every finished row is tarred into $OUT/rows.tar every 20 s (and at the end): unpack it into
# .device_carry/results/ here, and the next call skips those rows. The Markdown/JSON/PNG results of
# the table land in $OUT; copy them to benchmarks/results/ and commit them.
set -eu
what=${1:-tables}
python3 -m pip install -q --no-index --no-deps --target /tmp/site .device_carry/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/device.txt" || true
if [ "$what" = speed ]; then
  python3 benchmarks/pretrain_speed.py --device cuda --bf16 --batch_size 1024 --warmup 3 --steps 10 \
    --dataset movielens-1m --data_dir .device_carry/ml-1m.zip --plm_path .device_carry/minilm-bf16 \
    --output_dir "$OUT" 2>&1 | tee "$OUT/speed.log"
  exit 0
fi
table=${2:-2}
work=/tmp/flip_tables
mkdir -p "$work/results"
if [ -d .device_carry/results ]; then cp .device_carry/results/*.json "$work/results/" 2>/dev/null || true; fi
(while sleep 20; do tar -C "$work" -cf "$OUT/rows.tar" results; done) &
python3 benchmarks/paper_tables.py --table "$table" --profile gpu --data_dir .device_carry/ml-1m.zip \
  --plm .device_carry/minilm-bf16 --work_dir "$work" --results_dir "$OUT" 2>&1 | tee "$OUT/tables.log"
tar -C "$work" -cf "$OUT/rows.tar" results
