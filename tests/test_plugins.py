"""The recipes of docs/extending.md, followed: a strategy, an evaluator and a reward from outside the package.

Each plug-in is one module in ``tests/plugins`` (one new file) registered by one line: its decorator, reached
through ``--plugin MODULE`` on the command line, `load_plugins` in Python, or an installed entry point.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from nasnet.cli import main
from nasnet.registry import Registry, RegistryError, load_plugins, loaded_plugins
from nasnet.store import ExperimentStore

PLUGINS = Path(__file__).parent / "plugins"
PLUGIN_FLAGS = ["--plugin", "toy_strategy", "--plugin", "toy_evaluator", "--plugin=toy_reward"]


@pytest.fixture
def plugin_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(PLUGINS))
    return PLUGINS


def test_a_search_with_plugin_strategy_evaluator_and_reward_from_the_cli(plugin_path, tmp_path, capsys):
    out = tmp_path / "exp"
    argv = [
        *PLUGIN_FLAGS,
        "search",
        "--strategy",
        "toy-cycle",
        "--option",
        "start=1",
        "--evaluator",
        "toy-separable",
        "--evaluator-option",
        "weight=0.5",
        "--reward",
        "toy-penalty",
        "--reward-option",
        "penalty=0.25",
        "--trials",
        "6",
        "--out",
        str(out),
        "--executor",
        "inprocess",
        "--no-progress",
        "--json",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["strategy"] == "toy-cycle" and summary["counts"]["complete"] == 6
    with ExperimentStore.open(out, readonly=True) as store:
        config = store.config
        trials = store.trials()
    assert config.evaluator == {"kind": "toy-separable", "weight": 0.5}
    assert config.reward == {"kind": "toy-penalty", "penalty": 0.25}
    assert {"toy_strategy", "toy_evaluator", "toy_reward"} <= set(config.plugins)
    assert [trial.info["k"] for trial in trials] == [1, 2, 3, 4, 5, 6]
    for trial in trials:  # reward = 0.5 x share of separable convs - 0.25
        ops = [op for cell in (trial.genotype.normal, trial.genotype.reduction) for b in cell.blocks for op in b.ops]
        share = sum(op.startswith("sep_conv") for op in ops) / len(ops)
        assert trial.accuracy == pytest.approx(0.5 * share) and trial.reward == pytest.approx(0.5 * share - 0.25)

    # status reads the plug-in strategy's snapshot; resume imports the recorded plug-ins itself
    assert main(["status", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strategy_state"]["told"] == 6
    assert main(["search", "--resume", str(out), "--trials", "8", "--executor", "inprocess", "--no-progress"]) == 0
    with ExperimentStore.open(out, readonly=True) as store:
        assert [trial.info["k"] for trial in store.trials()][-2:] == [7, 8]


def test_help_lists_the_plugins(plugin_path, capsys):
    with pytest.raises(SystemExit):
        main([*PLUGIN_FLAGS, "search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("toy-cycle", "toy-separable", "toy-penalty"):
        assert name in text


def test_a_plugin_that_cannot_be_imported_is_one_line(capsys):
    assert main(["--plugin", "no_such_nasnet_plugin", "search", "--help"]) == 2
    err = capsys.readouterr().err
    assert "--plugin no_such_nasnet_plugin: cannot be imported" in err and len(err.strip().splitlines()) == 1


def test_worker_processes_import_the_drivers_plugins(plugin_path, tmp_path):
    from nasnet.execution import LocalExecutor
    from nasnet.search import search

    load_plugins(["toy_evaluator"])
    assert "toy_evaluator" in loaded_plugins()
    summary = search(
        "random",
        out=tmp_path / "exp",
        evaluator={"kind": "toy-separable", "weight": 2.0},
        trials=3,
        executor=LocalExecutor(workers=1),
        progress=False,
    )
    assert summary.counts["complete"] == 3 and summary.counts["failed"] == 0
    assert all(0 <= trial.accuracy <= 2.0 for trial in ExperimentStore.open(tmp_path / "exp", readonly=True).trials())


def test_an_installed_entry_point_registers_without_any_flag(monkeypatch, tmp_path):
    # An installed distribution, as pip leaves it: a module and a dist-info naming it as an entry point.
    (tmp_path / "toy_entry.py").write_text("def build(spec):\n    return lambda accuracy, metrics: accuracy * 2\n")
    info = tmp_path / "toy_entry-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-entry\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [nasnet.test_rewards]
            doubled = toy_entry:build
            broken = toy_entry_missing:build
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry: Registry = Registry("reward", "nasnet.test_rewards")
    with pytest.warns(RuntimeWarning, match="broken = toy_entry_missing:build"):
        assert registry.names() == ["doubled"]
    assert registry.get("doubled")({})(0.25, {}) == 0.5
    with pytest.raises(RegistryError, match="unknown reward 'tripled'; known: doubled"):
        registry.get("tripled")


def test_a_name_taken_by_another_plugin_is_refused():
    registry: Registry = Registry("strategy", "nasnet.test_none")
    registry.register("one", object())
    with pytest.raises(RegistryError, match="strategy 'one' is already registered"):
        registry.register("one", object())
