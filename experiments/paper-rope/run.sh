#!/usr/bin/env bash
# The LLaMA 2 Long position-encoding comparison at small scale (issue 12), one script:
#   1. base: a tiny model pretrained from scratch on the default corpus at SHORT tokens, in two
#      stages, with synthetic passkey and first-sentence sequences mixed in (meant to let the
#      base retrieve within its window as LLaMA 2 can within 4k; at this budget it does not);
#   2. extend: copies of it continued on the corpus text at LONG = FACTOR x SHORT tokens with
#      equal token budgets under every row of variants.tsv (RoPE, PI, ABF, xPos-ABF, YaRN, NTK,
#      PoSE-ABF);
#   3. seeds: the headline rows (RoPE, PI, ABF) again with other data-order seeds;
#   4. curriculum: from scratch with the same total tokens, long windows from the start against
#      short-to-long switches at 20%, 40% and 80% of the steps (FLOPs spent vs quality);
#   5. eval: perplexity against length to 2x past LONG (per-position curves, LongPPL), the base
#      under training-free PI, NTK, dynamic NTK and YaRN, first-sentence retrieval (ROUGE-L)
#      and passkey against length;
#   6. summary tables (summarize.py) and one HTML report.
#
#   experiments/paper-rope/run.sh [PHASES]     PHASES: comma list of base,extend,seeds,
#                                               curriculum,eval,summary (default: all)
# Every phase resumes: a finished run folder is skipped, an interrupted one continues from its
# last checkpoint. Environment (defaults in brackets): BUILD_DIR [build/release], CORPUS
# [data/default], OUT [runs/paper-rope], THREADS [2], SHORT [256], FACTOR [8], BASE_STEPS [300],
# BASE2_STEPS [500], EXT_STEPS [24], CURR_STEPS [100], SEEDS [1 2 3], EVAL_SAMPLES [4], FSR_COUNT [8].
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${BUILD_DIR:-$root/build/release}/longctx"
corpus="${CORPUS:-$root/data/default}"
out="${OUT:-$root/runs/paper-rope}"
threads="${THREADS:-2}"
short="${SHORT:-256}"
factor="${FACTOR:-8}"
long=$((short * factor))
eval_max=$((long * 2))
base_steps="${BASE_STEPS:-300}"
base2_steps="${BASE2_STEPS:-500}"
ext_steps="${EXT_STEPS:-24}"
curr_steps="${CURR_STEPS:-100}"
seeds=(${SEEDS:-1 2 3})
samples="${EVAL_SAMPLES:-4}"
fsr_count="${FSR_COUNT:-8}"
phases=",${1:-base,extend,seeds,curriculum,eval,summary},"
# Idle OpenMP threads sleep instead of spinning (the machine may be shared).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
mkdir -p "$out"
log() { echo "== paper-rope: $* ($(date +%T))" | tee -a "$out/timeline.txt"; }
want() { [[ "$phases" == *",$1,"* ]]; }
done_run() { [ -f "$1/final/config.json" ]; }
timed() {  # timed NAME CMD...: runs CMD, appends "NAME seconds" to timings.tsv
  local name="$1" t0; shift; t0=$(date +%s)
  "$@"
  printf '%s\t%d\n' "$name" $(($(date +%s) - t0)) >> "$out/timings.tsv"
}
lengths() {  # powers of two from $1 to $2, as a comma list
  local l="$1" s=""; while [ "$l" -le "$2" ]; do s="$s${s:+,}$l"; l=$((l * 2)); done; echo "$s"
}
[ -f "$corpus/dataset.json" ] || "$bin" --threads "$threads" data default -o "$corpus"

# The base in two stages at T=SHORT (what the run of experiments/paper-rope/README.md did):
# 300 steps of 4096 tokens with 30% synthetic passkey / first-sentence sequences, then 500 more
# steps of 2048 tokens with 50% of them, the same RoPE (a second cosine cycle; `extend
# --rope default` keeps the encoding and starts a fresh optimizer).
if want base && ! done_run "$out/base-stage1"; then
  log "base, stage 1: tiny from scratch at T=$short, $base_steps steps of 4096 tokens"
  timed base-stage1 "$bin" train --model-config tiny --data "$corpus" --seq "$short" \
    --batch-tokens 4096 --steps "$base_steps" --lr 1e-3 --warmup 30 --eval-every 50 \
    --eval-batches 8 --save-every 100 --task-share 0.3 --threads "$threads" --out "$out/base-stage1"
