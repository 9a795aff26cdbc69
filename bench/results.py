#!/usr/bin/python3
"""Join the benches' figures (<dir>/*.jsonl, bench/results.h) into one
JSON array, <dir>/results.json, and print it as a table.

Usage: results.py DIR [--expect NAME ...]
A line that is not a figure object, or a figure without its baseline,
fails; so does an expected name that no bench wrote.
"""
import glob
import json
import os
import sys

KEYS = ("name", "value", "unit", "baseline", "ratio")


def load(d):
    figs = []
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                o = json.loads(line)
                if tuple(o) != KEYS or not o["baseline"]:
                    raise ValueError(f"{path}:{n}: not a figure: {line!r}")
                figs.append(o)
    return figs


def main(argv):
    d, expect = argv[0], []
    if "--expect" in argv:
        expect = argv[argv.index("--expect") + 1:]
    figs = load(d)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump(figs, f, indent=1)
        f.write("\n")
    for o in figs:
        print(f"{o['name']:32} {o['value']:12.4g} {o['unit']:8} baseline "
              f"{o['baseline']:12.4g}  ratio {o['ratio']:.3f}")
    missing = sorted(set(expect) - {o["name"] for o in figs})
    print(f"{len(figs)} figures in {d}/results.json" +
          (f"; missing: {' '.join(missing)}" if missing else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
