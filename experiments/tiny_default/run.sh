#!/usr/bin/env bash
# The trainer and the evaluation end to end on the built-in default corpus: a tiny model
# pretrained from scratch at T=512, then continued at 8x its length (T=4096) twice, with RoPE
# ABF (base 500000, the LLaMA 2 Long way) and with position interpolation (PI, linear x8),
# written as Hugging Face folders and GGUF files; then perplexity against length up to past
# the new length (the base model also under the training-free scalings PI, NTK and YaRN),
# passkey retrieval, and one HTML report.
#
#   experiments/tiny_default/run.sh [CORPUS] [OUT]     (defaults: data/default, runs/tiny_default)
# Environment: BUILD_DIR (build/release), THREADS (2), STEPS (200), EXTEND_STEPS (10),
#   EVAL_SAMPLES (2), EVAL (1; 0 skips the evaluation).
# The corpus comes from `longctx data default` (scripts/install-deps.sh --corpus first).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/longctx"
corpus="${1:-data/default}"
out="${2:-runs/tiny_default}"
threads="${THREADS:-2}"
samples="${EVAL_SAMPLES:-2}"
# Idle OpenMP threads sleep instead of spinning: on a machine shared with other work,
# spinning threads cost the busy ones their cores (docs/eval.md, docs/serve.md).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
[ -f "$corpus/dataset.json" ] || "$bin" --threads "$threads" data default -o "$corpus"
step() { echo "== tiny: $* ($(date +%T))"; }

step "pretraining at T=512 -> $out/pretrain"
"$bin" train --model-config tiny --data "$corpus" --seq 512 --batch-tokens 2048 \
  --steps "${STEPS:-200}" --lr 1e-3 --warmup 20 --eval-every 25 --eval-batches 8 \
  --save-every 50 --threads "$threads" --out "$out/pretrain"

for rope in abf:base=500000 linear:factor=8; do
  name="extend-${rope%%:*}-4k"
  step "extending to T=4096 with $rope -> $out/$name"
  "$bin" extend --from "$out/pretrain" --rope "$rope" --seq 4096 --data "$corpus" \
    --steps "${EXTEND_STEPS:-10}" --eval-every 5 --eval-batches 2 --save-every 5 --gguf \
    --threads "$threads" --out "$out/$name"
done

[ "${EVAL:-1}" = 1 ] || exit 0
lengths=256,512,1k,2k,4k,8k
step "perplexity against length, base model under training-free scalings -> $out/eval/base"
"$bin" --threads "$threads" eval ppl --model "$out/pretrain" --rope model \
  --rope linear:factor=8 --rope ntk:factor=8 --rope yarn:factor=8,original=512 \
  --lengths "$lengths" --data "$corpus" --samples "$samples" -o "$out/eval/base"
step "perplexity against length, extended models against the base -> $out/eval/extended"
"$bin" --threads "$threads" eval ppl --model "$out/extend-abf-4k" --model "$out/extend-linear-4k" \
  --baseline "$out/pretrain" --lengths "$lengths" --data "$corpus" --samples "$samples" \
  -o "$out/eval/extended"
step "passkey retrieval -> $out/eval/passkey"
"$bin" --threads "$threads" eval passkey --model "$out/pretrain" --model "$out/extend-abf-4k" \
  --model "$out/extend-linear-4k" --lengths 256,1k,4k --depths 0,0.5,1 --count 2 \
  -o "$out/eval/passkey"
"$bin" report "$out/eval/base" "$out/eval/extended" "$out/eval/passkey" \
  -o "$out/report.html" --title "longctx: tiny model, RoPE ABF and PI at 8x its length"
step "report: $out/report.html"
