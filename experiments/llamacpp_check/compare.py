#!/usr/bin/env python3
"""Compare two next-token probability dumps (check.mjs or `longctx generate --dump-probs`).

usage: compare.py A.json B.json
Prints the maximum absolute probability difference over all positions and vocabulary
entries, and whether the argmax (ties: lowest id) agrees at every position.
Exit status 1 when the token ids or vocabulary sizes differ.
"""
import json
import sys


def argmax(row):
    best = 0
    for t, p in enumerate(row):
        if p > row[best]:
            best = t
    return best


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    a, b = (json.load(open(p)) for p in sys.argv[1:])
    if a["ids"] != b["ids"] or a["vocab_size"] != b["vocab_size"]:
        print("ids or vocab_size differ:", sys.argv[1], sys.argv[2])
        sys.exit(1)
    max_diff, where, disagree = 0.0, None, []
    for i, (ra, rb) in enumerate(zip(a["probs"], b["probs"])):
        for t, (pa, pb) in enumerate(zip(ra, rb)):
            if abs(pa - pb) > max_diff:
                max_diff, where = abs(pa - pb), (i, t)
        if argmax(ra) != argmax(rb):
            disagree.append(i)
    print(f"{a.get('engine')} {a['model']}  vs  {b.get('engine')} {b['model']}: "
          f"{len(a['probs'])} positions x {a['vocab_size']} tokens, "
          f"max |dp| = {max_diff:.3g} at (position, token) {where}, "
          f"argmax agrees at {len(a['probs']) - len(disagree)}/{len(a['probs'])} positions"
          + (f" (differs at {disagree})" if disagree else ""))


if __name__ == "__main__":
    main()
