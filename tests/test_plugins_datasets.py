"""A dataset is one module that registers a loader: here a toy one, registered from this test module."""

import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nasnet.cli import main
from nasnet.data import (
    DATASETS,
    DataError,
    Dataset,
    DatasetInfo,
    ImageArray,
    data_root,
    list_datasets,
    load_dataset,
    load_splits,
    make_splits,
)
from nasnet.space import NASNET_A
from nasnet.train import MODEL_FILE, DeviceData, get_preset, load_model, train

CPU = torch.device("cpu")
TOY = "toy-pixels"
TOY_CLASSES = ("red", "green", "blue", "grey")
loader_calls: list[tuple[Path, int | None, bool]] = []


def toy_arrays(count: int, seed: int) -> ImageArray:
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.int64) % len(TOY_CLASSES)  # balanced, so any held-out set is stratified
    return ImageArray(rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8), labels)


@DATASETS.register(TOY)
def toy_pixels(root: Path, image_size: int | None, allow_download: bool) -> Dataset:
    """64 random 8x8 RGB training images in 4 classes, and 16 test images: no files, no network."""
    loader_calls.append((root, image_size, allow_download))
    return Dataset(TOY, toy_arrays(64, seed=0), toy_arrays(16, seed=1), TOY_CLASSES, source="memory")


@DATASETS.register("toy-not-a-dataset")
def not_a_dataset(root: Path, image_size: int | None, allow_download: bool) -> tuple:
    return (toy_arrays(8, seed=0), TOY_CLASSES)


def tiny(**overrides):
    base = {"epochs": 1, "batch_size": 16, "train_subset": None, "val_subset": None, "eval_batch_size": 64}
    return get_preset("smoke", **{**base, **overrides})


def test_a_registered_name_loads_through_its_loader_with_its_info(tmp_path):
    loader_calls.clear()
    dataset = load_dataset(TOY, data_dir=tmp_path, image_size=12, allow_download=False)
    assert loader_calls == [(data_root(tmp_path), 12, False)]
    assert dataset.info == DatasetInfo(TOY, TOY_CLASSES, image_size=8, channels=3)
    assert (dataset.name, dataset.classes, dataset.num_classes, dataset.image_size) == (TOY, TOY_CLASSES, 4, 8)
    assert len(dataset.train) == 64 and len(dataset.test) == 16 and dataset.source == "memory"
    assert load_dataset(TOY.upper()).info == dataset.info  # names are looked up in any case, as cifar10 always was


def test_the_info_is_carried_to_the_splits_and_the_device_not_derived_again():
    dataset = load_dataset(TOY)
    splits = make_splits(dataset, val_size=16)
    assert splits.info == dataset.info.with_stats(splits.mean, splits.std)
    assert len(splits.mean) == len(splits.std) == 3 and all(0 < s < 1 for s in splits.std)
    assert (splits.num_classes, splits.image_size, splits.in_channels, splits.classes) == (4, 8, 3, TOY_CLASSES)
    data = DeviceData.from_splits(splits, CPU)
    assert data.info is splits.info
    assert (data.num_classes, data.image_size, data.in_channels, data.name) == (4, 8, 3, TOY)
    assert torch.allclose(data.mean, torch.tensor(splits.mean)) and data.std.dtype == torch.float32


def test_registered_datasets_are_listed_with_the_built_in_ones(capsys):
    assert {"cifar10", "cifar100", TOY} <= set(list_datasets())
    assert list_datasets() == sorted(list_datasets())
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    # --data's help is built from the registry (argparse may wrap the name at its hyphen).
    help_text = "".join(capsys.readouterr().out.split())
    assert f"--dataDATAdataset:{','.join(list_datasets())}(" in help_text


def test_an_unknown_name_lists_the_registered_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so that no file of that name can be found either
    with pytest.raises(DataError, match=rf"no-such-set: no such file or directory \(and not a known dataset .*{TOY}"):
        load_dataset("no-such-set")
    with pytest.raises(DataError, match=r"unknown dataset 'no-such-set'; known: cifar10, cifar100, .*toy-pixels"):
        DATASETS.get("no-such-set")


def test_a_loader_that_returns_no_dataset_is_named():
    with pytest.raises(DataError, match=r"dataset 'toy-not-a-dataset': its loader returned a tuple, not a nasnet"):
        load_dataset("toy-not-a-dataset")


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match=r"dataset 'toy-pixels' is already registered"):
        DATASETS.register(TOY, not_a_dataset)


def test_a_tiny_model_trains_on_the_registered_dataset(tmp_path):
    splits = load_splits(TOY, val_size=16)
    result = train(NASNET_A, splits, tiny(), device=CPU, out_dir=tmp_path, evaluate_test=True)
    assert result.ok, result.failure
    assert 0 <= result.accuracy <= 1 and 0 <= result.test_accuracy <= 1
    loaded = load_model(tmp_path / MODEL_FILE)
    assert loaded.classes == list(TOY_CLASSES)
    assert (loaded.model.config.num_classes, loaded.model.config.image_size) == (4, 8)
    assert loaded.mean == pytest.approx(list(splits.mean), rel=1e-6)


def test_cli_train_and_eval_take_a_dataset_from_a_plugin_module(tmp_path, monkeypatch, capsys):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toy_cli_dataset.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            from nasnet.data import DATASETS, Dataset, ImageArray


            def pixels(count, seed):
                rng = np.random.default_rng(seed)
                images = rng.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)
                return ImageArray(images, np.arange(count, dtype=np.int64) % 2)


            @DATASETS.register("toy-cli")
            def toy_cli(root, image_size, allow_download):
                return Dataset("toy-cli", pixels(64, 2), pixels(16, 3), ("cat", "dog"))
            """
        )
    )
    monkeypatch.syspath_prepend(str(plugins))
    out = tmp_path / "run"
    argv = ["train", "--plugin", "toy_cli_dataset", "--arch", "nasnet_a", "--data", "toy-cli", "--preset", "smoke"]
    argv += ["--out", str(out), "--val-size", "16", "--set", "batch_size=16", "--no-progress", "--device", "cpu"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "validation accuracy" in capsys.readouterr().out
    assert main(["eval", str(out), "--plugin", "toy_cli_dataset", "--data", "toy-cli", "--device", "cpu"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert main(["eval", str(out), "--plugin", "no_such_plugin_module", "--data", "toy-cli"]) == 2
    assert "--plugin no_such_plugin_module: cannot be imported" in capsys.readouterr().err
