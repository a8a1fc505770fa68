#!/usr/bin/env bash
# Perplexity cross-check against llama.cpp's own `llama-perplexity` (issue 10): the same GGUF
# and text through `longctx eval ppl --mode llamacpp` (llama-perplexity's chunking rules,
# docs/eval.md) and through llama-perplexity, built from the llama.cpp source that the npm
# package node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle, the
# release its prebuilt binaries are made from). Nothing of it enters this repository.
#
# usage: experiments/llamacpp_check/perplexity.sh [LONGCTX_BINARY]   (default build/release/longctx)
# env:   WORK (default /tmp/llamacpp-check: node-llama-cpp, the llama.cpp build, the files)
#        MODEL (default the shared stories260K-f32.gguf), TEXT (default the shared pg11.txt),
#        THREADS (2)
# Needs node >= 20, npm with registry access, cmake and a C++ compiler.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
LONGCTX="$(realpath "${1:-build/release/longctx}")"
WORK="${WORK:-/tmp/llamacpp-check}"
MODEL="${MODEL:-$here/../../../shared/data/models/stories260K-f32.gguf}"
TEXT="${TEXT:-$here/../../../shared/data/text/pg11.txt}"
THREADS="${THREADS:-2}"
NLC_VERSION=3.21.1

mkdir -p "$WORK/files"
if [ ! -d "$WORK/node_modules/node-llama-cpp" ]; then
  (cd "$WORK" && { [ -f package.json ] || npm init -y >/dev/null; } && npm i -E "node-llama-cpp@$NLC_VERSION")
fi
SRC="$WORK/llama.cpp-src"
if [ ! -x "$SRC/build/bin/llama-perplexity" ]; then
  rm -rf "$SRC"
  git clone -q "$WORK/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$SRC"
  cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
        -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null
  cmake --build "$SRC/build" --target llama-perplexity -j"$THREADS" >/dev/null
fi
PPL="$SRC/build/bin/llama-perplexity"
F="$WORK/files"

# llama.cpp reads GGUF v3 (stories260K-f32.gguf is v1): convert with longctx. Both engines
# then read the same file; the text loses its CRs (longctx's reader normalises line ends,
# llama.cpp reads bytes), so both see the same characters.
"$LONGCTX" convert --in "$MODEL" --out "$F/model-v3.gguf" --dtype f32 >/dev/null
tr -d '\r' < "$TEXT" > "$F/text.txt"

estimate() { grep -o 'Final estimate: PPL = [0-9.]* +/- [0-9.]*' | head -1; }
# One comparison: a name, llama-perplexity flags, longctx flags.
check() {
  local name="$1" lflags="$2" xflags="$3"
  local a b
  a="$("$PPL" -m "$F/model-v3.gguf" -f "$F/text.txt" -t "$THREADS" $lflags 2>&1 | tee "$F/llama-$name.log" | estimate)"
  b="$("$LONGCTX" --threads "$THREADS" eval ppl --model "$F/model-v3.gguf" --text "$F/text.txt" \
        --mode llamacpp $xflags -o "$F/longctx-$name" 2>&1 | tee "$F/longctx-$name.log" | estimate)"
  echo "$name"
  echo "  llama-perplexity: $a"
  echo "  longctx:          $b"
  grep -o 'tokenizes to only [0-9]* tokens\|have [0-9]* tokens\|calculating perplexity over [0-9]* chunks' \
      "$F/llama-$name.log" | sed 's/^/  llama.cpp: /' || true
  grep -o '([0-9]* chunks of [0-9]*, [0-9]* tokens)' "$F/longctx-$name.log" | sed 's/^/  longctx: /' || true
}
echo "# llama.cpp $(git -C "$SRC" log -1 --format=%h) from node-llama-cpp $NLC_VERSION's bundled source; $(basename "$MODEL"); $(basename "$TEXT")"
# All-f32 path (f32 KV cache, no flash attention), then llama.cpp's defaults (f16 KV cache).
check "ctx512-f32" "-c 512 -ctk f32 -ctv f32 -fa off" "--ctx 512"
check "ctx512-defaults" "-c 512" "--ctx 512"
check "ctx128-f32" "-c 128 -ctk f32 -ctv f32 -fa off" "--ctx 128"
# Past the trained length with linear position interpolation (llama.cpp: --rope-scaling
# linear --rope-scale 8; longctx: --rope linear:factor=8), and with ABF's base.
check "ctx4096-linear8-f32" "-c 4096 -ctk f32 -ctv f32 -fa off --rope-scaling linear --rope-scale 8" \
      "--ctx 4096 --rope linear:factor=8"
check "ctx2048-base500k-f32" "-c 2048 -ctk f32 -ctv f32 -fa off --rope-freq-base 500000" \
      "--ctx 2048 --rope abf:base=500000"
