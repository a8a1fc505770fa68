#!/usr/bin/env python3
"""Markdown tables of bench/inference_vs_llamacpp.sh's JSON lines.

  inference_summary.py RESULTS.jsonl [--bandwidth GBPS]

One row per (model file, KV types, length): prefill and decode tokens/s of both engines, as the
mean over rounds with every round's value and the per-round ratios (longctx / llama.cpp, same
round), and peak RSS. With --bandwidth (the machine's measured memory read rate, GB/s), the
decode columns add the bytes each engine must read per generated token (the weight matrices
once, the KV cache of the depth) as a rate, and that rate as a share of the bandwidth.
"""
import argparse
import json
import os
import statistics
from collections import defaultdict


def fmt(x, digits=1):
    return "-" if x is None else f"{x:,.{digits}f}"


def gguf_weight_bytes(path):
    """The GGUF file's size: an upper bound of the weight bytes a decode step reads (the token
    embedding is in it, of which a step reads one row when the output head is separate)."""
    return os.path.getsize(path) if os.path.exists(path) else None


def kv_bytes_per_token(row):
    # "KV cache: 4.2 MB used of ... (4160 of 4168 tokens, ..." from longctx's own report
    line = row.get("kv_line") or ""
    try:
        used = line.split("KV cache: ")[1].split(" used")[0]
        value, unit = used.split()
        mult = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
        tokens = int(line.split("(")[1].split(" of ")[0])
        return float(value) * mult / tokens
    except (IndexError, KeyError, ValueError):
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--bandwidth", type=float, default=None, help="measured memory read GB/s")
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.results) if l.startswith("{")]
    machines = [r for r in rows if r.get("bench") == "machine"]
    rows = [r for r in rows if r.get("bench") == "inference"]

    groups = defaultdict(lambda: defaultdict(dict))  # key -> round -> field
    startup = defaultdict(lambda: defaultdict(list))
    for r in rows:
        kv = f'{r["kv_longctx"]} / {r["kv_llamacpp"]}'
        name = os.path.basename(r["model"])
        if r["test"] == "startup":
            startup[(name, r["engine"])]["wall"].append(r["wall_s"])
            startup[(name, r["engine"])]["rss"].append(r["peak_rss_bytes"])
            if r.get("open_s") is not None:
                startup[(name, r["engine"])]["open"].append(r["open_s"])
            continue
        g = groups[(name, kv, r["n"])][r["round"]]
        g["model_path"] = r["model"]
        if r["engine"] == "longctx":
            g["lc_prefill"], g["lc_decode"] = r["prefill_tps"], r["decode_tps"]
            g["lc_rss"] = r["peak_rss_bytes"]
            g["kv_per_token"] = kv_bytes_per_token(r)
        elif r["test"] == "prefill":
            g["ll_prefill"], g["ll_prefill_rss"] = r["prefill_tps"], r["peak_rss_bytes"]
        else:
            g["ll_decode"], g["ll_rss"] = r["decode_tps"], r["peak_rss_bytes"]

    def series(rounds, key):
        return [rounds[k].get(key) for k in sorted(rounds) if rounds[k].get(key) is not None]

    def cell(rounds, key):
        v = series(rounds, key)
        if not v:
            return "-", None
        m = statistics.mean(v)
        return (fmt(m) + (" (" + " / ".join(fmt(x) for x in v) + ")" if len(v) > 1 else "")), m

    def ratio(rounds, a_key, b_key):
        rs = [rounds[k][a_key] / rounds[k][b_key] for k in sorted(rounds)
              if rounds[k].get(a_key) and rounds[k].get(b_key)]
        return " / ".join(f"{x:.2f}x" for x in rs) if rs else "-"

    for m in machines[:1]:
        print(f"Machine: {m.get('cpu')}, commit {m.get('commit')}, first run {m.get('date')}, "
              f"load at start {m.get('loadavg_at_start')}\n")
    print("| model | KV longctx / llama.cpp | tokens | prefill longctx | prefill llama.cpp | ratio "
          "| decode longctx | decode llama.cpp | ratio | peak RSS longctx / llama.cpp (decode run) |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |")
    for (name, kv, n), rounds in sorted(groups.items(), key=lambda t: (t[0][0], t[0][1], t[0][2])):
        pl, _ = cell(rounds, "lc_prefill")
        pr, _ = cell(rounds, "ll_prefill")
        dl, dlm = cell(rounds, "lc_decode")
        dr, drm = cell(rounds, "ll_decode")
        rl = series(rounds, "lc_rss")
        rr = series(rounds, "ll_rss") or series(rounds, "ll_prefill_rss")
        rss = (f"{max(rl) / 1e6:,.0f} / {max(rr) / 1e6:,.0f} MB" if rl and rr else "-")
        print(f"| {name} | {kv} | {n:,} | {pl} | {pr} | {ratio(rounds, 'lc_prefill', 'll_prefill')} "
              f"| {dl} | {dr} | {ratio(rounds, 'lc_decode', 'll_decode')} | {rss} |")

    if a.bandwidth:
        print(f"\nDecode as memory traffic (bytes read per generated token x tokens/s; measured "
              f"read bandwidth {a.bandwidth:.1f} GB/s):\n")
        print("| model | KV longctx / llama.cpp | depth | file MB | KV MB at depth (longctx) | longctx GB/s "
              "| share of bandwidth |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for (name, kv, n), rounds in sorted(groups.items(), key=lambda t: (t[0][0], t[0][1], t[0][2])):
            v = series(rounds, "lc_decode")
            per = series(rounds, "kv_per_token")
            any_round = next(iter(rounds.values()))
            wb = gguf_weight_bytes(any_round["model_path"])
            if not v or not per or wb is None:
                continue
            kvb = per[0] * n
            gbps = (wb + kvb) * statistics.mean(v) / 1e9
            print(f"| {name} | {kv} | {n:,} | {wb / 1e6:,.1f} | {kvb / 1e6:,.1f} "
                  f"| {gbps:.1f} | {100 * gbps / a.bandwidth:.0f}% |")

    if startup:
        print("\nStart-up (whole process, 1-token prompt, 1 token generated; mean over rounds):\n")
        print("| model | engine | wall s | model opened in s | peak RSS MB |")
        print("| --- | --- | ---: | ---: | ---: |")
        for (name, engine), s in sorted(startup.items()):
            op = fmt(statistics.mean(s["open"]), 3) if s["open"] else "-"
            print(f"| {name} | {engine} | {statistics.mean(s['wall']):.2f} | {op} "
                  f"| {max(s['rss']) / 1e6:,.0f} |")


if __name__ == "__main__":
    main()
