"""`nasnet report` and `nasnet compare`: the numbers (against brute force), the page, the command line, a browser."""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from nasnet.execution import InProcessExecutor
from nasnet.report import analysis, sections
from nasnet.report.analysis import (
    compare_at_budgets,
    failure_groups,
    learned_series,
    load_experiment,
    matched_budgets,
    op_frequencies,
    pareto_front,
    progress_curves,
    throughput,
    top_k_means,
    worker_utilisation,
)
from nasnet.report.html import render_report
from nasnet.search import search
from nasnet.space import DEFAULT_SPACE
from nasnet.space.canonical import genotype_hash
from nasnet.space.serialization import genotype_from_dict
from nasnet.store import EvalResult, ExperimentConfig, ExperimentStore, FrozenTrial, TrialState, space_spec

FIXTURE_V1 = Path(__file__).parent / "fixtures" / "experiment_v1"
SYNTHETIC = {"kind": "synthetic", "noise": 0.01, "fail_rate": 0.1}
TRIALS = 300


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished ``rl`` and ``random`` search on the same budget (Figure 6's comparison, in miniature)."""
    root = tmp_path_factory.mktemp("pair")
    for name in ("rl", "random"):
        search(name, out=root / name, evaluator=SYNTHETIC, trials=TRIALS, executor=InProcessExecutor(), progress=False)
    return root / "rl", root / "random"


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """`nasnet.cli.main`, with `report` and `compare` registered whether or not the CLI lists them yet."""
    import nasnet.cli as cli
    from nasnet.cli import report as report_cli

    original = cli.build_parser

    def build() -> argparse.ArgumentParser:
        parser = original()
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "report" not in commands.choices:
            report_cli.register(commands)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    return cli.main(argv)


# ---- the numbers, against brute force ------------------------------------------------------------


def brute_top_k(values: list[float | None], keys: list[str] | None, k: int) -> list[float]:
    out = []
    for n in range(1, len(values) + 1):
        firsts: dict[object, float] = {}
        for i in range(n):
            if values[i] is None:
                continue
            key = keys[i] if keys is not None else i
            firsts.setdefault(key, values[i])  # type: ignore[arg-type]
        ranked = sorted(firsts.values(), reverse=True)
        out.append(sum(ranked[:k]) / k if len(ranked) >= k else math.nan)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_top_k_means_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 60)
    values = [None if rng.random() < 0.2 else round(rng.random(), 2) for _ in range(n)]  # ties on purpose
    keys = [rng.choice("abcdefghijklmnop") for _ in range(n)]
    for k in (1, 2, 5, 25):
        for chosen in (keys, None):
            expected = np.array(brute_top_k(values, chosen, k))
            got = top_k_means(values, k, chosen)
            np.testing.assert_allclose(got, expected, equal_nan=True)


def test_best_so_far_and_top_1_agree_without_duplicates() -> None:
    values = [None, 0.3, 0.1, None, 0.5, 0.4]
    np.testing.assert_allclose(analysis.best_so_far(values), [np.nan, 0.3, 0.3, 0.3, 0.5, 0.5], equal_nan=True)
    np.testing.assert_allclose(top_k_means(values, 1), analysis.best_so_far(values), equal_nan=True)


def brute_front(costs: list[float], rewards: list[float]) -> set[int]:
    def dominated(i: int) -> bool:
        return any(
            costs[j] <= costs[i] and rewards[j] >= rewards[i] and (costs[j] < costs[i] or rewards[j] > rewards[i])
            for j in range(len(costs))
        )

    return {i for i in range(len(costs)) if not dominated(i)}


@pytest.mark.parametrize("seed", range(8))
def test_pareto_front_matches_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 40)
    costs = [float(rng.randint(1, 8)) for _ in range(n)]  # few values: ties and copies are common
    rewards = [float(rng.randint(1, 8)) for _ in range(n)]
    front = pareto_front(costs, rewards)
    assert set(front) == brute_front(costs, rewards)
    assert [costs[i] for i in front] == sorted(costs[i] for i in front)


