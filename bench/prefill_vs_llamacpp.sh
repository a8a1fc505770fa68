#!/usr/bin/env bash
# Prefill throughput of `longctx generate` against llama.cpp's llama-perplexity on the same
# GGUF file and the same text length, alternated in one invocation (the machine is shared:
# only same-run ratios mean anything). llama-perplexity is the llama.cpp tool that was built
# here; it runs whole-context passes (logits for every position), so it measures prefill only.
# Decode is not compared: no llama.cpp generation tool was built on this machine.
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/prefill_vs_llamacpp.sh MODEL.gguf TOKENIZER.model TEXT "1024 8192" [ROUNDS]
set -euo pipefail
model=$1 spm=$2 text=$3 lengths=$4 rounds=${5:-1}
longctx=${LONGCTX:-build/release/longctx}
: "${LLAMA_BIN:?set LLAMA_BIN to the llama.cpp build/bin folder}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) model $model, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
  for n in $lengths; do
    # longctx: the first n tokens of the text, as token ids (so both sides prefill exactly n).
    "$longctx" tokenizer encode --model "$spm" --bos "$(head -c 100000 "$text")" | tr ' ' '\n' > "$tmp/all"
    head -n "$n" "$tmp/all" > "$tmp/ids"
    got=$(wc -l < "$tmp/ids")
    [ "$got" -eq "$n" ] || { echo "the text gives only $got tokens, need $n" >&2; exit 1; }
    lc=$("$longctx" --threads 2 generate --model "$model" --token-ids-file "$tmp/ids" --ctx $((n + 8)) \
           --max-tokens 0 2>&1 >/dev/null | grep '^prefill:')
    ll=$(LD_LIBRARY_PATH="$LLAMA_BIN" "$LLAMA_BIN/llama-perplexity" -m "$model" -f "$text" -c "$n" -b "$n" \
           --chunks 1 -t 2 2>&1 | grep -o '[0-9.]* seconds per pass' | head -1)
    lls=${ll%% *}
    echo "round $r, $n tokens: longctx $lc | llama.cpp ${lls} s per pass = $(awk -v n="$n" -v s="$lls" 'BEGIN{printf "%.1f", n/s}') tokens/s"
  done
done
