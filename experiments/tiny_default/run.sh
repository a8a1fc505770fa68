#!/usr/bin/env bash
# The trainer end to end on the built-in default corpus: a tiny model pretrained from scratch
# at T=512, then continued at 8x its length (T=4096) with RoPE ABF (base 500000) the LLaMA 2
# Long way, written as a Hugging Face folder and a GGUF file.
#
#   experiments/tiny_default/run.sh [CORPUS] [OUT]     (defaults: data/default, runs/tiny_default)
# Environment: BUILD_DIR (build/release), THREADS (2), STEPS (200), EXTEND_STEPS (10).
# The corpus comes from `longctx data default` (scripts/install-deps.sh --corpus first).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/longctx"
corpus="${1:-data/default}"
out="${2:-runs/tiny_default}"
threads="${THREADS:-2}"
[ -f "$corpus/dataset.json" ] || "$bin" --threads "$threads" data default -o "$corpus"

"$bin" train --model-config tiny --data "$corpus" --seq 512 --batch-tokens 2048 \
  --steps "${STEPS:-200}" --lr 1e-3 --warmup 20 --eval-every 25 --eval-batches 8 \
  --save-every 50 --threads "$threads" --out "$out/pretrain"

"$bin" extend --from "$out/pretrain" --rope abf:base=500000 --seq 4096 --data "$corpus" \
  --steps "${EXTEND_STEPS:-10}" --eval-every 5 --eval-batches 2 --save-every 5 --gguf \
  --threads "$threads" --out "$out/extend-abf-4k"