def test_matched_budgets() -> None:
    assert matched_budgets(300) == [100, 250, 300]
    assert matched_budgets(20_000) == [100, 250, 500, 1000, 2500, 5000, 10_000, 20_000]
    assert matched_budgets(1000) == [100, 250, 500, 1000]
    assert matched_budgets(40) == [10, 25, 40]
    assert matched_budgets(1) == [1]
    assert matched_budgets(0) == []


def make_trial(number: int, **values: object) -> FrozenTrial:
    genotype = DEFAULT_SPACE.sample(number)
    fields = {
        "number": number,
        "state": TrialState.COMPLETE,
        "genotype": genotype,
        "genotype_hash": genotype_hash(genotype),
        "decisions": (),
        "info": {},
    }
    fields.update(values)
    return FrozenTrial(**fields)  # type: ignore[arg-type]


def test_failures_group_by_reason_with_numbers_masked() -> None:
    trials = [
        make_trial(1, state=TrialState.FAILED, failure="error: RuntimeError: CUDA out of memory. Tried 2.00 GiB"),
        make_trial(2, state=TrialState.FAILED, failure="error: RuntimeError: CUDA out of memory. Tried 1.50 GiB"),
        make_trial(3, state=TrialState.FAILED, failure="timeout after 3600 s", cached_from=9),
        make_trial(4, reward=0.5, accuracy=0.5),
    ]
    groups = failure_groups(trials)
    assert [(g.count, g.trials, g.reused) for g in groups] == [(2, [1, 2], 0), (1, [3], 1)]
    assert groups[0].key == "error: RuntimeError: CUDA out of memory. Tried N GiB"
    assert "2.00 GiB" in groups[0].example


def test_worker_utilisation_and_throughput() -> None:
    t0 = 1_000_000.0
    trials = [
        make_trial(1, worker="w1", seconds=30.0, created_at=t0, started_at=t0, finished_at=t0 + 30),
        make_trial(2, worker="w2", seconds=60.0, created_at=t0, started_at=t0, finished_at=t0 + 60),
        make_trial(
            3,
            worker="w1",
            seconds=50.0,
            created_at=t0 + 30,
            started_at=t0 + 30,
            finished_at=t0 + 80,
            state=TrialState.FAILED,
        ),
        make_trial(4, worker="w2", seconds=0.0, cached_from=1, created_at=t0 + 60, finished_at=t0 + 60),
        make_trial(5, state=TrialState.RUNNING, created_at=t0 + 80, started_at=t0 + 80),
    ]
    uses = {u.worker: u for u in worker_utilisation(trials, wall_seconds=100.0)}
    assert set(uses) == {"w1", "w2"}  # the reused result ran nowhere; the running trial has no worker yet
    assert (uses["w1"].trials, uses["w1"].failed, uses["w1"].busy_seconds) == (2, 1, 80.0)
    assert uses["w1"].utilisation == pytest.approx(0.8) and uses["w2"].utilisation == pytest.approx(0.6)
    rate = throughput(trials, wall_seconds=100.0, bins=4)
    assert rate.finished == 4 and rate.overall_per_hour == pytest.approx(4 / 100 * 3600)
    assert (rate.per_hour * (rate.edges[1] - rate.edges[0]) / 3600).sum() == pytest.approx(4)