fi
if want base && ! done_run "$out/base"; then
  log "base, stage 2: $base2_steps more steps of 2048 tokens at T=$short, 50% synthetic tasks"
  timed base "$bin" extend --from "$out/base-stage1" --rope default --seq "$short" \
    --data "$corpus" --steps "$base2_steps" --batch-tokens 2048 --lr 1e-3 --warmup 10 \
    --eval-every 100 --eval-batches 8 --save-every 100 --task-share 0.5 --threads "$threads" \
    --out "$out/base"
fi

extend_row() {  # extend_row NAME SEED: one row of variants.tsv continued from the base
  local name="$1" seed="$2" rope flags dir
  IFS=$'\t' read -r _ rope flags < <(grep -P "^$name\t" "$here/variants.tsv")
  rope="${rope//FACTOR/$factor}"; rope="${rope//SHORT/$short}"
  flags="${flags//LONG/$long}"; flags="${flags//SHORT/$short}"
  dir="$out/extend/$name-s$seed"
  done_run "$dir" && return 0
  log "extend $name (seed $seed): --rope $rope $flags, $ext_steps steps of $((long * 4)) tokens"
  # shellcheck disable=SC2086  # flags are words by design
  timed "extend-$name-s$seed" "$bin" extend --from "$out/base" --rope "$rope" $flags \
    --data "$corpus" --steps "$ext_steps" --batch-tokens $((long * 4)) --lr 3e-4 --warmup 4 \
    --eval-every "$ext_steps" --eval-batches 4 --save-every "$ext_steps" \
    --seed "$seed" --threads "$threads" --out "$dir"
}
variants=($(grep -v '^#' "$here/variants.tsv" | cut -f1))
headline=(rope pi abf)
if want extend; then for v in "${variants[@]}"; do extend_row "$v" "${seeds[0]}"; done; fi
if want seeds; then
  for s in "${seeds[@]:1}"; do for v in "${headline[@]}"; do extend_row "$v" "$s"; done; done
fi

if want curriculum; then
  # Same total tokens (curr_steps x 4096) and schedule; ABF (base 500000) throughout.
  for share in 0 0.2 0.4 0.8; do
    dir="$out/curriculum/switch-$share"
    done_run "$dir" && continue
    flags=(); [ "$share" = 0 ] || flags=(--short-seq "$short" --short-share "$share")
    if [ "$share" = 0 ]; then log "curriculum: window $long from the start"
    else log "curriculum: window $short for $share of the steps, then $long"; fi
    timed "curriculum-$share" "$bin" train --model-config tiny --rope abf:base=500000 \
      --data "$corpus" --seq "$long" "${flags[@]}" --batch-tokens 4096 --steps "$curr_steps" \
      --lr 1e-3 --warmup 30 --eval-every 50 --eval-batches 4 --save-every 50 \
      --threads "$threads" --out "$dir"
  done
fi

fsr_text() {  # long Debian documents for first-sentence retrieval (linux-doc; most sit in the
              # corpus's training split, so the models may have seen them once)
  local d="$out/fsr-text"; mkdir -p "$d"
  local docs=/usr/share/doc/linux-doc-6.1/Documentation
  for f in networking/bonding trace/ftrace networking/ip-sysctl admin-guide/cgroup-v2 \
           filesystems/proc filesystems/vfs filesystems/path-lookup sound/alsa-configuration; do
    [ -f "$d/${f//\//-}.rst" ] || zcat "$docs/$f.rst.gz" > "$d/${f//\//-}.rst"
  done
  echo "$d"
}

