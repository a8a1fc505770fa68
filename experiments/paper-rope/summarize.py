#!/usr/bin/env python3
"""Tables of the paper-rope experiment from its run folder (run.sh's OUT).

    summarize.py OUT RESULTS

Reads OUT/eval/*/{ppl,fsr,passkey}.json, each run's metrics.jsonl and OUT/timings.tsv, and
writes RESULTS/tables.md (Markdown tables, the numbers the README quotes), RESULTS/summary.json
(the same numbers as data) and small copies of the inputs worth keeping in git (CSV tables,
metrics, timings). Missing pieces (a phase not run yet) are skipped, never invented.
"""
import json
import math
import shutil
import statistics
import sys
from pathlib import Path


def load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def short_len(n):
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


def row_name(label):
    """'abf-s1 | abf:base=500000 (own)' -> 'abf-s1 (own)'; keeps the rope of overrides."""
    model, _, rope = label.partition(" | ")
    return model if rope.endswith("(own)") else f"{model} | {rope}"


def fmt(x, digits=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.{digits}f}"


def length_table(doc, cells_key, value_key, digits=1):
    """Markdown table, a row per evaluated row and a column per length; `*` past training.
    cells_key: where a row keeps its per-length cells ("results" for ppl, "by_length" for
    probes); value_key: the number shown from a cell."""
    if not doc:
        return None
    lengths = doc["lengths"]
    lines = ["| row | " + " | ".join(short_len(n) for n in lengths) + " |",
             "|---|" + "---|" * len(lengths)]
    for row in doc["rows"]:
        cells = {c["length"]: c for c in row[cells_key]}
        out = []
        for n in lengths:
            c = cells.get(n)
            out.append(fmt(None if c is None else c.get(value_key), digits) +
                       ("*" if c and c.get("beyond_trained") else ""))
        lines.append(f"| {row_name(row['label'])} | " + " | ".join(out) + " |")
    return "\n".join(lines)


def ppl_table(doc, value="ppl", digits=1):
    return length_table(doc, "results", value, digits)


def probe_table(doc):
    return length_table(doc, "by_length", "score")


def by_model(doc, key):
    """{model folder name: {length: value}} for the own-encoding rows of a ppl or probe doc."""
    res = {}
    if not doc:
        return res
    for row in doc["rows"]:
        if not row["label"].endswith("(own)"):
            continue
        name = row["label"].split(" | ")[0]
        if "results" in row:
            res[name] = {r["length"]: r.get(key) for r in row["results"]}
        else:
            res[name] = {c["length"]: c["score"] for c in row["by_length"]}
    return res


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0], 2)
    return (f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f} "
            f"({min(values):.2f}–{max(values):.2f})")


def metrics(run):
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_val_loss(ms):
    vals = [m["val_loss"] for m in ms if m.get("val_loss") is not None]
    return vals[-1] if vals else None


