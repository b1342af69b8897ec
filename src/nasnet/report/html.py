"""`nasnet report`: one self-contained HTML page about one or more experiments.

The page opens offline and loads nothing: its style and its one small script are inline, plots are
``data:`` images, cell diagrams inline SVG, and a Content-Security-Policy meta tag forbids any other
load (the script runs only because its hash is listed). Sections follow the paper's evidence:

* progress, as in Figure 6 (Section 4.4): each trial's reward and the mean reward of the top 1, 5,
  25 and 100 unique models against the number sampled, and with several experiments the
  difference from the first, plotted and at matched budgets;
* reward against mult-adds and parameters with the Pareto front (Table 2 and Figure 5 compare
  architectures on these axes), and the MnasNet target T where the reward used one;
* the best trials, their cells drawn as in Figure 4 and their genotypes as JSON;
* what the search learned: the controller's choice probabilities (Section 3) and op frequencies
  in the top trials against the whole sample;
* failures grouped by reason, worker utilisation and trials per hour.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path

from nasnet.errors import printable
from nasnet.fileio import atomic_write_text
from nasnet.report import figures
from nasnet.report.analysis import Experiment, ReportError, load_experiment, unique_labels
from nasnet.report.markup import esc
from nasnet.report.sections import (
    cost_section,
    failures_section,
    learned_section,
    progress_section,
    summary_section,
    top_section,
)

TOP_TRIALS = 10

# Sorts a table by the clicked column: numbers by the cell's data-value, text otherwise.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var column = Array.prototype.indexOf.call(th.parentNode.children, th);
    var ascending = th.getAttribute("data-order") !== "asc";
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
    th.setAttribute("data-order", ascending ? "asc" : "desc");
    var key = function (row) {
      var cell = row.cells[column], value = cell.getAttribute("data-value");
      return value === null ? cell.textContent : value;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      if (isNaN(nx) !== isNaN(ny)) { return isNaN(nx) ? 1 : -1; }
      var order = isNaN(nx) ? x.localeCompare(y) : nx - ny;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1d1d1f; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 18px 0 4px; } h2 { font-size: 19px; margin-top: 36px;
  border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 15px; margin: 22px 0 8px; }
.meta, .note { color: #666; } .note { font-size: 13px; }
nav { margin: 12px 0; } nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { padding: 3px 9px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td.text, th.text { text-align: left; white-space: normal; }
table.sortable th { cursor: pointer; } table.sortable th[data-order]::after { content: " ⇅"; }
.hash, code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px; }
.up { color: #137333; } .down { color: #b3261e; } .delta { font-size: 12px; margin-left: 4px; }
img.plot { width: 100%; height: auto; display: block; margin: 6px 0; }
figure.cell { margin: 18px 0; padding: 8px 12px; border: 1px solid #e4e4e4; border-radius: 6px; }
figure.cell svg { max-width: 100%; height: auto; }
figure.cell figcaption { font-weight: 600; margin-bottom: 6px; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
.bar { display: inline-block; height: 10px; background: #4e79a7; vertical-align: middle; }
.running { color: #b06000; font-weight: 600; } tr.group td { border-top: 2px solid #c8c8c8; }
.warning { background: #fff4d6; border-left: 4px solid #e0a800; padding: 6px 10px; }
"""


def _content_security_policy() -> str:
    """Nothing may load: only ``data:`` images, the inline style and the one script whose hash is listed."""
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def render_report(experiments: Sequence[Experiment], *, top: int = TOP_TRIALS, title: str | None = None) -> str:
    """The whole page for ``experiments`` (read with `load_experiment`), as HTML text."""
    from nasnet import __version__

    title = title or "NASNet search report: " + ", ".join(e.label for e in experiments)
    index_of = {e.label: i for i, e in enumerate(experiments)}
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    body = "".join(
        [
            f"<h1>{esc(title)}</h1>",
            f'<p class="meta">Generated {when} by nasnet {esc(__version__)}; the figures follow Zoph et al., '
            '"Learning Transferable Architectures for Scalable Image Recognition" (CVPR 2018).</p>',
            summary_section(experiments),
            '<nav><a href="#progress">progress</a><a href="#cost">cost</a><a href="#top">top trials</a>'
            '<a href="#cells">cells</a><a href="#learned">learned</a><a href="#failures">failures and timing</a></nav>',
            progress_section(experiments),
            cost_section(experiments),
            top_section(experiments, index_of, top),
            learned_section(experiments),
            failures_section(experiments),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_content_security_policy()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main><script>{_SCRIPT}</script></body></html>\n"
    )


def check_output(output: str | os.PathLike[str]) -> Path:
    """The file to write, or a one-line `ReportError` for an empty name, a directory, or a missing parent."""
    text = os.fspath(output)
    if not text.strip():
        raise ReportError("-o is empty: name the HTML file to write, e.g. -o report.html")
    path = Path(text)
    if path.is_dir() or text.endswith(os.sep):
        raise ReportError(f"-o {printable(text, 120)}: is a directory; name the HTML file to write inside it")
    parent = path.parent
    if not parent.is_dir():
        raise ReportError(f"-o {printable(text, 120)}: no such directory {printable(str(parent), 120)}")
    return path


def write_report(
    directories: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    labels: Sequence[str] | None = None,
    session_seconds: Sequence[float | None] | None = None,
    top: int = TOP_TRIALS,
) -> Path:
    """Read each experiment (read-only: a search may be running) and write the report to ``output``.

    Written to a temporary file beside ``output`` and renamed, so a reader never sees half a page.
    """
    path = check_output(output)
    figures.require_matplotlib()  # a missing matplotlib is reported before the experiments are read
    names = list(labels) if labels is not None else unique_labels(directories)
    running = list(session_seconds) if session_seconds is not None else [None] * len(directories)
    experiments = [load_experiment(d, n, s) for d, n, s in zip(directories, names, running, strict=True)]
    return atomic_write_text(path, render_report(experiments, top=top))
