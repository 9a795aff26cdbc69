"""Bad input at the CLI and scenario-file boundary (issue 8, findings 15-19).

Each test names the finding it guards: partial fragmentation of a host
without holes, teardown on every error path of the run job, NUL bytes,
directories given as files, and the one number grammar (decimal or 0x
hex, a leading 0 is decimal) of the script CLI and the scenario files.
"""
import json
import os
import subprocess

import pytest

from conftest import expect_bad_line

G = 1 << 18                          # pages in 1 GiB


def run(p2mctl_bin, *args, cwd=None, timeout=120):
    p = subprocess.run([p2mctl_bin, "run", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout,
                       cwd=cwd)
    return p.returncode, p.stdout, p.stderr


def scenario(tmp_path, text, name="g.cfg"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def build_only(p2mctl_bin, tmp_path, text):
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, text), "--build-only",
                       "--json")
    assert rc == 0, err
    return json.loads(out)


# --- 15: fragment = "N%" on a host whose top 1G block holds the filler's
#         P2M root (no holes below it) or dom0_mem -------------------------

@pytest.mark.parametrize("pct", [100, 50, 30])
def test_15_fragment_percent_without_holes(p2mctl_bin, tmp_path, pct):
    r = build_only(p2mctl_bin, tmp_path, f'memory = 2048\nhost = "8G"\n'
                   f'fragment = "{pct}%"\n')
    h = r["host"]
    # The filler's root table sits in one block: 7 of the 8 are free.
    assert h["frag_blocks"] == 7
    assert h["frag_broken"] == 7 * pct // 100
    assert h["teardown_not_free"] == 0 and not h["leak"]
    if pct == 100:
        assert r["build"]["extents"]["1g"] == 0
        assert r["build"]["fallback_1g"]["fragmentation"] >= 1


def test_15_fragment_percent_with_dom0_mem(p2mctl_bin, tmp_path):
    r = build_only(p2mctl_bin, tmp_path, 'memory = 1024\nhost = "8G"\n'
                   'dom0_mem = 2048\nfragment = "100%"\n')
    h = r["host"]
    # dom0's 2 GiB and the root table hold frames of 3 blocks.
    assert h["frag_blocks"] == 5 and h["frag_broken"] == 5
    assert h["teardown_not_free"] == 0 and not h["leak"]


def test_15_fragment_percent_full_run(p2mctl_bin, tmp_path):
    """The whole job on such a host: audits clean, every page back."""
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 1024\n'
                       'host = "8G"\nfragment = "50%"\n'), "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["ok"] and r["audit"]["clean"]
    assert r["host"]["frag_broken"] == 3
    assert r["host"]["teardown_not_free"] == 0


# --- 16: every error path of the run job tears down what it built --------

def test_16_dump_write_failure_destroys_the_guest(p2mctl_bin, tmp_path):
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 512\n'
                       'host = "4G"\n'), "--dump", "/dev/full", "--json")
    assert rc == 2, err
    assert "/dev/full: write failed" in err
    r = json.loads(out)
    assert [p["phase"] for p in r["phases"]] == ["build", "audit", "destroy"]
    assert r["host"]["teardown_not_free"] == 0
    assert r["host"]["free_after"] == r["host"]["free_before"]
    assert not r["host"]["leak"]


@pytest.mark.parametrize("opt,path,why", [
    ("--dump", "/nonexistent/x", "No such file or directory"),
    ("--dump", "/", "Is a directory"),
    ("--plot", "/", "Is a directory"),
    ("--plot", "/nonexistent/x.png",
     "/nonexistent/: No such file or directory"),
])
def test_16_bad_output_path_builds_nothing(p2mctl_bin, tmp_path, opt, path,
                                           why):
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 512\n'
                       'host = "4G"\n'), opt, path, "--json")
    assert rc == 2
    assert err.splitlines() == [f"p2mctl: {opt} {path}: {why}; nothing was "
                                "built"]
    assert out == ""


