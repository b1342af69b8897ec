"""``--tensorboard DIR`` on search and train writes the scalars a TensorBoard user expects."""

from __future__ import annotations

import builtins

import pytest
import torch

from conftest import random_splits
from nasnet.cli import main
from nasnet.space import NASNET_A
from nasnet.store import ExperimentStore
from nasnet.train import Callbacks, get_preset, train

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _scalars(logdir) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(logdir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_search_writes_each_trial_and_the_best_so_far(tmp_path, capsys):
    out, logs = tmp_path / "exp", tmp_path / "tb"
    argv = ["search", "--strategy", "random", "--evaluator", "synthetic", "--synthetic-fail-rate", "0.2"]
    argv += [
        "--trials",
        "12",
        "--out",
        str(out),
        "--executor",
        "inprocess",
        "--no-progress",
        "--tensorboard",
        str(logs),
    ]
    assert main(argv) == 0
    scalars = _scalars(logs)
    with ExperimentStore.open(out, readonly=True) as store:
        complete = [t for t in store.trials() if t.value is not None]
    assert [step for step, _ in scalars["trial/reward"]] == [t.number for t in complete]
    assert [value for _, value in scalars["trial/reward"]] == pytest.approx([t.reward for t in complete])
    best = [value for _, value in scalars["search/best_reward"]]
    assert best == sorted(best) and best[-1] == pytest.approx(max(t.reward for t in complete))
    assert {"trial/accuracy", "trial/mult_adds", "trial/params", "search/trials_per_hour"} <= set(scalars)


def test_train_writes_every_number_of_each_epoch(tmp_path):
    from nasnet.report.tensorboard import TrainScalars, summary_writer

    scalars = TrainScalars(summary_writer(str(tmp_path / "tb")))
    config = get_preset("smoke", epochs=2, batch_size=32, train_subset=None, val_subset=None, eval_batch_size=64)
    result = train(
        NASNET_A, random_splits(), config, device=torch.device("cpu"), callbacks=Callbacks(on_epoch=scalars.on_epoch)
    )
    scalars.close()
    written = _scalars(tmp_path / "tb")
    assert [step for step, _ in written["val_accuracy"]] == [1, 2]
    assert written["val_accuracy"][-1][1] == pytest.approx(result.accuracy)
    numeric = [key for key, value in result.curve[0].items() if key != "epoch" and isinstance(value, (int, float))]
    assert set(numeric) <= set(written)


def test_a_missing_tensorboard_is_one_line_before_anything_runs(tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    out = tmp_path / "exp"
    argv = ["search", "--evaluator", "synthetic", "--trials", "2", "--out", str(out), "--tensorboard", str(tmp_path)]
    assert main([*argv, "--executor", "inprocess"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'nasnet[tensorboard]'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
