#!/usr/bin/env bash
# The main job on the built-in default corpus. Installs what it needs
# (Debian packages, including the corpus text packages), builds longctx, then:
#   1. builds the default corpus from Debian text packages (documents, tokenizer, shards);
#   2. runs the position-encoding analysis of the paper (decay, granularity, spiral);
#   3. trains a tiny model from scratch on the corpus, extends it to 8x its length with RoPE
#      ABF and with PI, evaluates perplexity against length (the base model also under the
#      training-free scalings PI, NTK, YaRN) and passkey retrieval, and writes one HTML
#      report (experiments/tiny_default/run.sh).
# Everything lands in runs/default/ (override with LONGCTX_RUN_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir="${LONGCTX_RUN_DIR:-runs/default}"
mkdir -p "$run_dir"

scripts/install-deps.sh --corpus
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target longctx
bin=build/release/longctx

has_command() { "$bin" "$1" --help >/dev/null 2>&1; }

if has_command data; then
  echo "== 1. default corpus (Debian text packages) -> $run_dir/corpus"
  "$bin" data default --out "$run_dir/corpus"
else
  echo "== 1. default corpus: not built yet in this version (longctx data is missing)"
fi

if has_command rope; then
  echo "== 2. position-encoding analysis (paper Figure 4, Appendix B, Figure 8) -> $run_dir/rope"
  specs=(default abf:base=500000 linear:factor=8)
  "$bin" rope decay --head-dim 128 --max-distance 32768 --out "$run_dir/rope/decay" "${specs[@]/#/--rope=}"
  "$bin" rope granularity --out "$run_dir/rope/granularity"
  "$bin" rope spiral --out "$run_dir/rope/spiral" "${specs[@]/#/--rope=}"
else
  echo "== 2. position-encoding analysis: not built yet in this version (longctx rope is missing)"
fi
if has_command train; then
  echo "== 3. tiny model: pretraining at T=512, extension to T=4096 with ABF and PI, evaluation, report -> $run_dir/tiny"
  BUILD_DIR=build/release experiments/tiny_default/run.sh "$run_dir/corpus" "$run_dir/tiny"
fi
echo "== done: results in $run_dir"
if [ -f "$run_dir/tiny/report.html" ]; then
  echo "== report: $run_dir/tiny/report.html (open it in a browser)"
fi
