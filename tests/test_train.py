import json
import math

import numpy as np
import pytest
import torch

from conftest import random_splits
from nasnet.cli import main
from nasnet.data import DataSplits, ImageArray, make_splits
from nasnet.nn import build_model, create_model
from nasnet.space import NASNET_A
from nasnet.train import (
    CheckpointError,
    DeviceData,
    TrainConfigError,
    get_preset,
    load_model,
    lr_at,
    resolve_config,
    train,
)
from nasnet.train.augment import cutout, normalize, random_crop, random_flip
from nasnet.train.checkpoint import TRAIN_STATE_FORMAT, load_checkpoint

CPU = torch.device("cpu")


def tiny(**overrides):
    base = {"epochs": 2, "batch_size": 32, "train_subset": None, "val_subset": None, "eval_batch_size": 64}
    base.update(overrides)
    return get_preset("smoke", **base)


# ---- augmentation ----------------------------------------------------------------------


def test_random_crop_takes_shifted_windows_of_the_padded_image():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 6 * 6, dtype=torch.uint8).reshape(2, 3, 6, 6)
    out = random_crop(x, 2, gen)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):
        windows = [padded[b, :, i : i + 6, j : j + 6] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], w) for w in windows)


def test_flip_cutout_and_normalize():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 3, 8, 8)
    flipped = random_flip(x, gen)
    same = [torch.equal(flipped[i], x[i]) for i in range(64)]
    mirrored = [torch.equal(flipped[i], x[i].flip(2)) for i in range(64)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True)) and 10 < sum(mirrored) < 54
    ones = torch.ones(32, 3, 16, 16)
    cut = cutout(ones, 4, gen)
    zeroed = (cut[:, 0] == 0).sum(dim=(1, 2))
    assert zeroed.max() == 16 and zeroed.min() >= 4  # 4x4, clipped at the borders
    assert torch.equal(cut[:, 0] == 0, cut[:, 2] == 0)  # all channels
    pixels = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = normalize(pixels, torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.5, 1.0]))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([2.0, 1.0, 0.5]))


# ---- schedule and presets --------------------------------------------------------------


def test_cosine_schedule_start_middle_end():
    config = resolve_config("search", lr=0.1, epochs=10)
    assert lr_at(0, 1000, config, 100) == pytest.approx(0.1)
    assert lr_at(500, 1000, config, 100) == pytest.approx(0.05)
    assert lr_at(1000, 1000, config, 100) == pytest.approx(0.0, abs=1e-12)
    warm = resolve_config("search-fast")
    assert lr_at(0, 800, warm, 100) < lr_at(159, 800, warm, 100) == pytest.approx(warm.lr)
    assert lr_at(480, 800, warm, 100) == pytest.approx(warm.lr * 0.5)


def test_presets_match_the_recipes():
    search = get_preset("search")
    assert (search.epochs, search.cells_per_stack, search.schedule, search.momentum) == (20, 2, "cosine", 0.9)
    paper = get_preset("cifar10-paper")
    assert (paper.epochs, paper.batch_size, paper.lr, paper.cutout, paper.aux_weight) == (600, 32, 0.025, 16, 0.4)
    assert (paper.drop_path_keep_prob, paper.weight_decay, paper.grad_clip) == (0.6, 5e-4, 5.0)
    assert {"search", "search-fast", "cifar10-paper", "cifar10-short", "smoke"} <= set(
        __import__("nasnet.train", fromlist=["PRESETS"]).PRESETS
    )


def test_config_errors_name_the_field():
    with pytest.raises(TrainConfigError, match="unknown preset 'fastest'"):
        get_preset("fastest")
    with pytest.raises(TrainConfigError, match=r"unknown training option\(s\) \['epoch'\]"):
        get_preset("search", epoch=3)
    with pytest.raises(TrainConfigError, match="field 'label_smoothing'"):
        get_preset("search", label_smoothing=1.5)
    with pytest.raises(TrainConfigError, match="field 'lr'"):
        get_preset("search", lr=float("nan"))


# ---- training mechanics -----------------------------------------------------------------


def test_train_writes_metrics_model_and_result(tmp_path):
    result = train(
        NASNET_A, random_splits(), tiny(ema_decay=0.9, tta=True), device=CPU, out_dir=tmp_path, evaluate_test=True
    )
    assert result.ok and result.epochs_completed == 2 and result.params > 0
    assert 0 <= result.accuracy <= 1 and result.test_accuracy is not None
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert json.loads((tmp_path / "result.json").read_text())["accuracy"] == result.accuracy
    assert not (tmp_path / "checkpoint.pt").exists()
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.model.config.genotype == NASNET_A and loaded.classes == ["0", "1", "2", "3"]


def test_non_finite_loss_stops_with_a_failed_result(tmp_path):
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=4, num_classes=4, image_size=16, aux_head=False)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    result = train(model, random_splits(), tiny(), device=CPU, out_dir=tmp_path)
    assert result.state == "failed" and result.failure == "non-finite loss at epoch 1, step 1"
    assert json.loads((tmp_path / "result.json").read_text())["state"] == "failed"


def test_out_of_memory_gives_a_failed_result_not_a_crash():
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=4, num_classes=4, image_size=16, aux_head=False)

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    model.forward = exhausted
    result = train(model, random_splits(), tiny(), device=CPU)
    assert result.state == "failed"
    assert result.failure.startswith("out of memory on cpu: CUDA out of memory")


