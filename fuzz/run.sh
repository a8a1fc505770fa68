#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# outside the CMake build and runs each one for a while.
# Usage: fuzz/run.sh [seconds per target, default 120] [work folder, default build/fuzz]
# Prints executions and findings per target; crash inputs stay in the work folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-120}"
work="${2:-$root/build/fuzz}"
CXX="${CXX:-clang++}"
mkdir -p "$work/obj"
common=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
        -fno-sanitize-recover=undefined -I"$root/src")
# The code under test, instrumented for coverage; nothing from the CMake build is reused.
sources=(core/error.cpp core/tensor.cpp core/buffer.cpp
         io/mapped_file.cpp io/float_formats.cpp io/gguf.cpp io/gguf_write.cpp io/safetensors.cpp
         io/sentencepiece_proto.cpp io/gguf_vocab.cpp io/tokenizer.cpp io/hf_config.cpp io/model_io.cpp
         rope/rope_spec.cpp rope/rope_frequencies.cpp rope/rope_hf.cpp rope/rope_gguf.cpp
         model/config.cpp model/parameters.cpp)
objs=()
for s in "${sources[@]}"; do
  o="$work/obj/$(echo "$s" | tr / _).o"
  if [ ! -f "$o" ] || [ "$root/src/$s" -nt "$o" ]; then
    "$CXX" "${common[@]}" -fsanitize=fuzzer-no-link -c "$root/src/$s" -o "$o"
  fi
  objs+=("$o")
done
libs=(-lsentencepiece)
"$CXX" "${common[@]}" -fsanitize=fuzzer-no-link "$root/fuzz/make_seeds.cpp" "${objs[@]}" "${libs[@]}" \
  -o "$work/make_seeds"
"$work/make_seeds" "$work/corpus"
mkdir -p "$work/corpus/hf_config"
cp "$root"/fuzz/seeds/hf_config/*.json "$work/corpus/hf_config/"

status=0
for target in gguf safetensors hf_config sp_proto; do
  "$CXX" "${common[@]}" -fsanitize=fuzzer "$root/fuzz/fuzz_$target.cpp" "${objs[@]}" "${libs[@]}" \
    -o "$work/fuzz_$target"
  mkdir -p "$work/corpus/$target" "$work/findings/$target"
  log="$work/fuzz_$target.log"
  set +e
  (cd "$work/findings/$target" && ASAN_OPTIONS=allocator_may_return_null=1 \
    "$work/fuzz_$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 \
    -timeout=10 -print_final_stats=1 "$work/corpus/$target" >"$log" 2>&1)
  rc=$?
  set -e
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
  [ -z "$execs" ] && execs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  if [ "$rc" -eq 0 ]; then
    echo "fuzz_$target: ${execs:-?} executions in ${secs}s, clean"
  else
    echo "fuzz_$target: FINDING after ${execs:-?} executions (exit $rc); see $log and $work/findings/$target"
    status=1
  fi
done
exit "$status"
