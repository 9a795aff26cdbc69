#!/usr/bin/python3
"""Run every test of one build and end with the line 'N passed, N failed'.

Unit tests are cmocka binaries (TAP output), integration tests are pytest
files run against the same build's p2mctl, and the KVM walker check is a
TAP-speaking binary that skips (never passes) where /dev/kvm is missing.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TAP = re.compile(r"^(not ok|ok)\b(.*)$")


def run_tap(cmd, env, label):
    """Run a TAP-printing binary; return (passed, failed, skipped)."""
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    passed = failed = skipped = 0
    for line in p.stdout.splitlines():
        m = TAP.match(line.strip())
        if not m:
            continue
        if "# SKIP" in m.group(2).upper():
            skipped += 1
        elif m.group(1) == "ok":
            passed += 1
        else:
            failed += 1
            print(f"FAIL {label}:{m.group(2)}")
    if p.returncode != 0 and failed == 0:
        failed += 1
        print(f"FAIL {label}: exit status {p.returncode}")
    if failed or os.environ.get("VERBOSE"):
        print(p.stdout[-6000:])
    print(f"{label}: {passed} passed, {failed} failed, {skipped} skipped")
    return passed, failed, skipped


def run_pytest(build, env):
    tests = sorted(glob.glob("tests/integration/test_*.py"))
    if not tests:
        return 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "junit.xml")
        p = subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q",
                            "-p", "no:cacheprovider", f"--junitxml={xml}",
                            *tests], env=env)
        if not os.path.exists(xml):
            print(f"pytest did not run (status {p.returncode})")
            return 0, 1, 0
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        total = sum(int(s.get("tests", 0)) for s in suites)
        failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0))
                     for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
    print(f"integration: {total - failed - skipped} passed, {failed} failed, "
          f"{skipped} skipped")
    return total - failed - skipped, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP",
               P2MCTL=os.path.abspath(os.path.join(args.build, "p2mctl")),
               P2M_BUILD=os.path.abspath(args.build))
    totals = [0, 0, 0]
    for binary in sorted(glob.glob(os.path.join(args.build, "tests", "test_*"))):
        r = run_tap([binary], env, os.path.basename(binary))
        totals = [a + b for a, b in zip(totals, r)]
    kvm = os.path.join(args.build, "tests", "kvm_walker")
    if os.path.exists(kvm):
        r = run_tap([kvm], env, "kvm_walker")
        totals = [a + b for a, b in zip(totals, r)]
    r = run_pytest(args.build, env)
    totals = [a + b for a, b in zip(totals, r)]
    if totals[2]:
        print(f"{totals[2]} skipped")
    print(f"{totals[0]} passed, {totals[1]} failed")
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
