"""Executor scaling: trials per second with 1, 2, 4 and 8 workers, against ideal linear scaling.

    python bench/scaling.py [--executors local ray] [--workers 1 2 4 8] [--delay 1.0] [--per-worker 6]

Each trial is the synthetic evaluator with a fixed duration (``--delay`` seconds),
so the ideal throughput of W workers is W / delay. Workers are started and
warmed up (one trial each) before the clock starts; then ``per-worker x W``
trials are submitted and timed until the last result is back. The per-trial
overhead is what each trial costs beyond its fixed duration.
Writes bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import time

from common import print_table, write_result
from nasnet.evaluate import SyntheticEvaluator
from nasnet.execution import TrialTask, make_executor
from nasnet.space import DEFAULT_SPACE, genotype_to_dict


def _drain(executor, count: int) -> None:
    done = 0
    while done < count:
        done += len(executor.wait(timeout=1.0))


def measure(kind: str, workers: int, delay: float, per_worker: int) -> dict:
    options = {"workers": workers}
    if kind == "ray":
        options["local_num_cpus"] = workers
    executor = make_executor(kind, **options)
    genotypes = [genotype_to_dict(DEFAULT_SPACE.sample(i)) for i in range(workers * (per_worker + 1))]
    try:
        started = time.perf_counter()
        executor.start(SyntheticEvaluator(delay=delay))
        for number in range(workers):  # warm-up: every worker up and running
            executor.submit(TrialTask(number + 1, genotypes[number]))
        _drain(executor, workers)
        startup = time.perf_counter() - started
        trials = workers * per_worker
        start = time.perf_counter()
        for number in range(trials):
            executor.submit(TrialTask(workers + number + 1, genotypes[workers + number]))
        _drain(executor, trials)
        elapsed = time.perf_counter() - start
    finally:
        executor.shutdown()
    throughput = trials / elapsed
    ideal = workers / delay
    return {
        "executor": kind,
        "workers": workers,
        "trials": trials,
        "seconds": elapsed,
        "trials_per_second": throughput,
        "ideal_trials_per_second": ideal,
        "fraction_of_ideal": throughput / ideal,
        "overhead_per_trial_s": elapsed * workers / trials - delay,
        "startup_seconds": startup,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executors", nargs="+", default=["local", "ray"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--delay", type=float, default=1.0)
    parser.add_argument("--per-worker", type=int, default=6)
    args = parser.parse_args()
    results = []
    for kind in args.executors:
        for workers in args.workers:
            row = measure(kind, workers, args.delay, args.per_worker)
            results.append(row)
            print(
                f"{kind} x{workers}: {row['trials_per_second']:.2f} trials/s ({row['fraction_of_ideal']:.3f} of ideal)"
            )
    write_result("scaling", {"delay_s": args.delay, "per_worker": args.per_worker, "results": results})
    print_table(
        f"executor scaling, {args.delay:g} s trials (target >= 0.9 of linear)",
        ["executor", "workers", "trials/s", "ideal", "fraction", "overhead/trial s", "startup s"],
        [
            [
                r["executor"],
                r["workers"],
                f"{r['trials_per_second']:.3f}",
                f"{r['ideal_trials_per_second']:.1f}",
                f"{r['fraction_of_ideal']:.3f}",
                f"{r['overhead_per_trial_s']:.4f}",
                f"{r['startup_seconds']:.1f}",
            ]
            for r in results
        ],
    )


if __name__ == "__main__":
    main()
