"""The bare-metal hypervisor image booted in QEMU and Bochs.

Real guests run on AMD SVM + NPT (QEMU, Bochs ryzen) and Intel VMX + EPT
(Bochs Skylake-X with 1G pages, Sandy Bridge without), on the same P2M,
PoD and heap sources as the hosted build.  tests/hv/run.py boots them and
parses the console; these tests judge what it saw, the hostile-guest cases
included (each in its own domain; the domain crashes with the reason the
case names, or the guest handles the exception it was given).  The release build runs
the four machines; the debug build (audit after every P2M change) runs one
machine per format.  A missing emulator is a failure, never a skip.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "hv"))
import run as hv  # noqa: E402  (tests/hv/run.py)

VARIANT = os.path.basename(os.environ.get("P2M_BUILD", "build"))
if VARIANT == "debug":
    IMAGES = REPO / "build" / "hv" / "debug"
    NAMES = ["qemu-svm", "bochs-vmx-1g"]
else:
    IMAGES = REPO / "build" / "hv"
    NAMES = list(hv.RUNS)

pytestmark = pytest.mark.skipif(
    VARIANT in ("san", "tsan"),
    reason="bare-metal images have no sanitizer build; the release and "
           "debug variants boot them")


@pytest.fixture(scope="module")
def runs():
    make = subprocess.run(["make", "-s", "hv"], cwd=REPO,
                          capture_output=True, text=True)
    assert make.returncode == 0, make.stdout + make.stderr
    jobs = max(1, min(len(NAMES), os.cpu_count() or 1))
    return dict(zip(NAMES, hv.run_all(NAMES, str(IMAGES), jobs)))


def explain(res):
    return hv.summary(res) + "\n" + res.console()[-4000:]


@pytest.mark.parametrize("name", NAMES)
def test_boots_and_passes(runs, name):
    res = runs[name]
    assert res.passed, explain(res)
    assert res.scenarios and set(res.scenarios.values()) == {"PASS"}


@pytest.mark.parametrize("name", NAMES)
def test_vendor_format_and_leaf_size(runs, name):
    res, spec = runs[name], hv.RUNS[name]
    line = res.result_line
    assert f"on {spec['vendor']} ({spec['format'].upper()}" in line, line
    assert f"1G leaves {'yes' if spec['leaf_1g'] else 'no'}" in line, line
    for sc, st in res.stats.items():
        assert st["vendor"] == spec["vendor"] and \
            st["format"] == spec["format"], sc


@pytest.mark.parametrize("name", NAMES)
def test_touch_sees_every_leaf_size_and_pod_fill(runs, name):
    """Guest faults populated 4K, 2M and (with 1G pages) 1G PoD entries,
    and the guest's tags read back through 4K, 2M and 1G leaves."""
    res, spec = runs[name], hv.RUNS[name]
    st = res.stats["touch"]
    assert st["populated_4k"] == 256, st
    assert st["populated_2m"] >= 16, st
    assert st["npf_exits"] >= 256 + 16, st
    assert st["pages_4k"] >= 512 + 256 and st["pages_2m"] >= 31 + 16, st
    if spec["leaf_1g"]:
        assert st["populated_1g"] == 1 and st["pages_1g"] >= 1, st
    else:
        # The fallback: the 1G PoD entry is remapped into 2M entries.
        assert st["pages_1g"] == 0 and st["populated_1g"] == 0, st
        assert st["remap_retries"] >= 1, st


@pytest.mark.parametrize("name", NAMES)
def test_1g_leaves_only_where_the_cpu_has_them(runs, name):
    """With 1G pages some guest ran on a 1G leaf; without them no guest
    did, and the probe's 1G leaf was rejected (EPT misconfiguration)."""
    res, spec = runs[name], hv.RUNS[name]
    guests = {sc: st for sc, st in res.stats.items() if sc != "probe-1g"}
    if spec["leaf_1g"]:
        assert any(st["pages_1g"] for st in guests.values()), guests
        if "probe-1g" in res.stats:
            assert not res.stats["probe-1g"]["crashed"]
        return
    assert all(st["pages_1g"] == 0 for st in guests.values()), guests
    assert res.stats["probe-1g"]["crashed"], res.stats["probe-1g"]
    assert "rejected the P2M entry for gpa 0x40000000" in res.console()


