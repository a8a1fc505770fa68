#!/usr/bin/env python3
"""Client-side figures for `longctx serve` (issue 11), standard library only.

  serve_bench.py prefix URL DOC [--questions 10] [--max-tokens 8] [--chars N]
      Ten questions about one document, twice: with prefix reuse (every prompt starts with
      the document) and without (a different first line per question, so no prompt shares
      a prefix with an earlier one; same lengths). Prints end-to-end seconds and the speed-up.
  serve_bench.py load URL [--clients 4] [--requests 8] [--max-tokens 32] [--pid PID]
      A fixed number of concurrent clients, each sending a fixed number of requests; checks
      every response is complete (status 200, finish_reason, usage) and prints throughput,
      latency percentiles and (with --pid) the server's peak RSS (VmHWM).

The server is started separately (see docs/serve.md for the exact commands used).
"""
import argparse
import json
import threading
import time
import urllib.error
import urllib.request


def post(url, body, timeout=600):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def run_prefix(a):
    doc = open(a.doc, encoding="utf-8", errors="ignore").read()[: a.chars]
    questions = [f"Question {i + 1}: what happens in part {i + 1}?" for i in range(a.questions)]
    url = a.url.rstrip("/") + "/v1/completions"
    results = {}
    for mode in ("without reuse", "with reuse"):
        t0 = time.time()
        cached = prompt = 0
        for i, q in enumerate(questions):
            # Without reuse the first line differs per question (and from the other mode's).
            head = "" if mode == "with reuse" else f"Reader {i + 1} of run {int(t0)}.\n"
            status, r = post(url, {"prompt": head + doc + "\n" + q, "max_tokens": a.max_tokens, "temperature": 0})
            assert status == 200, r
            prompt += r["usage"]["prompt_tokens"]
            cached += r["usage"]["prompt_tokens_details"]["cached_tokens"]
        results[mode] = time.time() - t0
        print(f"{mode}: {len(questions)} questions, {prompt} prompt tokens ({cached} cached) in {results[mode]:.2f} s")
    print(f"speed-up with prefix reuse: {results['without reuse'] / results['with reuse']:.1f}x")


def run_load(a):
    url = a.url.rstrip("/") + "/v1/completions"
    latencies, errors, tokens = [], [], [0]
    lock = threading.Lock()

    def client(c):
        for r in range(a.requests):
            t0 = time.time()
            status, body = post(url, {"prompt": f"Client {c} request {r}: once upon a time", "max_tokens": a.max_tokens,
                                      "temperature": 0.8, "seed": c * 1000 + r})
            dt = time.time() - t0
            with lock:
                ok = status == 200 and body["choices"][0]["finish_reason"] in ("length", "stop") and "usage" in body
                if ok:
                    latencies.append(dt)
                    tokens[0] += body["usage"]["completion_tokens"]
                else:
                    errors.append((status, body))

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    n = len(latencies)
    print(f"{a.clients} clients x {a.requests} requests, max_tokens {a.max_tokens}: {n} complete, {len(errors)} errors, "
          f"{wall:.2f} s, {n / wall:.2f} requests/s, {tokens[0] / wall:.1f} generated tokens/s")
    if n:
        print("latency s: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f" % tuple(
            [percentile(latencies, p) for p in (50, 90, 99)] + [max(latencies)]))
    if a.pid:
        for line in open(f"/proc/{a.pid}/status"):
            if line.startswith(("VmHWM", "VmRSS")):
                print(line.strip())
    for e in errors[:3]:
        print("error:", e)
    if errors:
        raise SystemExit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prefix")
    pp.add_argument("url")
    pp.add_argument("doc")
    pp.add_argument("--questions", type=int, default=10)
    pp.add_argument("--max-tokens", type=int, default=8)
    pp.add_argument("--chars", type=int, default=40000)
    pl = sub.add_parser("load")
    pl.add_argument("url")
    pl.add_argument("--clients", type=int, default=4)
    pl.add_argument("--requests", type=int, default=8)
    pl.add_argument("--max-tokens", type=int, default=32)
    pl.add_argument("--pid", type=int)
    a = p.parse_args()
    run_prefix(a) if a.cmd == "prefix" else run_load(a)


if __name__ == "__main__":
    main()
