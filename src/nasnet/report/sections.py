"""The sections of the HTML report, each a function of the experiments that returns its HTML.

See `nasnet.report.html` for the page and what each section shows; the numbers come from
`nasnet.report.analysis` and the plots from `nasnet.report.figures`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence

from nasnet.report import figures
from nasnet.report.analysis import (
    Comparison,
    Experiment,
    TopTrial,
    compare_at_budgets,
    cost_points,
    failure_groups,
    learned_series,
    op_frequencies,
    progress_curves,
    reward_target,
    throughput,
    top_trials,
    worker_utilisation,
)
from nasnet.report.diagram import DiagramError, genotype_svg, text_diagram
from nasnet.report.markup import (
    cell,
    delta,
    esc,
    esc_block,
    fmt,
    fmt_count,
    fmt_seconds,
    image,
    reward_description,
    slug,
    table,
)
from nasnet.report.text import genotype_text
from nasnet.space.serialization import genotype_to_dict


def summary_section(experiments: Sequence[Experiment]) -> str:
    rows = []
    for e in experiments:
        c = e.counts
        best = max((t.reward for t in e.complete), default=None)
        status = '<span class="running">running</span>' if e.running else "stopped"
        where = "" if e.directory == e.label else f'<br><span class="note">{esc(e.directory)}</span>'
        if not e.running and e.budget is not None and c.get("complete", 0) + c.get("failed", 0) >= e.budget:
            status = "finished"
        rows.append(
            "<tr>"
            f'<td class="text"><b>{esc(e.label)}</b>{where}</td>'
            f'<td class="text">{esc(e.config.strategy)}</td>'
            f'<td class="text">{esc(e.config.evaluator.get("kind", "?"))}</td>'
            f'<td class="text">{esc(reward_description(e.config.reward))}</td>'
            f"<td>{fmt_count(e.budget) if e.budget is not None else '-'}</td>"
            + "".join(
                f"<td>{fmt_count(n)}</td>"
                for n in (
                    c.get("complete", 0),
                    c.get("failed", 0),
                    c.get("running", 0) + c.get("waiting", 0),
                    c.get("cached", 0),
                )
            )
            + f"<td>{fmt(best)}</td><td>{fmt_seconds(e.wall_seconds() or None)}</td><td>{status}</td></tr>"
        )
    headers = [
        "experiment",
        "strategy",
        "evaluator",
        "reward",
        "budget",
        "complete",
        "failed",
        "running",
        "reused",
        "best reward",
        "search time",
        "state",
    ]
    return table(headers, rows, text_columns=(0, 1, 2, 3))


def comparison_table(comparison: Comparison) -> str:
    rows = []
    for row in comparison.rows:
        first = row.difference is None
        values = "".join(
            cell(row.values[s], fmt(row.values[s]) + ("" if first else delta(row.difference.get(s))))  # type: ignore[union-attr]
            for s in comparison.statistics
        )
        group = ' class="group"' if first and len(comparison.labels) > 1 else ""
        rows.append(f'<tr{group}><td>{fmt_count(row.budget)}</td><td class="text">{esc(row.label)}</td>{values}</tr>')
    headers = [
        "trials",
        "experiment",
        *(s.replace("_", " ") + ("" if s == "best" else " mean") for s in comparison.statistics),
    ]
    return table(headers, rows, text_columns=(1,))


def progress_section(experiments: Sequence[Experiment]) -> str:
    curves = [progress_curves(e.trials, e.label) for e in experiments]
    parts = ['<h2 id="progress">Search progress</h2>']
    if not any(c.count for c in curves):
        return parts[0] + '<p class="note">No trials yet.</p>'
    parts.append(
        '<p class="note">As in the paper\'s Figure 6: the mean reward of the top k <i>unique</i> models (a genotype '
        "counts once, with its first reward) among the first n trials sampled; the top 1 is the best so far. "
        + (
            "Line style tells the experiments apart, colour the statistic; the lower panel is each experiment "
            "minus the first at the same number of trials."
            if len(curves) > 1
            else ""
        )
        + "</p>"
    )
    rewards = {json.dumps(e.config.reward, sort_keys=True) for e in experiments}
    if len(rewards) > 1:
        parts.append(
            '<p class="warning">These experiments use different rewards; their rewards, and so the '
            "differences between them, compare unlike quantities.</p>"
        )
    parts.append(image(figures.progress_figure(curves), "rewards and top-k means against trials sampled", ""))
    comparison = compare_at_budgets(curves)
    if comparison.budgets:
        title = "At matched budgets" + (f" (differences from {esc(comparison.labels[0])})" if len(curves) > 1 else "")
        parts.append(f"<h3>{title}</h3>{comparison_table(comparison)}")
    return "".join(parts)


def cost_section(experiments: Sequence[Experiment]) -> str:
    points = [(e.label, {m: cost_points(e.trials, m) for m in figures.METRIC_NAMES}) for e in experiments]
    targets = {reward_target(e.config.reward) for e in experiments} - {None}
    target = next(iter(targets)) if len(targets) == 1 else None
    note = ""
    if target is not None:
        note = f"The dashed line is the reward's target T = {target[1]:.4g} {figures.METRIC_NAMES[target[0]]}. "
    fronts = []
    for label, per in points:
        for metric, cp in per.items():
            if cp.front:
                listed = ", ".join(
                    f"#{cp.numbers[i]} ({fmt(float(cp.rewards[i]))} at {cp.costs[i]:.3g})" for i in cp.front[:40]
                )
                fronts.append(f"<li>{esc(label)}, {figures.METRIC_NAMES[metric]}: {listed}</li>")
    listing = f"<details><summary>Pareto-front trials</summary><ul>{''.join(fronts)}</ul></details>" if fronts else ""
    return (
        '<h2 id="cost">Reward against cost</h2>'
        f'<p class="note">{note}Each front point is a trial that no other trial beats on both reward and cost.</p>'
        + image(
            figures.cost_figure(points, target),
            "reward against mult-adds and parameters",
            "No completed trial reports mult-adds or parameters yet.",
        )
        + listing
    )


def _diagram(top: TopTrial, name: str, anchor: str) -> str:
    try:
        svg = genotype_svg(top.trial.genotype, name)
        svg = re.sub(r"<\?xml[^>]*>|<!DOCTYPE[^>]*>", "", svg)
        # Graphviz numbers its elements node1, edge1, ... in every drawing: prefix them to keep ids unique.
        return re.sub(r'\bid="', f'id="{anchor}-', svg).strip()
    except DiagramError as err:  # DotMissing included: the same cells as text
        note = f'<p class="note">{esc(err)}</p>'
        return f"{note}<pre>{esc_block(text_diagram(top.trial.genotype, name))}</pre>"


def top_section(experiments: Sequence[Experiment], index_of: dict[str, int], k: int) -> str:
    parts = [
        '<h2 id="top">Top trials</h2>',
        '<p class="note">Unique genotypes by reward (click a column to sort). "sampled" counts the trials '
        "of the same genotype; train time is the trainer's where it reported one.</p>",
    ]
    cells = [
        '<h2 id="cells">Cells of the top trials</h2><p class="note">Drawn as the paper\'s Figure 4: inputs '
        "h_i and h_{i-1} at the bottom, one box per op, one node per block's combine; in the reduction cell "
        "ops on the inputs use stride 2.</p>"
    ]
    for e in experiments:
        index = index_of[e.label]
        best = top_trials(e.trials, k)
        parts.append(f"<h3>{esc(e.label)}</h3>")
        if not best:
            parts.append('<p class="note">No completed trial yet.</p>')
            continue
        rows = []
        cells.append(f"<h3>{esc(e.label)}</h3>")
        for rank, top in enumerate(best, start=1):
            t = top.trial
            anchor = f"cell-{index}-{t.number}"
            name = f"{e.label} trial {t.number}"
            meta = {"experiment": e.label, "trial": t.number, "reward": t.reward, "genotype_hash": t.genotype_hash}
            document = json.dumps(genotype_to_dict(t.genotype, name=slug(name), meta=meta), indent=2)
            download = "data:application/json;base64," + base64.b64encode(document.encode()).decode("ascii")
            filename = f"{slug(e.label)}-trial{t.number}.json"
            rows.append(
                f"<tr>{cell(rank)}{cell(t.number)}<td class='text hash'>{esc(t.genotype_hash)}</td>"
                f"{cell(t.reward)}{cell(t.accuracy)}{cell(t.metrics.get('params'), fmt_count(t.metrics.get('params')))}"
                f"{cell(t.metrics.get('mult_adds'), fmt_count(t.metrics.get('mult_adds')))}"
                f"{cell(top.train_seconds, fmt_seconds(top.train_seconds))}<td class='text'>{esc(t.worker or '-')}</td>"
                f"{cell(t.attempts)}{cell(top.sampled)}"
                f'<td class="text"><a href="#{anchor}">diagram</a> · <a href="{download}" download="{esc(filename)}">'
                f"JSON</a></td></tr>"
            )
            cells.append(
                f'<figure class="cell" id="{anchor}"><figcaption>#{rank}: trial {t.number}, reward {fmt(t.reward)} '
                f'<span class="hash">({esc(t.genotype_hash)})</span></figcaption>{_diagram(top, name, anchor)}'
                f"<details><summary>genotype JSON (for <code>nasnet train --arch</code>)</summary>"
                f'<pre>{html.escape(document)}</pre><a href="{download}" download="{esc(filename)}">download '
                f"{esc(filename)}</a></details><details><summary>as text</summary>"
                f"<pre>{esc_block(genotype_text(t.genotype, name))}</pre></details></figure>"
            )
        headers = [
            "rank",
            "trial",
            "hash",
            "reward",
            "accuracy",
            "params",
            "mult-adds",
            "train time",
            "worker",
            "attempts",
            "sampled",
            "links",
        ]
        parts.append(table(headers, rows, "sortable", text_columns=(2, 8, 11)))
    return "".join(parts + cells)


def learned_section(experiments: Sequence[Experiment]) -> str:
    parts = ['<h2 id="learned">What the search learned</h2>']
    for e in experiments:
        parts.append(f"<h3>{esc(e.label)} ({esc(e.config.strategy)})</h3>")
        series = learned_series(e.history)
        if series.empty:
            reason = (
                "it recorded no history (an experiment from before the history was kept, or no snapshot yet)"
                if e.config.strategy == "rl"
                else "the strategy has no policy to record"
            )
            parts.append(f'<p class="note">No choice probabilities: {esc(reason)}.</p>')
        else:
            title = f"{e.label}: the controller's choice probabilities ({len(series.told)} snapshots)"
            parts.append(image(figures.learned_figure(series, title), "controller probabilities", ""))
            combines = []
            for kind, groups in series.series.items():
                for choice, values in groups.get("combines", {}).items():
                    combines.append(
                        f'<tr><td class="text">{esc(kind)}</td><td class="text">{esc(choice)}</td>'
                        f"{cell(float(values[0]))}{cell(float(values[-1]))}</tr>"
                    )
            if combines:
                parts.append(
                    table(["cell", "combine", "first snapshot", "last snapshot"], combines, text_columns=(0, 1))
                )
        frequencies = op_frequencies(e.trials, e.config.space.get("ops", ()))
        title = f"{e.label}: how often each op fills a slot, top {frequencies['top_fraction']:.0%} of trials vs all"
        parts.append(
            image(
                figures.op_frequency_figure(frequencies, title),
                "op frequencies",
                "No completed trial yet: no op frequencies.",
            )
        )
    return "".join(parts)


def failures_section(experiments: Sequence[Experiment]) -> str:
    parts = [
        '<h2 id="failures">Failures and timing</h2>',
        '<p class="note">Failures are grouped by reason, numbers, addresses and paths masked as N, 0x… and …; '
        "utilisation is each worker's evaluation time over the search's wall time.</p>",
    ]
    rates = []
    for e in experiments:
        wall = e.wall_seconds()
        parts.append(f"<h3>{esc(e.label)}</h3>")
        groups = failure_groups(e.trials)
        failed = sum(g.count for g in groups)
        if groups:
            rows = [
                f'<tr><td class="text"><code>{esc(g.key)}</code><br><span class="note">e.g. {esc(g.example)}</span>'
                f"</td>{cell(g.count)}{cell(g.count / failed, f'{g.count / failed:.1%}')}{cell(g.reused)}"
                f'<td class="text">{", ".join(str(n) for n in g.trials)}{", …" if g.count > len(g.trials) else ""}'
                "</td></tr>"
                for g in groups
            ]
            parts.append(table(["reason", "trials", "share", "reused", "first trials"], rows, text_columns=(0, 4)))
        else:
            parts.append('<p class="note">No failed trials.</p>')
        uses = worker_utilisation(e.trials, wall)
        if uses:
            rows = []
            for u in uses:
                share = u.utilisation
                bar = "" if share is None else f'<span class="bar" style="width:{min(share, 1.0) * 120:.0f}px"></span> '
                shown = "-" if share is None else f"{bar}{share:.1%}"
                rows.append(
                    f'<tr><td class="text">{esc(u.worker)}</td>{cell(u.trials)}{cell(u.failed)}'
                    f"{cell(u.busy_seconds, fmt_seconds(u.busy_seconds))}{cell(share, shown)}</tr>"
                )
            parts.append(table(["worker", "trials run", "failed", "busy", "utilisation"], rows, text_columns=(0,)))
        rate = throughput(e.trials, wall)
        rates.append((e.label, rate))
        overall = rate.overall_per_hour
        finished = f"{rate.finished:,} trials finished" if rate.finished else "No trial has finished yet"
        parts.append(
            f'<p class="note">{finished}'
            + (f" in {fmt_seconds(wall)} of search time: {overall:,.0f} trials per hour" if overall else "")
            + (
                f'; <span class="running">a search is running</span>, {e.counts.get("running", 0):,} trials in flight'
                if e.running
                else ""
            )
            + ".</p>"
        )
    parts.append(image(figures.throughput_figure(rates), "trials finished per hour", ""))
    return "".join(parts)


__all__ = [
    "comparison_table",
    "cost_section",
    "failures_section",
    "learned_section",
    "progress_section",
    "summary_section",
    "top_section",
]
