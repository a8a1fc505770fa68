#!/usr/bin/env bash
# Decode throughput of `longctx generate` against llama.cpp's llama-bench on the same GGUF
# file at the same KV depth, alternated in one invocation (the machine is shared: only
# same-run ratios mean anything). Both sides: 2 threads, greedy, N_GEN tokens generated after
# DEPTH tokens already in the KV cache (longctx: a prompt of DEPTH token ids, then its decode
# line; llama-bench: -p 0 -n N_GEN -d DEPTH, which fills the cache then times generation).
#
# KV cache type: KV=bf16 (default) or q8_0 give the same type on both sides (llama-bench -ctk/-ctv);
# KV=f32 runs longctx's f32 cache against llama.cpp's default f16 (llama-bench has no f32 cache).
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/decode_vs_llamacpp.sh MODEL.gguf TOKENIZER.model TEXT "512 4096" [ROUNDS]
# Environment: N_GEN (64), KV (bf16), LONGCTX (build/release/longctx), OMP_WAIT_POLICY (PASSIVE).
set -euo pipefail
model=$1 spm=$2 text=$3 depths=$4 rounds=${5:-1}
n_gen=${N_GEN:-64}
case ${KV:=bf16} in
  bf16 | q8_0) lc_kv=$KV ll_kv=$KV ;;
  f32) lc_kv=f32 ll_kv=f16 ;;
  *) echo "KV must be bf16, q8_0 or f32, got '$KV'" >&2; exit 1 ;;
esac
longctx=${LONGCTX:-build/release/longctx}
: "${LLAMA_BIN:?set LLAMA_BIN to the llama.cpp build/bin folder}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%FT%TZ) model $model, $n_gen generated tokens, KV longctx $lc_kv / llama.cpp $ll_kv, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$longctx" tokenizer encode --model "$spm" --bos "$(head -c 100000 "$text")" | tr ' ' '\n' > "$tmp/all"
for r in $(seq "$rounds"); do
  for d in $depths; do
    head -n "$d" "$tmp/all" > "$tmp/ids"
    [ "$(wc -l < "$tmp/ids")" -eq "$d" ] || { echo "the text gives fewer than $d tokens" >&2; exit 1; }
    # (generation may stop at EOS before N_GEN tokens; the line gives the rate over those made)
    lc=$("$longctx" --threads 2 generate --model "$model" --token-ids-file "$tmp/ids" \
           --ctx $((d + n_gen + 8)) --kv-type "$lc_kv" --max-tokens "$n_gen" 2>&1 >/dev/null | grep '^decode:')
    ll=$(LD_LIBRARY_PATH="$LLAMA_BIN" "$LLAMA_BIN/llama-bench" -m "$model" -p 0 -n "$n_gen" -d "$d" \
           -ctk "$ll_kv" -ctv "$ll_kv" -t 2 -r 1 -o jsonl 2>/dev/null | python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.startswith("{")]
print("%.1f" % rows[-1]["avg_ts"])')
    echo "round $r, depth $d: longctx $lc | llama.cpp $ll tokens/s"
  done
done
