"""Make the screenshot in docs/report.md: a demo report of an ``rl`` and a ``random`` search, as Chromium shows it.

    python docs/report_screenshot.py [--trials 400] [--out docs/images/report.png] [--keep DIR]

Runs both searches with the synthetic evaluator (seconds, no training), writes the report with
`nasnet.report.html.write_report`, opens it in headless Chromium through playwright and saves the
top of the page: the summary, the progress plot in the style of the paper's Figure 6 and the
figures at matched budgets. Needs the ``report`` and ``test`` extras and a Chromium on PATH;
playwright never downloads a browser here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium on PATH: install one (apt install chromium)")


def make_report(workdir: Path, trials: int) -> Path:
    from nasnet.execution import InProcessExecutor
    from nasnet.report.html import write_report
    from nasnet.search import search

    evaluator = {"kind": "synthetic", "noise": 0.01, "fail_rate": 0.05}
    for strategy in ("rl", "random"):
        search(
            strategy,
            out=workdir / strategy,
            evaluator=evaluator,
            trials=trials,
            executor=InProcessExecutor(),
            progress=False,
            overwrite=True,
        )
    # Relative paths, so the page names the experiments "rl" and "random", not a temporary folder.
    previous = os.getcwd()
    os.chdir(workdir)
    try:
        return write_report(["rl", "random"], "report.html").resolve()
    finally:
        os.chdir(previous)


def screenshot(page_path: Path, out: Path, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": height})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri(), wait_until="load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    if errors:
        raise SystemExit(f"the page logged errors: {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--out", type=Path, default=DOCS / "images" / "report.png")
    parser.add_argument("--height", type=int, default=1400, help="pixels of the page to show (default: 1400)")
    parser.add_argument("--keep", type=Path, help="keep the experiments and report.html in this directory")
    args = parser.parse_args()
    chromium()  # before minutes of work
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="nasnet-report-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        page = make_report(workdir, args.trials)
        screenshot(page, args.out, args.height)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
