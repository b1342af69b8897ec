"""Shared helpers for the benchmarks: machine description, result files and tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def machine_info(device: str = "cpu") -> dict[str, Any]:
    import numpy
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    try:
        from nasnet import __version__

        info["nasnet"] = __version__
    except ImportError:
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
        )
    return info


def command_line(argv: list[str] | None = None, executable: str | None = None) -> str:
    """The command that produced a result, without ``--results-dir`` (where the file landed is no part of it)."""
    args = list(sys.argv if argv is None else argv)
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--results-dir":
            skip = True
            continue
        if arg.startswith("--results-dir="):
            continue
        kept.append(arg)
    return " ".join(shlex.quote(a) for a in [Path(executable or sys.executable).name, *kept])


def relative_to_root(path: str | Path) -> str:
    """``path`` relative to the repository when it lies inside it (results name no machine's folders)."""
    return os.path.relpath(Path(path).resolve(), ROOT)


def write_result(name: str, payload: dict[str, Any], device: str = "cpu", results_dir: Path | None = None) -> Path:
    """Write ``<results_dir or bench/results>/<name>.json`` with the machine, versions and command."""
    results_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "machine": machine_info(device),
        **payload,
    }
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row))
    Console().print(table)


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation, with average ranks for ties."""

    def ranks(values: list[float]) -> np.ndarray:
        array = np.asarray(values, dtype=float)
        order = array.argsort(kind="stable")
        rank = np.empty(len(array))
        rank[order] = np.arange(len(array), dtype=float)
        for value in np.unique(array):
            tied = array == value
            rank[tied] = rank[tied].mean()
        return rank

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