@pytest.mark.parametrize("text,line,why", [
    ("==1== not a record\n", None, "no lackey records"),
    ("==1== hi\n L 1000,4\n S 10zz,4\n", 3, 'not a lackey record (such as '
     '" L 04222cac,4"): " S 10zz,4"'),
    (" L 1000,4 junk\n", 1, "not a lackey record"),
    (" M 1000,\n", 1, "not a lackey record"),
    (" L 11111111111111111,4\n", 1, "not a lackey record"),
    (" L 1000,4\0\n", 1, "NUL byte at column 10"),
])
def test_bad_trace_builds_nothing(p2mctl_bin, tmp_path, text, line, why):
    """The trace is read and checked before the host is built."""
    (tmp_path / "t.lackey").write_bytes(text.encode())
    cfg = scenario(tmp_path, 'memory = 512\nhost = "4G"\n'
                   'workload = "trace:t.lackey"\n')
    rc, out, err = run(p2mctl_bin, cfg, "--json")
    assert rc == 2
    where = f"p2mctl: {tmp_path}/t.lackey" + (f":{line}: " if line else ": ")
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(where + why), err
    assert lines[1] == f"p2mctl: {cfg}: nothing was built"
    assert out == ""


def test_good_trace_with_other_lines(p2mctl_bin, tmp_path):
    (tmp_path / "t.lackey").write_text("==1== Lackey\nI  04222cac,3\n"
                                       " L 1000,4\n S 2000,8\r\n M 3000,1\n")
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 512\n'
                       'host = "4G"\nworkload = "trace:t.lackey"\n'),
                       "--json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["ok"] and r["workload"]["boot"]["accesses"] > 0


# --- 17: a NUL byte is refused, never a silent end of line ----------------

@pytest.mark.parametrize("via", ["file", "stdin"])
def test_17_nul_in_a_script_line(p2mctl_bin, tmp_path, via):
    script = b"host 1G\ncreate 1 hap=npt\nmap 1 0 auto 0\nwrite 1 0\0 77\n" \
             b"read 1 0\n"
    args, stdin = [p2mctl_bin], script
    if via == "file":
        (tmp_path / "s.p2m").write_bytes(script)
        args, stdin = [p2mctl_bin, str(tmp_path / "s.p2m")], None
    p = subprocess.run(args, input=stdin, capture_output=True, timeout=30,
                       stdin=None if stdin else subprocess.DEVNULL)
    err = p.stderr.decode().splitlines()
    assert p.returncode == 2
    assert err == ["p2mctl: line 4: p2mctl: NUL byte at column 10"]
    assert p.stdout == b""              # nothing after it ran


def test_17_nul_in_a_scenario_line(p2mctl_bin, tmp_path):
    path = scenario(tmp_path, b"vcpus = 1\nmemory = 64\0junk\n")
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    assert f"{path}:2: NUL byte at column 12" in err.splitlines()
    assert "nothing was built" in err and out == ""


# --- 18: directories (and other unreadable things) given as files ---------

def test_18_directory_as_the_script(p2mctl_bin, tmp_path):
    p = subprocess.run([p2mctl_bin, str(tmp_path)], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [f"p2mctl: {tmp_path}: Is a directory"]


def test_18_directory_on_stdin(p2mctl_bin, tmp_path):
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        p = subprocess.run([p2mctl_bin], stdin=fd, capture_output=True,
                           text=True, timeout=30)
    finally:
        os.close(fd)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        "p2mctl: stdin: reading the script failed after line 0: Is a "
        "directory"]


