#!/usr/bin/env python3
"""Tags JSON lines for the bench scripts' result files (one copy of what
dispatch_vs_native.sh, gemm_engines.sh and trainer.sh each did inline).

  tag_jsonl.py KEY=VALUE... KEY:=JSON... [FILE|-]...
      every JSON object line of the FILEs (- or none: standard input), with the keys set
      (KEY=VALUE a string, KEY:=JSON a JSON value such as a number), to standard output
  tag_jsonl.py --machine ROOT
      one line of the machine's facts: {"bench": "machine", "date", "commit" (of the git
      checkout ROOT), "cpu", "loadavg_at_start"}
"""
import datetime
import json
import re
import subprocess
import sys


def machine(root):
    commit = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    cpu = ""
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        m = re.match(r"Model name:\s*(.*)", line)
        if m:
            cpu = m.group(1)
            break
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"bench": "machine", "date": date, "commit": commit, "cpu": cpu,
            "loadavg_at_start": load}


def main(argv):
    if len(argv) == 2 and argv[0] == "--machine":
        print(json.dumps(machine(argv[1])))
        return 0
    tags, files = {}, []
    for arg in argv:
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(:?=)(.*)$", arg, re.S)
        if not m:
            files.append(arg)
        elif m.group(2) == "=":
            tags[m.group(1)] = m.group(3)
        else:
            try:
                tags[m.group(1)] = json.loads(m.group(3))
            except json.JSONDecodeError as e:
                sys.exit(f"tag_jsonl.py: {arg}: not a JSON value ({e})")
    if not tags:
        sys.exit(__doc__)
    for name in files or ["-"]:
        f = sys.stdin if name == "-" else open(name)
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"tag_jsonl.py: {name}:{n}: not a JSON line ({e})")
            record.update(tags)
            print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
