"""Every way of average pooling gives nn.AvgPool2d(count_include_pad=False)'s values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasnet.nn.ops import AVG_POOL_WAYS, AvgPoolExcludingPad, Pool


@pytest.mark.parametrize("way", AVG_POOL_WAYS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(8, 8), (7, 5), (1, 1)])
def test_each_way_matches_the_reference(monkeypatch, way: str, stride: int, size: tuple[int, int]) -> None:
    monkeypatch.setattr(AvgPoolExcludingPad, "way", lambda self, x: way)
    torch.manual_seed(0)
    x = torch.randn(3, 5, *size, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    reference_x = x.detach().clone().requires_grad_(True)
    reference = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)(reference_x)
    pooled = AvgPoolExcludingPad(3, stride)(x)
    torch.testing.assert_close(pooled, reference)
    weights = torch.randn_like(reference)
    (pooled * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(x.grad, reference_x.grad)


def test_cpu_tensors_take_the_native_kernel() -> None:
    pool = AvgPoolExcludingPad(3, 1)
    x = torch.randn(2, 4, 6, 6).contiguous(memory_format=torch.channels_last)
    assert pool.way(x) == "native"
    assert pool(x).shape == (2, 4, 6, 6)


def test_pool_state_dict_is_unchanged() -> None:
    # Saved models and published weights map keys one to one; the pooling must add none.
    pool = Pool("avg", 8, 16, 3, 2)
    assert sorted(pool.state_dict()) == sorted(
        f"project.{k}" for k in nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16)).state_dict()
    )


def test_benchmark_dry_run_times_every_way_and_leaves_ops_alone(tmp_path) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ops_before = (root / "src" / "nasnet" / "nn" / "ops.py").read_text()
    completed = subprocess.run(
        [sys.executable, "avg_pool.py", "--dry-run", "--apply", "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root / "bench",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads((tmp_path / "avg_pool.json").read_text())
    assert result["dry_run"] is True and result["applied"] is False
    assert all(set(row["ms"]) == set(AVG_POOL_WAYS) for row in result["ops"])
    assert all(set(steps) == set(AVG_POOL_WAYS) for steps in result["child_steps"].values())
    assert (root / "src" / "nasnet" / "nn" / "ops.py").read_text() == ops_before
