#!/usr/bin/env python3
"""Summarises bench/dispatch_vs_native.sh's JSON lines: per measurement, the median over
rounds for each build and the ratio dispatched / native (>= 0.97 is issue 8's bar)."""
import json
import statistics
import sys
from collections import defaultdict


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    values = defaultdict(lambda: defaultdict(list))
    platform = {}
    for r in rows:
        b = r["build"]
        platform[b] = r["platform"]
        if r["bench"] == "train_step":
            values[f"train_step {r['config']} T={r['seq']} tokens/s"][b].append(r["tokens_per_s"])
        elif r["bench"] == "attention":
            name = f"attention T={r['T']} H={r['H']} Hkv={r['Hkv']} D={r['D']}"
            values[name + " fwd GFLOP/s"][b].append(r["forward_gflops"])
            values[name + " bwd GFLOP/s"][b].append(r["backward_gflops"])
    for b, p in platform.items():
        print(f"{b}: SIMD target {p['simd_target']} (compiled {' '.join(p['simd_compiled'])}), "
              f"{p['build']}, {p['blas']} kernel {p['blas_core']}, CPU {p['cpu_model']}")
    print(f"{'measurement':<52} {'dispatch':>10} {'native':>10} {'ratio':>7}  rounds")
    worst = None
    for name, by_build in values.items():
        d = statistics.median(by_build["dispatch"])
        n = statistics.median(by_build["native"])
        ratio = d / n
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{name:<52} {d:>10.1f} {n:>10.1f} {ratio:>7.3f}  {len(by_build['dispatch'])}")
    print(f"lowest ratio: {worst:.3f} (bar: 0.97)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/dispatch_vs_native.jsonl")
