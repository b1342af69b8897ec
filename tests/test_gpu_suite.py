"""The GPU benchmark suite: its CPU dry run (every section, toy sizes) and its helpers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from common import command_line  # noqa: E402
from gpu_suite import SECTIONS, kernel_timeline  # noqa: E402


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("gpu-results")
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_suite.py"), "--dry-run", "--results-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return {path.stem: json.loads(path.read_text()) for path in results.glob("gpu_*.json")}


def test_dry_run_writes_every_section(dry_run):
    assert sorted(dry_run) == sorted(f"gpu_{s.replace('-', '_')}" for s in SECTIONS)
    for doc in dry_run.values():
        assert doc["dry_run"] is True and "error" not in doc
        assert doc["machine"]["torch"] and doc["date"]
        assert "--dry-run" in doc["command"] and "--results-dir" not in doc["command"]


def test_dry_run_measures_what_the_gpu_run_measures(dry_run):
    sanity = dry_run["gpu_sanity"]
    assert sanity["relative_param_difference"]["graph_fp32_vs_eager_fp32"] == 0.0  # on the CPU both run eagerly
    throughput = dry_run["gpu_throughput"]["results"]
    assert {r["variant"] for r in throughput} == {"fp32", "fp32+graphs", "bf16+cl", "bf16+cl+graphs"}
    assert len({r["model"] for r in throughput}) == 3 and all(r["images_per_s"] > 0 for r in throughput)
    assert all(r["kernels_per_step"] == 0 and r["top_cpu_ops"] for r in dry_run["gpu_profile"]["results"])
    waves = dry_run["gpu_child_time"]["results"]
    assert {(w["preset"], w["k"]) for w in waves} == {(p, k) for p in ("search-fast", "search") for k in (1, 2)}
    assert all(not w["failures"] and len(w["child_seconds"]) == w["k"] for w in waves)
    ranking = dry_run["gpu_ranking"]
    assert len(ranking["val_accuracy"]["search"]) == len(ranking["val_accuracy"]["search-fast"]) == 3
    final = dry_run["gpu_final"]
    assert final["state"] == "complete" and 0 <= final["test_accuracy"] <= 1 and final["epochs"] >= 1
    search = dry_run["gpu_search"]
    assert search["children"] >= 1 and search["children_per_gpu_hour"] > 0


def test_kernel_timeline_counts_overlaps_once(tmp_path):
    trace = tmp_path / "trace.json"
    events = [
        {"ph": "X", "cat": "kernel", "name": "a", "ts": 0, "dur": 10},
        {"ph": "X", "cat": "kernel", "name": "b", "ts": 5, "dur": 10},  # overlaps a: 0..15 busy
        {"ph": "X", "cat": "gpu_memcpy", "name": "copy", "ts": 20, "dur": 5},
        {"ph": "X", "cat": "cpu_op", "name": "aten::add", "ts": 0, "dur": 100},  # host work is not GPU time
    ]
    trace.write_text(json.dumps({"traceEvents": events}))
    timeline = kernel_timeline(trace)
    assert timeline["kernels"] == 3 and timeline["window_us"] == 25 and timeline["busy_us"] == 20
    assert timeline["busy_share"] == pytest.approx(0.8) and timeline["gap_share"] == pytest.approx(0.2)
    assert [k["name"] for k in timeline["top_kernels"]] == ["a", "b", "copy"]


def test_recorded_commands_leave_out_the_results_folder():
    assert command_line(["bench/x.py", "--results-dir", "/tmp/r", "--k", "2"], "python3") == "python3 bench/x.py --k 2"
    assert command_line(["bench/x.py", "--results-dir=/tmp/r"], "python3") == "python3 bench/x.py"


def test_performance_page_is_what_the_results_give():
    from common import RESULTS_DIR
    from gpu_report import DOC, render

    assert DOC.read_text() == render(RESULTS_DIR), "docs/performance.md is stale: run python bench/gpu_report.py"
