"""The benchmarks run and write their figures (docs/bench.md): each bench
binary's --quick run must finish and leave every figure it names in
results.json next to a same-run baseline.  Nothing here judges a timing.
Release build only: bench_p2m refuses a debug build, and sanitizer builds
would take far longer than the figures are worth.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("P2M_BUILD", REPO / "build"))
release_only = pytest.mark.skipif(
    BUILD.name != "build", reason=f"the {BUILD.name} variant: benchmarks "
    "measure the release build only")

# The figures each bench writes, by the names of issue 12 (docs/bench.md).
WANT = {
    "bench_p2m": [f"lookup_{o}_{k}_{f}" for o in ("1g", "2m", "4k")
                  for k in ("dep", "indep") for f in ("npt", "ept")] +
                 ["map_64g_4k", "map_64g_4k_ept", "map_64g_4k_set_entry",
                  "map_64g_4k_set_entry_ept"],
    "bench_pod": ["pod_fill_1g", "pod_fill_2m", "pod_fill_4k",
                  "pod_fill_scaling_4k", "pod_fill_scaling_2m",
                  "balloon_populated_64g_ms", "balloon_populated_64g_1g_ms",
                  "balloon_populated_64g_4k_ms"],
    "bench_fault": ["fault_latency_max_us", "fault_latency_median_us"],
    "bench_logdirty": ["eager_split_gibps", "fold_gibps"],
    "bench_run": ["run_boot_scaling_2v", "run_boot_scaling_4v",
                  "oversubscribed_8v_vs_2v"],
}


@release_only
@pytest.mark.parametrize("bench", sorted(WANT))
def test_bench_quick_writes_its_figures(tmp_path, bench):
    env = dict(os.environ, BENCH_RESULTS_DIR=str(tmp_path))
    p = subprocess.run([str(BUILD / "bench" / bench), "--quick"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    j = subprocess.run([sys.executable, str(REPO / "bench" / "results.py"),
                        str(tmp_path), "--expect", *WANT[bench]],
                       capture_output=True, text=True)
    assert j.returncode == 0, j.stdout + j.stderr
    figs = {o["name"]: o for o in
            json.loads((tmp_path / "results.json").read_text())}
    assert sorted(figs) == sorted(WANT[bench])
    for o in figs.values():
        assert o["value"] > 0 and o["baseline"] > 0, o
        assert abs(o["ratio"] - o["value"] / o["baseline"]) <= \
            1e-3 * max(1.0, o["ratio"]), o


def test_results_refuse_a_figure_without_baseline(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps(
        {"name": "n", "value": 1, "unit": "ms", "baseline": 0,
         "ratio": 0}) + "\n")
    j = subprocess.run([sys.executable, str(REPO / "bench" / "results.py"),
                        str(tmp_path)], capture_output=True, text=True)
    assert j.returncode != 0 and "not a figure" in j.stderr, j


def test_results_report_a_missing_figure(tmp_path):
    (tmp_path / "x.jsonl").write_text(json.dumps(
        {"name": "n", "value": 1, "unit": "ms", "baseline": 2,
         "ratio": 0.5}) + "\n")
    j = subprocess.run([sys.executable, str(REPO / "bench" / "results.py"),
                        str(tmp_path), "--expect", "n", "m"],
                       capture_output=True, text=True)
    assert j.returncode == 1 and "missing: m" in j.stdout, j