def test_18_missing_script(p2mctl_bin, tmp_path):
    p = subprocess.run([p2mctl_bin, str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        f"p2mctl: {tmp_path / 'nope'}: No such file or directory"]


def test_18_directory_as_the_scenario(p2mctl_bin, tmp_path):
    rc, out, err = run(p2mctl_bin, tmp_path)
    assert rc == 2
    assert f"{tmp_path}: cannot open the scenario file: Is a directory" in \
        err.splitlines()
    assert out == ""


def test_18_directory_as_the_trace(p2mctl_bin, tmp_path):
    (tmp_path / "dir.lackey").mkdir()
    path = scenario(tmp_path, 'memory = 64\nworkload = "trace:dir.lackey"\n')
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    assert (f"{path}:2: workload: cannot read the trace file "
            f"{tmp_path}/dir.lackey: Is a directory") in err.splitlines()
    assert "nothing was built" in err and out == ""


def test_18_directory_as_the_dump_file(run_p2mctl, tmp_path):
    (tmp_path / "out").mkdir()
    expect_bad_line(run_p2mctl, "host 1G\ncreate 1 hap=npt\ntranslate 1 0\n",
                    "dump 1 out", "cannot open out: Is a directory")


# --- 19: one number grammar; a leading 0 is decimal everywhere ------------

def test_19_leading_zero_is_decimal_in_the_cli(run_p2mctl):
    r = run_p2mctl("host 010G\ncheck\ncreate 1 hap=npt maxmem=010M\n"
                   "stats 1\nmap 1 010 auto 0\ntranslate 1 10\n"
                   "write 1 010 010\nread 1 10\n")
    assert r.rc == 0, r
    check, stats, tr, rd = r.json
    assert check["total_pages"] == 10 * G
    assert stats["max_pages"] == 10 * 256
    assert tr["gfn"] == 10 and tr["type"] == "ram_rw"
    assert rd["value"] == 10


def test_19_leading_zero_is_decimal_in_a_scenario(p2mctl_bin, tmp_path):
    r = build_only(p2mctl_bin, tmp_path, 'memory = 010\nmaxmem = 0x14\n'
                   'host = "010G"\nhost_ram = "0-08G"\nfragment = "050%"\n'
                   'vcpus = 02\n')
    c = r["config"]
    assert (c["memory"], c["maxmem"], c["vcpus"]) == (10, 20, 2)
    assert r["host"]["total_pages"] == 8 * G
    assert r["host"]["frag_broken"] == r["host"]["frag_blocks"] // 2


@pytest.mark.parametrize("line,want", [
    ("memory = +64", 'got "+64"'),
    ("memory = 0x", 'got "0x"'),
    ("memory = 64k", 'got "64k"'),
    ("memory = 18446744073709551616", 'got "18446744073709551616"'),
    ("memory = 0x1_0", 'got "0x1_0"'),
    ('host = "16777216T"', "expected a size"),
    ('host = "8G+"', "expected a size"),
    ('host = " 8G"', "expected a size"),
    ('host_ram = "0-4G,"', "range must be"),
    ('fragment = "+5%"', 'got "+5%"'),
    ('fragment = " 5%"', 'got " 5%"'),
    ('fragment = "%"', 'got "%"'),
])
def test_19_malformed_numbers_in_a_scenario(p2mctl_bin, tmp_path, line,
                                            want):
    text = line + "\n" + ("" if line.startswith("memory") else
                          "memory = 64\n")
    path = scenario(tmp_path, text)
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    assert any(l.startswith(f"{path}:1: ") and want in l
               for l in err.splitlines()), err


@pytest.mark.parametrize("bad,want", [
    ("translate 1 +5", "bad gfn '+5'"),
    ("translate 1 0x", "bad gfn '0x'"),
    ("translate 1 18446744073709551616", "bad gfn"),
    ("target 1 16777216T", "bad size"),
    ("target 1 1G+", "bad size"),
    ("target 1 0x1M+0x", "bad size"),
])
def test_19_malformed_numbers_in_the_cli(run_p2mctl, bad, want):
    expect_bad_line(run_p2mctl, "host 1G\ncreate 1 hap=npt\ntranslate 1 0\n",
                    bad, want)


@pytest.mark.parametrize("host,want", [
    ("host 8G ram=0-4G,", "bad ram="),
    ("host 8G ram=0-0x", "bad ram="),
    ("host 0x", "bad size"),
])
def test_19_malformed_host(run_p2mctl, host, want):
    r = run_p2mctl(host + "\n")
    assert r.rc == 2
    assert r.err_lines[0].startswith("p2mctl: line 1: host: ") and \
        want in r.err_lines[0], r


# --- more of the same kinds: numbers that alias, options given twice ------

def test_mfn_that_aliases_no_frame(run_p2mctl):
    """2^64 - 1 is the module's no-frame value: as a number it would
    silently mean `none` (a PoD or invalid entry with no frame)."""
    expect_bad_line(run_p2mctl, "host 1G\ncreate 1 hap=npt\ntranslate 1 0\n",
                    "map 1 0 0xffffffffffffffff 0 type=populate_on_demand",
                    "bad mfn '0xffffffffffffffff': that is the no-frame value")


@pytest.mark.parametrize("opt", ["--dump", "--plot"])
def test_run_option_given_twice(p2mctl_bin, tmp_path, opt):
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, "memory = 64\n"), opt,
                       tmp_path / "a", opt, tmp_path / "b")
    assert rc == 2
    assert err.startswith("usage: p2mctl run")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --- a host too big for this machine once fragmented ----------------------
#
# fragment=no2m leaves a chunk head in every 2M block, so the frame table of
# all of the host's RAM becomes resident: a big host would fill the real
# machine's memory.  200T cannot even be mapped, so a broken check fails
# safely (ENOMEM); 60T can, so it runs only under an address-space cap
# (not possible with the sanitizers' huge shadow mappings).

