"""Integration tests of p2mctl's populate-on-demand commands: pod, target,
balloon, sweep, touch, resume, policy and events, and the PoD keys of
stats and audit.

Every test runs for both table formats.  Sizes stay small (a few MiB of
guest writes, at most one 1G page zeroed or checked) so that the debug
build, which audits after every operation, stays quick.
"""
import pytest

from conftest import expect_bad_line

FORMATS = ["npt", "ept"]
TAG = 0x5A5A5A5A5A5A5A5A           # touch write puts gfn ^ TAG in each word
GFN_LIMIT = 1 << 36
P1G, P2M = 1 << 18, 1 << 9         # pages in a 1G / 2M page


def prologue(fmt, host="8G", create=""):
    return f"host {host}\ncreate 1 hap={fmt} {create}\n"


def of_kind(res, key):
    """The JSON objects printed that have key."""
    return [o for o in res.json if key in o]


def stats(res):
    return of_kind(res, "pod_cache_4k")


def touches(res):
    return of_kind(res, "done")


def events(res):
    return of_kind(res, "kind")


def cache(s):
    return (s["pod_cache_1g"], s["pod_cache_2m"], s["pod_cache_4k"])


def translates(res):
    return of_kind(res, "type")


# --- pod: one entry at the level of the order --------------------------------

