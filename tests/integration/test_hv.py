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


# --- UEFI (OVMF) boot: the release variant boots ovmf-svm among NAMES ---

UEFI_NAMES = [n for n in NAMES if hv.RUNS[n].get("boot") == "uefi"]

if UEFI_NAMES:
    @pytest.mark.parametrize("name", UEFI_NAMES)
    def test_uefi_heap_is_what_the_memory_map_gives(runs, name):
        """The heap is exactly the map's conventional and boot-services
        memory above 1 MiB, less the frame table; runtime services, ACPI,
        MMIO, reserved and our loader's memory stay holes."""
        res = runs[name]
        efi = res.efi
        assert not efi.problems(), efi.problems()
        roles = {t[0]: t[4] for t in efi.types}
        assert roles.get("conventional") == "heap", roles
        assert roles.get("bs-data") == "heap", roles
        assert roles.get("loader-code") == "hole (ours)", roles
        holes = [n for n in ("rt-code", "rt-data", "acpi-nvs",
                             "acpi-reclaim", "mmio", "reserved") if n in roles]
        assert holes and all(roles[n] == "hole" for n in holes), roles
        heap = hv.merge(efi.heap)
        for t, tname, s, e in efi.descs:
            if t not in hv.EFI_HEAP_TYPES:
                assert not any(hs < e and s < he for hs, he in heap), \
                    (tname, hex(s), hex(e))
        # 6 GiB: the touch scenario's 1G leaves need free 1G extents.
        assert efi.summary["heap_mib"] > 5000, efi.summary
        assert len(hv.extents_1g(heap)) >= 2, heap
        assert efi.summary["exit_calls"] >= 1, efi.summary
        assert res.hv_start is not None and res.hv_start < res.result_time


def _efi_console(heap, taken=(0x900000, 0xa00000)):
    """A console as a UEFI run prints it: a small map and a given heap."""
    descs = [(7, "conventional", 0x0, 0xa0000),
             (7, "conventional", 0x100000, 0x800000),
             (10, "acpi-nvs", 0x800000, 0x808000),
             (4, "bs-data", 0x808000, 0x40000000),
             (6, "rt-data", 0x40000000, 0x40010000),
             (3, "bs-code", 0x40010000, 0x80000000),
             (2, "loader-data", 0x80000000, 0x80001000)]
    lines = [f"HV-EFI-MAP desc {i} {t} {n} {s:#x} {e:#x} attr 0xf"
             for i, (t, n, s, e) in enumerate(descs)]
    lines += [f"HV-EFI-MAP heap {s:#x} {e:#x}" for s, e in heap]
    lines.append(f"HV-EFI-MAP taken {taken[0]:#x} {taken[1]:#x} frame table")
    n1g = len(hv.extents_1g(heap))
    lines.append(f"HV-EFI-MAP summary: {len(descs)} entries, heap 1.00 MiB "
                 f"in {len(heap)} ranges, {n1g} free 1G extents, floor "
                 f"0x100000, ExitBootServices calls 1")
    efi = hv.EfiMap()
    for line in lines:
        efi.feed(line)
    return efi


GOOD_HEAP = [(0x100000, 0x800000), (0x808000, 0x900000),
             (0xa00000, 0x40000000), (0x40010000, 0x80000000)]


@pytest.mark.parametrize("heap, why", [
    (GOOD_HEAP, None),
    # runtime-services data taken as RAM
    ([(0x100000, 0x800000), (0x808000, 0x900000), (0xa00000, 0x80000000)],
     "heap holds memory the map does not give: 0x40000000-0x40010000"),
    # boot-services code left out
    ([(0x100000, 0x800000), (0x808000, 0x900000), (0xa00000, 0x40000000)],
     "heap lacks memory the map gives: 0x40010000-0x80000000"),
    # memory below 1 MiB, or the frame table's pages, handed out
    ([(0x0, 0xa0000)] + GOOD_HEAP, "does not give: 0x0-0xa0000"),
    ([(0x100000, 0x800000), (0x808000, 0x40000000),
      (0x40010000, 0x80000000)], "does not give: 0x900000-0xa00000"),
])
def test_uefi_map_check_catches_a_wrong_heap(heap, why):
    """run.py's check of a UEFI run: a heap that differs from what the map
    gives, either way, fails the run with the difference."""
    problems = _efi_console(heap).problems()
    if why is None:
        assert problems == []
    else:
        assert any(why in p for p in problems), problems


def test_uefi_run_fails_without_ovmf(monkeypatch, tmp_path):
    """No OVMF: the run fails (never skips) and says what to install."""
    monkeypatch.setenv("P2M_OVMF_CODE", str(tmp_path / "OVMF_CODE.fd"))
    res = hv.run_one("ovmf-svm", str(IMAGES))
    assert not res.passed
    assert "OVMF firmware" in res.error and "apt-get install ovmf" in \
        res.error, res.error
    assert hv.summary(res).startswith("ovmf-svm: FAIL (OVMF firmware")
