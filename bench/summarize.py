#!/usr/bin/python3
"""Turns bench/results/*.json[l] (written by bench/run.sh) into the markdown tables
of bench/README.md, with issue 2's targets marked met or missed (and by how much).

  summarize.py [results_dir]
"""
import json
import os
import sys

GIB = 2**30
# PyTorch eager tokens/s on this 2-core machine when it is otherwise idle (issue 2).
# Eager PyTorch slows down far more than longctx when other processes load the cores
# (many small 2-thread OpenMP regions), which inflates same-run ratios on a busy machine.
QUIET_PYTORCH = {"tiny": 720, "small": 78}


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip().startswith("{")]


def fmt_gib(b):
    return f"{b / GIB:.2f} GiB"


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "results")
    out = []
    machine = load(os.path.join(d, "machine.json"))
    if machine:
        m = machine[0]
        out.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['mem_total_kb'] / 2**20:.1f} GiB; "
                   f"{m['threads']} threads; torch {m['torch']}; commit {m['commit']}; {m['date']}; "
                   f"load average at start {m['loadavg_at_start']}.\n")
    p = os.path.join(d, "matmul_peak.json")  # one indented JSON object
    peak = [json.load(open(p))] if os.path.exists(p) else []
    if peak:
        out.append(f"sgemm peak (matmul_peak, best square): **{peak[0]['peak_gflops']:.1f} GFLOP/s**\n")
        out.append("| shape | m | n | k | best GFLOP/s |\n|---|---|---|---|---|")
        for r in peak[0]["results"]:
            out.append(f"| {r['shape']} | {r['m']} | {r['n']} | {r['k']} | {r['best_gflops']:.1f} |")
        out.append("")

    speed = load(os.path.join(d, "speed.jsonl"))
    targets = []
    if speed:
        out.append("Training-step speed (B=1, forward+backward+AdamW; rounds alternate longctx and "
                   "PyTorch so each ratio is taken under the same load):\n")
        out.append("| round | config | T | longctx tok/s | MFU | peak GF/s | PyTorch tok/s | ratio |"
                   "\n|---|---|---|---|---|---|---|---|")
        rounds = {}
        for r in speed:
            key = (r["config"], r["seq"])
            rounds.setdefault(key, {"longctx": [], "pytorch-eager": []})[r["impl"]].append(r)
        ratios = {}
        for key, v in rounds.items():
            for i, (a, b) in enumerate(zip(v["longctx"], v["pytorch-eager"])):
                ratio = a["tokens_per_s"] / b["tokens_per_s"]
                ratios.setdefault(key, []).append((ratio, a["mfu"]))
                out.append(f"| {i + 1} | {key[0]} | {key[1]} | {a['tokens_per_s']:.1f} | "
                           f"{100 * a['mfu']:.1f}% | {a['peak_gflops']:.1f} | "
                           f"{b['tokens_per_s']:.1f} | {ratio:.2f}x |")
        out.append("")
        out.append("Time per step by kernel class (longctx, replayed at the step's shapes; "
                   "overhead = measured forward+backward minus the kernels):\n")
        out.append("| config | T | step s | matmul s (GF/s) | attention s (GF/s) | head+loss s | "
                   "elementwise s | overhead s | AdamW s |\n|---|---|---|---|---|---|---|---|---|")
        for r in speed:
            b = r.get("breakdown")
            if r["impl"] != "longctx" or not b:
                continue
            out.append(f"| {r['config']} | {r['seq']} | {r['step_s_median']:.3f} | "
                       f"{b['matmul_s']:.3f} ({b['matmul_gflops']:.0f}) | "
                       f"{b['attention_s']:.3f} ({b['attention_gflops']:.0f}) | "
                       f"{b['head_loss_s']:.3f} | {b['elementwise_s']:.3f} | "
                       f"{b['model_overhead_s']:.3f} | {b['adamw_s']:.3f} |")
        out.append("")
        for key, want_ratio, want_mfu in ((("small", 2048), 2.0, 0.60), (("tiny", 1024), 4.0, None)):
            if key not in ratios:
                continue
            best_ratio = max(x[0] for x in ratios[key])
            best_mfu = max(x[1] for x in ratios[key])
            s = (f"{key[0]} T={key[1]}: >= {want_ratio:.0f}x PyTorch, same-run ratio under this run's load: "
                 f"{'MET' if best_ratio >= want_ratio else 'NOT MET'} (best round {best_ratio:.2f}x)")
            if want_mfu:
                s += (f"; >= {100 * want_mfu:.0f}% MFU: "
                      f"{'MET' if best_mfu >= want_mfu else 'NOT MET'} (best round {100 * best_mfu:.1f}%)")
            ref = QUIET_PYTORCH[key[0]]
            best_tok = max(r["tokens_per_s"] for r in speed
                           if r["impl"] == "longctx" and (r["config"], r["seq"]) == key)
            s += (f"; against PyTorch on a quiet machine ({ref} tok/s, issue 2's figure): "
                  f"{best_tok / ref:.2f}x ({'MET' if best_tok / ref >= want_ratio else 'NOT MET'})")
            targets.append(s)

    longseq = load(os.path.join(d, "longseq.jsonl")) + load(os.path.join(d, "small32k.jsonl"))
    ptmem = load(os.path.join(d, "pytorch_memory.jsonl"))
    if longseq or ptmem:
        out.append("Long sequences (B=1; peak RSS of a process running that T alone):\n")
        out.append("| impl | config | T | recompute | peak RSS | tok/s | MFU |\n|---|---|---|---|---|---|---|")
        for r in longseq:
            if "error" in r:
                out.append(f"| longctx | {r['config']} | {r['seq']} | {r.get('recompute')} | "
                           f"FAILED: {r['error']} | | |")
                continue
            out.append(f"| longctx | {r['config']} | {r['seq']} | {'on' if r['recompute'] else 'off'} | "
                       f"{fmt_gib(r['peak_rss_bytes'])} | {r['tokens_per_s']:.1f} | "
                       f"{100 * r['mfu']:.1f}% |")
        for r in ptmem:
            if r.get("ok"):
                out.append(f"| PyTorch eager | {r['config']} | {r['seq']} | off | "
                           f"{fmt_gib(r['peak_rss_bytes'])} | {r['tokens_per_s']:.1f} | |")
            else:
                out.append(f"| PyTorch eager | {r['config']} | {r['seq']} | off | FAILS under a "
                           f"{r['cap_bytes'] / GIB:.1f} GiB cap: {r.get('error', '')[:160]} | | |")
        out.append("")
        for r in longseq:
            if r.get("seq") != 32768 or "error" in r:
                continue
            if r["config"] == "tiny":
                limit = 3e9
            elif r["config"] == "small" and r["recompute"]:
                limit = 8e9
            else:
                continue
            rss = r["peak_rss_bytes"]
            targets.append(f"{r['config']} T=32768 recompute={'on' if r['recompute'] else 'off'} "
                           f"< {limit / 1e9:.0f} GB: {'MET' if rss < limit else 'NOT MET'} "
                           f"({rss / 1e9:.2f} GB = {rss / GIB:.2f} GiB)")
        tiny = sorted((r for r in longseq if r.get("config") == "tiny" and not r.get("recompute")
                       and "error" not in r), key=lambda r: r["seq"])
        if len(tiny) >= 2:
            a, b = tiny[0], tiny[-1]
            growth = (b["peak_rss_bytes"] - a["peak_rss_bytes"]) / (b["seq"] - a["seq"])
            targets.append(f"tiny memory growth {a['seq']}->{b['seq']}: "
                           f"{growth / 1024:.1f} KiB per token (linear when this slope holds "
                           f"across the table)")
    if targets:
        out.append("Targets:\n")
        out.extend(f"- {t}" for t in targets)
    print("\n".join(out))


if __name__ == "__main__":
    main()