# order, gfn, table pages (root + one table per level above the entry)
MARK_CASES = [(18, 0x40000, 2), (9, 0x600, 3), (0, 0x12345, 4)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("order,gfn,tables", MARK_CASES,
                         ids=["1g", "2m", "4k"])
def test_pod_mark_is_one_entry_at_its_level(run_p2mctl, fmt, order, gfn,
                                            tables):
    last = gfn + (1 << order) - 1
    r = run_p2mctl(prologue(fmt) + f"""
        pod 1 {gfn:#x} {order}
        translate 1 {gfn:#x}
        translate 1 {last:#x}
        translate 1 {last + 1:#x}
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    first, end, after = translates(r)
    (s,) = stats(r)
    for t in (first, end):
        assert (t["type"], t["order"], t["mfn"]) == \
            ("populate_on_demand", order, None)
    assert after["type"] == "invalid"
    assert s["pod_entries"] == 1 << order
    assert s["believed_pages"] == 1 << order
    assert s["table_pages"] == tables
    assert (s["pages_1g"], s["pages_2m"], s["pages_4k"]) == (0, 0, 0)
    assert s["tot_pages"] == 0 and cache(s) == (0, 0, 0)
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


# --- target: the cache per order ---------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_target_grows_and_shrinks_cache_per_order(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 18
        pod 1 0x40000 18
        stats 1
        target 1 1G+2M+8K
        stats 1
        target 1 2M+4K
        stats 1
        target 1 0
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    s0, grown, shrunk, none = stats(r)
    assert cache(s0) == (0, 0, 0) and s0["pod_count"] == 0
    want = P1G + P2M + 2
    assert cache(grown) == (1, 1, 2)
    assert grown["pod_count"] == grown["tot_pages"] == want
    assert grown["target_pages"] == want
    assert s0["host_free_pages"] - grown["host_free_pages"] == want
    # the 1G list goes first; then one 4K page is too many
    assert cache(shrunk) == (0, 1, 1)
    assert shrunk["pod_count"] == shrunk["tot_pages"] == P2M + 1
    assert cache(none) == (0, 0, 0) and none["tot_pages"] == 0
    assert none["host_free_pages"] == s0["host_free_pages"]
    assert none["pod_entries"] == 2 * P1G


@pytest.mark.parametrize("fmt", FORMATS)
def test_target_cache_capped_at_entries(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + "pod 1 0 9\ntarget 1 1G\nstats 1\n")
    assert r.rc == 0, r
    (s,) = stats(r)
    assert cache(s) == (0, 1, 0) and s["pod_count"] == P2M
    assert s["target_pages"] == P1G


# fragment, target, cache (1g, 2m, 4k), order of the first fill, remaps
FRAG_CASES = [("no1g", "1G", (0, 512, 0), 9, 1),
              ("no2m", "8M", (0, 0, 2048), 0, 2)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("frag,target,want,order,remaps", FRAG_CASES,
                         ids=[c[0] for c in FRAG_CASES])
def test_target_falls_back_to_smaller_pages(run_p2mctl, fmt, frag, target,
                                            want, order, remaps):
    r = run_p2mctl(prologue(fmt, f"8G fragment={frag}") + f"""
        pod 1 0x40000 18
        target 1 {target}
        stats 1
        touch 1 0x40007 0x40007 write
        translate 1 0x40007
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    s, after = stats(r)
    (t,) = translates(r)
    assert cache(s) == want
    assert (t["type"], t["order"]) == ("ram_rw", order)
    assert after["remap_retries"] == remaps
    filled = {0: "populated_4k", 9: "populated_2m"}[order]
    assert after[filled] == 1 and after["populated_1g"] == 0


# --- demand populate: remap and retry ---------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_1g_fault_from_4k_only_cache_remaps_twice(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 18
        target 1 400K
        stats 1
        touch 1 5 5 write
        stats 1
        translate 1 5
        translate 1 6
        translate 1 0x200
        translate 1 0x3ffff
        audit 1
        """)
    assert r.rc == 0, r
    before, after = stats(r)
    (t,) = touches(r)
    hit, near, next2m, far = translates(r)
    assert cache(before) == (0, 0, 100)
    assert t == {"done": 1, "remaining": 0, "stopped": None,
                 "paused": False, "crashed": False}
    assert after["remap_retries"] == 2
    assert after["populated_4k"] == 1
    assert after["populated_2m"] == after["populated_1g"] == 0
    assert cache(after) == (0, 0, 99)
    assert after["pod_entries"] == P1G - 1
    assert after["splits"] == 2 and after["pages_4k"] == 1
    assert (hit["type"], hit["order"]) == ("ram_rw", 0)
    assert (near["type"], near["order"]) == ("populate_on_demand", 0)
    assert (next2m["type"], next2m["order"]) == ("populate_on_demand", 9)
    assert (far["type"], far["order"]) == ("populate_on_demand", 9)


# --- sweep: zeroed pages come back, data stays ------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_sweep_all_reclaims_zeroed_pages_of_each_order(run_p2mctl, fmt):
    # zeroed: 1G at 0x40000, 2M at 0x200, 4K at 0x10; kept: 0x80000,
    # 0x400, 0x11.  Target = B: the cache holds 2 chunks of each size.
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0x40000 18
        pod 1 0x80000 18
        pod 1 0x200 9
        pod 1 0x400 9
        pod 1 0x10 0
        pod 1 0x11 0
        target 1 2G+4M+8K
        touch 1 0x40000 0x40000 write
        touch 1 0x80005 0x80005 write
        touch 1 0x203 0x203 write
        touch 1 0x403 0x403 write
        touch 1 0x10 0x11 write
        stats 1
        touch 1 0x40000 0x40000 zero
        touch 1 0x203 0x203 zero
        touch 1 0x10 0x10 zero
        sweep 1 all
        stats 1
        translate 1 0x40000
        translate 1 0x80005
        translate 1 0x203
        translate 1 0x403
        translate 1 0x10
        translate 1 0x11
        touch 1 0x80005 0x80005 verify
        touch 1 0x403 0x403 verify
        touch 1 0x11 0x11 verify
        touch 1 0x80006 0x80006 read
        audit 1
        """)
    assert r.rc == 0, r
    before, after = stats(r)
    (sw,) = of_kind(r, "reclaimed")
    assert (before["populated_1g"], before["populated_2m"],
            before["populated_4k"]) == (2, 2, 2)
    assert sw["reclaimed"] == P1G + P2M + 1
    assert (after["swept_1g"], after["swept_2m"], after["swept_4k"]) == \
        (1, 1, 1)
    assert cache(after) == (1, 1, 1)
    assert after["pod_entries"] == P1G + P2M + 1
    assert after["tot_pages"] == before["tot_pages"]
    want = [("populate_on_demand", 18), ("ram_rw", 18),
            ("populate_on_demand", 9), ("ram_rw", 9),
            ("populate_on_demand", 0), ("ram_rw", 0)]
    assert [(t["type"], t["order"]) for t in translates(r)] == want
    v1g, v2m, v4k, rd = touches(r)[-4:]
    for v in (v1g, v2m, v4k):
        assert (v["tagged"], v["zero"], v["other"]) == (1, 0, 0)
    assert (rd["tagged"], rd["zero"], rd["checksum"]) == (0, 1, 0)
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("mode", ["eager", "emergency"])
def test_sweep_modes_reclaim_untouched_fill(run_p2mctl, fmt, mode):
    """A page the guest only read is still zero: either sweep takes it."""
    r = run_p2mctl(prologue(fmt) + f"""
        pod 1 0 9
        target 1 2M
        touch 1 0 3 read
        stats 1
        sweep 1 {mode}
        stats 1
        translate 1 0
        """)
    assert r.rc == 0, r
    rd = touches(r)[0]
    assert (rd["done"], rd["zero"], rd["checksum"]) == (4, 4, 0)
    before, after = stats(r)
    assert before["populated_2m"] == 1 and cache(before) == (0, 0, 0)
    assert of_kind(r, "reclaimed") == [{"reclaimed": P2M}]
    assert after["swept_2m"] == 1 and cache(after) == (0, 1, 0)
    assert translates(r)[0]["type"] == "populate_on_demand"


# --- balloon -----------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_balloon_misaligned_sizes_release_from_top(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 18
        balloon 1 1048564K
        translate 1 0x3fffc
        translate 1 0x3fffd
        translate 1 0x3fdff
        balloon 1 516K+512M
        translate 1 0x20080
        translate 1 0x20081
        translate 1 0x20000
        translate 1 0x1ffff
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    b1, b2 = of_kind(r, "released")
    assert (b1["released"], b1["believed_pages"]) == (3, P1G - 3)
    want2 = P1G // 2 + 129
    assert (b2["released"], b2["believed_pages"]) == (P1G - 3 - want2, want2)
    got = [(t["type"], t["order"]) for t in translates(r)]
    assert got == [("populate_on_demand", 0), ("invalid", 0),
                   ("populate_on_demand", 9),
                   ("populate_on_demand", 0), ("invalid", 0),
                   ("populate_on_demand", 0), ("populate_on_demand", 9)]
    (s,) = stats(r)
    assert s["pod_entries"] == want2 and s["tot_pages"] == 0
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_balloon_populated_1g_splits_and_keeps_data(run_p2mctl, fmt):
    # 1G - 2M - 4K: the top 2M page and the 4K page below it go back.
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 18
        target 1 1G
        touch 1 0x3fd00 0x3ffff write
        stats 1
        balloon 1 1046524K
        stats 1
        translate 1 0x3fe00
        translate 1 0x3fdff
        translate 1 0x3fdfe
        translate 1 0x3fbff
        touch 1 0x3fd00 0x3fdfe verify
        audit 1
        """)
    assert r.rc == 0, r
    before, after = stats(r)
    (b,) = of_kind(r, "released")
    assert before["pages_1g"] == 1 and before["pod_entries"] == 0
    assert b == {"released": P2M + 1, "asked": P2M + 1, "calls": 2,
                 "believed_pages": P1G - P2M - 1,
                 "tot_pages": P1G - P2M - 1, "pod_entries": 0}
    assert (after["pages_1g"], after["pages_2m"], after["pages_4k"]) == \
        (0, 510, 511)
    assert after["tot_pages"] == P1G - P2M - 1
    assert cache(after) == (0, 0, 0)      # no PoD entries: to the heap
    got = [(t["type"], t["order"]) for t in translates(r)]
    assert got == [("invalid", 9), ("invalid", 0), ("ram_rw", 0),
                   ("ram_rw", 9)]
    v = touches(r)[-1]
    assert (v["done"], v["tagged"]) == (0xff, 0xff)


@pytest.mark.parametrize("fmt", FORMATS)
def test_balloon_to_current_size_releases_nothing(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + "pod 1 0 9\nballoon 1 2M\nstats 1\n")
    assert r.rc == 0, r
    (b,) = of_kind(r, "released")
    assert (b["released"], b["believed_pages"]) == (0, P2M)


# A balloon or decrease_reservation that fails half-way (issue 8 finding 7)
# prints what it did, then what stopped it, and that is what the tables
# show.  "fail table 1 1": the next table page the P2M takes fails.

def stopped_line(r):
    (line,) = [l for l in r.err_lines if "then:" in l]
    return line


@pytest.mark.parametrize("fmt", FORMATS)
def test_balloon_half_way_reports_released_and_error(run_p2mctl, fmt):
    # 3M -> 1M: the top 2M leaf goes whole, the next 1M needs a split of
    # the leaf at 0, and no table page comes.
    r = run_p2mctl(prologue(fmt) + """
        map 1 0 auto 9
        map 1 0x200 auto 9
        stats 1
        fail table 1 1
        try balloon 1 1M
        stats 1
        audit 1
        translate 1 0x1ff
        fail off
        balloon 1 1M
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    assert stopped_line(r).startswith(
        "p2mctl: line 8: balloon: d1: 512 of 768 pages released, then: "
        "ENOMEM"), r
    b1, b2 = of_kind(r, "released")
    before, mid, after = stats(r)
    assert (b1["released"], b1["asked"]) == (512, 768)
    assert before["believed_pages"] - mid["believed_pages"] == 512
    assert before["tot_pages"] - mid["tot_pages"] == 512
    assert mid["believed_pages"] == b1["believed_pages"]
    assert translates(r)[0]["type"] == "ram_rw"     # the half not given
    assert (b2["released"], b2["asked"]) == (256, 256)
    assert after["believed_pages"] == 256
    assert all(a["ok"] for a in of_kind(r, "pod_invariant_errors"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_decrease_half_way_reports_nr_done(run_p2mctl, fmt):
    # Extents of 256 pages from 0: 4K leaves, nothing, half of a 2M leaf.
    maps = "".join(f"map 1 {g:#x} auto 0\n" for g in range(0x100))
    r = run_p2mctl(prologue(fmt) + maps + """
        map 1 0x200 auto 9
        stats 1
        fail table 1 1
        try decrease 1 0 3 8
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    assert " decrease: d1: 2 of 3 extents done, then: ENOMEM" in \
        stopped_line(r), r
    (d,) = of_kind(r, "nr_done")
    assert d == {"nr": 3, "nr_done": 2, "released": 256, "calls": 1}
    before, after = stats(r)
    assert before["believed_pages"] - after["believed_pages"] == 256
    assert (after["pages_4k"], after["pages_2m"]) == (0, 1)
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_decrease_2_32_extents_continues(run_p2mctl, fmt):
    # 2^32 extents of 4K from gfn 0: the op comes back with continuations
    # (libxc re-issues it), every mapped page in the range goes, the page
    # just past it stays.
    n = 1 << 32
    maps = "".join(f"map 1 {g:#x} auto 0\n" for g in range(5000))
    r = run_p2mctl(prologue(fmt) + maps + f"""
        map 1 {n - 1:#x} auto 0
        map 1 {n:#x} auto 0
        decrease 1 0 {n} 0
        translate 1 {n - 1:#x}
        translate 1 {n:#x}
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    (d,) = of_kind(r, "nr_done")
    assert (d["nr"], d["nr_done"], d["released"]) == (n, n, 5001)
    assert d["calls"] >= 2
    assert [t["type"] for t in translates(r)] == ["invalid", "ram_rw"]
    assert stats(r)[0]["tot_pages"] == 1
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


# --- exhaustion: pause, events, target, resume -------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_exhaustion_pauses_then_resume_finishes(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 9
        target 1 400K
        touch 1 0 511 write
        events 1
        stats 1
        target 1 2M
        resume 1
        events 1
        resume 1
        touch 1 0 511 verify
        touch 1 0 511 read
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    w, res, again, v, rd = touches(r)
    assert w == {"done": 100, "remaining": 412,
                 "stopped": {"vcpu": 0, "gfn": 100}, "paused": True,
                 "crashed": False}
    oom, paused, resumed = events(r)
    assert oom == {"kind": "out_of_memory", "vcpu": 0, "gfn": 100,
                   "count": 0, "entry_count": 412, "tot_pages": 100,
                   "target": 100}
    assert (paused["kind"], paused["vcpu"], paused["gfn"]) == \
        ("paused", 0, 100)
    assert (resumed["kind"], resumed["vcpu"]) == ("resumed", 0)
    assert res == {"done": 412, "remaining": 0, "stopped": None,
                   "paused": False, "crashed": False}
    assert again["done"] == 0 and again["remaining"] == 0
    # every page holds its tag: nothing written before the pause was lost
    assert (v["done"], v["tagged"], v["zero"], v["other"]) == (512, 512, 0, 0)
    assert (rd["tagged"], rd["other"]) == (512, 0)
    assert rd["checksum"] == sum(g ^ TAG for g in range(512)) % (1 << 64)
    s_paused, s_end = stats(r)
    assert cache(s_paused) == (0, 0, 0) and s_paused["tot_pages"] == 100
    assert s_paused["pod_entries"] == 412
    assert s_end["pod_entries"] == 0 and s_end["tot_pages"] == P2M
    assert s_end["populated_4k"] == P2M and s_end["remap_retries"] == 1
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_paused_vcpu_does_nothing_until_resumed(run_p2mctl, fmt):
    """A touch given while the vCPU is paused stops at its first page; it
    replaces the unfinished work, which resume then runs."""
    r = run_p2mctl(prologue(fmt) + """
        pod 1 0 9
        target 1 40K
        touch 1 0 511 write
        touch 1 0 9 verify
        stats 1
        target 1 2M
        resume 1
        """)
    assert r.rc == 0, r
    w, blocked, res = touches(r)
    assert w["done"] == 10 and w["paused"] is True
    assert blocked["done"] == 0 and blocked["remaining"] == 10
    assert blocked["stopped"] == {"vcpu": 0, "gfn": 0}
    assert blocked["paused"] is True
    assert stats(r)[0]["tot_pages"] == 10
    assert (res["done"], res["tagged"], res["paused"]) == (10, 10, False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_policy_crash_crashes_domain_with_event(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        policy 1 oom=crash
        pod 1 0 9
        target 1 400K
        touch 1 0 511 write
        events 1
        stats 1
        resume 1
        audit 1
        """)
    assert r.rc == 0, r
    w, res = touches(r)
    assert w == {"done": 100, "remaining": 412,
                 "stopped": {"vcpu": 0, "gfn": 100}, "paused": False,
                 "crashed": True}
    assert [e["kind"] for e in events(r)] == ["out_of_memory", "crashed"]
    assert events(r)[1]["gfn"] == 100
    (s,) = stats(r)
    assert s["crashed"] is True and s["tot_pages"] == 100
    assert res["done"] == 0 and res["crashed"] is True
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_policy_pause_after_crash_policy_pauses(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt) + """
        policy 1 oom=crash
        policy 1 oom=pause
        pod 1 0 9
        target 1 4K
        touch 1 0 1 write
        events 1
        """)
    assert r.rc == 0, r
    (w,) = touches(r)
    assert (w["done"], w["paused"], w["crashed"]) == (1, True, False)
    assert [e["kind"] for e in events(r)] == ["out_of_memory", "paused"]


# --- concurrency -------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_four_vcpus_touch_shared_1g_pod_region(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt, create="vcpus=4") + """
        pod 1 0x40000 18
        target 1 1G
        touch 1 0x40000 0x43fff write vcpus=4
        touch 1 0x40000 0x43fff verify vcpus=4
        stats 1
        audit 1
        """)
    assert r.rc == 0, r
    w, v = touches(r)
    assert w == {"done": 0x4000, "remaining": 0, "stopped": None,
                 "paused": False, "crashed": False}
    assert (v["done"], v["tagged"]) == (0x4000, 0x4000)
    (s,) = stats(r)
    assert s["populated_1g"] == 1 and s["pages_1g"] == 1
    assert s["remap_retries"] == 0 and s["pod_entries"] == 0
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


@pytest.mark.parametrize("fmt", FORMATS)
def test_four_vcpus_exhaust_pause_and_resume(run_p2mctl, fmt):
    r = run_p2mctl(prologue(fmt, create="vcpus=4") + """
        pod 1 0 9
        target 1 400K
        touch 1 0 511 write vcpus=4
        events 1
        target 1 2M
        resume 1
        events 1
        touch 1 0 511 verify vcpus=2
        audit 1
        """)
    assert r.rc == 0, r
    w, res, v = touches(r)
    # 100 pages of memory: each vCPU has 128 pages to do, so all pause
    assert (w["done"], w["remaining"], w["paused"]) == (100, 412, True)
    assert w["stopped"]["gfn"] % 4 == w["stopped"]["vcpu"]
    kinds = [(e["kind"], e["vcpu"]) for e in events(r)]
    for k in ("out_of_memory", "paused", "resumed"):
        assert sorted(vc for kind, vc in kinds if kind == k) == [0, 1, 2, 3]
    assert (res["done"], res["remaining"], res["paused"]) == (412, 0, False)
    assert (v["done"], v["tagged"]) == (512, 512)
    assert of_kind(r, "pod_invariant_errors")[0]["ok"] is True


# --- bad input ---------------------------------------------------------------

# (name, setup lines, bad line, text stderr must hold)
BAD_LINES = [
    ("pod order 5", "", "pod 1 0 5", "EDOM"),
    ("pod misaligned 2M", "", "pod 1 0x201 9", "EINVAL"),
    ("pod misaligned 1G", "", "pod 1 0x200 18", "EINVAL"),
    ("pod beyond 2^36", "", f"pod 1 {GFN_LIMIT:#x} 0", "ERANGE"),
    ("pod over RAM", "map 1 0x200 auto 0", "pod 1 0x200 9", "EBUSY"),
    ("pod beyond maxmem", "create 2 hap=npt maxmem=1M", "pod 2 0 9",
     "ENOSPC"),
    ("pod bad gfn", "", "pod 1 x1 0", "bad gfn"),
    ("pod no domain", "", "pod 3 0 0", "ESRCH"),
    ("target not 4K", "pod 1 0 9", "target 1 4097", "not a multiple of 4K"),
    ("target bad size", "", "target 1 4Q", "bad size"),
    ("target above maxmem", "create 2 hap=npt maxmem=1G", "target 2 2G",
     "EINVAL"),
    ("balloon not 4K", "pod 1 0 9", "balloon 1 1M+1", "not a multiple"),
    ("balloon grow", "pod 1 0 9", "balloon 1 4M", "EINVAL"),
    ("sweep bad mode", "", "sweep 1 lazy", "bad mode"),
    ("touch bad mode", "pod 1 0 0", "touch 1 0 0 poke", "bad mode"),
    ("touch reversed", "pod 1 0 9", "touch 1 5 4 write", "above gfn-last"),
    ("touch beyond 2^36", "", f"touch 1 0 {GFN_LIMIT:#x} read", "ERANGE"),
    ("touch vcpus=0", "pod 1 0 9", "touch 1 0 1 write vcpus=0",
     "bad vcpus"),
    ("touch vcpus too many", "pod 1 0 9", "touch 1 0 1 write vcpus=2",
     "bad vcpus"),
    ("touch bad option", "pod 1 0 9", "touch 1 0 1 write cpus=2",
     "unexpected"),
    ("create vcpus=0", "", "create 2 hap=npt vcpus=0", "bad vcpus"),
    ("create vcpus=9", "", "create 2 hap=npt vcpus=9", "bad vcpus"),
    ("create vcpus=x", "", "create 2 hap=npt vcpus=x", "bad vcpus"),
    ("policy bad", "", "policy 1 oom=panic", "bad policy"),
    ("policy no oom", "", "policy 1 mode=crash", "unexpected"),
    ("events no domain", "", "events 4", "ESRCH"),
    ("resume missing dom", "", "resume", "missing arguments"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name,setup,bad,want", BAD_LINES,
                         ids=[c[0] for c in BAD_LINES])
def test_bad_line(run_p2mctl, fmt, name, setup, bad, want):
    """Lines before the bad one ran (translate printed), none after did."""
    pre = prologue(fmt) + (setup + "\n" if setup else "") + "translate 1 0\n"
    expect_bad_line(run_p2mctl, pre, bad, want)

