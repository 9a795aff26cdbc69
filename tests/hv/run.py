#!/usr/bin/python3
"""Boot the bare-metal hypervisor image in the emulators and report.

Four runs, each with a timeout, judged by the console (port 0xE9):
  qemu-svm      QEMU TCG, AMD SVM + NPT with 1G leaves (6 GiB)
  bochs-vmx-1g  Bochs corei7_skylake_x: Intel VMX + EPT with 1G pages
  bochs-vmx-2m  Bochs corei7_sandy_bridge_2600k: EPT without 1G pages
  bochs-npt     Bochs ryzen: a second AMD NPT model

Usage: run.py [--build build/hv] [--debug] [--only NAME...] [--jobs N] [-v]
(--debug boots build/hv/debug: P2M_DEBUG, an audit after every change)
Exit status 0 when every run printed "HV-RESULT: PASS" and a PASS line
for each of its hostile-guest cases (HOSTILE_CASES), which the summary
shows as "hostile-<run>-<case>: PASS <what happened>".
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
}

TIMEOUT = {"qemu": 90, "bochs": 180}
DEBUG_TIMEOUT = 3           # times TIMEOUT: the debug images audit a lot

# The hostile-guest cases each run must report (HV-HOSTILE lines), by
# vendor; run.py prints them as "hostile-<run>-<case>: PASS <what>".
HOSTILE_COMMON = ["cpuid", "invd", "wbinvd", "xsetbv", "rdmsr", "wrmsr",
                  "mwait", "ins", "outs", "unbacked", "triple", "loop",
                  "alive"]
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

    @property
    def passed(self):
        if self.error or self.result != "PASS" or self.missing_hostile():
            return False
        if self.spec["emu"] == "qemu" and self.status != QEMU_PASS:
            return False
        return True

    def console(self):
        return "\n".join(t for _, t in self.lines)

    def feed(self, t, text):
        self.lines.append((t, text))
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


def qemu_cmd(spec, image):
    return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", spec["cpu"],
            "-m", spec["mem"], "-display", "none", "-no-reboot",
            "-no-user-config", "-nodefaults", "-debugcon", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-kernel", image]


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
                     raw.decode("utf-8", "replace").rstrip("\r\n"))
            if stop is not None and stop(res):
                p.kill()
        res.status = p.wait()
    finally:
        timer.cancel()
    res.wall = time.monotonic() - start
    if not timer.is_alive() and res.result is None and \
            res.wall >= timeout:
        res.error = f"timed out after {res.wall:.0f} s"


def emulator_image(emu, build):
    """The image an emulator boots from build, or (None, why not)."""
    exe = "qemu-system-x86_64" if emu == "qemu" else "bochs"
    if not shutil.which(exe):
        pkgs = "qemu-system-x86" if emu == "qemu" else \
            "bochs bochsbios vgabios"
        return None, f"{exe} is not installed (apt-get install {pkgs})"
    image = os.path.abspath(os.path.join(
        build, "xen.elf32" if emu == "qemu" else "bochs.img"))
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
    image, res.error = emulator_image(emu, build)
    if not image:
        return res
    if timeout is None:
        timeout = TIMEOUT[emu] * (DEBUG_TIMEOUT if res.debug else 1)
    with tempfile.TemporaryDirectory() as tmp:
        if emu == "qemu":
            cmd, env = qemu_cmd(spec, image), None
        else:
            cmd, env = bochs_setup(spec, image, tmp)
        boot(res, cmd, env, tmp, timeout)
    if res.result is None and not res.error:
        res.error = f"no HV-RESULT line (exit status {res.status})"
    return res


def summary(res):
    """A few lines: result, times, the leaf and PoD counters per scenario."""
    out = [f"{res.name}: {'PASS' if res.passed else 'FAIL'} "
           f"({res.error or res.result_line.strip()})"]
    if res.result_time is not None:
        out.append(f"  boot to result {res.result_time:.2f} s, "
                   f"emulator exit after {res.wall:.2f} s, status {res.status}")
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
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
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
