#!/usr/bin/env bash
# Inference speed and memory of longctx against llama.cpp on the same GGUF file, alternated in
# one invocation (the machine may be shared: only same-round ratios mean anything).
#
# For every length N of LENGTHS, in every round:
#   longctx   `generate --token-ids-file` with exactly N prompt tokens and --max-tokens N_GEN:
#             its "prefill:" line is the prefill of N tokens, its "decode:" line the N_GEN tokens
#             generated with N already in the KV cache; /usr/bin/time gives the process's peak RSS.
#   llama.cpp `llama-bench -p N -n 0` (prefill of N, its defaults: batch 2048, ubatch 512,
#             flash attention auto) and `llama-bench -p 0 -n N_GEN -d N` (cache filled to depth N,
#             then N_GEN generated), one repetition each, each under /usr/bin/time.
# and once per round a start-up row: the whole process for a 1-token prompt and 1 generated token
# (longctx generate against llama-bench -p 1 -n 1 --no-warmup), wall time and peak RSS.
# Both sides: 2 threads (THREADS); KV cache types KV=LONGCTX[:LLAMACPP] (below): the default
# f32 runs longctx's f32 cache against llama.cpp's default f16; bf16:f16 each one's 16-bit
# cache (llama.cpp's bf16 cache is its slow path on CPUs without AVX512_BF16); q8_0 both.
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin bench/inference_vs_llamacpp.sh MODEL.gguf TOKENIZER.model \
#       TEXT "1024 8192 32768" [ROUNDS] >> results.jsonl
# stdout: one JSON line per measurement (bench/inference_summary.py makes the table); stderr: progress.
# Environment: N_GEN (64), KV (f32), THREADS (2), LONGCTX (build/release/longctx),
#              OMP_WAIT_POLICY (PASSIVE; "default": unset), DECODE_MAX (decode rows only for N <= this; default: all),
#              LLAMA_TESTS ("prefill decode"; "decode" skips llama.cpp's prefill row: llama-bench's warm-up
#              repeats the whole prefill, which at 32k on small costs it 26 minutes, and its decode row
#              fills the cache to depth N on its own; longctx's prefill is still measured, it fills the cache).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,27p' "$0" >&2; exit 2; }
model=$1 spm=$2 text=$3 lengths=$4 rounds=${5:-1}
n_gen=${N_GEN:-64} threads=${THREADS:-2} decode_max=${DECODE_MAX:-1000000000}
# KV=LONGCTX_TYPE[:LLAMACPP_TYPE]; without the second part: f32 -> f16 (llama-bench has no f32
# cache), bf16 -> bf16, q8_0 -> q8_0. KV=bf16:f16 compares each engine's 16-bit cache.
KV=${KV:-f32}
lc_kv=${KV%%:*}
case $KV in
  *:*) ll_kv=${KV#*:} ;;
  f32) ll_kv=f16 ;;
  *) ll_kv=$lc_kv ;;
esac
case $lc_kv in f32 | bf16 | q8_0) ;; *) echo "KV: longctx type must be f32, bf16 or q8_0, got '$lc_kv'" >&2; exit 2 ;; esac
case $ll_kv in f16 | bf16 | q8_0 | f32) ;; *) echo "KV: llama.cpp type must be f16, bf16 or q8_0, got '$ll_kv'" >&2; exit 2 ;; esac
longctx=${LONGCTX:-build/release/longctx}
case ${LLAMA_TESTS:-prefill decode} in
  "prefill decode" | "decode prefill") llama_prefill=1 ;;
  decode) llama_prefill=0 ;;
  *) echo "LLAMA_TESTS: \"prefill decode\" or \"decode\", got '$LLAMA_TESTS'" >&2; exit 2 ;;