def main():
    out, results = Path(sys.argv[1]), Path(sys.argv[2])
    results.mkdir(parents=True, exist_ok=True)
    ev = out / "eval"
    timings = {}
    if (out / "timings.tsv").exists():
        for line in (out / "timings.tsv").read_text().splitlines():
            name, _, secs = line.partition("\t")
            timings[name] = int(secs)
    summary, md = {}, ["# paper-rope: tables (written by summarize.py)", ""]

    def section(title, body, note=None):
        if body:
            md.extend([f"## {title}", ""] + ([note, ""] if note else []) + [body, ""])

    star = "`*` = past the row's trained length."
    ppl_base, ppl_ext = load(ev / "ppl-base/ppl.json"), load(ev / "ppl-extended/ppl.json")
    section("Perplexity against length: the base model, own RoPE and training-free scalings",
            ppl_table(ppl_base), star)
    section("Perplexity against length: continued pretraining (seed 1)", ppl_table(ppl_ext), star)
    section("LongPPL (perplexity over key tokens only) of the continued models",
            ppl_table(ppl_ext, "longppl", 2),
            "Key tokens: those whose log-probability gains markedly from the long context over "
            "a short window (docs/eval.md). `-`: no key token at that length.")
    fsr, fsr_base = load(ev / "fsr/fsr.json"), load(ev / "fsr-base/fsr.json")
    # Probe scores are written on a 0-100 scale already (ROUGE-L F1 x 100, accuracy in %).
    section("First-sentence retrieval (ROUGE-L F1 x 100) against length", probe_table(fsr), star)
    section("First-sentence retrieval of the base under training-free scalings",
            probe_table(fsr_base), star)
    section("Passkey retrieval (accuracy %) against length",
            probe_table(load(ev / "passkey/passkey.json")), star)

    # Seeds: mean ± standard deviation (min–max) over data-order seeds.
    seeds_ppl, seeds_fsr = load(ev / "ppl-seeds/ppl.json"), load(ev / "fsr-seeds/fsr.json")
    if seeds_ppl:
        ppl_m, fsr_m = by_model(seeds_ppl, "ppl"), by_model(seeds_fsr, "score")
        lengths = seeds_ppl["lengths"]
        variants = sorted({name.rsplit("-s", 1)[0] for name in ppl_m})
        with_fsr = bool(fsr_m)
        lines = ["| row | seeds | " + " | ".join(f"ppl {short_len(n)}" for n in lengths[-3:]) +
                 (" | " + " | ".join(f"FSR {short_len(n)}" for n in lengths[-3:]) if with_fsr
                  else "") + " |",
                 "|---|---|" + "---|" * (6 if with_fsr else 3)]
        summary["seeds"] = {}
        for v in variants:
            names = sorted(n for n in ppl_m if n.rsplit("-s", 1)[0] == v)
            p = [spread([ppl_m[n].get(L) for n in names]) for L in lengths[-3:]]
            f = [spread([fsr_m[n][L] if n in fsr_m and L in fsr_m[n] else None
                         for n in names]) for L in lengths[-3:]]
            summary["seeds"][v] = {"runs": names,
                                   "ppl": {L: [ppl_m[n].get(L) for n in names] for L in lengths},
                                   "fsr": {L: [fsr_m.get(n, {}).get(L) for n in names]
                                           for L in lengths}}
            lines.append(f"| {v} | {len(names)} | " + " | ".join(p) +
                         (" | " + " | ".join(f) if with_fsr else "") + " |")
        section("Seeds: the headline rows over data-order seeds", "\n".join(lines),
                "mean ± standard deviation (min–max) over the seeds.")
        # Paired: each seed's rows share the base and the evaluation samples, so the ratio to
        # the same seed's RoPE row removes most of the seed-to-seed spread.
        if "rope" in variants:
            lines = ["| row | " + " | ".join(f"ppl {short_len(n)} / RoPE" for n in lengths) + " |",
                     "|---|" + "---|" * len(lengths)]
            summary["paired_vs_rope"] = {}
            for v in variants:
                if v == "rope":
                    continue
                cells = []
                for L in lengths:
                    ratios = [ppl_m[f"{v}-s{s}"][L] / ppl_m[f"rope-s{s}"][L]
                              for s in sorted({n.rsplit("-s", 1)[1] for n in ppl_m})
                              if f"{v}-s{s}" in ppl_m and f"rope-s{s}" in ppl_m]
                    summary["paired_vs_rope"].setdefault(v, {})[L] = ratios
                    cells.append(" ".join(f"{r:.3f}" for r in ratios))
                lines.append(f"| {v} | " + " | ".join(cells) + " |")
            section("Seeds, paired: perplexity relative to the same seed's RoPE row",
                    "\n".join(lines), "One ratio per seed (seeds 1, 2, 3); below 1 = better "
                    "than continuing with plain RoPE.")

    # Training cost and validation loss of every run.
    runs = [("base-stage1", out / "base-stage1"), ("base", out / "base")]
    runs += [(p.name, p) for p in sorted((out / "extend").glob("*")) if p.is_dir()]
    runs += [(f"curriculum {p.name}", p) for p in sorted((out / "curriculum").glob("*"))
             if p.is_dir()]
    lines = ["| run | steps | tokens | train FLOPs | wall s | final validation loss |",
             "|---|---|---|---|---|---|"]
    summary["runs"] = {}
    for name, run in runs:
        ms = [m for m in metrics(run) if "step" in m and m.get("tokens") is not None]
        steps = max((m["step"] for m in ms), default=0)
        tokens = max((m["tokens"] for m in ms), default=0)  # cumulative in metrics.jsonl
        flops = max((m.get("train_flops", 0) for m in ms), default=0) or None
        key = {"base": "base", "base-stage1": "base-stage1"}.get(name, name.replace("curriculum switch-", "curriculum-")
                                   if name.startswith("curriculum") else f"extend-{name}")
        wall = timings.get(key)
        vl = last_val_loss(metrics(run))
        summary["runs"][name] = {"steps": steps, "tokens": tokens, "train_flops": flops,
                                 "wall_s": wall, "val_loss": vl}
        lines.append(f"| {name} | {steps} | {tokens:,} | "
                     f"{'-' if flops is None else f'{flops:.3g}'} | {wall if wall else '-'} | "
                     f"{fmt(vl, 3)} |")
        (results / "runs").mkdir(exist_ok=True)
        for f in ("metrics.jsonl", "config.toml"):
            if (run / f).exists():
                shutil.copy(run / f, results / "runs" / f"{name.replace(' ', '_')}-{f}")
    section("Runs: budget, cost and validation loss", "\n".join(lines),
            "Validation loss at the run's own final window, on the corpus's validation split.")

    # Curriculum: FLOPs against long-context quality.
    cur_ppl = load(ev / "ppl-curriculum/ppl.json")
    if cur_ppl:
        ppl_m = by_model(cur_ppl, "ppl")
        lengths = cur_ppl["lengths"]
        base_flops = summary["runs"].get("curriculum switch-0", {}).get("train_flops")
        lines = ["| switch at | train FLOPs | FLOPs vs long-from-start | final validation loss | " +
                 " | ".join(f"ppl {short_len(n)}" for n in lengths) + " |",
                 "|---|---|---|---|" + "---|" * len(lengths)]
        for share in ("0", "0.2", "0.4", "0.8"):
            name = f"switch-{share}"
            if name not in ppl_m:
                continue
            fl = summary["runs"].get(f"curriculum {name}", {}).get("train_flops")
            ratio = fl / base_flops if fl and base_flops else None
            vl = summary["runs"].get(f"curriculum {name}", {}).get("val_loss")
            lines.append(f"| {'from the start' if share == '0' else f'{float(share):.0%}'} | "
                         f"{'-' if fl is None else f'{fl:.3g}'} | {fmt(ratio, 2)} | "
                         f"{fmt(vl, 3)} | " +
                         " | ".join(fmt(ppl_m[name].get(L)) for L in lengths) + " |")
        section("Curriculum: long windows from the start against a short-to-long switch",
                "\n".join(lines), "Same total tokens and schedule; ABF (base 500000) throughout.")

    for d in ("ppl-base", "ppl-extended", "ppl-seeds", "ppl-curriculum"):
        for f in ("ppl.csv", "ppl_buckets.csv"):
            if (ev / d / f).exists():
                shutil.copy(ev / d / f, results / f"{d}-{f}")
    for d, task in (("fsr", "fsr"), ("fsr-base", "fsr"), ("fsr-seeds", "fsr"),
                    ("fsr-curriculum", "fsr"), ("passkey", "passkey")):
        for suffix in (".csv", "_cells.csv"):
            if (ev / d / f"{task}{suffix}").exists():
                shutil.copy(ev / d / f"{task}{suffix}", results / f"{d}{suffix}")
    for f in ("timings.tsv", "timeline.txt"):
        if (out / f).exists():
            shutil.copy(out / f, results / f)
    (results / "tables.md").write_text("\n".join(md))
    (results / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    print("\n".join(md))


if __name__ == "__main__":
    main()
