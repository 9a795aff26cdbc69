#!/usr/bin/python3
"""Boot the bare-metal hypervisor image in the emulators and report.

Five runs, each with a timeout, judged by the console (port 0xE9):
  qemu-svm      QEMU TCG, AMD SVM + NPT with 1G leaves (6 GiB)
  bochs-vmx-1g  Bochs corei7_skylake_x: Intel VMX + EPT with 1G pages
  bochs-vmx-2m  Bochs corei7_sandy_bridge_2600k: EPT without 1G pages
  bochs-npt     Bochs ryzen: a second AMD NPT model
  ovmf-svm      qemu-svm's machine booted by UEFI firmware (OVMF) from a FAT
                disk (build/hv/efi.img), the heap from the UEFI memory map

Usage: run.py [--build build/hv] [--debug] [--only NAME...] [--jobs N] [-v]
              [--ovmf-code FD] [--ovmf-vars FD]
(--debug boots build/hv/debug: P2M_DEBUG, an audit after every change;
the OVMF files default to Debian's, or P2M_OVMF_CODE / P2M_OVMF_VARS)
Exit status 0 when every run printed "HV-RESULT: PASS" and a PASS line
for each of its hostile-guest cases (HOSTILE_CASES), which the summary
shows as "hostile-<run>-<case>: PASS <what happened>".  A UEFI run also
passes only when the heap the hypervisor made is exactly what the UEFI
memory map it printed allows (EfiMap).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

RUNS = {
    "qemu-svm": dict(emu="qemu", cpu="qemu64,+svm,+npt,+pdpe1gb", mem="6G",
                     vendor="SVM", format="npt", leaf_1g=True),
    "bochs-vmx-1g": dict(emu="bochs", cpu="corei7_skylake_x", vendor="VMX",
                         format="ept", leaf_1g=True),
    "bochs-vmx-2m": dict(emu="bochs", cpu="corei7_sandy_bridge_2600k",
                         vendor="VMX", format="ept", leaf_1g=False),
    "bochs-npt": dict(emu="bochs", cpu="ryzen", vendor="SVM", format="npt",
                      leaf_1g=True),
    "ovmf-svm": dict(emu="qemu", boot="uefi", cpu="qemu64,+svm,+npt,+pdpe1gb",
                     mem="6G", vendor="SVM", format="npt", leaf_1g=True),
}

TIMEOUT = {"qemu": 90, "bochs": 180}
DEBUG_TIMEOUT = 3           # times TIMEOUT: the debug images audit a lot

# The hostile-guest cases each run must report (HV-HOSTILE lines), by
# vendor; run.py prints them as "hostile-<run>-<case>: PASS <what>".
HOSTILE_COMMON = ["cpuid", "invd", "wbinvd", "xsetbv", "rdmsr", "wrmsr",
                  "mwait", "ins", "outs", "cr4", "paged-io", "unbacked",
                  "triple", "loop", "alive"]
HOSTILE_CASES = {
    "SVM": ["clgi", "stgi", "vmrun", "vmload", "vmsave", "skinit",
            "invlpga"] + HOSTILE_COMMON,
    "VMX": ["vmxon"] + HOSTILE_COMMON,
}
QEMU_PASS = 33                      # isa-debug-exit: (0x10 << 1) | 1

BOCHSRC = """\
megs: 2048
memory: guest=2048, host=2048
cpu: model={cpu}, ips=10000000, count=1, reset_on_triple_fault=0
romimage: file=$BXSHARE/BIOS-bochs-latest
vgaromimage: file=$BXSHARE/VGABIOS-lgpl-latest
display_library: rfb, options="timeout=0"
sound: driver=dummy
speaker: enabled=0
port_e9_hack: enabled=1
clock: sync=none
ata0-master: type=disk, path=$HV_IMAGE, mode=flat, cylinders={cyl}, \
  heads=16, spt=63
