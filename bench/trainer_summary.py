#!/usr/bin/env python3
"""Tables of bench/trainer.sh's results (results/trainer/*.jsonl) as markdown.

Trainer tokens/s: the median over each run's steps after the first (step 1 warms caches and
the thread pool, as train_step's --warmup 1). train_step: its own median over timed steps.
"""
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def load(path):
    runs = defaultdict(list)  # tag -> list of runs (each a list of lines)
    if not path.exists():
        return runs
    last_tag, current = None, None
    for line in path.read_text().splitlines():
        d = json.loads(line)
        tag = d["tag"]
        # A new run starts at step 1 (trainer) or with every train_step line.
        if tag != last_tag or d.get("step", 1) == 1 or d.get("bench") == "train_step":
            current = []
            runs[tag].append(current)
        current.append(d)
        last_tag = tag
    return runs


def trainer_rate(run):
    rates = [d["tokens_per_s"] for d in run if d.get("step", 0) >= 2 and "tokens_per_s" in d]
    return statistics.median(rates)


def rate(run):
    return run[0]["tokens_per_s"] if run[0].get("bench") == "train_step" else trainer_rate(run)


def cpu_rate(run):
    """Tokens per CPU-second (user + system of the process): robust to other processes."""
    if run[0].get("bench") == "train_step":
        return run[0].get("tokens_per_cpu_s", float("nan"))
    rates = [d["tokens_per_s"] * d["step_s"] / d["step_cpu_s"]
             for d in run if d.get("step", 0) >= 2 and "step_cpu_s" in d]
    return statistics.median(rates) if rates else float("nan")


def peak_rss(run):
    return max(d.get("peak_rss_bytes", 0) for d in run)


def main():
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/trainer")
    overhead = load(results / "overhead.jsonl")
    if overhead:
        print("### Trainer overhead: `longctx train` against the raw engine step\n")
        print("| config | T | measure | train_step (per round) | train, no mask | ratio | train, document mask | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for cfg, T in (("tiny", 1024), ("small", 2048)):
            ref_runs = overhead.get(f"train_step {cfg} {T}", [])
            if not ref_runs:
                continue
            for label, fn in (("tokens/s (wall)", rate), ("tokens/CPU-s", cpu_rate)):
                ref = [fn(r) for r in ref_runs]
                nomask = [fn(r) for r in overhead.get(f"train {cfg} {T} nomask", [])]
                mask = [fn(r) for r in overhead.get(f"train {cfg} {T} mask", [])]
                fmt = lambda xs: ", ".join(f"{x:.1f}" for x in xs)
                # Ratios per round (the runs of a round are back to back), then the median.
                r1 = statistics.median(a / b for a, b in zip(nomask, ref)) if nomask else float("nan")
                r2 = statistics.median(a / b for a, b in zip(mask, ref)) if mask else float("nan")
                print(f"| {cfg} | {T} | {label} | {fmt(ref)} | {fmt(nomask)} | {r1:.3f} | {fmt(mask)} | {r2:.3f} |")
        print()
    mpi = load(results / "mpi.jsonl")
    if mpi:
        print("### MPI: 2 ranks x 1 thread against 1 process x 2 threads (tiny, T=1024, 2048 tokens/step)\n")
        tags = sorted(mpi)
        print("| setup | tok/s per round | median |")
        print("|---|---|---|")
        med = {}
        for t in tags:
            xs = [rate(r) for r in mpi[t]]
            med[t] = statistics.median(xs)
            print(f"| {t} | {', '.join(f'{x:.1f}' for x in xs)} | {med[t]:.1f} |")
        two = [t for t in tags if t.startswith("2x")]
        one = [t for t in tags if t.startswith("1x")]
        if two and one:
            ratios = [rate(a) / rate(b) for a, b in zip(mpi[two[0]], mpi[one[0]])]
            print(f"\n2x1 / 1x2 per round: {', '.join(f'{r:.3f}' for r in ratios)} "
                  f"(median {statistics.median(ratios):.3f}; target >= 0.9)\n")
    pose = load(results / "pose.jsonl")
    if pose:
        print("### PoSE against full-length training (tiny)\n")
        print("| run | tok/s (median, steps >= 2) | peak RSS |")
        print("|---|---|---|")
        for t, runs in pose.items():
            print(f"| {t} | {trainer_rate(runs[0]):.1f} | {peak_rss(runs[0]) / 2**30:.2f} GiB |")
        print()


if __name__ == "__main__":
    main()
