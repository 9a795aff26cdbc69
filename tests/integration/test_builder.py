"""The HVM domain builder, checked through `p2mctl run --build-only`.

Each case builds one guest and dumps its P2M (`--dump`): the leaves must
cover exactly the guest's RAM, never a hole, in the extents a correct
builder picks (see `expected`, a model of the policy in xc_hvm_build.h,
and the hand-computed 10 GiB case).  Bad scenario files must be rejected
line by line before anything is built.
"""
import json
import subprocess

import pytest

from conftest import slow_factor

FORMATS = ["npt", "ept"]
G = 1 << 18                          # pages in 1 GiB
M2 = 1 << 9                          # pages in 2 MiB
GFN_4G = 1 << 20
VGA = (0xA0, 0xC0)


def run(p2mctl_bin, cfg_path, *args, timeout=60):
    p = subprocess.run([p2mctl_bin, "run", str(cfg_path), *args],
                       capture_output=True, text=True, timeout=timeout * slow_factor(p2mctl_bin))
    return p.returncode, p.stdout, p.stderr


def build(p2mctl_bin, tmp_path, cfg):
    """Build only, with the dump; returns (json report, leaves)."""
    path = tmp_path / "g.cfg"
    path.write_text(cfg)
    dump = tmp_path / "p2m.dump"
    rc, out, err = run(p2mctl_bin, path, "--build-only", "--json",
                       "--dump", str(dump))
    assert rc == 0, err
    leaves = []
    for line in dump.read_text().splitlines():
        if line.startswith("#"):
            continue
        gfn, order, typ, mfn = line.split()
        leaves.append((int(gfn, 16), int(order), typ,
                       None if mfn == "-" else int(mfn, 16)))
    return json.loads(out), leaves


def layout(mib, hole_mib):
    """RAM ranges and the holes that cut them, in gfns."""
    pages, mmio = mib * 256, GFN_4G - hole_mib * 256
    low = min(pages, mmio)
    ram, holes = [(0, 0xA0), (0xC0, low)], [VGA]
    if pages > low:
        if hole_mib:
            holes.append((mmio, GFN_4G))
        hi = (GFN_4G, GFN_4G + pages - low)
        if ram[-1][1] == hi[0]:
            ram[-1] = (ram[-1][0], hi[1])
        else:
            ram.append(hi)
    return ram, holes