SANITIZED = os.path.basename(os.environ.get("P2M_BUILD", "")) in ("san",
                                                                  "tsan")
NO2M_MSG = "makes the whole frame table resident: "


def limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))


def host_cases():
    yield pytest.param("200T", None, id="200T")
    yield pytest.param("60T", limit_memory, id="60T-capped",
                       marks=pytest.mark.skipif(SANITIZED, reason="needs "
                                                "an address-space cap"))


@pytest.mark.parametrize("size,preexec", host_cases())
def test_no2m_host_bigger_than_the_machine_cli(p2mctl_bin, size, preexec):
    p = subprocess.run([p2mctl_bin, "-"], input=f"host {size} "
                       "fragment=no2m\ncheck\n", capture_output=True,
                       text=True, timeout=30, preexec_fn=preexec)
    assert p.returncode == 2
    err = p.stderr.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "p2mctl: line 1: host: fragment=no2m " + NO2M_MSG), p.stderr
    assert "MiB for this host, more than half of this machine's" in err[0]
    assert p.stdout == ""


@pytest.mark.parametrize("size,preexec", host_cases())
def test_no2m_host_bigger_than_the_machine_config(p2mctl_bin, tmp_path, size,
                                                  preexec):
    path = scenario(tmp_path, f'memory = 64\nhost = "{size}"\n'
                    'fragment = "no2m"\n')
    p = subprocess.run([p2mctl_bin, "run", str(path)], capture_output=True,
                       text=True, timeout=30, preexec_fn=preexec)
    assert p.returncode == 2
    assert any(l.startswith(f'{path}:3: fragment: "no2m" ' + NO2M_MSG)
               for l in p.stderr.splitlines()), p.stderr
    assert "nothing was built" in p.stderr


# --- a line without end (/dev/zero) must not fill the memory -------------

LONG = "a" * 200000                     # no newline for 200 KB


def test_long_script_line(p2mctl_bin, tmp_path):
    (tmp_path / "s.p2m").write_text("host 1G\n" + LONG)
    p = subprocess.run([p2mctl_bin, str(tmp_path / "s.p2m")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        "p2mctl: line 2: p2mctl: line longer than 65536 bytes"]


def test_long_scenario_line(p2mctl_bin, tmp_path):
    path = scenario(tmp_path, "memory = 64\nname = " + LONG)
    rc, out, err = run(p2mctl_bin, path)
    assert rc == 2
    assert f"{path}:2: line longer than 65536 bytes" in err.splitlines()
    assert "nothing was built" in err


def test_long_trace_line(p2mctl_bin, tmp_path):
    (tmp_path / "t.lackey").write_text(" L 1000,4\n L " + LONG)
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 64\n'
                       'workload = "trace:t.lackey"\n'))
    assert rc == 2
    assert f"p2mctl: {tmp_path}/t.lackey:2: line longer than 65536 bytes" \
        in err.splitlines()


def limit_memory_1g():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.skipif(SANITIZED, reason="needs an address-space cap")
@pytest.mark.parametrize("how", ["script", "stdin", "scenario"])
def test_dev_zero(p2mctl_bin, how):
    args = {"script": [p2mctl_bin, "/dev/zero"], "stdin": [p2mctl_bin],
            "scenario": [p2mctl_bin, "run", "/dev/zero"]}[how]
    with open("/dev/zero", "rb") as zero:
        p = subprocess.run(args, stdin=zero if how == "stdin" else
                           subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30, preexec_fn=limit_memory_1g)
    assert p.returncode == 2
    assert "line 1" in p.stderr or "/dev/zero:1:" in p.stderr, p.stderr
    assert "line longer than 65536 bytes" in p.stderr, p.stderr


def test_dom0_that_does_not_fit(p2mctl_bin, tmp_path):
    """dom0_mem in 2M chunks on RAM with a single 2M block: the host cannot
    be set up; one clear line, no report, no guest."""
    rc, out, err = run(p2mctl_bin, scenario(tmp_path, 'memory = 2\n'
                       'host_ram = "0-1M,4M-6M,8M-9M,10M-11M"\n'
                       'dom0_mem = 4\n'), "--json")
    assert rc == 2
    assert err.splitlines() == [f"p2mctl: {tmp_path}/g.cfg: cannot set up "
                                "dom0 with 4 MiB: Cannot allocate memory"]
    assert out == ""