@pytest.mark.parametrize("name", NAMES)
def test_zeroing_guest_runs_on_swept_pages(runs, name):
    st = runs[name].stats["zero"]
    # The PoD cache (target minus the 2 MiB base) is an eighth or less.
    assert 8 * (st["target_pages"] - 512) <= st["believed_pages"], st
    assert st["tot_pages"] <= st["target_pages"], st
    swept = st["swept_4k"] + 512 * st["swept_2m"] + (1 << 18) * st["swept_1g"]
    assert swept + st["target_pages"] >= st["believed_pages"] - 512, st
    assert not st["crashed"], st


@pytest.mark.parametrize("name", NAMES)
def test_balloon_reaches_target(runs, name):
    st = runs[name].stats["balloon"]
    assert st["believed_pages"] == st["target_pages"], st
    assert st["max_pages"] - st["target_pages"] == 160 << 8, st


@pytest.mark.parametrize("name", NAMES)
def test_logdirty_splits_superpages(runs, name):
    res = runs[name]
    st = res.stats["logdirty"]
    assert st["splits"] >= 10, st
    assert not st["logdirty"], st
    con = res.console()
    assert "dirty pages (guest wrote 6)" in con and \
        ("dirty pages (guest wrote 10)" in con or
         "dirty pages (guest wrote 8)" in con), con[-3000:]
    assert "dirty NO" not in con


@pytest.mark.parametrize("name", NAMES)
def test_hostile_guests(runs, name):
    """Every hostile case of the vendor ran and passed, with its outcome
    in the line: the crash reason, or the injected exception.  The debug
    images run none (main.c: they test exits, and the audit after every
    P2M change makes each domain cost seconds)."""
    res = runs[name]
    if VARIANT == "debug":
        assert not res.hostile, res.hostile_lines()
        return
    want = hv.HOSTILE_CASES[hv.RUNS[name]["vendor"]]
    lines = "\n".join(res.hostile_lines())
    assert not res.missing_hostile(), lines + "\n" + explain(res)
    for case in want:
        assert f"hostile-{name}-{case}: PASS " in lines, lines
    got = {c: what for c, (_, what) in res.hostile.items()}
    if hv.RUNS[name]["vendor"] == "SVM":
        for insn in ("CLGI", "STGI", "VMRUN", "VMLOAD", "VMSAVE",
                     "INVLPGA"):
            assert f"domain crashed: {insn} intercepted" in \
                got[insn.lower()], got
    else:
        assert "domain crashed: VMXON intercepted" in got["vmxon"], got
    for case in ("rdmsr", "wrmsr"):
        assert got[case].startswith("#GP injected"), got[case]
    assert "domain crashed: access to unbacked gpa" in got["unbacked"]
    assert "domain crashed: shutdown (triple fault)" in got["triple"]
    assert "domain crashed: CPU time limit exceeded" in got["loop"]
    if name != "bochs-npt":
        # Bochs' SVM lets a guest's IF=0 mask the host timer (the guest
        # loop then sets IF=1); every other CPU must stop it with IF=0.
        assert "(stopped with IF=0)" in got["loop"], got["loop"]


@pytest.mark.parametrize("name", NAMES)
def test_each_domain_has_its_own_tlb_tag(runs, name):
    """ASIDs (SVM) and VPIDs (VMX): one per domain, a new one for each new
    domain (QEMU offers 16 ASIDs, so they wrap after 15 domains)."""
    tags = [st["tlb_tag"] for st in runs[name].stats.values()]
    assert len(tags) >= (4 if VARIANT == "debug" else 19), tags
    assert 0 not in tags, tags
    assert all(a != b for a, b in zip(tags, tags[1:])), tags
    assert len(set(tags)) >= min(15, len(tags)), tags