boot: disk
log: -
panic: action=fatal, cpu0=report
error: action=ignore
info: action=ignore
debug: action=ignore
"""

STATS = re.compile(r"^HV-STATS (\{.*\})$")
SCENARIO = re.compile(r"^HV-SCENARIO (\S+): (PASS|FAIL)")
RESULT = re.compile(r"^HV-RESULT: (PASS|FAIL)\b(.*)$")
HOSTILE = re.compile(r"^HV-HOSTILE (\S+): (PASS|FAIL) (.*)$")
ANSI = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]")   # the firmware's terminal

# UEFI runs: the firmware Debian's QEMU firmware descriptor names
# (/usr/share/qemu/firmware/60-edk2-x86_64.json, package ovmf), or
# P2M_OVMF_CODE / P2M_OVMF_VARS.  The variable store is copied per run.
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"

# What the issue says becomes heap, by UEFI memory type number:
# conventional memory and boot-services code and data.  Nothing below
# EFI_FLOOR (the image's link address) is heap.
EFI_HEAP_TYPES = {3: "bs-code", 4: "bs-data", 7: "conventional"}
EFI_FLOOR = 0x100000
GIB = 1 << 30

EFI_DESC = re.compile(r"^HV-EFI-MAP desc (\d+) (\d+) (\S+) 0x([0-9a-f]+) "
                      r"0x([0-9a-f]+)")
EFI_RANGE = re.compile(r"^HV-EFI-MAP (heap|taken) 0x([0-9a-f]+) 0x([0-9a-f]+)")
EFI_TYPE = re.compile(r"^HV-EFI-MAP type (\S+): (\d+) entries, (\d+) pages, "
                      r"([0-9.]+) MiB, (.*)$")
EFI_SUMMARY = re.compile(r"^HV-EFI-MAP summary: (\d+) entries, heap "
                         r"([0-9.]+) MiB in (\d+) ranges, (\d+) free 1G "
                         r"extents, floor 0x([0-9a-f]+), ExitBootServices "
                         r"calls (\d+)")
EXTENTS = re.compile(r"^memory: (\d+) free 1G extents:(.*)$")
HV_START = re.compile(r"^hv: P2M hypervisor starting")


def merge(ranges):
    """Sorted, disjoint, non-empty [start, end) ranges covering ranges."""
    out = []
    for s, e in sorted(r for r in ranges if r[1] > r[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def subtract(ranges, cut):
    """What of ranges lies outside cut (both lists of [start, end))."""
    out = []
    for s, e in merge(ranges):
        for cs, ce in merge(cut):
            if ce <= s or cs >= e:
                continue
            if cs > s:
                out.append((s, cs))
            s = max(s, ce)
        if s < e:
            out.append((s, e))
    return out


def extents_1g(ranges):
    """1 GiB-aligned GiBs wholly inside ranges."""
    return [g for s, e in merge(ranges)
            for g in range((s + GIB - 1) // GIB * GIB, e - GIB + 1, GIB)]


def show(ranges, most=4):
    txt = " ".join(f"{s:#x}-{e:#x}" for s, e in ranges[:most])
    return txt + (f" (+{len(ranges) - most} more)" if len(ranges) > most
                  else "")


class EfiMap:
    """The UEFI memory map a run printed (HV-EFI-MAP lines), the heap the
    hypervisor made of it, and the check that one follows from the other:
    the heap must be exactly the map's EFI_HEAP_TYPES memory above
    EFI_FLOOR, less the frame table's pages; every other type a hole."""

    def __init__(self):
        self.descs = []             # (type number, name, start, end)
        self.heap, self.taken = [], []
        self.types = []             # (name, entries, pages, MiB, role)
        self.summary = None         # the summary line's numbers
        self.extents = []           # addresses from "memory: N free 1G"

    def feed(self, text):
        m = EFI_DESC.match(text)
        if m:
            self.descs.append((int(m.group(2)), m.group(3),
                               int(m.group(4), 16), int(m.group(5), 16)))
            return
        m = EFI_RANGE.match(text)
        if m:
            (self.heap if m.group(1) == "heap" else self.taken).append(
                (int(m.group(2), 16), int(m.group(3), 16)))
            return
        m = EFI_TYPE.match(text)
        if m:
            self.types.append((m.group(1), int(m.group(2)), int(m.group(3)),
                               float(m.group(4)), m.group(5)))
            return
        m = EFI_SUMMARY.match(text)
        if m:
            g = m.groups()
            self.summary = dict(entries=int(g[0]), heap_mib=float(g[1]),
                                ranges=int(g[2]), extents=int(g[3]),
                                floor=int(g[4], 16), exit_calls=int(g[5]))
            return
        m = EXTENTS.match(text)
        if m:
            self.extents = [int(a, 16) for a in m.group(2).split()]

    def ram(self):
        return merge((max(s, EFI_FLOOR), e) for t, _, s, e in self.descs
                     if t in EFI_HEAP_TYPES)

    def expected_heap(self):
        return subtract(self.ram(), self.taken)

    def problems(self):
        """Why the heap does not follow from the map; empty when it does."""
        if not self.descs or self.summary is None:
            return ["no UEFI memory map (HV-EFI-MAP lines)"]
        why = []
        spans = sorted((s, e) for _, _, s, e in self.descs)
        if any(b[0] < a[1] for a, b in zip(spans, spans[1:])):
            why.append("descriptors overlap")
        if self.summary["entries"] != len(self.descs):
            why.append(f"{len(self.descs)} descriptors printed, summary "
                       f"says {self.summary['entries']}")
        if not self.taken or subtract(self.taken, self.ram()):
            why.append(f"frame table {show(self.taken)} is not in heap "
                       "memory of the map")
        want, got = self.expected_heap(), merge(self.heap)
        extra, missing = subtract(got, want), subtract(want, got)
        if extra:
            why.append(f"heap holds memory the map does not give: "
                       f"{show(extra)}")
        if missing:
            why.append(f"heap lacks memory the map gives: {show(missing)}")
        if len(extents_1g(got)) != self.summary["extents"]:
            why.append(f"{self.summary['extents']} 1G extents claimed, the "
                       f"heap has {len(extents_1g(got))}")
        return why

    def report(self):
        """The summary's lines: entries by type, heap, 1G extents."""
        su = self.summary or {}
        by_type = ", ".join(f"{n} {e} ({mib:.2f} MiB{'' if r == 'heap' else ' hole'})"
                            for n, e, _, mib, r in
                            sorted(self.types, key=lambda t: -t[2]))
        got = merge(self.heap)
        heap_mib = sum(e - s for s, e in got) / (1 << 20)
        taken = sum(e - s for s, e in self.taken) >> 10
        ext = extents_1g(got)
        return [f"  uefi map: {len(self.descs)} entries: {by_type}",
                f"  uefi heap: {heap_mib:.2f} MiB in {len(got)} ranges "
                f"(conventional + boot services above {EFI_FLOOR:#x}, less "
                f"the frame table's {taken} KiB), {len(ext)} free 1G "
                f"extents: {' '.join(hex(g) for g in ext)}; "
                f"ExitBootServices calls {su.get('exit_calls', '?')}"]


