"""The report's plots, drawn with matplotlib's Agg renderer and returned as data: URIs for inline images.

matplotlib is imported only here and only when a plot is drawn (the ``report`` extra); figures are
built with `matplotlib.figure.Figure` directly, not pyplot, so drawing a report neither changes the
process's backend nor keeps figures alive. Plots with thousands of points (the progress and cost
scatters) are PNG, whose size does not grow with the points; line and bar plots are SVG, sharp at
any zoom and small.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nasnet.report.analysis import (
    CELL_KINDS,
    CostPoints,
    LearnedSeries,
    ProgressCurves,
    ReportError,
    Throughput,
    difference_curves,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

INSTALL_MATPLOTLIB = "the HTML report needs matplotlib: pip install 'nasnet[report]'"
PNG_DPI = 110
# Figure 6 draws each top-k statistic in its own colour, with one line style per search method.
K_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
EXPERIMENT_STYLES = ("-", "--", ":", "-.")
EXPERIMENT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SCATTER_COLOURS = ("#7f7f7f", "#bcbd22", "#17becf", "#e377c2")
METRIC_NAMES = {"mult_adds": "mult-adds", "params": "parameters"}


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(INSTALL_MATPLOTLIB) from None
    return Figure


def require_matplotlib() -> None:
    """Raise the one-line `ReportError` naming the extra to install where matplotlib is absent."""
    _figure_class()


def new_figure(width: float, height: float, **kwargs: Any) -> Figure:
    figure = _figure_class()(figsize=(width, height), layout="constrained", **kwargs)
    return figure


def data_uri(figure: Figure, fmt: str = "png") -> str:
    """The figure as a ``data:`` URI; no metadata (a date would make equal reports differ)."""
    buffer = io.BytesIO()
    if fmt == "png":
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
        mime = "image/png"
    else:
        from matplotlib import rc_context

        # Text as <text>, not outlines: a third of the size, and searchable; the viewer's sans-serif draws it.
        with rc_context({"svg.fonttype": "none"}):
            figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
        mime = "image/svg+xml"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def experiment_style(index: int) -> str:
    return EXPERIMENT_STYLES[index % len(EXPERIMENT_STYLES)]


def experiment_colour(index: int) -> str:
    return EXPERIMENT_COLOURS[index % len(EXPERIMENT_COLOURS)]


def _reward_limits(curves: Sequence[ProgressCurves]) -> tuple[float, float] | None:
    """Y limits that keep the few very poor trials from squashing the top-k curves (Figure 6's region of interest)."""
    rewards = np.concatenate([c.reward[~np.isnan(c.reward)] for c in curves] or [np.zeros(0)])
    if not len(rewards):
        return None
    low, high = float(np.percentile(rewards, 2)), float(rewards.max())
    margin = max((high - low) * 0.05, 1e-6)
    return low - margin, high + margin


def progress_figure(curves: Sequence[ProgressCurves]) -> str:
    """Figure 6: every trial's reward, and the mean reward of the top k unique models over the number sampled.

    With several experiments, a lower panel plots each one's top-k means minus the first's: the gap
    between RL and random search that the paper reads off its figure.
    """
    compare = len(curves) > 1
    figure = new_figure(11, 6.8 if compare else 4.8)
    if compare:
        top_axes, diff_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1.6))
    else:
        top_axes, diff_axes = figure.subplots(1, 1), None
    for index, curve in enumerate(curves):
        scatter = SCATTER_COLOURS[index % len(SCATTER_COLOURS)]
        mask = ~np.isnan(curve.reward)
        if not mask.any():  # nothing to draw, and no legend entries for it
            continue
        size = 4 if curve.count > 2000 else 8
        top_axes.scatter(
            curve.sampled[mask],
            curve.reward[mask],
            s=size,
            color=scatter,
            alpha=0.5,
            linewidths=0,
            label=f"{curve.label}: each trial",
            rasterized=True,
        )
        for k_index, (k, values) in enumerate(curve.top.items()):
            if np.isnan(values).all():  # fewer than k unique models so far
                continue
            name = "top 1 (best so far)" if k == 1 else f"top {k} mean"
            top_axes.plot(
                curve.sampled,
                values,
                color=K_COLOURS[k_index % len(K_COLOURS)],
                linestyle=experiment_style(index),
                linewidth=1.8,
                label=f"{curve.label}: {name}",
            )
    limits = _reward_limits(curves)
    if limits:
        top_axes.set_ylim(*limits)
    top_axes.set_ylabel("reward")
    top_axes.grid(alpha=0.3)
    top_axes.set_title("Reward of the top k unique models among the first n sampled (as in Figure 6)")
    top_axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    if diff_axes is not None:
        reference = curves[0]
        for index, curve in enumerate(curves[1:], start=1):
            for k_index, (k, values) in enumerate(difference_curves(reference, curve).items()):
                if np.isnan(values).all():
                    continue
                diff_axes.plot(
                    np.arange(1, len(values) + 1),
                    values,
                    color=K_COLOURS[k_index % len(K_COLOURS)],
                    linestyle=experiment_style(index),
                    linewidth=1.5,
                    label=f"{curve.label} − {reference.label}: top {k}",
                )
        diff_axes.axhline(0.0, color="black", linewidth=0.8)
        diff_axes.set_ylabel(f"difference from\n{reference.label}")
        diff_axes.grid(alpha=0.3)
        diff_axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
        diff_axes.set_xlabel("number of trials sampled")
    else:
        top_axes.set_xlabel("number of trials sampled")
    return data_uri(figure, "png")


