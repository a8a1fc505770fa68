#!/usr/bin/env bash
# Context parallelism (issue 14): per-rank peak RSS and tokens/s of one training step at
# long T, one process (K = 1, THREADS threads) against `--context-parallel 2` (2 MPI ranks x
# THREADS/2 threads each, the same cores), in ONE invocation. Metrics lines, tagged, go to
# $RESULTS/context_parallel/runs.jsonl; a table is printed at the end.
#
#   DATA=<shards> bench/context_parallel.sh [model:T ...]     default: tiny:32768
#
# Environment: BUILD_DIR (build/release), DATA (required: shards from `longctx data`),
#   THREADS (2), STEPS (1), RESULTS (bench/results), SKIP_FINAL_EVAL (1: stop each run once
#   its STEPS metrics lines are written, skipping the end-of-run validation forward, which
#   needs less memory than a step and only costs time).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build/release}"
THREADS="${THREADS:-2}"
STEPS="${STEPS:-1}"
RESULTS="${RESULTS:-$root/bench/results}/context_parallel"
: "${DATA:?set DATA to a shard folder made by longctx data}"
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(tiny:32768)

bin="$BUILD_DIR/longctx"
mkdir -p "$RESULTS"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "{\"bench\": \"machine\", \"date\": \"$(date -u +%FT%TZ)\", \"commit\": \"$(git -C "$root" rev-parse --short HEAD)\", \"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\", \"simd\": \"$("$bin" info | sed -n 's/^SIMD target: *//p')\", \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}" \
  >> "$RESULTS/machine.jsonl"

# One run: its metrics lines (the training steps), tagged, appended to runs.jsonl.
run() {
  local tag="$1"; shift
  local out="$work/run"
  rm -rf "$out"
  echo "== $tag ($(date -u +%T), load $(cut -d' ' -f1 /proc/loadavg))" >&2
  "$@" --out "$out" --steps "$STEPS" --warmup 0 --eval-every 0 --eval-batches 1 \
    --save-every 100000 --keep 1 >"$out.log" 2>&1 &
  local pid=$! status=0
  if [ "${SKIP_FINAL_EVAL:-0}" = 1 ]; then
    while kill -0 "$pid" 2>/dev/null; do
      local done_steps
      done_steps="$(grep -c tokens_per_s "$out/metrics.jsonl" 2>/dev/null || true)"
      if [ "${done_steps:-0}" -ge "$STEPS" ]; then
        # The run (and, under mpirun, its ranks, mpirun's children) ends here: SIGTERM would
        # only ask for a checkpoint after the validation this skips.
        kill -KILL $(pgrep -P "$pid" || true) "$pid" 2>/dev/null || true
        echo "   stopped after step $STEPS (SKIP_FINAL_EVAL)" >&2
        break
      fi
      sleep 2
    done
    wait "$pid" || true
  else
    wait "$pid" || status=$?
  fi
  [ "$status" -eq 0 ] || { cat "$out.log" >&2; return 1; }
  python3 -c 'import json,sys; tag=sys.argv[1]
for l in open(sys.argv[2]):
    d=json.loads(l)
    if "tokens_per_s" in d: d["tag"]=tag; print(json.dumps(d))' "$tag" "$out/metrics.jsonl" \
    >> "$RESULTS/runs.jsonl"
}

for spec in "${specs[@]}"; do
  model="${spec%%:*}" T="${spec##*:}"
  common=(train --model-config "$model" --data "$DATA" --seq "$T")
  run "$model T=$T K=1 (1 process x $THREADS threads)" "$bin" "${common[@]}" --threads "$THREADS"
  run "$model T=$T K=2 (2 ranks x $((THREADS / 2)) thread(s))" \
    mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" "${common[@]}" \
    --threads $((THREADS / 2)) --context-parallel 2
done

python3 - "$RESULTS/runs.jsonl" <<'PY'
import json, sys
print("| run | step | tokens/s | step s | CPU s (all ranks) | tokens per CPU s | peak RSS rank 0 (GiB) | peak RSS max over ranks (GiB) | ring wait s | ring MB sent (rank 0) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for l in open(sys.argv[1]):
    d = json.loads(l)
    gib = lambda b: "%.2f" % (b / 2**30) if b else "-"
    cpu = d.get("step_cpu_s_all_ranks", d.get("step_cpu_s"))
    print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %s | %s | %s |" % (
        d["tag"], d["step"], d["tokens_per_s"], d.get("step_s", float("nan")), cpu,
        d["tokens_per_s"] * d["step_s"] / cpu,
        gib(d.get("peak_rss_bytes")), gib(d.get("peak_rss_max_bytes", d.get("peak_rss_bytes"))),
        "%.1f" % d["ring_wait_s"] if "ring_wait_s" in d else "-",
        "%.0f" % (d["ring_bytes_sent"] / 1e6) if "ring_bytes_sent" in d else "-"))
PY
