"""The HTML report's size and time on a search of the paper's length: 20,000 synthetic trials.

    python bench/report_size.py [--trials 20000] [--strategy random] [--repeat 2]

Makes the experiment (``random`` is the fastest strategy to run), then times ``nasnet report DIR
-o report.html`` as a user runs it, in a fresh interpreter (imports included), and, in this
process, how that time splits between reading the experiment and drawing the page. Targets:
under 5 MB and under 10 s. Writes bench/results/report_size.json.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, print_table, write_result
from nasnet.execution import InProcessExecutor
from nasnet.search import search

TARGET_BYTES = 5_000_000
TARGET_SECONDS = 10.0


def _registered() -> bool:
    """Whether `nasnet report` is a command of this checkout's CLI (else this script registers it itself)."""
    from nasnet.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return "report" in commands.choices


def report_command(directory: Path, output: Path) -> list[str]:
    if _registered():
        return [sys.executable, "-m", "nasnet", "report", str(directory), "-o", str(output)]
    return [sys.executable, str(Path(__file__).resolve()), "--run-report", str(directory), str(output)]


def _run_report(directory: str, output: str) -> int:
    """`nasnet report DIR -o OUTPUT` through the CLI's own error handling, `report` registered here."""
    import nasnet.cli as cli
    from nasnet.cli import report as report_cli

    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        report_cli.register(commands)
        return parser

    cli.build_parser = build  # type: ignore[assignment]
    return cli.main(["report", directory, "-o", output])


def report_versions() -> dict[str, str | None]:
    """What draws the page besides nasnet: matplotlib, the graphviz binding and Graphviz's dot."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("matplotlib", "graphviz"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    dot = shutil.which("dot")
    if dot:
        completed = subprocess.run([dot, "-V"], capture_output=True, text=True, check=False)
        versions["dot"] = (completed.stderr or completed.stdout).strip() or None
    else:
        versions["dot"] = None
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20_000)
    parser.add_argument("--strategy", default="random")
    parser.add_argument("--repeat", type=int, default=2, help="time the report this many times; the best counts")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args()

    from nasnet.report.analysis import load_experiment
    from nasnet.report.html import render_report

    workdir = Path(tempfile.mkdtemp(prefix="nasnet-report-size-"))
    try:
        experiment = workdir / "exp"
        start = time.perf_counter()
        search(
            args.strategy,
            out=experiment,
            evaluator={"kind": "synthetic", "noise": 0.01, "fail_rate": 0.05},
            trials=args.trials,
            executor=InProcessExecutor(),
            progress=False,
        )
        search_seconds = time.perf_counter() - start
        output = workdir / "report.html"
        command = report_command(experiment, output)
        timings = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            timings.append(time.perf_counter() - start)
        size = output.stat().st_size
        page = output.read_text()
        start = time.perf_counter()
        loaded = load_experiment(experiment)
        load_seconds = time.perf_counter() - start
        start = time.perf_counter()
        render_report([loaded])
        render_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    seconds = min(timings)
    result = {
        "trials": args.trials,
        "strategy": args.strategy,
        "report_command": "nasnet report DIR -o report.html",
        "versions": report_versions(),
        "search_seconds": round(search_seconds, 2),
        "report_bytes": size,
        "report_megabytes": round(size / 1e6, 3),
        "report_seconds": round(seconds, 2),
        "report_seconds_all": [round(t, 2) for t in timings],
        "read_experiment_seconds": round(load_seconds, 2),
        "render_seconds": round(render_seconds, 2),
        "png_images": page.count("data:image/png"),
        "svg_images": page.count("data:image/svg+xml"),
        "inline_svg_diagrams": page.count("<svg"),
        "target_bytes": TARGET_BYTES,
        "target_seconds": TARGET_SECONDS,
        "met_target": size < TARGET_BYTES and seconds < TARGET_SECONDS,
    }
    path = write_result("report_size", result, results_dir=args.results_dir)
    print_table(
        f"nasnet report on {args.trials:,} synthetic trials ({args.strategy}); targets < 5 MB, < 10 s",
        ["trials", "MB", "seconds (best)", "read experiment s", "render s", "met target"],
        [
            [
                args.trials,
                f"{size / 1e6:.2f}",
                f"{seconds:.2f}",
                f"{load_seconds:.2f}",
                f"{render_seconds:.2f}",
                result["met_target"],
            ]
        ],
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--run-report":
        sys.exit(_run_report(sys.argv[2], sys.argv[3]))
    main()