def test_op_frequencies_against_counting(pair: tuple[Path, Path]) -> None:
    trials = load_experiment(pair[1]).trials
    frequencies = op_frequencies(trials, DEFAULT_SPACE.ops)
    complete = sorted((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: (-t.reward, t.number))
    top = complete[: math.ceil(0.1 * len(complete))]
    assert (frequencies["top"], frequencies["all"]) == (len(top), len(complete))
    for kind in ("normal", "reduction"):
        shares = frequencies["kinds"][kind]
        assert list(shares) == list(DEFAULT_SPACE.ops)
        for group, chosen in (("top", top), ("all", complete)):
            ops = [op for t in chosen for block in getattr(t.genotype, kind).blocks for op in block.ops]
            for op in DEFAULT_SPACE.ops:
                assert shares[op][group] == pytest.approx(ops.count(op) / len(ops))


def test_learned_series_of_an_rl_search(pair: tuple[Path, Path]) -> None:
    rl, rand = (load_experiment(p) for p in pair)
    series = learned_series(rl.history)
    assert not series.empty and list(series.told) == sorted(series.told) and series.told[-1] == TRIALS
    for kind in ("normal", "reduction"):
        ops = series.series[kind]["ops"]
        assert list(ops) == list(DEFAULT_SPACE.ops)
        assert sum(p[-1] for p in ops.values()) == pytest.approx(1.0, abs=1e-4)
        assert set(series.series[kind]["combines"]) == {"add", "concat"}
    assert learned_series(rand.history).empty


# ---- the report ------------------------------------------------------------------------------------

REMOTE = re.compile(r"""(?:src|href|action|srcset)\s*=\s*["']?\s*(?!data:|#)[a-z][a-z0-9+.-]*:""", re.I)


def test_report_of_rl_and_random(pair: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "report.html"
    assert run_cli(["report", str(pair[0]), str(pair[1]), "-o", str(out)], monkeypatch) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text()
    # Both experiments, one line each per statistic: the analysis the figure draws, and the page's labels.
    curves = [progress_curves(load_experiment(p).trials, p.name) for p in pair]
    assert [c.count for c in curves] == [TRIALS, TRIALS]
    for c in curves:
        assert set(c.top) == {1, 5, 25, 100} and not np.isnan(c.top[100][-1])
    for label in ("rl", "random"):
        assert f"<b>{label}</b>" in page and f">{label}</td>" in page
    assert "differences from rl" in page and "Figure 6" in page
    # Self-contained: a policy that forbids every load, nothing that points anywhere but data: or the page.
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'' in page
    assert not REMOTE.search(page), REMOTE.search(page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    # Each table row links to its diagram, and carries its genotype as a JSON file that loads back.
    anchors = re.findall(r'<a href="#(cell-\d+-\d+)">diagram</a>', page)
    assert len(anchors) == 20 and all(f'id="{a}"' in page for a in anchors)
    documents = re.findall(r'href="data:application/json;base64,([A-Za-z0-9+/=]+)"', page)
    genotype = genotype_from_dict(json.loads(base64.b64decode(documents[0])))
    best = ExperimentStore.open(pair[0], readonly=True).best(1)[0]
    assert genotype_hash(genotype) == best.genotype_hash
    assert page.count("<svg") >= 20  # the diagrams, inline


def direct_figures(trials: list[FrozenTrial], n: int) -> dict[str, float | None]:
    """Figure 6's numbers after ``n`` trials, straight from the trials: the best, and top-k means of unique models."""
    first = sorted(trials, key=lambda t: t.number)[:n]
    complete = [t for t in first if t.state == TrialState.COMPLETE]
    unique: dict[str, float] = {}
    for t in complete:
        unique.setdefault(t.genotype_hash, t.reward)  # type: ignore[arg-type]
    ranked = sorted(unique.values(), reverse=True)
    out: dict[str, float | None] = {"best": max(t.reward for t in complete)}  # type: ignore[type-var]
    for k in (1, 5, 25, 100):
        out[f"top_{k}"] = sum(ranked[:k]) / k if len(ranked) >= k else None
    return out


def test_compare_matches_the_trials(pair: tuple[Path, Path], monkeypatch, capsys) -> None:
    assert run_cli(["compare", str(pair[0]), str(pair[1]), "--json"], monkeypatch) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["budgets"] == [100, 250, 300] and payload["reference"] == "rl"
    trials = [ExperimentStore.open(p, readonly=True).trials() for p in pair]
    rows = {(row["budget"], row["experiment"]): row for row in payload["rows"]}
    assert len(rows) == 6
    for budget in payload["budgets"]:
        reference = direct_figures(trials[0], budget)
        for label, experiment in zip(("rl", "random"), trials, strict=True):
            expected = direct_figures(experiment, budget)
            row = rows[(budget, label)]
            for statistic, value in expected.items():
                assert row[statistic] == pytest.approx(value) if value is not None else row[statistic] is None
            if label == "rl":
                assert row["difference"] is None
            else:
                for statistic, value in expected.items():
                    want = None if value is None or reference[statistic] is None else value - reference[statistic]
                    got = row["difference"][statistic]
                    assert got == pytest.approx(want) if want is not None else got is None
    # The table shows the same figures, and each difference on the line below its experiment.
    assert run_cli(["compare", str(pair[0]), str(pair[1])], monkeypatch) == 0
    text = capsys.readouterr().out
    row = rows[(300, "random")]
    assert f"{row['top_5']:.4f}" in text and f"{row['difference']['top_5']:+.4f}" in text
    assert re.search(r"│\s+250 │ rl", text) and "− rl" in text
    # Chosen budgets; one past the smallest experiment is left out, and said so.
    assert run_cli(["compare", str(pair[0]), str(pair[1]), "--json", "--budgets", "50,200,5000"], monkeypatch) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["budgets"] == [50, 200] and "5000 left out" in captured.err


def live_experiment(directory: Path, source: Path) -> ExperimentStore:
    """A search in progress: its writer holds the store open, two trials are still running."""
    store = ExperimentStore.create(
        directory, ExperimentConfig(strategy="rl", evaluator=SYNTHETIC, space=space_spec(DEFAULT_SPACE), trials=10)
    )
    donors = ExperimentStore.open(source, readonly=True).trials()[:6]
    for index, donor in enumerate(donors):
        trial = store.add_trial(donor.genotype, donor.genotype_hash, donor.decisions, {})
        if index < 3:
            store.finish_trial(
                trial,
                EvalResult.complete(0.5 + index / 10, donor.metrics, 1.0).placed(trial.number, 1, "worker-1"),
                0.5 + index / 10,
            )
        elif index == 3:
            store.finish_trial(
                trial,
                EvalResult.failed("error: OSError: [Errno 28] No space left").placed(trial.number, 1, "worker-2"),
                None,
            )
    return store


def test_report_of_odd_experiments(pair: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    """An old experiment with a running trial and no history, an empty one, a live one, a cost target: all render."""
    old = tmp_path / "old"
    shutil.copytree(FIXTURE_V1, old)
    empty = tmp_path / "empty"
    ExperimentStore.create(
        empty, ExperimentConfig(strategy="rl", evaluator=SYNTHETIC, space=space_spec(DEFAULT_SPACE))
    ).close()
    costly = tmp_path / "mnas"
    search(
        "evolution",
        out=costly,
        evaluator=SYNTHETIC,
        trials=60,
        executor=InProcessExecutor(),
        progress=False,
        reward={"kind": "mnas", "target": 3e7, "metric": "mult_adds"},
    )
    live = live_experiment(tmp_path / "live", pair[0])
    try:
        out = tmp_path / "odd.html"
        argv = ["report", str(old), str(empty), str(tmp_path / "live"), str(costly), "-o", str(out), "--top", "3"]
        assert run_cli(argv, monkeypatch) == 0
    finally:
        live.close()
    page = out.read_text()
    for label in ("old", "empty", "live", "mnas"):
        assert f"<b>{label}</b>" in page
    assert "target T = 3e+07" in page and "different rewards" in page
    assert "error: OSError: [Errno N] No space left" in page  # grouped, numbers masked
    assert "No completed trial yet" in page and "recorded no history" in page
    assert "worker-1" in page
    experiment = load_experiment(old)
    assert experiment.counts["running"] == 1 and not experiment.history
    # An empty experiment alone: a page that says so.
    assert run_cli(["report", str(empty), "-o", str(tmp_path / "empty.html")], monkeypatch) == 0
    assert "No trials yet" in (tmp_path / "empty.html").read_text()
    assert run_cli(["compare", str(empty), str(pair[0])], monkeypatch) == 0
    assert "nothing to compare: empty has no finished trials yet" in capsys.readouterr().out


def test_cells_fall_back_to_text_without_dot(pair: tuple[Path, Path], monkeypatch) -> None:
    from nasnet.report.diagram import DotMissing

    def missing(*args: object, **kwargs: object) -> str:
        raise DotMissing("drawing cells needs Graphviz: install Graphviz's dot program")

    monkeypatch.setattr(sections, "genotype_svg", missing)
    page = render_report([load_experiment(pair[1], "random")], top=2)
    assert "<svg" not in page and page.count("drawing cells needs Graphviz") == 2
    assert "Normal cell" in page and "h_{i-1} -&gt;" in page  # the text diagram, escaped, in a <pre>


@pytest.mark.parametrize(
    ("output", "message"),
    [("", "-o is empty"), ("{tmp}/missing/report.html", "no such directory"), ("{tmp}", "is a directory")],
)
def test_bad_output_is_one_line(pair: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys, output, message) -> None:
    code = run_cli(["report", str(pair[0]), "-o", output.format(tmp=tmp_path)], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_missing_experiment_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    for command in (["report", str(tmp_path / "nope"), "-o", str(tmp_path / "r.html")], ["compare", str(tmp_path)]):
        code = run_cli(command, monkeypatch)
        err = capsys.readouterr().err
        assert code == 2 and "no experiment here" in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_missing_matplotlib_names_the_extra(pair: tuple[Path, Path], tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    code = run_cli(["report", str(pair[0]), "-o", str(tmp_path / "r.html")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'nasnet[report]'" in err and err.count("\n") == 1


def test_a_trial_in_flight_ends_the_settled_trials() -> None:
    trials = [make_trial(n, reward=n / 10, accuracy=n / 10) for n in range(1, 8)]
    trials[4] = make_trial(5, state=TrialState.RUNNING)
    curves = progress_curves(trials, "live")
    assert (curves.count, curves.settled) == (7, 4)
    assert compare_at_budgets([curves]).budgets == [4]  # trial 5 may yet change the figures after 5, 6, 7


def test_comparison_of_unequal_searches_stops_at_the_smaller(pair: tuple[Path, Path]) -> None:
    curves = [progress_curves(load_experiment(p).trials, p.name) for p in pair]
    shorter = progress_curves(load_experiment(pair[1]).trials[:120], "short")
    comparison = compare_at_budgets([curves[0], shorter])
    assert comparison.budgets == [100, 120]
    assert all(row.budget <= 120 for row in comparison.rows)


# ---- in a real browser -----------------------------------------------------------------------------


def chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the [test] extra)")
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium on PATH (apt install chromium)")


def test_report_renders_in_a_browser(pair: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    executable = chromium()
    from PIL import Image
    from playwright.sync_api import sync_playwright

    out = tmp_path / "report.html"
    assert run_cli(["report", str(pair[0]), str(pair[1]), "-o", str(out)], monkeypatch) == 0
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri(), wait_until="load")
            screenshot = tmp_path / "shot.png"
            page.screenshot(path=str(screenshot))
            # The inline script runs (its hash is in the policy): a click sorts the top-trials table by reward.
            page.locator("table.sortable").first.locator("th", has_text="reward").click()
            rewards = page.locator("table.sortable").first.locator("tbody tr td:nth-child(4)").all_inner_texts()
            images = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if url != out.as_uri() and not url.startswith("data:")] == []
    assert [float(r) for r in rewards] == sorted(float(r) for r in rewards)
    assert images and all(images)  # every plot decoded
    colours = Image.open(screenshot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the page looks blank"