class Result:
    """What one emulator run printed, and how it ended."""

    def __init__(self, name, spec, debug=False):
        self.name, self.spec, self.debug = name, spec, debug
        self.lines = []             # (seconds since start, text)
        self.status = None          # emulator exit status
        self.error = None           # why the run could not be judged
        self.result = None          # "PASS" / "FAIL" from HV-RESULT
        self.result_line = ""
        self.result_time = None     # seconds from start to HV-RESULT
        self.wall = None
        self.scenarios = {}
        self.stats = {}
        self.hostile = {}           # case -> (PASS/FAIL, what happened)
        self.efi = EfiMap() if spec.get("boot") == "uefi" else None
        self.hv_start = None        # seconds to "hv: ... starting"

    def hostile_lines(self):
        """One line per hostile case, named after this run."""
        return [f"hostile-{self.name}-{case}: {st} {what}"
                for case, (st, what) in self.hostile.items()]

    def missing_hostile(self):
        if self.debug:
            return []           # the debug images run no hostile cases
        want = HOSTILE_CASES[self.spec["vendor"]]
        return [c for c in want
                if self.hostile.get(c, ("", ""))[0] != "PASS"]

    def efi_problems(self):
        return self.efi.problems() if self.efi is not None else []

    @property
    def passed(self):
        if self.error or self.result != "PASS" or self.missing_hostile():
            return False
        if self.efi_problems():
            return False
        if self.spec["emu"] == "qemu" and self.status != QEMU_PASS:
            return False
        return True

    def console(self):
        return "\n".join(t for _, t in self.lines)

    def feed(self, t, text):
        self.lines.append((t, text))
        if self.efi is not None:
            self.efi.feed(text)
        if self.hv_start is None and HV_START.match(text):
            self.hv_start = t
        m = STATS.match(text)
        if m:
            s = json.loads(m.group(1))
            self.stats[s["scenario"]] = s
        m = SCENARIO.match(text)
        if m:
            self.scenarios[m.group(1)] = m.group(2)
        m = HOSTILE.match(text)
        if m:
            self.hostile[m.group(1)] = (m.group(2), m.group(3))
        m = RESULT.match(text)
        if m and self.result is None:
            self.result, self.result_line, self.result_time = \
                m.group(1), text, t


