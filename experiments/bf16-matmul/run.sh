#!/usr/bin/env bash
# Issue 15's bf16 check: the same training run twice, matrix products in fp32 and with bf16
# operands (--matmul-precision bf16: fp32 accumulation, fp32 master weights and AdamW
# state), and the two loss curves compared (compare.py). A tiny model from scratch on the
# built-in default corpus, T=1024, STEPS optimizer steps of 4,096 tokens, same seed and data
# order, so the curves differ only by the rounding of the products' operands. A third run,
# fp32 again but through OpenBLAS (LONGCTX_MATMUL=blas: the same products summed in another
# order), shows how far two fp32 runs drift apart from rounding order alone: any perturbation
# sends a training run on its own path, and that drift is the scale to judge bf16's by.
#
#   experiments/bf16-matmul/run.sh    STEPS (300), THREADS (2), OUT (runs/bf16-matmul),
#                                     BUILD_DIR (build/release), DATA (data/default),
#                                     SEEDS ("1234"; several: the three runs per seed),
#                                     RESULTS (experiments/bf16-matmul/results),
#                                     RUNS ("fp32:own bf16:own fp32:blas"; a subset reruns
#                                     only those, e.g. "bf16:own" after a bf16-only change,
#                                     the others' metrics taken from REUSE)
#                                     REUSE (a RESULTS folder of an earlier run: its
#                                     metrics-*.jsonl stand in for runs not in RUNS)
# Each run resumes if interrupted; per seed, compare.py writes RESULTS/compare[-SEED].json
# and prints a table, and the runs' metrics.jsonl / config.toml are copied to RESULTS.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/longctx"
out="${OUT:-$root/runs/bf16-matmul}"
data="${DATA:-$root/data/default}"
threads="${THREADS:-2}"
steps="${STEPS:-300}"
results="${RESULTS:-$root/experiments/bf16-matmul/results}"
seeds="${SEEDS:-1234}"
runs="${RUNS:-fp32:own bf16:own fp32:blas}"
reuse="${REUSE:-}"
mkdir -p "$results"
"$bin" info --no-measure | sed -n 's/^\(SIMD target\|bf16 products\|CPU\): */  \1: /p'
[ -f "$data/dataset.json" ] || "$bin" --threads "$threads" data default -o "$data"
status=0
for seed in $seeds; do
  suffix=""; [ "$seed" = 1234 ] || suffix="-seed$seed"
  for run in fp32:own bf16:own fp32:blas; do
    p="${run%%:*}" engine="${run##*:}"
    name="$p"; [ "$engine" = own ] || name="$p-$engine"
    if [[ " $runs " != *" $run "* ]]; then  # not rerun: the earlier run's metrics
      [ -f "$reuse/metrics-$name$suffix.jsonl" ] ||
        { echo "run.sh: $run not in RUNS and no $reuse/metrics-$name$suffix.jsonl (REUSE)" >&2; exit 1; }
      mkdir -p "$out/$name$suffix"
      cp "$reuse/metrics-$name$suffix.jsonl" "$out/$name$suffix/metrics.jsonl"
      echo "== $name$suffix: metrics reused from $reuse"
      continue
    fi
    echo "== $name$suffix -> $out/$name$suffix"
    LONGCTX_MATMUL="$engine" "$bin" train --model-config tiny --data "$data" --seq 1024 \
      --batch-tokens 4096 --steps "$steps" --lr 1e-3 --warmup 20 --eval-every 25 --eval-batches 8 \
      --save-every 100 --keep 1 --threads "$threads" --matmul-precision "$p" --seed "$seed" \
      --out "$out/$name$suffix"
    cp "$out/$name$suffix/metrics.jsonl" "$results/metrics-$name$suffix.jsonl"
    cp "$out/$name$suffix/config.toml" "$results/config-$name$suffix.toml"
  done
  python3 "$root/experiments/bf16-matmul/compare.py" "$out/fp32$suffix" "$out/bf16$suffix" \
    "$out/fp32-blas$suffix" --json "$results/compare$suffix.json" || status=1
done
exit "$status"
