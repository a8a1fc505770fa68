#!/usr/bin/env bash
# The trainer's figures (issue 9), side by side in ONE invocation; results in
# $RESULTS/trainer/*.jsonl, tables printed by bench/trainer_summary.py.
#
#   DATA=data/default bench/trainer.sh [sections...]   sections: overhead mpi pose (default: all)
#
# overhead: `longctx train` tokens/s against the raw engine step (bench/train_step: forward +
#           backward + AdamW on random tokens) at tiny T=1024 and small T=2048, alternating
#           the two in ROUNDS rounds. The trainer runs on the default corpus with
#           --no-document-mask (train_step has no document mask) and again with the mask.
# mpi:      tiny T=1024, 2 micro-batches per step: 2 MPI ranks x 1 thread against
#           1 process x 2 threads.
# pose:     tiny at target length POSE_TARGET: full-length training (--seq POSE_TARGET)
#           against PoSE (--seq POSE_WINDOW --pose-target POSE_TARGET): tokens/s, peak RSS.
# Environment: BUILD_DIR (build/release), DATA (required: `longctx data default` output),
#   THREADS (2), ROUNDS (2), RESULTS (bench/results), POSE_TARGET (8192), POSE_WINDOW (1024).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build/release}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-2}"
RESULTS="${RESULTS:-$root/bench/results}/trainer"
POSE_TARGET="${POSE_TARGET:-8192}"
POSE_WINDOW="${POSE_WINDOW:-1024}"
: "${DATA:?set DATA to a shard folder made by longctx data default}"
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(overhead mpi pose)
want() { local s; for s in "${sections[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

cmake --build "$BUILD_DIR" --target longctx train_step -j"$THREADS" >/dev/null
bin="$BUILD_DIR/longctx"
mkdir -p "$RESULTS"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 "$root/bench/tag_jsonl.py" --machine "$root" > "$RESULTS/machine.json"

# One trainer run; its metrics lines, tagged, appended to $RESULTS/$1.jsonl.
train_run() {
  local file="$1" tag="$2"; shift 2
  local out="$work/run-$tag"
  rm -rf "$out"
  "$@" --out "$out" --eval-every 0 --save-every 100000 --keep 1 >/dev/null 2>"$out.log" ||
    { cat "$out.log" >&2; return 1; }
  python3 "$root/bench/tag_jsonl.py" tag="$tag" "$out/metrics.jsonl" >> "$RESULTS/$file.jsonl"
}

if want overhead; then
  : > "$RESULTS/overhead.jsonl"
  for round in $(seq 1 "$ROUNDS"); do
    for spec in "tiny 1024 6" "small 2048 3"; do
      set -- $spec
      echo "== overhead round $round: $1 T=$2" >&2
      "$BUILD_DIR/train_step" --config "$1" --seq "$2" --steps "$3" --warmup 1 --threads "$THREADS" \
        | grep '^{' | python3 "$root/bench/tag_jsonl.py" tag="train_step $1 $2" >> "$RESULTS/overhead.jsonl"
      train_run overhead "train $1 $2 nomask" "$bin" train --model-config "$1" --data "$DATA" \
        --seq "$2" --steps $(($3 + 1)) --threads "$THREADS" --no-document-mask
      train_run overhead "train $1 $2 mask" "$bin" train --model-config "$1" --data "$DATA" \
        --seq "$2" --steps $(($3 + 1)) --threads "$THREADS"
    done
  done
fi

if want mpi; then
  : > "$RESULTS/mpi.jsonl"
  for round in $(seq 1 "$ROUNDS"); do
    echo "== mpi round $round: tiny T=1024, 2 micro-batches per step" >&2
    train_run mpi "1x$THREADS" "$bin" train --model-config tiny --data "$DATA" --seq 1024 \
      --batch-tokens 2048 --steps 8 --threads "$THREADS"
    train_run mpi "2x1" mpirun --allow-run-as-root --oversubscribe -np 2 "$bin" train \
      --model-config tiny --data "$DATA" --seq 1024 --batch-tokens 2048 --steps 8 --threads 1
  done
fi

if want pose; then
  : > "$RESULTS/pose.jsonl"
  echo "== pose: tiny, target $POSE_TARGET, full length vs window $POSE_WINDOW" >&2
  train_run pose "full T=$POSE_TARGET" "$bin" train --model-config tiny --data "$DATA" \
    --seq "$POSE_TARGET" --steps 4 --threads "$THREADS"
  train_run pose "pose T=$POSE_WINDOW target=$POSE_TARGET" "$bin" train --model-config tiny \
    --data "$DATA" --seq "$POSE_WINDOW" --pose-target "$POSE_TARGET" --steps 8 --threads "$THREADS"
fi

python3 "$root/bench/trainer_summary.py" "$RESULTS"