def test_other_errors_propagate():
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=4, num_classes=4, image_size=16, aux_head=False)

    def broken(*args, **kwargs):
        raise ValueError("a bug")

    model.forward = broken
    with pytest.raises(ValueError, match="a bug"):
        train(model, random_splits(), tiny(), device=CPU)


class StopAfterEpoch(Exception):
    pass


def test_resumed_run_continues_with_identical_state(tmp_path):
    config = tiny(epochs=3, checkpoint_every=1, drop_path_keep_prob=0.7, aux_weight=0.4, ema_decay=0.8, cutout=4)
    splits = random_splits(size=32)
    straight = train(NASNET_A, splits, config, device=CPU, out_dir=tmp_path / "straight")

    from nasnet.train import Callbacks

    def stop(record):
        if record["epoch"] == 2:
            raise StopAfterEpoch

    with pytest.raises(StopAfterEpoch):
        train(NASNET_A, splits, config, device=CPU, out_dir=tmp_path / "resumed", callbacks=Callbacks(on_epoch=stop))
    state = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt", TRAIN_STATE_FORMAT)
    assert state["epoch"] == 2
    resumed = train(NASNET_A, splits, config, device=CPU, out_dir=tmp_path / "resumed", resume=True)
    assert resumed.ok and resumed.epochs_completed == 3
    strip = lambda curve: [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in curve]  # noqa: E731
    assert strip(resumed.curve) == strip(straight.curve)
    a = load_model(tmp_path / "straight" / "model.pt").model.state_dict()
    b = load_model(tmp_path / "resumed" / "model.pt").model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 3


def test_resume_refuses_a_changed_config(tmp_path):
    from nasnet.train import Callbacks

    config = tiny(epochs=2, checkpoint_every=1)

    def stop(record):
        raise StopAfterEpoch

    with pytest.raises(StopAfterEpoch):
        train(NASNET_A, random_splits(), config, device=CPU, out_dir=tmp_path, callbacks=Callbacks(on_epoch=stop))
    with pytest.raises(CheckpointError, match=r"another training config \(differs in lr\)"):
        train(NASNET_A, random_splits(), config.replace(lr=0.5), device=CPU, out_dir=tmp_path, resume=True)


def test_checkpoints_load_without_unpickling_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": TRAIN_STATE_FORMAT, "version": 1, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable nasnet checkpoint"):
        load_checkpoint(path, TRAIN_STATE_FORMAT)
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"expected a 'nasnet\.train-state' checkpoint"):
        load_checkpoint(tmp_path / "other.pt", TRAIN_STATE_FORMAT)


def test_device_data_is_reused_and_subset():
    splits = random_splits(count=200)
    data = DeviceData.from_splits(splits, CPU)
    result = train(NASNET_A, data, tiny(train_subset=64, val_subset=20, epochs=1), device=CPU)
    assert result.ok and result.curve[0]["images_per_second"] > 0
    assert len(data.train) == 200  # the shared copy is untouched


def test_named_model_keeps_its_sizing():
    result = train(
        "nasnet_a_cifar",
        random_splits(size=32, count=32),
        tiny(epochs=1, batch_size=32),
        device=CPU,
        cells_per_stack=1,
    )
    assert result.ok
    # A named model keeps its own regularisation, its aux head included (issue 12), and its own size.
    assert result.params == sum(p.numel() for p in create_model("nasnet_a_cifar", num_classes=4).parameters())


# ---- learning on real data --------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_small_model_learns_real_images_far_above_chance(shared_cifar):
    keep = [0, 1, 6]  # airplane, automobile, frog
    train_mask = np.isin(shared_cifar.train.labels, keep)
    images, labels = shared_cifar.train.images[train_mask], shared_cifar.train.labels[train_mask]
    relabel = np.searchsorted(keep, labels)
    from nasnet.data import Dataset

    dataset = Dataset("cifar3", ImageArray(images, relabel), None, ("airplane", "automobile", "frog"))
    splits = make_splits(dataset, val_size=300)
    assert isinstance(splits, DataSplits)
    config = get_preset("smoke", epochs=4, train_subset=1200, val_subset=300, lr=0.1, batch_size=32)
    result = train(NASNET_A, splits, config, device=CPU)
    assert result.ok
    assert result.accuracy > 0.6, result.curve  # chance is 1/3
    assert not math.isnan(result.curve[-1]["train_loss"])


# ---- CLI -------------------------------------------------------------------------------


def test_cli_train_then_eval(tmp_path, capsys):
    from test_data import make_image_folder

    data = make_image_folder(tmp_path / "pets", per_class=24, size=(16, 16))
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--arch",
            "nasnet_a",
            "--data",
            str(data),
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--val-size",
            "8",
            "--set",
            "train_subset=null",
            "--set",
            "val_subset=null",
            "--epochs",
            "2",
            "--device",
            "cpu",
            "--test",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "validation accuracy" in printed and "test accuracy" in printed
    assert (out / "model.pt").is_file() and len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["eval", str(out), "--data", str(data), "--device", "cpu", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["images"] == 48 and 0 <= payload["accuracy"] <= 1
    assert payload["accuracy"] == pytest.approx(json.loads((out / "result.json").read_text())["test_accuracy"])


def test_cli_train_errors(tmp_path, capsys):
    assert main(["train", "--arch", "nasnet_a", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["train", "--arch", "x", "--data", "y", "--out", "o", "--set", "nonsense"]) == 2
    assert "expected FIELD=VALUE" in capsys.readouterr().err
