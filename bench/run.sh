#!/usr/bin/env bash
# Runs issue 2's performance comparison side by side in ONE invocation and writes
# bench/results/*.json[l]: sgemm peak, longctx training steps (tokens/s, MFU against
# the peak measured inside each run, peak RSS), the PyTorch eager peer on the same
# configs, the long-sequence table, and PyTorch's memory failure point.
#
#   bench/run.sh [sections...]     sections: peak speed longseq small32k pytorch-memory
#                                  tiny32k-recompute (default: all but the last;
#                                  small32k takes the longest: one step of ~100 TFLOP)
# Environment: BUILD_DIR (default build/bench), THREADS (2), REPEATS (speed rounds, 2),
#   PYTHON (/usr/bin/python3, Debian's torch), RESULTS (bench/results),
#   LONGSEQ (1024,4096,16384,32768), PT_CAP_GB (22: PyTorch probe address-space cap).
# The machine may be shared: each speed round runs longctx and PyTorch back to back so
# their ratio is measured under the same load; compare ratios, not absolute figures.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build/bench}"
THREADS="${THREADS:-2}"
REPEATS="${REPEATS:-2}"
PYTHON="${PYTHON:-/usr/bin/python3}"
RESULTS="${RESULTS:-$root/bench/results}"
LONGSEQ="${LONGSEQ:-1024,4096,16384,32768}"
PT_CAP_GB="${PT_CAP_GB:-22}"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(peak speed longseq small32k pytorch-memory)
want() { local s; for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

mkdir -p "$RESULTS"
cmake -S "$root" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DLONGCTX_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" --target matmul_peak train_step -j"$THREADS" >/dev/null
"$PYTHON" -c "import torch" || { echo "run.sh: $PYTHON has no torch (apt-get install python3-torch)" >&2; exit 1; }

# Where and on what the figures were taken.
{
  echo "{\"bench\": \"machine\", \"date\": \"$(date -u +%FT%TZ)\", \"commit\": \"$(git -C "$root" rev-parse --short HEAD)\","
  echo " \"cpu\": \"$(lscpu | sed -n 's/^Model name: *//p' | head -1)\", \"cores\": $(nproc),"
  echo " \"mem_total_kb\": $(awk '/MemTotal/ {print $2}' /proc/meminfo), \"loadavg_at_start\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo " \"threads\": $THREADS, \"torch\": \"$("$PYTHON" -c 'import torch; print(torch.__version__)')\"}"
} | tr -d '\n' > "$RESULTS/machine.json"
echo >> "$RESULTS/machine.json"

if want peak; then
  echo "== sgemm peak" >&2
  "$BUILD_DIR/matmul_peak" --threads "$THREADS" --json "$RESULTS/matmul_peak.json"
fi

if want speed; then
  echo "== training-step speed, longctx vs PyTorch, $REPEATS round(s)" >&2
  : > "$RESULTS/speed.jsonl"
  for round in $(seq 1 "$REPEATS"); do
    for spec in "tiny 1024 5" "small 2048 3"; do
      set -- $spec
      "$BUILD_DIR/train_step" --config "$1" --seq "$2" --steps "$3" --warmup 1 \
        --threads "$THREADS" --breakdown --json "$RESULTS/speed.jsonl"
      "$PYTHON" "$root/bench/pytorch_llama.py" speed --config "$1" --seq "$2" --steps "$3" \
        --warmup 1 --threads "$THREADS" | tee -a "$RESULTS/speed.jsonl"
    done
  done
fi

if want longseq; then
  echo "== long sequences, tiny, T=$LONGSEQ (one process per T)" >&2
  : > "$RESULTS/longseq.jsonl"
  # One timed step, no warm-up: at these lengths a step takes minutes, so warm-up
  # effects are negligible, and peak RSS needs one full step.
  "$BUILD_DIR/train_step" --config tiny --seq "$LONGSEQ" --steps 1 --warmup 0 \
    --threads "$THREADS" --json "$RESULTS/longseq.jsonl"
fi

if want tiny32k-recompute; then
  "$BUILD_DIR/train_step" --config tiny --seq 32768 --recompute 1 --steps 1 --warmup 0 \
    --threads "$THREADS" --json "$RESULTS/longseq.jsonl"
fi

if want small32k; then
  echo "== small, T=32768, recomputation on (one step)" >&2
  : > "$RESULTS/small32k.jsonl"
  "$BUILD_DIR/train_step" --config small --seq 32768 --recompute 1 --steps 1 --warmup 0 \
    --threads "$THREADS" --json "$RESULTS/small32k.jsonl"
fi

if want pytorch-memory; then
  echo "== PyTorch eager memory probes, tiny, T=$LONGSEQ, cap $PT_CAP_GB GiB" >&2
  "$PYTHON" "$root/bench/pytorch_llama.py" memory --config tiny --seqs "$LONGSEQ" \
    --cap-gb "$PT_CAP_GB" --steps 1 --warmup 1 --threads "$THREADS" \
    | tee "$RESULTS/pytorch_memory.jsonl"
fi

"$PYTHON" "$root/bench/summarize.py" "$RESULTS"
