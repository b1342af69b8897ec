"""The search machinery's cost: 20,000 trials (the paper's count) with the synthetic evaluator.

    python bench/search_overhead.py [--trials 20000] [--strategies rl random evolution] [--executor local]

Each strategy runs through the full loop: sampling, policy updates, the
store's commits and snapshots, with instant synthetic rewards, so the time
measured is the machinery alone. ``--executor inprocess`` (the default here)
evaluates in the driver; ``local`` adds the hop to a worker process and back.
Writes bench/results/search_overhead_<executor>.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import print_table, write_result
from nasnet.execution import make_executor
from nasnet.search import search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--strategies", nargs="+", default=["rl", "random", "evolution"])
    parser.add_argument("--executor", choices=("inprocess", "local"), default="inprocess")
    args = parser.parse_args()
    results, rows = [], []
    for name in args.strategies:
        directory = Path(tempfile.mkdtemp(prefix=f"nasnet-overhead-{name}-"))
        try:
            start = time.perf_counter()
            summary = search(
                name,
                out=directory / "exp",
                evaluator={"kind": "synthetic"},
                trials=args.trials,
                executor=make_executor(args.executor),
            )
            seconds = time.perf_counter() - start
            db_bytes = sum(f.stat().st_size for f in (directory / "exp").iterdir())
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        per_trial_ms = seconds / args.trials * 1e3
        results.append(
            {
                "strategy": name,
                "executor": args.executor,
                "trials": args.trials,
                "seconds": seconds,
                "ms_per_trial": per_trial_ms,
                "target_seconds": 60 * args.trials / 20_000,
                "met_target": seconds <= 60 * args.trials / 20_000,
                "best_reward": summary.best.reward if summary.best else None,
                "cached": summary.counts["cached"],
                "store_bytes": db_bytes,
            }
        )
        rows.append(
            [name, args.trials, seconds, f"{per_trial_ms:.2f}", f"{summary.best.reward:.4f}", summary.counts["cached"]]
        )
        print(f"{name}: {seconds:.1f} s ({per_trial_ms:.2f} ms per trial)")
    write_result(f"search_overhead_{args.executor}", {"results": results})
    print_table(
        f"search machinery, {args.trials} synthetic trials, {args.executor} executor (target <= 60 s per 20,000)",
        ["strategy", "trials", "seconds", "ms/trial", "best reward", "reused"],
        rows,
    )


if __name__ == "__main__":
    main()
