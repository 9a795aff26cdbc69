"""Every documented make target installs what it needs first.

A plain `make` (all) links the cmocka unit tests, so it must run
tools/ensure-deps.sh (libcmocka-dev) before the first -lcmocka link, as
`make test` does through `deps`.  The script itself is checked with a fake
dpkg-query and apt-get on PATH, so nothing is really installed.
"""
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dry_run(tmp_path, *targets):
    p = subprocess.run(["make", "-n", f"O={tmp_path}/o", *targets],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


@pytest.mark.parametrize("targets,script", [
    ((), "ensure-deps.sh build"),
    (("all",), "ensure-deps.sh build"),
    (("bench",), "ensure-deps.sh build"),
    (("test",), "ensure-deps.sh test"),
])
def test_deps_before_the_first_cmocka_link(tmp_path, targets, script):
    lines = dry_run(tmp_path, *targets)
    deps = [i for i, l in enumerate(lines) if script in l]
    links = [i for i, l in enumerate(lines) if "-lcmocka" in l]
    assert links, "no cmocka test is linked?"
    assert deps and deps[0] < links[0], "\n".join(lines[:40])


def test_run_installs_its_packages(tmp_path):
    lines = dry_run(tmp_path, "run")
    assert any("ensure-deps.sh run" in l for l in lines)
    assert not any("-lcmocka" in l for l in lines)


FAKE_DPKG = """#!/bin/sh
for a; do p=$a; done
[ "$p" = libcmocka-dev ] && [ ! -e "$FAKE/installed" ] && exit 1
exec /usr/bin/dpkg-query "$@"
"""
FAKE_APT = """#!/bin/sh
echo "$*" >> "$FAKE/log"
touch "$FAKE/installed"
"""


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/dpkg-query")
                    .exists(), reason="needs root and dpkg (Debian)")
def test_ensure_deps_build_installs_cmocka(tmp_path):
    for name, text in (("dpkg-query", FAKE_DPKG), ("apt-get", FAKE_APT)):
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o755)
    env = dict(os.environ, FAKE=str(tmp_path),
               PATH=f"{tmp_path}:{os.environ['PATH']}")
    p = subprocess.run(["sh", "tools/ensure-deps.sh", "build"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "log").read_text().split() == \
        ["install", "-y", "-q", "libcmocka-dev"]
    # Present now: a second call installs nothing.
    p = subprocess.run(["sh", "tools/ensure-deps.sh", "build"], cwd=REPO,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    assert len((tmp_path / "log").read_text().splitlines()) == 1
