"""Small HTML pieces for the report: escaping, number formats, table cells and images.

Every text that comes from an experiment (labels, op names a plug-in chose, failure reasons) passes
through `esc`, so that nothing in an experiment can add markup, or a load, to the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from nasnet.errors import printable
from nasnet.report.analysis import reward_target
from nasnet.search.progress import format_number


def esc(value: object) -> str:
    return html.escape(printable(str(value), 400), quote=True)


def fmt(value: object, digits: int = 4) -> str:
    """A figure as the command line shows it (`format_number`), with a missing (NaN) one as -."""
    if isinstance(value, float) and value != value:
        return "-"
    return format_number(value, digits)


def fmt_count(value: object) -> str:
    return "-" if value is None else f"{int(value):,}"  # type: ignore[call-overload]


def fmt_seconds(seconds: float | None) -> str:
    """``H:MM:SS`` (as `nasnet status` shows times); under a minute, seconds with a decimal."""
    if seconds is None or seconds != seconds:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms" if seconds >= 0.0005 else "<1 ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def cell(value: object, text: str | None = None, classes: str = "") -> str:
    """A table cell showing ``text`` (default: `fmt`) and sorting by the raw number."""
    raw = "" if value is None else f' data-value="{esc(value)}"'
    cls = f' class="{classes}"' if classes else ""
    return f"<td{cls}{raw}>{fmt(value) if text is None else text}</td>"


def delta(value: float | None) -> str:
    if value is None:
        return ""
    kind = "up" if value > 0 else "down" if value < 0 else ""
    return f'<span class="delta {kind}">({value:+.4f})</span>'


def table(headers: Sequence[str], rows: Sequence[str], classes: str = "", text_columns: Sequence[int] = ()) -> str:
    heads = "".join(
        f'<th class="text">{esc(h)}</th>' if i in text_columns else f"<th>{esc(h)}</th>" for i, h in enumerate(headers)
    )
    cls = f' class="{classes}"' if classes else ""
    return f"<table{cls}><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def image(uri: str | None, alt: str, missing: str) -> str:
    if uri is None:
        return f'<p class="note">{esc(missing)}</p>'
    return f'<img class="plot" alt="{esc(alt)}" src="{uri}">'


def reward_description(spec: Mapping[str, Any]) -> str:
    target = reward_target(spec)
    if target is None:
        return str(spec.get("kind", "accuracy"))
    hard = spec.get("alpha") == 0 and spec.get("beta") == -1
    return f"{'mnas-hard' if hard else 'mnas-soft'} ({target[0]}, T = {target[1]:.3g})"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "experiment"


def esc_block(text: str) -> str:
    return "\n".join(html.escape(printable(line, 400)) for line in text.splitlines())


__all__ = [
    "cell",
    "delta",
    "esc",
    "esc_block",
    "fmt",
    "fmt_count",
    "fmt_seconds",
    "image",
    "reward_description",
    "slug",
    "table",
]
