#!/usr/bin/env bash
# Issue 15's figures, side by side in ONE invocation: the project's own GEMM against the
# BLAS library and BLIS (loaded at run time, bench/blis_gemm.h), (1) per matrix-product shape of the training step (tiny and small, forward
# and both backward transposes) and large squares, next to the CPU's measured FMA ceiling
# (bench/matmul_peak), and (2) the whole training step (tiny T=1024, small T=2048) with
# LONGCTX_MATMUL=own and =blas alternating in ROUNDS rounds, so load drift hits both.
#
#   bench/gemm_engines.sh        BUILD_DIR (build/release), THREADS (2), ROUNDS (2),
#                                SECONDS_PER_SHAPE (0.5), RESULTS (bench/results/gemm),
#                                BF16 (auto: 1 where the CPU has avx512_bf16): also the own
#                                GEMM with bf16 inputs, per shape (matmul_peak --bf16) and
#                                as a third training-step variant (LONGCTX_MATMUL_PRECISION=bf16)
# Prints the tables; python3 bench/gemm_summary.py RESULTS reprints them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build/release}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
SECONDS_PER_SHAPE="${SECONDS_PER_SHAPE:-0.5}"
BF16="${BF16:-auto}"
if [ "$BF16" = auto ]; then BF16=0; grep -qw avx512_bf16 /proc/cpuinfo && BF16=1; fi
bf16_flag=(); [ "$BF16" = 1 ] && bf16_flag=(--bf16)
RESULTS="${RESULTS:-$root/bench/results/gemm}"
mkdir -p "$RESULTS"
cmake --build "$BUILD_DIR" --target matmul_peak train_step -j"$THREADS" >/dev/null
python3 "$root/bench/tag_jsonl.py" --machine "$root" > "$RESULTS/machine.json"

"$BUILD_DIR/matmul_peak" --threads "$THREADS" --seconds "$SECONDS_PER_SHAPE" "${bf16_flag[@]}" \
  --json "$RESULTS/matmul_peak.json"
# OpenBLAS's two kernels where the CPU has both: on AVX-512 CPUs it picks SkylakeX (or
# Cooperlake) itself; OPENBLAS_CORETYPE=Haswell forces the AVX2 kernel that some machines
# are configured to use, the case issue 15 was filed for.
rm -f "$RESULTS/matmul_peak-openblas-haswell.json"
if grep -qw avx512f /proc/cpuinfo; then
  OPENBLAS_CORETYPE=Haswell "$BUILD_DIR/matmul_peak" --threads "$THREADS" \
    --seconds "$SECONDS_PER_SHAPE" --blis off --json "$RESULTS/matmul_peak-openblas-haswell.json"
fi

: > "$RESULTS/train_step.jsonl"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Variants: ENGINE[-bf16] (LONGCTX_MATMUL=ENGINE, LONGCTX_MATMUL_PRECISION=bf16 for -bf16).
variants=(own blas)
[ "$BF16" = 1 ] && variants+=(own-bf16)
for round in $(seq 1 "$ROUNDS"); do
  order=("${variants[@]}")
  [ $((round % 2)) -eq 0 ] && order=($(printf '%s\n' "${variants[@]}" | tac))
  for v in "${order[@]}"; do
    e="${v%-bf16}"; p=fp32; [ "$v" != "$e" ] && p=bf16
    echo "== round $round: LONGCTX_MATMUL=$e LONGCTX_MATMUL_PRECISION=$p" >&2
    rm -f "$tmp/out.jsonl"
    LONGCTX_MATMUL=$e LONGCTX_MATMUL_PRECISION=$p "$BUILD_DIR/train_step" --config tiny --seq 1024 \
      --steps 5 --warmup 1 --threads "$THREADS" --json "$tmp/out.jsonl" >/dev/null
    LONGCTX_MATMUL=$e LONGCTX_MATMUL_PRECISION=$p "$BUILD_DIR/train_step" --config small --seq 2048 \
      --steps 3 --warmup 1 --threads "$THREADS" --json "$tmp/out.jsonl" >/dev/null
    python3 "$root/bench/tag_jsonl.py" round:="$round" "$tmp/out.jsonl" >> "$RESULTS/train_step.jsonl"
  done
done
python3 "$root/bench/gemm_summary.py" "$RESULTS"
