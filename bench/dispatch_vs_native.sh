#!/usr/bin/env bash
# Issue 8's check: the portable build (x86-64-v3 baseline, SIMD kernels dispatched at run
# time) against a -march=native build of the same tree, side by side in ONE invocation.
# Runs the training step (tiny T=1024, small T=2048) and attention_bench with both
# binaries, alternating which goes first in each round so load drift hits both, then
# prints the medians and the dispatched/native ratios (bench/dispatch_summary.py).
#
#   bench/dispatch_vs_native.sh            ROUNDS (default 3), THREADS (2),
#                                          RESULTS (bench/results/dispatch_vs_native.jsonl),
#                                          DISPATCH_BUILD / NATIVE_BUILD: reuse existing build
#                                          folders of those kinds (e.g. build/release for the
#                                          dispatched one) instead of configuring new ones;
#                                          SKIP_BUILD=1 runs them as they are
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
THREADS="${THREADS:-2}"
RESULTS="${RESULTS:-$root/bench/results/dispatch_vs_native.jsonl}"
mkdir -p "$(dirname "$RESULTS")"
: > "$RESULTS"

declare -A dir=([dispatch]="${DISPATCH_BUILD:-$root/build/bench-dispatch}"
               [native]="${NATIVE_BUILD:-$root/build/bench-native}")
declare -A arch=([dispatch]="x86-64-v3" [native]="native")
for b in dispatch native; do
  if [ ! -f "${dir[$b]}/CMakeCache.txt" ]; then
    cmake -S "$root" -B "${dir[$b]}" -DCMAKE_BUILD_TYPE=Release -DLONGCTX_BUILD_TESTS=OFF \
      -DLONGCTX_ARCH="${arch[$b]}" >/dev/null
  fi
  got="$(sed -n 's/^LONGCTX_ARCH:[A-Z]*=//p' "${dir[$b]}/CMakeCache.txt")"
  [ "$got" = "${arch[$b]}" ] || { echo "dispatch_vs_native: ${dir[$b]} is built for LONGCTX_ARCH=$got, not ${arch[$b]}" >&2; exit 2; }
  if [ "${SKIP_BUILD:-0}" != 1 ]; then
    cmake --build "${dir[$b]}" --target train_step attention_bench longctx -j"$THREADS" >/dev/null
  fi
  echo "== $b build: $("${dir[$b]}/longctx" info | sed -n 's/^SIMD target: *//p'), $("${dir[$b]}/longctx" info | sed -n 's/^build: *//p')" >&2
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  order=(dispatch native)
  [ $((round % 2)) -eq 0 ] && order=(native dispatch)
  for b in "${order[@]}"; do
    echo "== round $round: $b" >&2
    rm -f "$tmp/out.jsonl"
    "${dir[$b]}/train_step" --config tiny --seq 1024 --steps 5 --warmup 1 --threads "$THREADS" \
      --json "$tmp/out.jsonl" >/dev/null
    "${dir[$b]}/train_step" --config small --seq 2048 --steps 3 --warmup 1 --threads "$THREADS" \
      --json "$tmp/out.jsonl" >/dev/null
    "${dir[$b]}/attention_bench" --json "$tmp/out.jsonl" >/dev/null
    "${dir[$b]}/attention_bench" --json "$tmp/out.jsonl" 32768 2 1 32 2 "$THREADS" >/dev/null
    python3 "$root/bench/tag_jsonl.py" build="$b" "$tmp/out.jsonl" >> "$RESULTS"
  done
done
python3 "$root/bench/dispatch_summary.py" "$RESULTS"
