#!/usr/bin/env bash
# What a GPU call of benchmarks/device_tables.sh needs that the device machine lacks, in ./.device_carry/
# (git-ignored): wheels of datasets/evaluate and the packages they need beyond the machine's own, for
# its Python 3.12; a bf16 copy of the packaged MiniLM (the fp32 one is over the carry limit); and the
# MovieLens-1M folder zipped (~6 MB).
#   PY=.venv/bin/python bash benchmarks/prepare_device_carry.sh ../shared/data/ml-1m
set -eu
data_dir=${1:?usage: prepare_device_carry.sh <MovieLens-1M folder>}
PY=${PY:-.venv/bin/python}
out=.device_carry
mkdir -p "$out/wheels"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$out/wheels" datasets evaluate dill multiprocess
"$PY" -c '
import sys, torch
from transformers import AutoModel, AutoTokenizer
from flip_hf.packaged_plm import default_plm_path
AutoModel.from_pretrained(default_plm_path(), dtype=torch.bfloat16).save_pretrained(sys.argv[1])
AutoTokenizer.from_pretrained(default_plm_path()).save_pretrained(sys.argv[1])
' "$out/minilm-bf16"
rm -f "$out/ml-1m.zip"
(cd "$(dirname "$data_dir")" && zip -qr "$OLDPWD/$out/ml-1m.zip" "$(basename "$data_dir")")
du -sh "$out" "$out"/*
