#!/usr/bin/env bash
# Evaluation throughput and memory (issue 10), in one invocation, results appended to
# bench/results/eval.jsonl and the logs beside it:
#   forward  eval_forward (the `eval ppl` forward) for $FORWARD (config:T pairs; default tiny at
#            4k, 16k, 32k and small at 4k, 16k; small at 32k is the ppl32k section), each also
#            through the training path's forward (model::forward_loss) for comparison
#   train    train_step (forward + backward + AdamW) for tiny 4k and 16k and small 4k: the
#            ratio forward-only / training step
#   ppl32k   `longctx eval ppl` of a randomly initialised small model (GGUF written by
#            eval_forward --save, LLaMA 2 tokenizer) at 32,768 tokens on Moby Dick, under
#            /usr/bin/time -v: the peak RSS of the real command (target < 2.5 GB)
#
#   bench/run_eval.sh [sections...]          (default: forward train ppl32k)
# Environment: BUILD_DIR (build/release), THREADS (2), RESULTS (bench/results),
#   DATA (../shared/data), WORK (/tmp/longctx-eval-bench: the 0.5 GB random model).
# The machine may be shared: read the load average printed with each figure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
: "${BUILD_DIR:=$root/build/release}" "${THREADS:=2}" "${RESULTS:=$root/bench/results}"
: "${DATA:=$root/../shared/data}" "${WORK:=/tmp/longctx-eval-bench}"
FORWARD="${FORWARD:-tiny:4096 tiny:16384 tiny:32768 small:4096 small:16384}"
SECTIONS=" ${*:-forward train ppl32k} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }
mkdir -p "$RESULTS" "$WORK"
out="$RESULTS/eval.jsonl"
cmake --build "$BUILD_DIR" --target eval_forward train_step longctx -j"$THREADS" >/dev/null
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "# $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"

if want forward; then
  for pair in $FORWARD; do
    cfg="${pair%%:*}" T="${pair##*:}"
    for path in long training; do
      echo "load $(load): eval_forward $cfg T=$T ($path)"
      "$BUILD_DIR/eval_forward" --config "$cfg" --seq "$T" --repeats 0 --path "$path" \
          --threads "$THREADS" --json "$out"
    done
  done
fi

if want train; then
  for spec in "tiny 4096" "tiny 16384" "small 4096"; do
    set -- $spec
    echo "load $(load): train_step $1 T=$2"
    "$BUILD_DIR/train_step" --config "$1" --seq "$2" --steps 1 --warmup 1 --threads "$THREADS" \
        --json "$RESULTS/eval_train.jsonl"
  done
fi

if want ppl32k; then
  [ -f "$WORK/small.gguf" ] || "$BUILD_DIR/eval_forward" --config small --save "$WORK/small.gguf" \
      --tokenizer "$DATA/models/llama2-tokenizer.model"
  echo "load $(load): longctx eval ppl small (random init) at 32768 tokens"
  /usr/bin/time -v "$BUILD_DIR/longctx" --threads "$THREADS" eval ppl --model "$WORK/small.gguf" \
      --text "$DATA/text/pg2701.txt" --lengths 32k --samples 1 --no-longppl --bucket 4096 \
      -o "$WORK/ppl32k" 2>&1 | tee "$RESULTS/eval_ppl32k.log" |
      grep -E "rules|length|tok/s|Maximum resident|Elapsed|refus|error"
fi