esac
: "${LLAMA_BIN:?set LLAMA_BIN to the llama.cpp build/bin folder (llama-bench)}"
for f in "$model" "$spm" "$text" "$longctx" "$LLAMA_BIN/llama-bench"; do
  [ -e "$f" ] || { echo "not found: $f" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed (apt-get install time)" >&2; exit 2; }
# PASSIVE by default (a shared machine: spinning workers of one engine starve the other);
# OMP_WAIT_POLICY=default runs both with OpenMP's own default (spin a while, then sleep).
policy=${OMP_WAIT_POLICY:-PASSIVE}
if [ "$policy" = default ]; then unset OMP_WAIT_POLICY; else export OMP_WAIT_POLICY=$policy; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/tag_jsonl.py" --machine "$here/.."
echo "# $(date -u +%FT%TZ) $model, KV longctx $lc_kv / llama.cpp $ll_kv, $threads threads, OMP_WAIT_POLICY $policy, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# Token ids of the text: encoded in pieces of at most 60 kB (one command-line argument each);
# the ids at the seams may differ from a whole-text encoding, which does not matter for speed.
split -C 60000 "$text" "$tmp/piece."
bos=--bos
for p in "$tmp"/piece.*; do
  "$longctx" tokenizer encode --model "$spm" $bos "$(cat "$p")" | tr ' ' '\n' >> "$tmp/all"
  bos=
done

# emit KEY=VALUE... : one JSON line with the common fields
emit() {
  python3 - "$@" <<'EOF'
import json, sys
row = {"bench": "inference", "model": sys.argv[1]}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    try:
        row[k] = json.loads(v) if v != "" else None
    except ValueError:
        row[k] = v
print(json.dumps(row))
EOF
}
# peak RSS (bytes) and wall seconds from a /usr/bin/time -f '%M %e' file
rss_of() { awk '{printf "%d", $1 * 1024}' "$1"; }
wall_of() { awk '{print $2}' "$1"; }
# tokens/s of the last llama-bench jsonl row on stdin
llama_ts() { python3 -c 'import json,sys
rows=[json.loads(l) for l in sys.stdin if l.startswith("{")]
print("%.3f" % rows[-1]["avg_ts"]) if rows else print("null")'; }
llama() { LD_LIBRARY_PATH="$LLAMA_BIN" /usr/bin/time -f '%M %e' -o "$tmp/time" \
            "$LLAMA_BIN/llama-bench" -m "$model" -t "$threads" -r 1 -ctk "$ll_kv" -ctv "$ll_kv" -o jsonl "$@" 2>/dev/null; }
lc_generate() {  # ids-file max-tokens ctx -> stderr lines of longctx in $tmp/lc
  /usr/bin/time -f '%M %e' -o "$tmp/time" "$longctx" --threads "$threads" generate --model "$model" \
    --token-ids-file "$1" --max-tokens "$2" --ctx "$3" --kv-type "$lc_kv" 2> "$tmp/lc" > /dev/null
}
num() { sed -n "s/^$1: .* = \([0-9.]*\) tokens\/s.*/\1/p" "$tmp/lc"; }

common=("kv_longctx=$lc_kv" "kv_llamacpp=$ll_kv" "threads=$threads" "n_gen=$n_gen" "omp_wait_policy=$policy")
for r in $(seq "$rounds"); do
  # start-up: whole process, 1-token prompt, 1 token generated
  head -n 1 "$tmp/all" > "$tmp/ids"
  lc_generate "$tmp/ids" 1 64
  emit "$model" engine=longctx test=startup round="$r" "${common[@]}" \
    "wall_s=$(wall_of "$tmp/time")" "peak_rss_bytes=$(rss_of "$tmp/time")" \
    "open_s=$(sed -n 's/.*opened in \([0-9.]*\) s.*/\1/p' "$tmp/lc")"
  llama -p 1 -n 1 --no-warmup > /dev/null
  emit "$model" engine=llama.cpp test=startup round="$r" "${common[@]}" \
    "wall_s=$(wall_of "$tmp/time")" "peak_rss_bytes=$(rss_of "$tmp/time")"
  echo "round $r start-up done" >&2
  for n in $lengths; do
    head -n "$n" "$tmp/all" > "$tmp/ids"
    [ "$(wc -l < "$tmp/ids")" -eq "$n" ] || { echo "$text gives fewer than $n tokens" >&2; exit 2; }
    gen=$n_gen
    [ "$n" -le "$decode_max" ] || gen=0
    lc_generate "$tmp/ids" "$gen" $((n + n_gen + 8))
    # (generation may stop at EOS before N_GEN tokens: the rate is over the tokens made)
    emit "$model" engine=longctx test=prefill+decode round="$r" n="$n" "${common[@]}" \
      "prefill_tps=$(num prefill)" "decode_tps=$(num decode)" \
      "wall_s=$(wall_of "$tmp/time")" "peak_rss_bytes=$(rss_of "$tmp/time")" \
      "kv_line=$(grep '^KV cache:' "$tmp/lc" || true)"
    echo "round $r n $n longctx: $(grep -E '^(prefill|decode):' "$tmp/lc" | tr '\n' ' ')" >&2
    if [ "$llama_prefill" = 1 ]; then
      ts=$(llama -p "$n" -n 0 | llama_ts)
      emit "$model" engine=llama.cpp test=prefill round="$r" n="$n" "${common[@]}" "prefill_tps=$ts" \
        "wall_s=$(wall_of "$tmp/time")" "peak_rss_bytes=$(rss_of "$tmp/time")"
      echo "round $r n $n llama.cpp prefill $ts tokens/s" >&2
    fi
    if [ "$gen" -gt 0 ]; then
      ts=$(llama -p 0 -n "$n_gen" -d "$n" | llama_ts)
      emit "$model" engine=llama.cpp test=decode round="$r" n="$n" "${common[@]}" "decode_tps=$ts" \
        "wall_s=$(wall_of "$tmp/time")" "peak_rss_bytes=$(rss_of "$tmp/time")"
      echo "round $r n $n llama.cpp decode at depth $n: $ts tokens/s" >&2
    fi
  done
done