def _engineering() -> Any:
    """Tick labels such as 40M and 250k: mult-adds and parameters span orders of magnitude."""
    from matplotlib.ticker import EngFormatter

    return EngFormatter(sep="")


def _log_scale(axes: Axes, values: np.ndarray) -> None:
    positive = values[values > 0]
    if len(positive) and positive.min() > 0 and positive.max() / positive.min() > 20:
        axes.set_xscale("log")


def cost_figure(points: Sequence[tuple[str, dict[str, CostPoints]]], target: tuple[str, float] | None) -> str | None:
    """Reward against mult-adds and against parameters, each experiment's Pareto front joined (Table 2's axes).

    ``points`` holds per experiment its label and its `CostPoints` per metric; ``target`` is the
    MnasNet reward's ``(metric, T)``, marked on that metric's panel. None where no trial reports a cost.
    """
    metrics = [m for m in METRIC_NAMES if any(len(per[m].costs) for _, per in points if m in per)]
    if not metrics:
        return None
    figure = new_figure(11, 4.6)
    axes_list = figure.subplots(1, len(metrics), squeeze=False)[0]
    for axes, metric in zip(axes_list, metrics, strict=True):
        everything = []
        for index, (label, per) in enumerate(points):
            cp = per.get(metric)
            if cp is None or not len(cp.costs):
                continue
            colour = experiment_colour(index)
            everything.append(cp.costs)
            many = len(cp.costs) > 2000
            axes.scatter(
                cp.costs,
                cp.rewards,
                s=4 if many else 10,
                color=colour,
                alpha=0.25 if many else 0.45,
                linewidths=0,
                rasterized=True,
                label=f"{label}: trials",
            )
            front = cp.front
            axes.plot(
                cp.costs[front],
                cp.rewards[front],
                drawstyle="steps-post",
                color=colour,
                linewidth=1.6,
                marker="o",
                markersize=3.5,
                label=f"{label}: Pareto front ({len(front)})",
            )
        if target is not None and target[0] == metric:
            axes.axvline(target[1], color="black", linestyle="--", linewidth=1.0, label=f"target T = {target[1]:.3g}")
        _log_scale(axes, np.concatenate(everything))
        axes.xaxis.set_major_formatter(_engineering())
        axes.set_xlabel(METRIC_NAMES[metric])
        axes.set_ylabel("reward")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8, loc="lower right")
    figure.suptitle("Reward against cost: the front holds the trials no other beats on both (max reward, min cost)")
    return data_uri(figure, "png")


def state_label(state: str) -> str:
    """An input choice as the paper names hidden states (Section 3): h_i, h_{i-1}, then the blocks' outputs."""
    if state == "0":
        return "h_i"
    if state == "1":
        return "h_{i-1}"
    return f"B{int(state) - 2}" if state.isdigit() else state


def _colours(count: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if count > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(count)]


