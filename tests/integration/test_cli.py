"""Integration tests of p2mctl: scripts in, JSON and table dumps out.

Every P2M test runs for both table formats.  Explicit machine frames below
are chosen in an 8G host (frames 0..0x1fffff) away from 0x1c0000, the 1G
chunk the heap hands out first (for table pages and `auto`).
"""
import json
import struct

import pytest

from conftest import expect_bad_line

FORMATS = ["npt", "ept"]
TAG = 0x5A5A5A5A5A5A5A5A           # default `write` value is gfn ^ TAG
GFN_LIMIT = 1 << 36
HOST_8G_FRAMES = 0x200000

M1G = 0x100000                      # a 1G-aligned free frame
M2M = 0x80200                       # a 2M-aligned free frame
M4K = 0x90005


def prologue(fmt, host="8G"):
    return f"host {host}\ncreate 1 hap={fmt}\n"


def stats_of(res, n=-1):
    """The n-th stats object printed."""
    objs = [o for o in res.json if "pages_4k" in o]
    return objs[n]


def counters(s):
    return (s["pages_1g"], s["pages_2m"], s["pages_4k"], s["table_pages"],
            s["splits"])


def lookup(gfn, mfn, order, typ, access):
    return {"gfn": gfn, "mfn": mfn, "order": order, "type": typ,
            "access": access}


# --- map / translate / unmap at each order -------------------------------