def expected(mib, hole_mib=256, max_order=18, heap_1g=True, heap_2m=True):
    """What a correct builder does: extents by order and 1G fallbacks."""
    ram, holes = layout(mib, hole_mib)
    ext = {0: 0, 9: 0, 18: 0}
    fb = {"fragmentation": 0, "alignment": 0, "hole": 0}
    want = fb2m = 0
    for w in range(0, ram[-1][1], G):
        pieces = [(max(s, w), min(e, w + G)) for s, e in ram
                  if max(s, w) < min(e, w + G)]
        if not pieces:
            continue
        if max_order == 18:
            want += 1
            if pieces == [(w, w + G)]:
                if heap_1g:
                    ext[18] += 1
                    continue
                fb["fragmentation"] += 1
            elif any(s < w + G and e > w for s, e in holes):
                fb["hole"] += 1
            else:
                fb["alignment"] += 1
        for s, e in pieces:
            g = s
            while g < e:
                h = min(e, g // M2 * M2 + M2) if max_order >= 9 else e
                if max_order >= 9 and h - g == M2:
                    if heap_2m:
                        ext[9] += 1
                    else:
                        fb2m += 1
                        ext[0] += M2
                else:
                    ext[0] += h - g
                g = h
    return {"4k": ext[0], "2m": ext[9], "1g": ext[18]}, want, fb, fb2m


def check_leaves(leaves, mib, hole_mib, typ="ram_rw"):
    """Leaves tile the RAM exactly, aligned, and never touch a hole."""
    ram, holes = layout(mib, hole_mib)
    covered = []
    for gfn, order, t, mfn in leaves:
        size = 1 << order
        assert t == typ, (hex(gfn), t)
        assert gfn % size == 0, f"leaf {gfn:#x} not aligned to its order"
        if mfn is not None:
            assert mfn % size == 0, f"frame {mfn:#x} of {gfn:#x} misaligned"
        for s, e in holes:
            assert gfn + size <= s or gfn >= e, \
                f"leaf {gfn:#x}+{size:#x} maps the hole [{s:#x}, {e:#x})"
        assert any(s <= gfn and gfn + size <= e for s, e in ram), \
            f"leaf {gfn:#x} outside RAM"
        covered.append((gfn, gfn + size))
    covered.sort()
    merged = []
    for s, e in covered:
        assert not merged or s >= merged[-1][1], "overlapping leaves"
        if merged and s == merged[-1][1]:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    assert merged == ram, "the leaves do not cover exactly the guest's RAM"


def counts(leaves):
    return {k: sum(1 for l in leaves if l[1] == o)
            for k, o in (("4k", 0), ("2m", 9), ("1g", 18))}


def cfg_text(fmt, memory, maxmem=None, host="32G", extra=""):
    return (f'hap = "{fmt}"\nmemory = {memory}\n'
            + (f"maxmem = {maxmem}\n" if maxmem else "")
            + f'host = "{host}"\n{extra}')


# --- the 10 GiB guest, by hand --------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_10g_guest_keeps_its_1g_pages_whole(p2mctl_bin, tmp_path, fmt):
    """10 GiB, 256 MiB hole: RAM [0xc0, 3.75G) and [4G, 10.25G).  A correct
    builder maps 1G pages at 1G and 2G below the hole and at 4G..9G above
    it (6 whole 1G pages, all 1G aligned); the first GiB (VGA hole), the
    3G window (MMIO hole) and the 10G tail (256 MiB) take 2M/4K extents:
    2M = 511 + 384 + 128 = 1023, 4K = 512 - 32 = 480."""
    rep, leaves = build(p2mctl_bin, tmp_path, cfg_text(fmt, 10240))
    b = rep["build"]
    assert b["extents"] == {"4k": 480, "2m": 1023, "1g": 8}
    assert b["want_1g"] == 11
    assert b["fallback_1g"] == {"fragmentation": 0, "alignment": 1,
                                "hole": 2}
    ones = sorted(g for g, o, _, _ in leaves if o == 18)
    assert ones == [G, 2 * G] + [GFN_4G + i * G for i in range(6)]
    assert counts(leaves) == b["extents"]
    check_leaves(leaves, 10240, 256)
    assert b["pages"] == 10240 * 256 - 32


# --- every fallback, against the model -------------------------------------

# memory MiB, mmio_hole MiB, extra config, model arguments, what it shows
CASES = [
    (10240, 256, "", {}, "1G windows, holes and a short tail"),
    (6144, 256, 'fragment = "no1g"\n', {"heap_1g": False},
     "no free 1G block: heap fragmentation"),
    (5000, 256, "", {}, "unaligned size: alignment"),
    (3001, 256, 'fragment = "no2m"\n', {"heap_1g": False, "heap_2m": False},
     "no free 2M block: every 2M extent falls back to 4K"),
    (6144, 1024, "mmio_hole = 1024\n", {}, "a 1 GiB MMIO hole"),
    (6144, 0, "mmio_hole = 0\n", {}, "no MMIO hole: RAM runs through 4G"),
    (10240, 256, 'superpages = "2m"\n', {"max_order": 9}, "capped at 2M"),
    (1024, 256, 'superpages = "4k"\n', {"max_order": 0}, "capped at 4K"),
    (4096, 256, "cpu_1g = 0\n", {"max_order": 9}, "CPU without 1G pages"),
    (100, 256, "", {}, "a guest smaller than 1 GiB"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mib,hole,extra,model,why", CASES,
                         ids=[c[4] for c in CASES])
def test_builder_extents(p2mctl_bin, tmp_path, fmt, mib, hole, extra, model,
                         why):
    rep, leaves = build(p2mctl_bin, tmp_path, cfg_text(fmt, mib, extra=extra))
    b = rep["build"]
    ext, want, fb, fb2m = expected(mib, hole, **model)
    assert b["extents"] == ext
    assert b["want_1g"] == want
    assert b["fallback_1g"] == fb
    assert b["fallback_2m"] == fb2m
    assert counts(leaves) == ext, "the P2M disagrees with the report"
    check_leaves(leaves, mib, hole)
    assert all(g % G == 0 for g, o, _, _ in leaves if o == 18)
    if model.get("max_order", 18) < 18:
        assert b["want_1g"] == 0 and ext["1g"] == 0


def test_fragmented_host_reports_fragmentation(p2mctl_bin, tmp_path):
    rep, _ = build(p2mctl_bin, tmp_path,
                   cfg_text("ept", 8192, extra='fragment = "no1g"\n'))
    b = rep["build"]
    assert b["extents"]["1g"] == 0
    assert b["fallback_1g"]["fragmentation"] == 6   # 1G, 2G, 4G..7G


# --- populate-on-demand ----------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_pod_build(p2mctl_bin, tmp_path, fmt):
    """memory 2 GiB < maxmem 8 GiB: the maxmem layout is all PoD entries
    (1G entries included), nothing is populated, and the cache holds the
    target, with every accounting invariant of p2m-pod.h."""
    rep, leaves = build(p2mctl_bin, tmp_path, cfg_text(fmt, 2048, 8192))
    b, snap = rep["build"], rep["phases"][0]
    ext, _, _, _ = expected(8192)
    assert b["pod"] and b["extents"] == ext and ext["1g"] == 6
    assert counts(leaves) == ext
    check_leaves(leaves, 8192, 256, typ="populate_on_demand")
    assert all(mfn is None for _, _, _, mfn in leaves)
    target = 2048 * 256 - 32
    assert b["target_pages"] == target
    assert snap["populated"] == 0
    assert snap["pod_entries"] == 8192 * 256 - 32 == b["pages"]
    assert snap["pod_cache"] == target == snap["tot_pages"]
    assert snap["target"] == target
    cache = b["pod_cache"]
    assert cache["1g"] * G + cache["2m"] * M2 + cache["4k"] == target
    # 0 <= P <= T <= B <= M
    assert 0 <= snap["populated"] <= snap["tot_pages"] \
        <= snap["populated"] + snap["pod_entries"] <= 8192 * 256
    assert snap["leaves"] == {"4k": 0, "2m": 0, "1g": 0}


def test_pod_cache_without_1g_blocks(p2mctl_bin, tmp_path):
    """With no free 1G block the cache is filled with 2M pages instead."""
    rep, _ = build(p2mctl_bin, tmp_path,
                   cfg_text("npt", 2048, 4096, extra='fragment = "no1g"\n'))
    cache = rep["build"]["pod_cache"]
    assert cache["1g"] == 0
    assert cache["2m"] * M2 + cache["4k"] == 2048 * 256 - 32


def test_pod_superpages_cap(p2mctl_bin, tmp_path):
    rep, leaves = build(p2mctl_bin, tmp_path,
                        cfg_text("ept", 1024, 4096,
                                 extra='superpages = "2m"\n'))
    assert counts(leaves)["1g"] == 0
    assert counts(leaves) == expected(4096, max_order=9)[0]


# --- failures leave nothing behind ------------------------------------------

@pytest.mark.parametrize("maxmem", [None, 6144], ids=["populated", "pod"])
def test_failed_build_leaves_no_domain(p2mctl_bin, tmp_path, maxmem):
    """The host's dom0 holds half of it: the guest does not fit.  The build
    fails with ENOMEM, and every page it took is back on the heap."""
    path = tmp_path / "big.cfg"
    path.write_text(cfg_text("npt", 3072, maxmem, host="4G",
                             extra="dom0_mem = 2048\n"))
    rc, out, err = run(p2mctl_bin, path, "--json")
    assert rc == 2
    assert "building the guest failed: ENOMEM" in err
    assert "nothing was left behind" in err
    rep = json.loads(out)
    assert rep["build"]["error"] == -12
    assert rep["host"]["free_before"] == rep["host"]["free_after"]
    assert not rep["host"]["leak"]
    assert rep["host"]["teardown_not_free"] == 0


# --- bad scenario files ------------------------------------------------------

# file lines, the line and key of the error, what the message says
BAD = [
    ('name = "g"\nmemory = lots\n', 2, "memory",
     'expected a number of MiB, got "lots"'),
    ("memory = 1024\nmemroy = 5\n", 2, None, 'unknown key "memroy"'),
    ("memory = 1024\nmemory = 2048\n", 2, "memory",
     "set twice (first on line 1)"),
    ('memory = 1024\nhap = "svm"\n', 2, "hap", 'got "svm"'),
    ('memory = 1024\nsuperpages = "3g"\n', 2, "superpages", 'got "3g"'),
    ("memory = 1024\nvcpus = 9\n", 2, "vcpus", "out of range"),
    ("memory = 4096\nmaxmem = 2048\n", 2, "maxmem", "below memory"),
    ("memory = 1024\ntarget = 4096\n", 2, "target", "above maxmem"),
    ('memory = "1024"\n', 1, "memory", "numbers take no quotes"),
    ('memory = 1024\nname = "x\n', 2, "name", "unterminated string"),
    ("memory = 1024\n= 5\n", 2, None, "expected `key = value`"),
    ("memory = 1024 2048\n", 1, "memory", "unexpected text after the value"),
    ('memory = 1024\nhost_ram = "0-3G,2G-5G"\n', 2, "host_ram",
     "overlap"),
    ('memory = 1024\nfragment = "half"\n', 2, "fragment", 'got "half"'),
    ('memory = 1024\nworkload = "trace:missing.lackey"\n', 2, "workload",
     "cannot read the trace file"),
    ('memory = 1024\nworkload = "gaming"\n', 2, "workload", 'got "gaming"'),
    ("memory = 1024\naccesses = 10\n", 2, "accesses",
     "only the random workload"),
    ('memory = 8192\nhost = "4G"\n', 1, "memory", "does not fit"),
    ("memory = 1024\nmmio_hole = 4000\n", 2, "mmio_hole", "out of range"),
    ('memory = 1024\nhost = "lots"\n', 2, "host", "expected a size"),
    ('memory = 1024\nhost = "4G"\ndom0_mem = 4096\n', 3, "dom0_mem",
     "leaves nothing"),
]


@pytest.mark.parametrize("text,line,key,msg", BAD,
                         ids=[f"{i}-{b[2] or 'syntax'}"
                              for i, b in enumerate(BAD)])
def test_bad_config(p2mctl_bin, tmp_path, text, line, key, msg):
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    where = f"{path}:{line}: " + (f"{key}: " if key else "")
    assert any(l.startswith(where) and msg in l for l in err.splitlines()), \
        err
    assert "not valid; nothing was built" in err
    assert "builder:" not in out and "phase" not in out


def test_missing_memory(p2mctl_bin, tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("vcpus = 2\n")
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    assert f"{path}: memory: missing" in err


def test_every_error_of_a_file_is_reported(p2mctl_bin, tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("memory = lots\nvcpus = 0\nbogus = 1\nhap = x\n")
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    for n in range(1, 5):
        assert f"{path}:{n}: " in err
    assert out == ""


def test_usage(p2mctl_bin, tmp_path):
    for args in ([], ["a.cfg", "b.cfg"], ["a.cfg", "--bogus"]):
        p = subprocess.run([p2mctl_bin, "run", *args], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2
        assert "usage: p2mctl run" in p.stderr
