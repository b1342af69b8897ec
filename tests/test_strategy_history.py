"""What a strategy learned is kept with its snapshots, for reports; recording it never changes the search."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nasnet.execution import InProcessExecutor
from nasnet.search import make_strategy, search
from nasnet.space import DEFAULT_SPACE
from nasnet.store import DB_FILE, ExperimentStore

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_v1"


def _run(directory: Path, strategy: str, trials: int, **kwargs) -> None:
    search(
        strategy,
        out=directory,
        evaluator={"kind": "synthetic"},
        trials=trials,
        executor=InProcessExecutor(),
        progress=False,
        snapshot_every=10,
        **kwargs,
    )


def test_learned_is_a_distribution_per_cell_and_leaves_the_strategy_as_it_was():
    strategy = make_strategy("rl", DEFAULT_SPACE, seed=3)
    before = strategy.to_bytes()
    learned = strategy.learned()
    assert strategy.to_bytes() == before  # its generator and weights untouched
    assert set(learned) == {"normal", "reduction"}
    for part in learned.values():
        assert set(part["ops"]) == set(DEFAULT_SPACE.ops) and set(part["combines"]) == {"add", "concat"}
        assert set(part["inputs"]) == {str(state) for state in range(2 + DEFAULT_SPACE.num_blocks - 1)}
        for group in ("ops", "inputs", "combines"):
            assert sum(part[group].values()) == pytest.approx(1.0)
    assert make_strategy("random", DEFAULT_SPACE).learned() is None
    assert make_strategy("evolution", DEFAULT_SPACE).learned() is None


def test_an_rl_search_keeps_its_history_and_matches_a_search_that_kept_none(tmp_path, monkeypatch):
    _run(tmp_path / "kept", "rl", 40, strategy_options={"batch_size": 5})
    with ExperimentStore.open(tmp_path / "kept", readonly=True) as store:
        history = store.strategy_history()
        kept = [(t.decisions, t.reward) for t in store.trials()]
    assert history and history[-1]["told"] == 40  # the end of the session is always recorded
    assert [h["event_seq"] for h in history] == sorted(h["event_seq"] for h in history)
    assert set(history[-1]["learned"]) == {"normal", "reduction"}

    import nasnet.search.rl as rl

    monkeypatch.setattr(rl.RLController, "learned", lambda self: None)
    _run(tmp_path / "none", "rl", 40, strategy_options={"batch_size": 5})
    with ExperimentStore.open(tmp_path / "none", readonly=True) as store:
        assert store.strategy_history() == []
        assert [(t.decisions, t.reward) for t in store.trials()] == kept


def test_strategies_without_a_policy_and_old_experiments_have_no_history(tmp_path):
    _run(tmp_path / "random", "random", 12)
    with ExperimentStore.open(tmp_path / "random", readonly=True) as store:
        assert store.strategy_history() == []
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(FIXTURE / DB_FILE, old / DB_FILE)
    with ExperimentStore.open(old, readonly=True) as store:  # read-only: the table is not there at all
        assert store.strategy_history() == []