# order, gfn, mfn, type, access, table pages of one leaf of that order.
# translate reports the access asked for, not what the type leaves of it.
ORDER_CASES = [
    (0, 0x12345, M4K, "ram_rw", "rx", 4),
    (9, 0x2400, M2M, "ram_ro", "rwx", 3),
    (18, 0x80000, M1G, "ram_rw", "rw", 2),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("order,gfn,mfn,typ,acc,tables", ORDER_CASES)
def test_map_translate_unmap(run_p2mctl, fmt, order, gfn, mfn, typ, acc,
                             tables):
    last = (1 << order) - 1
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 {gfn:#x} {mfn:#x} {order} type={typ} access={acc}
        translate 1 {gfn:#x}
        translate 1 {gfn + last:#x}
        translate 1 {gfn + last + 1:#x}
        stats 1
        unmap 1 {gfn:#x} {order}
        translate 1 {gfn:#x}
        stats 1
        """)
    assert r.rc == 0, r
    first, end, after, s1, gone, s2 = r.json
    assert first == lookup(gfn, mfn, order, typ, acc)
    assert end == lookup(gfn + last, mfn + last, order, typ, acc)
    assert after["type"] == "invalid" and after["mfn"] is None
    want = [0, 0, 0]
    want[2 - order // 9] = 1
    assert counters(s1) == (*want, tables, 0)
    assert s1["format"] == fmt
    assert gone["type"] == "invalid" and gone["mfn"] is None
    assert gone["order"] <= order
    assert counters(s2)[:3] == (0, 0, 0) and s2["splits"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("order", [0, 9, 18])
def test_map_auto_allocates_aligned_extent(run_p2mctl, fmt, order):
    gfn = 3 << 18
    r = run_p2mctl(prologue(fmt) + f"""
        stats 1
        map 1 {gfn:#x} auto {order}
        translate 1 {gfn:#x}
        stats 1
        check
        """)
    assert r.rc == 0, r
    before, t, after, chk = r.json
    assert t["order"] == order and t["type"] == "ram_rw"
    assert t["access"] == "rwx"
    assert t["mfn"] % (1 << order) == 0
    assert after["tot_pages"] - before["tot_pages"] == 1 << order
    used = after["tot_pages"] + after["p2m_pages"]
    assert chk["ok"] is True
    assert chk["free_pages"] == chk["total_pages"] - used


# --- splits and types --------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_4k_map_in_1g_leaf_splits_twice_keeping_type(run_p2mctl, fmt):
    g = 0x40000
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 {g:#x} {M1G:#x} 18 access=rx
        settype 1 {g:#x} 18 ram_ro
        stats 1
        map 1 {g + 5:#x} {M1G + 5:#x} 0 type=ram_rw access=rwx
        stats 1
        translate 1 {g + 5:#x}
        translate 1 {g + 6:#x}
        translate 1 {g + 0x3ffff:#x}
        audit 1
        """)
    assert r.rc == 0, r
    s1, s2, hit, near, far, audit = r.json
    assert counters(s1) == (1, 0, 0, 2, 0)
    # 1G -> 512 x 2M (split 1), one 2M -> 512 x 4K (split 2)
    assert counters(s2) == (0, 511, 512, 4, 2)
    assert hit == lookup(g + 5, M1G + 5, 0, "ram_rw", "rwx")
    assert near == lookup(g + 6, M1G + 6, 0, "ram_ro", "rx")
    assert far == lookup(g + 0x3ffff, M1G + 0x3ffff, 9, "ram_ro", "rx")
    assert audit["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_settype_whole_1g_keeps_leaf_partial_splits_once(run_p2mctl, fmt):
    g = 0x40000
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 {g:#x} auto 18
        settype 1 {g:#x} 18 ram_ro
        translate 1 {g + 77:#x}
        stats 1
        settype 1 {g + 0x200:#x} 9 ram_rw
        translate 1 {g + 0x200:#x}
        translate 1 {g:#x}
        stats 1
        """)
    assert r.rc == 0, r
    t1, s1, t2, t3, s2 = r.json
    assert (t1["type"], t1["order"]) == ("ram_ro", 18)
    assert counters(s1) == (1, 0, 0, 2, 0)
    assert (t2["type"], t2["order"]) == ("ram_rw", 9)
    assert (t3["type"], t3["order"]) == ("ram_ro", 9)
    assert counters(s2) == (0, 512, 0, 3, 1)


# --- log-dirty and guest accesses ------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_logdirty_write_splits_1g_and_bitmap(run_p2mctl, fmt):
    g = 0x40000
    x = g + 0x12345
    y = 0x80210                       # in a 2M leaf in another 1G window
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 {g:#x} auto 18
        map 1 0x80200 auto 9
        logdirty 1 on
        translate 1 {x:#x}
        write 1 {x:#x}
        stats 1
        translate 1 {x:#x}
        translate 1 {x + 1:#x}
        logdirty 1 peek
        read 1 {x:#x}
        logdirty 1 clean
        logdirty 1 peek
        translate 1 {x:#x}
        write 1 {x:#x} 12345
        write 1 {y:#x}
        logdirty 1 peek
        read 1 {x:#x}
        read 1 {y:#x}
        read 1 {x + 1:#x}
        logdirty 1 off
        translate 1 {x + 1:#x}
        audit 1
        """)
    assert r.rc == 0, r
    (t0, s, t1, t2, peek1, rd1, clean, peek2, t3, peek3, rd2, rd3, rd4,
     t4, audit) = r.json
    assert (t0["type"], t0["order"], t0["access"]) == \
        ("ram_logdirty", 18, "rwx")
    assert counters(s) == (0, 511 + 1, 512, 5, 2)   # + the 2M at 0x80200
    assert (t1["type"], t1["order"]) == ("ram_rw", 0)
    assert (t2["type"], t2["order"]) == ("ram_logdirty", 0)
    assert t2["mfn"] == t1["mfn"] + 1 == t0["mfn"] + 1
    assert peek1 == {"dirty": 1, "gfns": [x]}
    assert rd1 == {"gfn": x, "value": x ^ TAG}
    assert clean == {"dirty": 1, "gfns": [x]}
    assert peek2 == {"dirty": 0, "gfns": []}
    assert t3["type"] == "ram_logdirty"
    assert peek3 == {"dirty": 2, "gfns": [x, y]}
    assert rd2 == {"gfn": x, "value": 12345}
    assert rd3 == {"gfn": y, "value": y ^ TAG}
    assert rd4 == {"gfn": x + 1, "value": 0}
    # log-dirty off folds the split 1G leaf back (superpage recovery)
    assert (t4["type"], t4["order"]) == ("ram_rw", 18)
    assert t4["mfn"] == t0["mfn"] + 1
    assert audit["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_logdirty_on_eager_splits_at_once(run_p2mctl, fmt):
    """on-eager splits every writable superpage to 4K when logging starts;
    a write then only retypes, and off folds everything back."""
    g = 0x40000
    x = g + 0x12345
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 {g:#x} auto 18
        map 1 0x80200 auto 9
        logdirty 1 on-eager
        stats 1
        translate 1 {x:#x}
        write 1 {x:#x}
        stats 1
        logdirty 1 peek
        logdirty 1 off
        translate 1 {x:#x}
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    s1, t1, s2, peek, t2, s3, audit = r.json
    # 1G -> 512 2M -> 512 x 512 4K, and the 2M -> 512 4K: 514 splits
    assert counters(s1) == (0, 0, 512 * 512 + 512, 4 + 512 + 1, 514)
    assert (t1["type"], t1["order"]) == ("ram_logdirty", 0)
    assert counters(s2)[4] == 514          # the write split nothing
    assert peek == {"dirty": 1, "gfns": [x]}
    assert (t2["type"], t2["order"]) == ("ram_rw", 18)
    assert t2["mfn"] == t1["mfn"]
    assert counters(s3)[:2] == (1, 1)
    assert audit["ok"] is True

@pytest.mark.parametrize("fmt", FORMATS)
def test_write_read_roundtrip_distinct_frames(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        map 1 0 auto 9
        map 1 0x200 auto 9
        write 1 0x3
        write 1 0x203 0xdeadbeef
        read 1 0x3
        read 1 0x203
        read 1 0x4
        stats 1
        """)
    assert r.rc == 0, r
    a, b, c, s = r.json
    assert a == {"gfn": 3, "value": 3 ^ TAG}
    assert b == {"gfn": 0x203, "value": 0xDEADBEEF}
    assert c == {"gfn": 4, "value": 0}
    assert counters(s) == (0, 2, 0, 3, 0)      # no split without logdirty


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_to_unmapped_gfn_crashes_domain(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + "write 1 0x99\nstats 1\n")
    assert r.rc == 2, r
    assert "p2mctl: line 3: write: EFAULT" in r.err
    assert "crashed" in r.err
    assert r.out == ""


# --- dumps -------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_dump_one_line_per_leaf_sorted(run_p2mctl, fmt, tmp_path):
    maps = [(0x1000000, 0), (0x40000, 18), (0x5, 0), (0x600, 0), (0x200, 9)]
    lines = "".join(f"map 1 {g:#x} auto {o}\n" for g, o in maps)
    lines += "".join(f"translate 1 {g:#x}\n" for g, _ in maps)
    r = run_p2mctl(prologue(fmt) + lines + "dump 1 leaves.json\n")
    assert r.rc == 0, r
    dumped = [json.loads(l) for l in
              (tmp_path / "leaves.json").read_text().splitlines()]
    assert len(dumped) == len(maps)
    assert [d["gfn"] for d in dumped] == sorted(g for g, _ in maps)
    assert sorted(r.json, key=lambda t: t["gfn"]) == dumped


NPT_P, NPT_RW, NPT_U = 1 << 0, 1 << 1, 1 << 2
EPT_R, EPT_W, EPT_X = 1 << 0, 1 << 1, 1 << 2
PS = 1 << 7
ADDR = 0x000FFFFFFFFFF000
EPT_WB = 6


def load_tables(path):
    data = path.read_bytes()
    rec = 8 + 4096
    assert len(data) % rec == 0
    order, tables = [], {}
    for off in range(0, len(data), rec):
        mfn = struct.unpack_from("<Q", data, off)[0]
        assert mfn not in tables, "table page dumped twice"
        tables[mfn] = struct.unpack_from("<512Q", data, off + 8)
        order.append(mfn)
    return order, tables


def present(fmt, e):
    return bool(e & (NPT_P if fmt == "npt" else 7))


def walk(fmt, tables, root, gfn):
    """Follow gfn through the dumped tables: (level, leaf entry)."""
    mfn = root
    for level in (4, 3, 2, 1):
        e = tables[mfn][(gfn >> (9 * (level - 1))) & 511]
        assert present(fmt, e), f"no entry at L{level} for gfn {gfn:#x}"
        if level == 1 or (level < 4 and e & PS):
            return level, e
        assert not e & PS, "PS set in an L4 entry"
        assert e & 7 == 7, f"table pointer {e:#x} lacks P/RW/U or R/W/X"
        mfn = (e & ADDR) >> 12
        assert mfn in tables, f"L{level} entry points at {mfn:#x}, not dumped"
    raise AssertionError("unreachable")


def reachable(fmt, tables, mfn, level):
    """Every table page reachable from mfn (a table at level)."""
    seen = [mfn]
    if level == 1:
        return seen
    for e in tables[mfn]:
        if present(fmt, e) and not (level < 4 and e & PS):
            seen += reachable(fmt, tables, (e & ADDR) >> 12, level - 1)
    return seen


# gfn, mfn, order, type: ram_ro must drop write permission in the entry
TABLE_MAPS = [(0x40000, M1G, 18, "ram_rw"), (0x200, M2M, 9, "ram_ro"),
              (0x5, M4K, 0, "ram_rw")]


@pytest.mark.parametrize("fmt", FORMATS)
def test_dumptables_decode_entries(run_p2mctl, fmt, tmp_path):
    lines = "".join(f"map 1 {g:#x} {m:#x} {o} type={t}\n"
                    for g, m, o, t in TABLE_MAPS)
    r = run_p2mctl(prologue(fmt) + lines + "stats 1\ndumptables 1 t.bin\n")
    assert r.rc == 0, r
    s = stats_of(r)
    meta = json.loads((tmp_path / "t.bin.json").read_text())
    assert meta["format"] == fmt and meta["levels"] == 4
    order, tables = load_tables(tmp_path / "t.bin")
    assert (tmp_path / "t.bin").stat().st_size == \
        (8 + 4096) * s["table_pages"]
    assert order[0] == meta["root_mfn"]
    assert sorted(reachable(fmt, tables, meta["root_mfn"], 4)) == \
        sorted(order)
    for gfn, mfn, o, typ in TABLE_MAPS:
        level, e = walk(fmt, tables, meta["root_mfn"], gfn)
        assert level == o // 9 + 1
        assert e & ADDR == mfn << 12
        assert bool(e & PS) == (level > 1)
        writable = typ == "ram_rw"
        if fmt == "npt":
            assert e & (NPT_P | NPT_U) == NPT_P | NPT_U
            assert bool(e & NPT_RW) == writable
        else:
            assert (e >> 3) & 7 == EPT_WB
            assert e & 7 == (7 if writable else EPT_R | EPT_X)


@pytest.mark.parametrize("fmt", FORMATS)
def test_dumptables_root_pointer(run_p2mctl, fmt, tmp_path):
    r = run_p2mctl(prologue(fmt) + "dumptables 1 t.bin\n")
    assert r.rc == 0, r
    meta = json.loads((tmp_path / "t.bin.json").read_text())
    order, tables = load_tables(tmp_path / "t.bin")
    assert order == [meta["root_mfn"]]
    assert not any(tables[meta["root_mfn"]])
    want = meta["root_mfn"] << 12
    if fmt == "ept":
        want |= EPT_WB | (3 << 3)      # WB walks, 4-level
    assert meta["root_pointer"] == want


# --- machine layout, fragmentation, errors ---------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mfn,order", [(0xC0000, 18), (0xC0200, 9),
                                       (0xFFFFF, 0)])
def test_mfn_in_hole_enxio_stops_script(run_p2mctl, fmt, mfn, order):
    r = run_p2mctl(f"""host 64G ram=0-3G,4G-64G
        create 1 hap={fmt}
        map 1 0 auto 0
        translate 1 0
        map 1 0 {mfn:#x} {order}
        stats 1
        """)
    assert r.rc == 2, r
    assert len(r.err_lines) == 1
    assert r.err_lines[0].startswith("p2mctl: line 5: map:")
    assert "ENXIO" in r.err
    assert len(r.json) == 1 and r.json[0]["type"] == "ram_rw"


@pytest.mark.parametrize("fmt", FORMATS)
def test_ram_above_hole_is_usable(run_p2mctl, fmt):
    r = run_p2mctl(f"""host 64G ram=0-3G,4G-64G
        create 1 hap={fmt}
        map 1 0 0x100000 18
        translate 1 0x3
        check
        """)
    assert r.rc == 0, r
    t, chk = r.json
    assert t["mfn"] == 0x100003
    assert chk["total_pages"] == (63 << 30) >> 12


@pytest.mark.parametrize("fmt", FORMATS)
def test_fragment_no1g_refuses_1g_allows_2m(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt, "8G fragment=no1g") + """
        map 1 0 auto 9
        translate 1 0
        map 1 0x40000 auto 18
        stats 1
        """)
    assert r.rc == 2, r
    assert "line 6: map: ENOMEM" in r.err
    assert len(r.json) == 1 and r.json[0]["order"] == 9


@pytest.mark.parametrize("fmt", FORMATS)
def test_fragment_no2m_refuses_2m_allows_4k(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt, "8G fragment=no2m") + """
        map 1 0 auto 0
        translate 1 0
        map 1 0x200 auto 9
        """)
    assert r.rc == 2, r
    assert "line 6: map: ENOMEM" in r.err
    assert len(r.json) == 1 and r.json[0]["order"] == 0


# (name, setup lines, bad line, text stderr must hold)
BAD_LINES = [
    ("unknown command", "", "frob 1", "unknown command"),
    ("missing args", "", "map 1 0 auto", "missing arguments"),
    ("too many args", "", "translate 1 0 0", "too many arguments"),
    ("bad number", "", "map 1 12abc auto 0", "bad gfn"),
    ("bad hex", "", "translate 1 0xfg", "bad gfn"),
    ("bad size suffix", "", "create 2 hap=npt maxmem=4Q", "bad maxmem"),
    ("order 5", "", "map 1 0 auto 5", "EDOM"),
    ("order 5 mfn", "", f"map 1 0 {M2M:#x} 5", "EDOM"),
    ("unmap order 5", "", "unmap 1 0 5", "EDOM"),
    ("settype order 5", "", "settype 1 0 5 ram_ro", "EDOM"),
    ("misaligned gfn", "", "map 1 1 auto 9", "EINVAL"),
    ("misaligned mfn", "", f"map 1 0 {M2M + 1:#x} 9", "EINVAL"),
    ("gfn beyond 2^36", "", f"map 1 {GFN_LIMIT:#x} auto 0", "ERANGE"),
    ("gfn end beyond 2^36", "", f"map 1 {GFN_LIMIT - 512:#x} auto 18",
     "ERANGE"),
    ("translate beyond 2^36", "", f"translate 1 {GFN_LIMIT:#x}", "ERANGE"),
    ("write beyond 2^36", "", f"write 1 {GFN_LIMIT:#x}", "ERANGE"),
    ("write bad value", "map 1 0 auto 0", "write 1 0 -1", "bad value"),
    ("mfn beyond memory", "", f"map 1 0 {HOST_8G_FRAMES:#x} 0", "EFAULT"),
    ("mfn of another domain", "create 2 hap=ept\nmap 2 0 0x1000 0",
     "map 1 0 0x1000 0", "EPERM"),
    ("mfn mapped elsewhere", "map 1 0 0x1000 0", "map 1 1 0x1000 0",
     "EBUSY"),
    ("unknown type", "", "map 1 0 auto 0 type=foo", "EBADR"),
    ("settype non-ram", "", "settype 1 0 0 mmio_direct", "EBADR"),
    ("bad access", "", "map 1 0 auto 0 access=rwq", "EBADR"),
    ("access twice", "", "map 1 0 auto 0 access=rr", "EBADR"),
    ("unknown option", "", "map 1 0 auto 0 color=red", "unexpected"),
    ("unknown domain", "", "translate 7 0", "ESRCH"),
    ("domain id too big", "", "map 16 0 auto 0", "bad domain"),
    ("create twice", "", "create 1 hap=ept", "EEXIST"),
    ("hap=foo", "", "create 2 hap=foo", "bad hap"),
    ("no hap", "", "create 2 maxmem=1G", "hap= is required"),
    ("second host", "", "host 8G", "host already"),
    ("logdirty bad op", "", "logdirty 1 maybe", "bad operation"),
    ("logdirty bad op names on-eager", "", "logdirty 1 eager", "on-eager"),
    ("peek while off", "", "logdirty 1 peek", "EINVAL"),
    ("maxmem exceeded", "create 2 hap=npt maxmem=1M", "map 2 0 auto 9",
     "ENOSPC"),
    ("decrease order 19", "", "decrease 1 0 1 19", "EDOM"),
    ("decrease beyond 2^36", "", f"decrease 1 {GFN_LIMIT - 1:#x} 2 0",
     "ERANGE"),
    ("decrease bad nr", "", "decrease 1 0 x 0", "bad nr"),
    ("fail what", "", "fail disk 1", "usage: fail"),
    ("fail table no domain", "", "fail table 7 1", "ESRCH"),
    ("try unknown command", "", "try frob 1", "unknown command"),
    ("try missing args", "", "try map 1 0 auto", "missing arguments"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name,setup,bad,want", BAD_LINES,
                         ids=[c[0] for c in BAD_LINES])
def test_bad_line(run_p2mctl, fmt, name, setup, bad, want):
    """Lines before the bad one ran (translate printed), none after did."""
    pre = prologue(fmt) + (setup + "\n" if setup else "") + "translate 1 0\n"
    expect_bad_line(run_p2mctl, pre, bad, want)


@pytest.mark.parametrize("script,want", [
    ("host 8Q", "bad size"),
    ("host 8G ram=0-3G,2G-8G", "bad ram="),
    ("host 8G ram=0-16G", "beyond the host size"),
    ("host 8G fragment=some", "bad fragment"),
    ("host 8G+", "bad size"),
    ("map 1 0 auto 0", "no host"),
])
def test_bad_host_line(run_p2mctl, script, want):
    r = run_p2mctl(script + "\ncreate 1 hap=npt\ntranslate 1 0\n")
    assert r.rc == 2, r
    assert len(r.err_lines) == 1 and r.err_lines[0].startswith(
        "p2mctl: line 1: "), r
    assert want in r.err
    assert r.out == ""


def test_errno_names_in_messages(run_p2mctl):
    r = run_p2mctl(prologue("npt") + "map 1 0 0xC0000000 0\n")
    assert r.rc == 2
    assert "EFAULT (errno 14)" in r.err


# --- input handling, audit, check, destroy -----------------------------------

SCRIPT = """# a full-line comment
host 8G      # trailing comment

create 1 hap=ept
\tmap 1 0x200 auto 9   # tab-indented
translate 1 0x201
"""


@pytest.mark.parametrize("via", ["file", "stdin", "dash"])
def test_input_sources_and_comments(run_p2mctl, via):
    r = run_p2mctl(SCRIPT, via=via)
    assert r.rc == 0, r
    assert r.err == ""
    (t,) = r.json
    assert t["gfn"] == 0x201 and t["order"] == 9 and t["type"] == "ram_rw"


def test_error_line_numbers_count_comments_and_blanks(run_p2mctl):
    r = run_p2mctl(SCRIPT + "\n# x\nmap 1 0 auto 7\n", via="stdin")
    assert r.rc == 2
    assert r.err_lines == [r.err_lines[0]]
    assert r.err_lines[0].startswith("p2mctl: line 9: map:")


@pytest.mark.parametrize("fmt", FORMATS)
def test_audit_clean_domain(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        map 1 0x40000 auto 18
        map 1 0x200 auto 9
        map 1 0x7 auto 0 type=ram_ro access=r
        map 1 0x40005 auto 0
        audit 1
        """)
    assert r.rc == 0, r
    (a,) = r.json
    assert a["ok"] is True and a["errors"] == []
    assert a["accounting_errors"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_check_and_destroy_release_everything(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        create 2 hap=npt
        map 1 0 auto 18
        map 2 0 auto 9
        stats 1
        stats 2
        check
        destroy 1
        destroy 2
        check
        """)
    assert r.rc == 0, r
    s1, s2, c1, c2 = r.json
    used = sum(s["tot_pages"] + s["p2m_pages"] for s in (s1, s2))
    assert c1["ok"] is True and c2["ok"] is True
    assert c1["free_pages"] == c1["total_pages"] - used
    assert c2["free_pages"] == c2["total_pages"] == HOST_8G_FRAMES


@pytest.mark.parametrize("fmt", FORMATS)
def test_unmap_keeps_frame_for_remap(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + f"""
        map 1 0x10 {M4K:#x} 0
        unmap 1 0x10 0
        map 1 0x20 {M4K:#x} 0
        translate 1 0x20
        stats 1
        """)
    assert r.rc == 0, r
    t, s = r.json
    assert t["mfn"] == M4K and s["tot_pages"] == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_try_reports_failure_and_goes_on(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        try map 1 1 auto 9
        map 1 0 auto 0
        try translate 1 0x1000000000
        translate 1 0
        """)
    assert r.rc == 0, r
    assert [l.split(": ")[:3] for l in r.err_lines] == \
        [["p2mctl", "line 4", "map"], ["p2mctl", "line 6", "translate"]], r
    assert "EINVAL" in r.err_lines[0] and "ERANGE" in r.err_lines[1]
    assert len(r.json) == 1 and r.json[0]["type"] == "ram_rw"
