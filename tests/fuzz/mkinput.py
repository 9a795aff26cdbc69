#!/usr/bin/python3
"""Write a fuzzer input from a readable description (see harness.c).

    mkinput.py OUT < description

The description: one line per record, '#' comments.
    domains d1=npt:MAX d2=ept:MAX [d3=...] [frag=none|no1g|no2m] [crash]
        (the header; MAX = maxmem selector 0-7: 1024, 4096, 65536,
         2^18+1024, all, 512, 2048, 300 pages)
    OP dN [gfn=G] [order=0|9|18] [nr=1-4] [b5=X] [b6=X] [b7=X] [idx=X]
          [wild=0-7] [worder=0-31] [force]
OP is one of the names in OPS below (the order of ops[] in harness.c).
"""
import sys

OPS = ["create", "destroy", "map_auto", "map_mfn", "map_none", "unmap",
       "settype", "logdirty", "pod", "target", "balloon", "sweep", "write",
       "fill", "read", "resume", "policy", "merge", "max_order", "physmap",
       "write2", "read2", "map_auto2", "pod2", "set_range", "type_global",
       "fail", "iomem", "pin"]
ORDERS = {0: 0, 9: 2, 18: 3}
FRAG = {"none": 0, "no1g": 1, "no2m": 2}


def num(s):
    return int(s, 0)


def gfn_bytes(g):
    region, block, page = g >> 18, (g >> 9) & 511, g & 511
    if region > 3 or block > 31:
        raise SystemExit(f"gfn {g:#x} cannot be encoded (region < 4, "
                         f"2M block < 32 within it)")
    v = region << 14 | block << 9 | page
    return [v & 0xff, v >> 8]


def header(words):
    h = [0] * 8
    for w in words:
        if w == "crash":
            h[3] |= 4
        elif w.startswith("frag="):
            h[3] |= FRAG[w[5:]]
        else:
            dom, spec = w.split("=")
            fmt, mx = spec.split(":")
            h[int(dom[1:]) - 1] = 0x80 | (0x40 if fmt == "ept" else 0) | int(mx)
    return h


def record(words):
    op = [OPS.index(words[0]), int(words[1][1:]) - 1, 0, 0, 0, 0, 0, 0]
    for w in words[2:]:
        if w == "force":
            op[1] |= 0xf0
            continue
        k, v = w.split("=")
        if k == "gfn":
            op[2], op[3] = gfn_bytes(num(v))
        elif k == "wild":           # a bad gfn: harness.c gfn_of wild[]
            op[2] = (op[2] & ~7) | num(v)
            op[4] |= 0x30
        elif k == "worder":         # any order 0-31 (op[3] & 31)
            op[3] = (op[3] & ~31) | num(v)
            op[4] |= 0xc0
        elif k == "order":
            op[4] |= ORDERS[num(v)]
        elif k == "nr":
            op[4] |= (num(v) - 1) << 2
        elif k in ("b5", "b6", "b7"):
            op[int(k[1])] = num(v) & 0xff
        elif k == "idx":
            op[6], op[7] = num(v) & 0xff, (num(v) >> 8) & 0xff
        else:
            raise SystemExit(f"unknown key {k}")
    return op


def main():
    out = bytearray()
    for line in sys.stdin:
        words = line.split("#")[0].split()
        if not words:
            continue
        out += bytes(header(words[1:]) if words[0] == "domains"
                     else record(words))
    with open(sys.argv[1], "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
