#!/usr/bin/env python3
"""Tables for bench/gemm_engines.sh: own GEMM against BLAS (and BLIS) per shape (matmul_peak.json)
and the training step under each engine (train_step.jsonl, medians over rounds).

    python3 bench/gemm_summary.py bench/results/gemm
"""
import json
import statistics
import sys
from collections import defaultdict


def main(folder):
    peak = json.load(open(f"{folder}/matmul_peak.json"))
    plat = peak.get("platform", {})
    print(f"CPU: {plat.get('cpu_model', '?')}; SIMD target: {plat.get('simd_target', '?')}; "
          f"BLAS: {plat.get('blas', '?')} (core {plat.get('blas_core', '?')}); build: {plat.get('build', '?')}")
    print(f"FMA ceiling measured {peak['fma_peak_gflops']:.1f} GF/s, theoretical "
          f"{peak['theoretical_peak_gflops']:.1f} GF/s ({peak['flop_per_cycle_per_core']:.0f} FLOP/cycle/core x "
          f"{peak['clock_ghz']:.3f} GHz x {peak['threads']} threads)")
    rows = peak["results"]
    engines = ["own", "blas"] + (["blis"] if rows and "blis_best_gflops" in rows[0] else [])
    bf16 = bool(rows) and "own-bf16_best_gflops" in rows[0]
    blis = peak.get("blis", {})
    if blis.get("loaded"):
        print(f"BLIS {blis.get('version', '?')} (configuration {blis.get('config', '?')}), loaded from {blis.get('path')}")
    ratios, vs_best = [], []
    head = " | ".join(f"{e} GF/s" for e in engines)
    bf16_head = " own-bf16 GF/s | bf16/own |" if bf16 else ""
    print(f"\n| shape | m | n | k | tA | tB | {head} | own/BLAS | own/best | own/FMA |{bf16_head}")
    print("|---|---|---|---|---|---|" + "---|" * len(engines) + "---|---|---|" + ("---|---|" if bf16 else ""))
    for r in rows:
        rates = [r[f"{e}_best_gflops"] for e in engines]
        q, b = rates[0] / rates[1], rates[0] / max(rates)
        ratios.append(q)
        vs_best.append(b)
        cells = " | ".join(f"{x:.1f}" for x in rates)
        print(f"| {r['shape']} | {r['m']} | {r['n']} | {r['k']} | {int(r['trans_a'])} | {int(r['trans_b'])} | "
              f"{cells} | {q:.2f} | {b:.2f} | {100 * rates[0] / peak['fma_peak_gflops']:.0f}% |" +
              (f" {r['own-bf16_best_gflops']:.1f} | {r['own-bf16_best_gflops'] / rates[0]:.2f} |" if bf16 else ""))
    print(f"\nown/BLAS over {len(rows)} shapes: min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, "
          f"max {max(ratios):.2f}; own/best (best of {', '.join(engines)}): min {min(vs_best):.2f}, "
          f"median {statistics.median(vs_best):.2f}; best square " +
          ", ".join(f"{e} {peak.get(f'peak_{e}_gflops', 0):.1f}" for e in engines) +
          (f", own-bf16 {peak.get('peak_own_bf16_gflops', 0):.1f} ({peak.get('bf16_method', '?')})" if bf16 else ""))

    try:
        hsw = json.load(open(f"{folder}/matmul_peak-openblas-haswell.json"))
        print("\nOpenBLAS forced to its AVX2 kernel (OPENBLAS_CORETYPE=Haswell), same shapes:\n")
        print("| shape | own GF/s | BLAS (Haswell) GF/s | own/BLAS |")
        print("|---|---|---|---|")
        for r in hsw["results"]:
            print(f"| {r['shape']} | {r['own_best_gflops']:.1f} | {r['blas_best_gflops']:.1f} | "
                  f"{r['own_best_gflops'] / r['blas_best_gflops']:.2f} |")
    except FileNotFoundError:
        pass

    try:
        steps = [json.loads(l) for l in open(f"{folder}/train_step.jsonl") if l.strip()]
    except FileNotFoundError:
        return
    by = defaultdict(list)
    for s in steps:
        if "error" in s:
            continue
        v = s["matmul_engine"] + ("-bf16" if s.get("matmul_precision") == "bf16" else "")
        by[(s["config"], s["seq"], v)].append(s)
    print("\n| config | T | engine | tok/s (median) | rounds | MFU vs best GEMM | MFU vs FMA ceiling | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|")
    keys = sorted({(c, t) for c, t, _ in by})
    for c, t in keys:
        med = {}
        for e in ("own", "blas", "own-bf16"):
            v = by.get((c, t, e), [])
            if not v:
                continue
            med[e] = statistics.median(x["tokens_per_s"] for x in v)
            print(f"| {c} | {t} | {e} | {med[e]:.1f} | {len(v)} | "
                  f"{100 * statistics.median(x['mfu'] for x in v):.1f}% | "
                  f"{100 * statistics.median(x['mfu_vs_fma_peak'] for x in v):.1f}% | "
                  f"{max(x['peak_rss_bytes'] for x in v) / 2**30:.2f} |")
        if "own" in med and "blas" in med:
            print(f"| {c} | {t} | own/blas | **{med['own'] / med['blas']:.2f}x** | | | | |")
        if "own" in med and "own-bf16" in med:
            print(f"| {c} | {t} | own-bf16/own | **{med['own-bf16'] / med['own']:.2f}x** | | | | |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/gemm")