def ovmf_files():
    """The OVMF code and variable-store images a UEFI run boots."""
    return (os.environ.get("P2M_OVMF_CODE", OVMF_CODE),
            os.environ.get("P2M_OVMF_VARS", OVMF_VARS))


def qemu_cmd(spec, image, tmp=None):
    """QEMU for a run: multiboot (-kernel image, console on -debugcon), or
    UEFI (spec boot="uefi"): OVMF in flash, a copy of its variable store in
    tmp, image the FAT disk, the firmware's serial console and port 0xE9
    both on stdout."""
    if spec.get("boot") != "uefi":
        return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", spec["cpu"],
                "-m", spec["mem"], "-display", "none", "-no-reboot",
                "-no-user-config", "-nodefaults", "-debugcon", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                "-kernel", image]
    code, vars_ = ovmf_files()
    store = os.path.join(tmp, "OVMF_VARS.fd")
    shutil.copy(vars_, store)
    return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", spec["cpu"],
            "-m", spec["mem"], "-display", "none", "-no-reboot",
            "-no-user-config", "-nodefaults",
            "-chardev", "stdio,id=con,mux=on", "-serial", "chardev:con",
            "-device", "isa-debugcon,chardev=con",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-drive", f"if=pflash,format=raw,readonly=on,file={code}",
            "-drive", f"if=pflash,format=raw,file={store}",
            "-drive", f"if=ide,format=raw,snapshot=on,file={image}"]


def bochs_setup(spec, image, tmp):
    # A private copy: Bochs locks its disk image, and runs go in parallel.
    shutil.copy(image, os.path.join(tmp, "disk.img"))
    image = os.path.join(tmp, "disk.img")
    cyl = os.path.getsize(image) // (16 * 63 * 512)
    rc = os.path.join(tmp, "bochsrc")
    with open(rc, "w") as f:
        f.write(BOCHSRC.format(cpu=spec["cpu"], cyl=cyl))
    cont = os.path.join(tmp, "continue")
    with open(cont, "w") as f:
        # One "c" per debugger break: a guest triple fault under SVM breaks
        # into the debugger (Bochs 2.7) before the SHUTDOWN #VMEXIT.
        f.write("c\n" * 8)
    env = dict(os.environ, BXSHARE="/usr/share/bochs", HV_IMAGE=image)
    return ["bochs", "-q", "-f", rc, "-rc", cont], env


