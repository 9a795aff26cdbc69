"""Shared helpers for the p2mctl integration tests.

The binary under test is $P2MCTL, or build/p2mctl in the repository root.
`run_p2mctl` runs one script and returns its exit status, its stdout parsed
as one JSON value per line, and its stderr lines.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def slow_factor(p2mctl_bin):
    """Debug builds audit the whole P2M (m2p records and chunks included)
    after many operations: give their runs four times as long."""
    return 4 if "/debug/" in str(p2mctl_bin) else 1


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.err_lines = [l for l in proc.stderr.splitlines() if l.strip()]

    @property
    def json(self):
        return [json.loads(l) for l in self.out.splitlines() if l.strip()]

    def __repr__(self):
        return (f"<rc={self.rc} stdout={self.out[-2000:]!r} "
                f"stderr={self.err!r}>")


@pytest.fixture(scope="session")
def p2mctl_bin():
    path = Path(os.environ.get("P2MCTL") or REPO / "build" / "p2mctl")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"p2mctl binary not found at {path} (set P2MCTL or "
                    f"run make)")
    return str(path)


@pytest.fixture
def run_p2mctl(p2mctl_bin, tmp_path):
    """run_p2mctl(script, via="file"|"stdin"|"dash") -> Result."""
    def run(script, via="file"):
        script = script if script.endswith("\n") else script + "\n"
        if via == "file":
            f = tmp_path / "script.p2m"
            f.write_text(script)
            args, stdin = [p2mctl_bin, str(f)], None
        elif via == "stdin":
            args, stdin = [p2mctl_bin], script
        else:
            args, stdin = [p2mctl_bin, "-"], script
        io = {"input": stdin} if stdin is not None else \
            {"stdin": subprocess.DEVNULL}
        proc = subprocess.run(args, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path, **io)
        return Result(proc)
    return run


def expect_bad_line(run_p2mctl, pre, bad, want):
    """Script `pre` (ending in `translate 1 0`), then the bad line: exit 2,
    one error naming that line, the lines before ran, none after did."""
    line = pre.count("\n") + 1
    r = run_p2mctl(pre + bad + "\nstats 1\ncheck\n")
    assert r.rc == 2, r
    assert len(r.err_lines) == 1, r
    assert r.err_lines[0].startswith(f"p2mctl: line {line}: "), r
    assert want in r.err_lines[0], r
    assert len(r.json) == 1 and set(r.json[0]) == \
        {"gfn", "mfn", "order", "type", "access"}
