#!/usr/bin/env bash
# llama.cpp interoperability check: GGUF files written by `longctx convert` are evaluated by
# llama.cpp (prebuilt CPU binaries shipped by the npm package node-llama-cpp) and by
# `longctx generate --dump-probs`; compare.py reports the largest probability difference.
#
# usage: experiments/llamacpp_check/run.sh [LONGCTX_BINARY]   (default build/release/longctx)
# env:   WORK (default /tmp/llamacpp-check; node-llama-cpp is installed there, never in the repo)
#        MODEL (default the shared stories260K-f32.gguf)
# Needs node >= 20 and npm with access to the npm registry.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LONGCTX="$(realpath "${1:-build/release/longctx}")"
WORK="${WORK:-/tmp/llamacpp-check}"
MODEL="${MODEL:-$here/../../../shared/data/models/stories260K-f32.gguf}"
NLC_VERSION=3.21.1   # pinned: newer releases may change the prebuilt binaries or the API
PROMPT="Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends."

mkdir -p "$WORK/files"
if [ ! -d "$WORK/node_modules/node-llama-cpp" ]; then
  (cd "$WORK" && { [ -f package.json ] || npm init -y >/dev/null; } &&
   npm i -E "node-llama-cpp@$NLC_VERSION")
fi
cp "$here/check.mjs" "$WORK/check.mjs"   # node resolves node-llama-cpp next to the script
F="$WORK/files"

# GGUF (v1) -> Hugging Face folder -> GGUF v3 written by longctx: f32, f16, and f32 with ABF.
"$LONGCTX" convert --in "$MODEL" --out "$F/hf"
"$LONGCTX" convert --in "$F/hf" --out "$F/rt-f32.gguf" --dtype f32
"$LONGCTX" convert --in "$F/hf" --out "$F/rt-f16.gguf" --dtype f16
"$LONGCTX" convert --in "$F/hf" --out "$F/rt-abf.gguf" --dtype f32 --rope abf:base=500000

IDS="$("$LONGCTX" tokenizer encode --model "$F/hf/tokenizer.model" --bos "$PROMPT")"
echo "token ids ($(wc -w <<<"$IDS")): $IDS"
for v in f32 f16 abf; do
  "$LONGCTX" generate --model "$F/rt-$v.gguf" --token-ids "$IDS" --max-tokens 0 \
      --dump-probs "$F/longctx-$v.json" >/dev/null
  node "$WORK/check.mjs" --model "$F/rt-$v.gguf" --ids "$IDS" --out "$F/llama-$v.json" \
      --kv-type F32 --flash-attention false
done
# llama.cpp's default context (f16 KV cache, CPU flash attention with f16 rounding inside):
node "$WORK/check.mjs" --model "$F/rt-f32.gguf" --ids "$IDS" --out "$F/llama-f32-default.json"
echo "# longctx vs llama.cpp (f32 KV cache, no flash attention), then llama.cpp's defaults:"
for v in f32 f16 abf; do
  python3 "$here/compare.py" "$F/longctx-$v.json" "$F/llama-$v.json"
done
python3 "$here/compare.py" "$F/longctx-f32.json" "$F/llama-f32-default.json"
echo "# the rope keys matter (ABF vs default, each engine):"
python3 "$here/compare.py" "$F/llama-f32.json" "$F/llama-abf.json"
python3 "$here/compare.py" "$F/longctx-f32.json" "$F/longctx-abf.json"
