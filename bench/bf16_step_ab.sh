#!/usr/bin/env bash
# The whole training step with fp32 products against bf16 products (issue 15's 1.6x target):
# bench/train_step in both precisions (LONGCTX_MATMUL_PRECISION: the own GEMM and attention's
# tile products), alternated round by round so that a change in the machine's speed hits both,
# then per round the ratio of tokens/s and the median over rounds.
#
#   bench/bf16_step_ab.sh     ROUNDS (4), CONFIGS ("small:2048 tiny:1024"), STEPS (3),
#                             BUILD_DIR (build/release), OUT (bench/results/bf16_step_ab.jsonl)
# For figures, run it under the quiet wrapper (bench/README.md):
#   setsid bash -c 'echo -20 > /proc/self/autogroup; OMP_WAIT_POLICY=PASSIVE nice -n -20 bench/bf16_step_ab.sh'
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build/release}"
out="${OUT:-$root/bench/results/bf16_step_ab.jsonl}"
rounds="${ROUNDS:-4}"
steps="${STEPS:-3}"
configs="${CONFIGS:-small:2048 tiny:1024}"
[ -x "$build/train_step" ] || { echo "bf16_step_ab.sh: $build/train_step not built" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
python3 "$root/bench/tag_jsonl.py" --machine "$root" >>"$out"
"$build/longctx" info --no-measure | sed -n 's/^\(CPU\|SIMD target\|bf16 products\): */  \1: /p'
run_id="$(date -u +%Y%m%dT%H%M%SZ)"  # this invocation's rows in OUT
tmp="$(mktemp)"
trap 'rm -f "$tmp" "$tmp.log"' EXIT
for round in $(seq 1 "$rounds"); do
  for cfg in $configs; do
    for precision in fp32 bf16; do
      : >"$tmp"
      LONGCTX_MATMUL_PRECISION="$precision" "$build/train_step" --config "${cfg%%:*}" \
        --seq "${cfg##*:}" --steps "$steps" --warmup 1 --json "$tmp" >"$tmp.log" 2>&1 ||
        { cat "$tmp.log" >&2; exit 1; }
      python3 "$root/bench/tag_jsonl.py" run="$run_id" round:="$round" "$tmp" >>"$out"
    done
  done
done
python3 - "$out" "$run_id" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r.get("bench") == "train_step" and r.get("run") == sys.argv[2]]
by = {}
for r in rows:
    by.setdefault((r["config"], r["seq"], r["round"]), {})[r["matmul_precision"]] = r["tokens_per_s"]
for cfg in sorted({(c, t) for c, t, _ in by}):
    pairs = [(rnd, v) for (c, t, rnd), v in sorted(by.items()) if (c, t) == cfg and len(v) == 2]
    ratios = [v["bf16"] / v["fp32"] for _, v in pairs]
    print(f"{cfg[0]} T={cfg[1]}: " + " | ".join(
        f"round {rnd}: fp32 {v['fp32']:.1f} bf16 {v['bf16']:.1f} tok/s = {v['bf16'] / v['fp32']:.2f}x"
        for rnd, v in pairs) + f" | median {statistics.median(ratios):.2f}x")
EOF