def learned_figure(series: LearnedSeries, title: str) -> str | None:
    """The controller's probability of each op and each input state over the trials it was told (Section 3)."""
    if series.empty:
        return None
    groups = [g for g in ("ops", "inputs") if any(g in series.series.get(k, {}) for k in CELL_KINDS)]
    if not groups:
        return None
    figure = new_figure(11, 3.3 * len(groups))
    grid = figure.subplots(len(groups), 2, squeeze=False, sharex=True)
    marker = "o" if len(series.told) < 30 else None
    for row, group in enumerate(groups):
        for column, kind in enumerate(CELL_KINDS):
            axes = grid[row][column]
            choices = series.series.get(kind, {}).get(group, {})
            for colour, (choice, values) in zip(_colours(len(choices)), choices.items(), strict=True):
                name = state_label(choice) if group == "inputs" else choice
                axes.plot(series.told, values, color=colour, linewidth=1.4, marker=marker, markersize=3, label=name)
            if group == "ops" and choices:
                axes.axhline(1 / len(choices), color="grey", linestyle="--", linewidth=0.8, label="uniform")
            axes.set_title(f"{kind} cell: {'op' if group == 'ops' else 'input state'} probabilities", fontsize=10)
            axes.grid(alpha=0.3)  # no y from 0: a policy moves by a few points, which the full range would flatten
            if column == 0:
                axes.set_ylabel("probability")
            if row == len(groups) - 1:
                axes.set_xlabel("trials told to the controller")
        grid[row][1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    figure.suptitle(title)
    return data_uri(figure, "svg")


def op_frequency_figure(frequencies: dict[str, Any], title: str) -> str | None:
    """How often each op fills a slot in the top trials against all trials, per cell kind."""
    if not frequencies.get("all"):
        return None
    kinds = frequencies["kinds"]
    ops = list(kinds[CELL_KINDS[0]])
    figure = new_figure(11, 0.26 * len(ops) + 1.4)
    grid = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(ops))
    share = frequencies["top_fraction"]
    for axes, kind in zip(grid, CELL_KINDS, strict=True):
        top = [kinds[kind][op]["top"] for op in ops]
        every = [kinds[kind][op]["all"] for op in ops]
        axes.barh(y - 0.2, top, height=0.4, color="#d62728", label=f"top {share:.0%} ({frequencies['top']:,} trials)")
        axes.barh(y + 0.2, every, height=0.4, color="#9e9e9e", label=f"all ({frequencies['all']:,} trials)")
        axes.set_yticks(y, ops, fontsize=8)
        axes.set_title(f"{kind} cell", fontsize=10)
        axes.set_xlabel("share of op slots")
        axes.grid(alpha=0.3, axis="x")
    grid[0].invert_yaxis()  # the space's order from the top; once, as the axes share y
    grid[1].legend(fontsize=8, loc="lower right")
    figure.suptitle(title)
    return data_uri(figure, "svg")


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds >= 2 * 3600:
        return 3600.0, "hours"
    if seconds >= 120:
        return 60.0, "minutes"
    return 1.0, "seconds"


def throughput_figure(rates: Sequence[tuple[str, Throughput]]) -> str | None:
    """Trials finished per hour over each search's time since its first trial."""
    shown = [(label, t) for label, t in rates if len(t.edges)]
    if not shown:
        return None
    span = max(float(t.edges[-1]) for _, t in shown)
    scale, unit = _time_unit(span)
    figure = new_figure(11, 3.2)
    axes = figure.subplots(1, 1)
    for index, (label, rate) in enumerate(shown):
        overall = rate.overall_per_hour
        suffix = "" if overall is None or not math.isfinite(overall) else f" (overall {overall:,.0f}/h)"
        axes.stairs(
            rate.per_hour, rate.edges / scale, color=experiment_colour(index), linewidth=1.5, label=f"{label}{suffix}"
        )
    axes.set_xlabel(f"{unit} since the first trial")
    axes.set_ylabel("trials finished per hour")
    axes.yaxis.set_major_formatter(_engineering())
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return data_uri(figure, "svg")


__all__ = [
    "INSTALL_MATPLOTLIB",
    "cost_figure",
    "data_uri",
    "learned_figure",
    "new_figure",
    "op_frequency_figure",
    "progress_figure",
    "require_matplotlib",
    "state_label",
    "throughput_figure",
]
