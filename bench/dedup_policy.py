"""Should a search reuse the reward of an equivalent genotype (dedup) or evaluate it again?

    python bench/dedup_policy.py [--trials 2000] [--seeds 3] [--noise 0.05]

Each strategy searches with the synthetic evaluator and noise drawn afresh for
every evaluation (as real training varies from run to run), once with dedup
on and once off, for several seeds. Reported per strategy and setting:

* best reward: the highest (noisy) reward the search recorded;
* true value of the top cell: the noise-free objective of the cell the search
  ranks first, which is what a user would take away;
* best true value seen: the noise-free objective of the best cell evaluated at all.

Writes bench/results/dedup_policy.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from common import print_table, write_result
from nasnet.evaluate import synthetic_objective
from nasnet.execution import make_executor
from nasnet.search import search
from nasnet.store import ExperimentStore, TrialState


def run_once(strategy: str, dedup: bool, seed: int, trials: int, noise: float) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix=f"nasnet-dedup-{strategy}-"))
    try:
        summary = search(
            strategy,
            out=directory / "exp",
            evaluator={"kind": "synthetic", "noise": noise, "noise_per_trial": True},
            trials=trials,
            seed=seed,
            dedup=dedup,
            executor=make_executor("inprocess"),
        )
        with ExperimentStore.open(directory / "exp", readonly=True) as store:
            complete = store.trials(TrialState.COMPLETE)
        assert summary.best is not None
        return {
            "best_reward": summary.best.reward,
            "true_value_of_top_cell": synthetic_objective(summary.best.genotype),
            "best_true_value_seen": max(synthetic_objective(t.genotype) for t in complete),
            "cached": float(summary.counts.get("cached", 0)),
        }
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--strategies", nargs="+", default=["rl", "random", "evolution"])
    args = parser.parse_args()
    results, rows = [], []
    for strategy in args.strategies:
        for dedup in (True, False):
            runs = [run_once(strategy, dedup, seed, args.trials, args.noise) for seed in range(args.seeds)]
            means = {key: statistics.mean(run[key] for run in runs) for key in runs[0]}
            results.append({"strategy": strategy, "dedup": dedup, "runs": runs, "mean": means})
            rows.append(
                [
                    strategy,
                    "on" if dedup else "off",
                    f"{means['best_reward']:.4f}",
                    f"{means['true_value_of_top_cell']:.4f}",
                    f"{means['best_true_value_seen']:.4f}",
                    f"{means['cached']:.0f}",
                ]
            )
            setting = "on" if dedup else "off"
            print(f"{strategy} dedup={setting}: top cell's true value {means['true_value_of_top_cell']:.4f}")
    write_result("dedup_policy", {"trials": args.trials, "seeds": args.seeds, "noise": args.noise, "results": results})
    print_table(
        f"dedup on/off, {args.trials} trials, noise ±{args.noise} per evaluation, mean of {args.seeds} seeds",
        ["strategy", "dedup", "best reward", "true value of top cell", "best true value seen", "cached"],
        rows,
    )


if __name__ == "__main__":
    main()
