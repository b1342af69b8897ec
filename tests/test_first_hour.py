"""Small frictions of a new user's first hour: each one is a test."""

import json

from conftest import random_splits
from nasnet.cli import main
from nasnet.space import NASNET_A
from nasnet.train import get_preset, train


def test_fewer_epochs_scale_the_recipes_warmup():
    short = get_preset("cifar10-short", epochs=1)  # 2 warmup epochs of 60 would exceed 1
    assert short.warmup_epochs == 2 / 60
    assert get_preset("search-fast", epochs=4).warmup_epochs == 0.8
    assert get_preset("cifar10-short", epochs=6, warmup_epochs=3).warmup_epochs == 3  # an explicit value wins


def test_show_and_info_read_a_trained_model_file(tmp_path, capsys):
    config = get_preset("smoke", epochs=1, train_subset=None, val_subset=None, batch_size=32, eval_batch_size=64)
    train(NASNET_A, random_splits(size=16), config, device="cpu", out_dir=tmp_path)
    model_file = str(tmp_path / "model.pt")
    assert main(["show", model_file]) == 0
    assert "normal cell" in capsys.readouterr().out
    assert main(["info", model_file, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["config"]["image_size"] == 16 and payload["config"]["cells_per_stack"] == 1


def test_info_text_and_json_agree_on_the_shape_order(capsys):
    assert main(["info", "nasnet_a_mobile", "--json"]) == 0
    c, h, w = json.loads(capsys.readouterr().out)["shapes"]["Cell_11"]
    assert main(["info", "nasnet_a_mobile"]) == 0
    out = capsys.readouterr().out
    assert "C x H x W" in out and f"{c}x{h}x{w}" in out


def test_training_reports_its_phases(tmp_path):
    from nasnet.train import Callbacks

    phases = []
    config = get_preset("smoke", epochs=1, train_subset=None, val_subset=None, batch_size=32, eval_batch_size=64)
    train(
        NASNET_A,
        random_splits(size=16),
        config,
        device="cpu",
        out_dir=tmp_path,
        evaluate_test=True,
        callbacks=Callbacks(on_phase=phases.append),
    )
    assert phases == ["validating", "testing", "saving"]


def _image_folder(root):
    from test_data import make_image_folder

    return make_image_folder(root, classes=("a", "b"), per_class=40, size=(8, 8))


def test_cli_train_reports_wall_time_and_eval_uses_the_models_image_size(tmp_path, capsys):
    data = _image_folder(tmp_path / "pets")
    out = tmp_path / "run"
    argv = ["train", "--arch", "nasnet_a", "--data", str(data), "--preset", "smoke", "--out", str(out)]
    argv += ["--image-size", "16", "--val-size", "8", "--set", "train_subset=null", "--set", "val_subset=null"]
    assert main([*argv, "--no-progress", "--device", "cpu"]) == 0
    assert "s in all (" in capsys.readouterr().out
    # The model was trained on 16 px images; eval resizes the 8 px folder to match without being told.
    assert main(["eval", str(out), "--data", str(data), "--device", "cpu", "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["accuracy"] <= 1


def test_ctrl_c_during_training_says_how_to_continue(tmp_path, monkeypatch, capsys):
    import nasnet.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nasnet.train, "train", interrupted)
    data = _image_folder(tmp_path / "pets")
    argv = ["train", "--arch", "nasnet_a", "--data", str(data), "--preset", "smoke", "--out", str(tmp_path / "r")]
    assert main([*argv, "--val-size", "8", "--no-progress", "--device", "cpu"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted before the first checkpoint" in err


def test_search_api_takes_workers_and_says_what_it_does(tmp_path, capsys):
    import pytest

    from nasnet.execution import InProcessExecutor
    from nasnet.search import search
    from nasnet.search.loop import SearchError

    summary = search("random", out=tmp_path / "exp", evaluator={"kind": "synthetic"}, trials=4, workers=2)
    assert summary.counts["complete"] == 4
    err = capsys.readouterr().err
    assert "nasnet search: random in" in err and "2 worker(s)" in err and "done: 4/4 trials" in err
    with pytest.raises(SearchError, match="either executor= or workers="):
        search(
            "random",
            out=tmp_path / "x",
            evaluator={"kind": "synthetic"},
            trials=1,
            workers=2,
            executor=InProcessExecutor(),
        )
    search(
        "random",
        out=tmp_path / "quiet",
        evaluator={"kind": "synthetic"},
        trials=1,
        progress=False,
        executor=InProcessExecutor(),
    )
    assert capsys.readouterr().err == ""