if want eval; then
  ev="$out/eval"; mkdir -p "$ev"
  fresh() { [ ! -f "$ev/$1/$2.json" ]; }  # fresh DIR TASK: that evaluation has not run yet
  lens="$(lengths "$short" "$eval_max")"
  ext1=(); for v in "${variants[@]}"; do ext1+=(--model "$out/extend/$v-s${seeds[0]}"); done
  fresh ppl-base ppl && log "eval: base under training-free scalings, perplexity to $eval_max"
  fresh ppl-base ppl && timed eval-base "$bin" --threads "$threads" eval ppl --model "$out/base" --rope model \
    --rope "linear:factor=$factor" --rope "ntk:factor=$factor" \
    --rope "dynamic:factor=$factor,original=$short" --rope "yarn:factor=$factor,original=$short" \
    --lengths "$lens" --data "$corpus" --samples "$samples" --longppl-window "$short" \
    -o "$ev/ppl-base"
  fresh ppl-extended ppl && log "eval: continued models, perplexity to $eval_max against the base"
  fresh ppl-extended ppl && timed eval-extended "$bin" --threads "$threads" eval ppl "${ext1[@]}" --baseline "$out/base" \
    --lengths "$lens" --data "$corpus" --samples "$samples" --longppl-window "$short" \
    -o "$ev/ppl-extended"
  text="$(fsr_text)"
  fresh fsr fsr && log "eval: first-sentence retrieval"
  fresh fsr fsr && timed eval-fsr "$bin" --threads "$threads" eval fsr --model "$out/base" "${ext1[@]}" \
    --lengths "$lens" --text "$text" --count "$fsr_count" -o "$ev/fsr"
  fresh fsr-base fsr && log "eval: training-free scalings of the base, first-sentence retrieval"
  fresh fsr-base fsr && timed eval-fsr-base "$bin" --threads "$threads" eval fsr --model "$out/base" \
    --rope "linear:factor=$factor" --rope "ntk:factor=$factor" \
    --rope "dynamic:factor=$factor,original=$short" --rope "yarn:factor=$factor,original=$short" \
    --lengths "$lens" --text "$text" --count "$fsr_count" -o "$ev/fsr-base"
  fresh passkey passkey && log "eval: passkey"
  fresh passkey passkey && timed eval-passkey "$bin" --threads "$threads" eval passkey --model "$out/base" "${ext1[@]}" \
    --lengths "$lens" --depths 0,0.5,1 --count 2 -o "$ev/passkey"
  if [ "${#seeds[@]}" -gt 1 ] && [ -d "$out/extend/abf-s${seeds[1]}" ]; then
    sm=(); for s in "${seeds[@]}"; do for v in "${headline[@]}"; do
      sm+=(--model "$out/extend/$v-s$s"); done; done
    # Perplexity only: first-sentence retrieval scores are at noise level for every row at this
    # scale (README), so they cannot separate seeds or curricula.
    fresh ppl-seeds ppl && log "eval: seeds of the headline rows"
    fresh ppl-seeds ppl && timed eval-seeds-ppl "$bin" --threads "$threads" eval ppl "${sm[@]}" --lengths "$lens" \
      --data "$corpus" --samples "$samples" --no-longppl -o "$ev/ppl-seeds"
  fi
  if [ -d "$out/curriculum/switch-0.8/final" ]; then
    cm=(); for s in 0 0.2 0.4 0.8; do cm+=(--model "$out/curriculum/switch-$s"); done
    fresh ppl-curriculum ppl && log "eval: curriculum"
    fresh ppl-curriculum ppl && timed eval-curriculum-ppl "$bin" --threads "$threads" eval ppl "${cm[@]}" --lengths "$lens" \
      --data "$corpus" --samples "$samples" --no-longppl -o "$ev/ppl-curriculum"
  fi
fi

if want summary; then
  log "summary tables and report"
  python3 "$here/summarize.py" "$out" "$here/results"
  dirs=(); for d in ppl-base ppl-extended fsr fsr-base passkey ppl-seeds fsr-seeds ppl-curriculum \
                    fsr-curriculum; do [ -d "$out/eval/$d" ] && dirs+=("$out/eval/$d"); done
  "$bin" report "${dirs[@]}" -o "$out/report.html" \
    --title "longctx: the LLaMA 2 Long position-encoding comparison at small scale"
  cp "$out/report.html" "$here/results/report.html"
  log "report: $out/report.html (copied to experiments/paper-rope/results/)"
fi
