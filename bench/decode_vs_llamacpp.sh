#!/usr/bin/env bash
# Decode throughput of `longctx generate` against llama.cpp's llama-bench on the same GGUF
# file at the same KV depth, alternated in one invocation (the machine is shared: only
# same-run ratios mean anything). Both sides: 2 threads, greedy, N_GEN tokens generated after
# DEPTH tokens already in the KV cache (longctx: a prompt of DEPTH token ids, then its decode
# line; llama-bench: -p 0 -n N_GEN -d DEPTH, which fills the cache then times generation).
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/decode_vs_llamacpp.sh MODEL.gguf TOKENIZER.model TEXT "512 4096" [ROUNDS]
# Environment: N_GEN (64), LONGCTX (build/release/longctx), OMP_WAIT_POLICY (PASSIVE).
set -euo pipefail
model=$1 spm=$2 text=$3 depths=$4 rounds=${5:-1}
n_gen=${N_GEN:-64}
longctx=${LONGCTX:-build/release/longctx}
: "${LLAMA_BIN:?set LLAMA_BIN to the llama.cpp build/bin folder}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) model $model, $n_gen generated tokens, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$longctx" tokenizer encode --model "$spm" --bos "$(head -c 100000 "$text")" | tr ' ' '\n' > "$tmp/all"
for r in $(seq "$rounds"); do
  for d in $depths; do
    head -n "$d" "$tmp/all" > "$tmp/ids"
    [ "$(wc -l < "$tmp/ids")" -eq "$d" ] || { echo "the text gives fewer than $d tokens" >&2; exit 1; }
    # (generation may stop at EOS before N_GEN tokens; the line gives the rate over those made)
    lc=$("$longctx" --threads 2 generate --model "$model" --token-ids-file "$tmp/ids" \
           --ctx $((d + n_gen + 8)) --max-tokens "$n_gen" 2>&1 >/dev/null | grep '^decode:')
    ll=$(LD_LIBRARY_PATH="$LLAMA_BIN" "$LLAMA_BIN/llama-bench" -m "$model" -p 0 -n "$n_gen" -d "$d" \
           -t 2 -r 1 -o jsonl 2>/dev/null | python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.startswith("{")]
print("%.1f" % rows[-1]["avg_ts"])')
    echo "round $r, depth $d: longctx $lc | llama.cpp $ll tokens/s"
  done
done
