"""Resident memory of a CPU search worker on CIFAR-10: after start-up, and at its peak while training children.

    python bench/worker_memory.py [--data PATH] [--preset search] [--children 2] [--set FIELD=VALUE ...]

Runs what a local-pool worker runs (the training evaluator's setup, then children)
in a fresh process, and reads its peak resident set size from the kernel.
Writes bench/results/worker_memory_<preset>.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from common import ROOT, print_table, relative_to_root, write_result

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(data: str, preset: str, overrides: dict, children: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from nasnet.evaluate import TrainingEvaluator
    from nasnet.space import NASNET_A

    evaluator = TrainingEvaluator(data, preset, overrides)
    evaluator.setup("cpu")
    after_setup = _rss_mib()
    seconds = []
    for _ in range(children):
        result = evaluator.evaluate(NASNET_A)
        assert result.ok, result.failure
        seconds.append(result.seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"after_setup_mib": after_setup, "peak_mib": peak, "after_children_mib": _rss_mib(), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--preset", default="search")
    parser.add_argument("--children", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--name", help="result file name (default: worker_memory_<preset>)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.child:
        print(json.dumps(worker(args.data, args.preset, overrides, args.children)))
        return
    # A fresh process, so that the peak belongs to the worker alone.
    command = [sys.executable, __file__, "--child", "--data", args.data, "--preset", args.preset]
    command += ["--children", str(args.children), *(x for item in args.set for x in ("--set", item))]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    payload = {"preset": args.preset, "overrides": overrides, "data": relative_to_root(args.data), **figures}
    write_result(args.name or f"worker_memory_{args.preset}", payload)
    print_table(
        f"CPU search worker, preset {args.preset} {overrides or ''}, NASNet-A children",
        ["after setup MiB", "peak MiB", "after children MiB", "child seconds"],
        [
            [
                f"{figures['after_setup_mib']:.0f}",
                f"{figures['peak_mib']:.0f}",
                f"{figures['after_children_mib']:.0f}",
                ", ".join(f"{s:.0f}" for s in figures["seconds"]),
            ]
        ],
    )


if __name__ == "__main__":
    main()
