#!/usr/bin/env bash
# Two attention_bench binaries (e.g. main's and a change's) side by side in ONE invocation:
# causal forward and backward at each T, alternating which binary goes first in each round
# so load drift hits both, then the median GFLOP/s of each and the ratio new/old.
#
#   bench/attention_ab.sh OLD_BIN NEW_BIN     ROUNDS (3), TS ("1024 4096"), SHAPE ("8 4 32":
#                                             H Hkv D), REPS (5, best of), THREADS (0 = all),
#                                             TQ (unset; M: the forward of one prefill chunk,
#                                             the last M query rows against T keys)
set -euo pipefail
old="$1" new="$2"
ROUNDS="${ROUNDS:-3}" TS="${TS:-1024 4096}" SHAPE="${SHAPE:-8 4 32}" REPS="${REPS:-5}"
THREADS="${THREADS:-0}" TQ="${TQ:-}"
chunk=()
[ -n "$TQ" ] && chunk=(--tq "$TQ")
runs="$(mktemp)"
trap 'rm -f "$runs"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  order=(old new)
  [ $((round % 2)) -eq 0 ] && order=(new old)
  for T in $TS; do
    for which in "${order[@]}"; do
      bin="$old"
      [ "$which" = new ] && bin="$new"
      # "B=1 ... forward 0.016 s 34.4 GFLOP/s, backward 0.032 s 41.5 GFLOP/s"; with --tq
      # "B=1 ... forward 0.4700 s 108.5 GFLOP/s, per CPU-second 54.6" (no backward: 0)
      "$bin" "${chunk[@]}" "$T" $SHAPE "$REPS" "$THREADS" | grep '^B=1' |
        sed -E -e "s/.*forward [0-9.]+ s ([0-9.]+) GFLOP.*backward [0-9.]+ s ([0-9.]+) GFLOP.*/$which $T \1 \2/" \
          -e "s/.*forward [0-9.]+ s ([0-9.]+) GFLOP\/s, per CPU.*/$which $T \1 0/" |
        tee -a "$runs" | sed "s/^/round $round: /" >&2
    done
  done
done
echo "attention H Hkv D = $SHAPE${TQ:+, one chunk of $TQ query rows}, median of $ROUNDS rounds (GFLOP/s, best of $REPS reps each)"
printf '%-6s %-4s %8s %8s %7s\n' T pass old new new/old
for T in $TS; do
  cols="3 4"
  [ -n "$TQ" ] && cols=3
  for col in $cols; do
    pass=fwd
    [ $col -eq 4 ] && pass=bwd
    med() { awk -v w="$1" -v t="$T" -v c="$col" '$1 == w && $2 == t {print $c}' "$runs" |
      sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
    o="$(med old)" n="$(med new)"
    awk -v T="$T" -v p="$pass" -v o="$o" -v n="$n" 'BEGIN {printf "%-6s %-4s %8.1f %8.1f %7.3f\n", T, p, o, n, n / o}'
  done
done