def boot(res, cmd, env, cwd, timeout, stop=None):
    """Run one emulator, feeding its console to res.feed(), killed after
    timeout seconds, or as soon as stop(res) says so (tests/hv/linux.py's
    bare runs: Linux halts with acpi=off instead of powering off)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env=env, cwd=cwd)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        for raw in p.stdout:
            res.feed(time.monotonic() - start,
                     ANSI.sub("", raw.decode("utf-8", "replace"))
                     .rstrip("\r\n"))
            if stop is not None and stop(res):
                p.kill()
        res.status = p.wait()
    finally:
        timer.cancel()
    res.wall = time.monotonic() - start
    if not timer.is_alive() and res.result is None and \
            res.wall >= timeout:
        res.error = f"timed out after {res.wall:.0f} s"


def emulator_image(emu, build, boot="multiboot"):
    """The image an emulator boots from build, or (None, why not); boot
    "uefi": the FAT disk, and OVMF must be there."""
    exe = "qemu-system-x86_64" if emu == "qemu" else "bochs"
    if not shutil.which(exe):
        pkgs = "qemu-system-x86" if emu == "qemu" else \
            "bochs bochsbios vgabios"
        return None, f"{exe} is not installed (apt-get install {pkgs})"
    if boot == "uefi":
        for fd in ovmf_files():
            if not os.path.exists(fd):
                return None, (f"OVMF firmware {fd} missing (apt-get install "
                              "ovmf, or set P2M_OVMF_CODE/P2M_OVMF_VARS)")
        name = "efi.img"
    else:
        name = "xen.elf32" if emu == "qemu" else "bochs.img"
    image = os.path.abspath(os.path.join(build, name))
    if not os.path.exists(image):
        return None, f"{image} missing (make hv)"
    return image, None


def run_one(name, build, timeout=None):
    """Boot one configuration; returns a Result."""
    spec = RUNS[name]
    # The debug images (build/hv/debug) run no hostile cases.
    res = Result(name, spec,
                 debug=os.path.basename(os.path.normpath(build)) == "debug")
    emu = spec["emu"]
    image, res.error = emulator_image(emu, build,
                                      spec.get("boot", "multiboot"))
    if not image:
        return res
    if timeout is None:
        timeout = TIMEOUT[emu] * (DEBUG_TIMEOUT if res.debug else 1)
    with tempfile.TemporaryDirectory() as tmp:
        if emu == "qemu":
            cmd, env = qemu_cmd(spec, image, tmp), None
        else:
            cmd, env = bochs_setup(spec, image, tmp)
        boot(res, cmd, env, tmp, timeout)
    if res.result is None and not res.error:
        res.error = f"no HV-RESULT line (exit status {res.status})"
    return res


def summary(res):
    """A few lines: result, times, the leaf and PoD counters per scenario."""
    why = res.error or "; ".join(res.efi_problems()) or \
        res.result_line.strip()
    out = [f"{res.name}: {'PASS' if res.passed else 'FAIL'} ({why})"]
    if res.result_time is not None:
        out.append(f"  boot to result {res.result_time:.2f} s, "
                   f"emulator exit after {res.wall:.2f} s, status {res.status}")
    if res.efi is not None and res.hv_start is not None:
        out.append(f"  firmware and loader until the hypervisor started "
                   f"{res.hv_start:.2f} s")
    if res.efi is not None and res.efi.descs:
        out += res.efi.report()
    for sc, s in res.stats.items():
        out.append(
            f"  {sc:9s} {res.scenarios.get(sc, '?'):4s} "
            f"1g/2m/4k leaves {s['pages_1g']}/{s['pages_2m']}/{s['pages_4k']}"
            f" splits {s['splits']} populated 1g/2m/4k {s['populated_1g']}/"
            f"{s['populated_2m']}/{s['populated_4k']} swept 1g/2m/4k "
            f"{s['swept_1g']}/{s['swept_2m']}/{s['swept_4k']} remap "
            f"{s['remap_retries']} npf {s['npf_exits']}")
    out += res.hostile_lines()
    missing = res.missing_hostile()
    if missing and not res.error:
        out.append(f"  hostile cases missing or failed: {' '.join(missing)}")
    return "\n".join(out)


def run_all(names, build, jobs):
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        return list(ex.map(lambda n: run_one(n, build), names))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build", "hv"))
    ap.add_argument("--debug", action="store_true",
                    help="boot the P2M_DEBUG images (audit after every change)")
    ap.add_argument("--only", nargs="*", choices=sorted(RUNS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--ovmf-code", help=f"OVMF code image ({OVMF_CODE})")
    ap.add_argument("--ovmf-vars", help=f"OVMF variable store ({OVMF_VARS})")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.ovmf_code:
        os.environ["P2M_OVMF_CODE"] = args.ovmf_code
    if args.ovmf_vars:
        os.environ["P2M_OVMF_VARS"] = args.ovmf_vars
    build = os.path.join(args.build, "debug") if args.debug else args.build
    names = args.only or list(RUNS)
    start = time.monotonic()
    results = run_all(names, build, args.jobs)
    for res in results:
        if args.verbose or not res.passed:
            for t, text in res.lines:
                print(f"[{res.name} {t:7.2f}] {text}")
        print(summary(res))
    ok = sum(r.passed for r in results)
    print(f"hv: {ok}/{len(results)} runs passed in "
          f"{time.monotonic() - start:.1f} s")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
