"""The paper's ImageNet recipes (Zoph et al., 2018, Section 4.2 and Appendix A) and what they need:
TF-form RMSProp, the staircase exponential schedule, a named model's own regularisation, top-5 accuracy
and searched cells at ImageNet sizes."""

import argparse
import copy as copy_module
import hashlib
import platform
import tempfile

import numpy as np
import pytest
import torch
from torch import nn

from conftest import random_splits
from nasnet.cli.train import _overrides, register
from nasnet.data import DataSplits, ImageArray
from nasnet.space import NASNET_A
from nasnet.space.serialization import genotype_to_json
from nasnet.train import DeviceData, TrainConfig, get_preset, load_model, lr_at, model_config_for, train
from nasnet.train.config import apply_overrides
from nasnet.train.evaluation import evaluate_accuracy
from nasnet.train.models import train_config_for
from nasnet.train.step import TFRMSprop, build_optimizer

CPU = torch.device("cpu")


# ---- the presets ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "weight_decay", "keep", "size", "n", "f"),
    [("imagenet-mobile", 4e-5, 1.0, 224, 4, 1056), ("imagenet-large", 5e-5, 0.7, 331, 6, 4032)],
)
def test_imagenet_presets_hold_the_papers_values(name, weight_decay, keep, size, n, f):
    c = get_preset(name)
    assert (c.optimizer, c.rmsprop_decay, c.momentum, c.rmsprop_eps) == ("rmsprop", 0.9, 0.9, 1.0)
    assert (c.schedule, c.lr_decay, c.lr_decay_epochs) == ("exponential", 0.97, 2.4)
    assert c.lr == pytest.approx(0.04 * c.batch_size / 32)  # TF-slim's 0.04 per 32 images, scaled linearly
    assert (c.ema_decay, c.label_smoothing, c.aux_weight, c.dropout) == (0.9999, 0.1, 0.4, 0.5)
    assert (c.weight_decay, c.drop_path_keep_prob, c.image_size) == (weight_decay, keep, size)
    assert (c.skeleton, c.cells_per_stack, c.filters, c.base_filters) == ("imagenet", n, f, None)
    assert c.model_overrides == () and c.grad_clip is None and not c.nesterov


def test_default_optimizer_is_the_same_sgd():
    config = TrainConfig()
    assert config.optimizer == "sgd"
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    optimizer = build_optimizer(model, config, CPU)
    assert type(optimizer) is torch.optim.SGD
    decay, no_decay = optimizer.param_groups
    assert (decay["weight_decay"], no_decay["weight_decay"], decay["momentum"]) == (5e-4, 0.0, 0.9)
    assert [p.ndim for p in decay["params"]] == [4] and len(no_decay["params"]) == 3


# Fixed before RMSProp, the exponential schedule and the model precedence were added (torch 2.13.0+cpu,
# x86_64): the smoke preset's NASNet-A after 4 SGD steps, as sha256 of its state dict and its float sum.
_SGD_FINGERPRINT = (
    "b02162831882c088fa0bf44ecff362883cb23d01096bde91860db32a398957bb",
    "0x1.475b081d5946dp+10",
    1.4039500951766968,
)


def test_sgd_training_is_bit_identical_to_before_the_imagenet_recipes():
    config = get_preset("smoke", epochs=1, batch_size=32, train_subset=None, val_subset=None, eval_batch_size=64)
    with tempfile.TemporaryDirectory() as folder:
        result = train(NASNET_A, random_splits(count=128, size=16), config, device=CPU, out_dir=folder)
        state = load_model(f"{folder}/model.pt", CPU).model.state_dict()
    digest = hashlib.sha256()
    for key, value in sorted(state.items()):
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    total = float(sum(v.double().sum() for v in state.values() if v.is_floating_point()))
    _, expected_total, expected_loss = _SGD_FINGERPRINT
    if torch.__version__ == "2.13.0+cpu" and platform.machine() == "x86_64":
        assert (digest.hexdigest(), total.hex(), result.curve[-1]["train_loss"]) == _SGD_FINGERPRINT
    else:  # other kernels may round differently; the same arithmetic still lands very close
        assert total == pytest.approx(float.fromhex(expected_total), rel=1e-5)
        assert result.curve[-1]["train_loss"] == pytest.approx(expected_loss, rel=1e-4)


# ---- TF-form RMSProp ----------------------------------------------------------------------


def test_tf_rmsprop_matches_a_hand_computation():
    w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    optimizer = TFRMSprop([w], lr=0.1, decay=0.9, momentum=0.9, eps=1.0, weight_decay=0.01)
    ms, mom, expected = np.ones(2), np.zeros(2), np.array([1.0, -2.0])
    for step, lr in enumerate([0.1, 0.1, 0.05]):  # the rate changes: it multiplies each update, not the buffer
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad()
        (w**3).sum().backward()
        g = 3 * expected**2 + 0.01 * expected
        ms = 0.9 * ms + 0.1 * g**2
        mom = 0.9 * mom + lr * g / np.sqrt(ms + 1.0)  # TF: epsilon inside the root
        expected = expected - mom
        optimizer.step()
        assert w.detach().numpy() == pytest.approx(expected, rel=1e-12), f"step {step}"
    torch_w = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    torch_opt = torch.optim.RMSprop([torch_w], lr=0.1, alpha=0.9, eps=1.0, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        torch_opt.zero_grad()
        (torch_w**3).sum().backward()
        torch_opt.step()
    assert not np.allclose(torch_w.detach().numpy(), expected, rtol=1e-3)  # a different optimizer at eps 1.0


def test_tf_rmsprop_takes_the_rate_as_a_tensor_and_resumes_from_its_state():
    w = torch.ones(3, requires_grad=True)
    optimizer = TFRMSprop([w], lr=0.1, decay=0.9, momentum=0.9, eps=1.0)
    optimizer.param_groups[0]["lr"] = torch.tensor(0.1)
    w.grad = torch.full((3,), 2.0)
    optimizer.step()
    copy = torch.ones(3, requires_grad=True)
    resumed = TFRMSprop([copy], lr=0.1, decay=0.9, momentum=0.9, eps=1.0)
    copy.data.copy_(w.data)
    resumed.load_state_dict(copy_module.deepcopy(optimizer.state_dict()))  # as a checkpoint file holds it
    w.grad = copy.grad = torch.full((3,), -1.0)
    optimizer.step()
    resumed.param_groups[0]["lr"] = 0.1
    resumed.step()
    assert torch.allclose(w, copy)


# ---- the schedule -------------------------------------------------------------------------


def test_staircase_exponential_decay():
    config = get_preset("imagenet-mobile", epochs=10)
    steps_in_epoch = 100  # decays every int(2.4 * 100) = 240 steps
    total = 10 * steps_in_epoch
    lr0 = config.lr
    expected = {0: lr0, 239: lr0, 240: lr0 * 0.97, 479: lr0 * 0.97, 480: lr0 * 0.97**2, 999: lr0 * 0.97**4}
    for step, lr in expected.items():
        assert lr_at(step, total, config, steps_in_epoch) == pytest.approx(lr, rel=1e-12), step
    warm = config.replace(warmup_epochs=1.0)  # warmup first, then the staircase counts from its end
    assert lr_at(99, total, warm, steps_in_epoch) == pytest.approx(lr0)
    assert lr_at(100 + 240, total, warm, steps_in_epoch) == pytest.approx(lr0 * 0.97)


# ---- a tiny ImageNet-skeleton run ------------------------------------------------------------


def test_tiny_imagenet_skeleton_trains_with_the_mobile_recipe():
    config = get_preset(
        "imagenet-mobile",
        epochs=6,
        batch_size=16,
        lr=0.02,
        cells_per_stack=1,
        filters=None,
        base_filters=8,
        image_size=None,
        eval_batch_size=64,
        eval_every=1,
        checkpoint_every=0,
        dropout=0.0,  # explicit: memorising 48 random images needs every unit
        aux_weight=0.0,  # 32 px leave no room for the auxiliary head's 5x5 pooling
    )
    splits = random_splits(count=48, size=32, classes=4)
    result = train(NASNET_A, splits, config, device=CPU)
    assert result.ok, result.failure
    losses = [r["train_loss"] for r in result.curve]
    assert losses[-1] < 0.8 * losses[0], losses
    assert all(r["val_accuracy"] is not None for r in result.curve)  # the EMA's weights, evaluated each epoch
    # 3 steps an epoch: the rate decays every int(2.4 * 3) = 7 steps; an epoch records its last step's rate
    assert [r["lr"] for r in result.curve[::5]] == pytest.approx([0.02, 0.02 * 0.97**2])


# ---- a named model keeps its own regularisation -----------------------------------------------


def _data(size: int, classes: int = 10) -> DeviceData:
    return DeviceData.from_splits(random_splits(count=8, size=size, classes=classes), CPU)


def test_named_model_keeps_its_dropout_drop_path_and_aux_head():
    data = _data(224)
    short = get_preset("cifar10-short")  # dropout 0, drop-path keep 0.8, aux 0.4
    mobile = model_config_for("nasnet_a_mobile", short, data)
    assert (mobile.dropout, mobile.drop_path_keep_prob, mobile.aux_head) == (0.5, 1.0, True)
    assert (mobile.cells_per_stack, mobile.base_filters) == (4, 44)  # and its own size, as before
    search = get_preset("search")  # no aux head, no dropout, no drop path
    large = model_config_for("nasnet_a_large", search, data)
    assert (large.dropout, large.drop_path_keep_prob, large.aux_head) == (0.5, 0.7, True)
    fitted = train_config_for("nasnet_a_large", search, large)
    assert (fitted.dropout, fitted.drop_path_keep_prob, fitted.aux_weight) == (0.5, 0.7, 0.4)
    assert fitted.model_overrides == ()
    # a genotype takes the preset's values, as before
    genotype = model_config_for(NASNET_A, short, data)
    assert (genotype.dropout, genotype.drop_path_keep_prob, genotype.aux_head) == (0.0, 0.8, True)
    assert train_config_for(NASNET_A, short, genotype) is short


def test_explicit_overrides_beat_the_named_models_own_values():
    data = _data(224)
    for config in (
        get_preset("imagenet-mobile", dropout=0.2, drop_path_keep_prob=0.9, aux_weight=0.0),
        get_preset("imagenet-mobile").replace(dropout=0.2, drop_path_keep_prob=0.9, aux_weight=0.0),
        TrainConfig.from_dict({"dropout": 0.2, "drop_path_keep_prob": 0.9, "aux_weight": 0.0}),
    ):
        assert config.model_overrides == ("aux_weight", "drop_path_keep_prob", "dropout")
        model = model_config_for("nasnet_a_mobile", config, data)
        assert (model.dropout, model.drop_path_keep_prob, model.aux_head) == (0.2, 0.9, False)
        assert train_config_for("nasnet_a_mobile", config, model).aux_weight == 0.0
    only_dropout = get_preset("search", dropout=0.3)
    model = model_config_for("nasnet_a_large", only_dropout, data)
    assert (model.dropout, model.drop_path_keep_prob, model.aux_head) == (0.3, 0.7, True)
    # a saved config keeps its list of choices as it is
    assert TrainConfig.from_dict(only_dropout.to_dict()) == only_dropout
    assert apply_overrides(only_dropout, {"epochs": 3}).model_overrides == ("dropout",)


def test_named_models_aux_head_steps_aside_on_small_images():
    model = model_config_for("nasnet_a_mobile", get_preset("search"), _data(32))
    assert not model.aux_head and model.dropout == 0.5
    config = train_config_for("nasnet_a_mobile", get_preset("search"), model)
    assert config.aux_weight == 0.0


def test_cli_set_is_an_explicit_override():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["train", "--arch", "nasnet_a_mobile", "--data", "x", "--out", "o", "--set", "drop_path_keep_prob=0.8"]
    )
    config = get_preset(args.preset, **_overrides(args))
    assert config.model_overrides == ("drop_path_keep_prob",)
    model = model_config_for(args.arch, config, _data(224))
    assert (model.drop_path_keep_prob, model.dropout, model.aux_head) == (0.8, 0.5, True)


# ---- any searched cell at ImageNet sizes --------------------------------------------------------


def test_searched_cell_trains_at_mobile_size_from_the_command_line(tmp_path):
    genotype = tmp_path / "best.json"
    genotype.write_text(genotype_to_json(NASNET_A, name="best"))  # the zoo's cell stands in for a searched one
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    argv = ["train", "--arch", str(genotype), "--data", "x", "--out", "o", "--preset", "imagenet-mobile"]
    args = parser.parse_args([*argv, "--skeleton", "imagenet", "-N", "4", "-F", "1056"])
    config = get_preset(args.preset, **_overrides(args))
    model = model_config_for(args.arch, config, _data(224))
    assert (model.skeleton, model.cells_per_stack, model.filters, model.image_size) == ("imagenet", 4, 1056, 224)
    assert (model.dropout, model.aux_head) == (0.5, True)
    small = parser.parse_args([*argv, "-N", "2", "-C", "8", "--skeleton", "cifar"])
    sized = get_preset(small.preset, **_overrides(small))
    assert (sized.cells_per_stack, sized.base_filters, sized.filters, sized.skeleton) == (2, 8, None, "cifar")


# ---- top-5 ------------------------------------------------------------------------------------------


class _RankByImage(nn.Module):
    """Scores class (i + d) % 10 with -d for image i, which it reads back from the pixel value 25 * i."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = torch.round((x[:, 0, 0, 0] * 0.25 + 0.5) * 255 / 25).long()
        distance = (torch.arange(10)[None, :] - index[:, None]) % 10
        return -distance.float()


def test_evaluation_reports_top1_and_top5():
    offsets = [0, 0, 1, 2, 4, 5, 7, 9, 0, 3]  # top-1 right 3 times, top-5 (offset < 5) 7 times
    images = np.stack([np.full((4, 4, 3), 25 * i, dtype=np.uint8) for i in range(10)])
    labels = np.array([(i + d) % 10 for i, d in enumerate(offsets)])
    array = ImageArray(images, labels)
    classes = tuple(str(c) for c in range(10))
    splits = DataSplits(array, None, None, classes, "ranks", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    data = DeviceData.from_splits(splits, CPU)
    accuracy = evaluate_accuracy(_RankByImage(), data.train, data, batch_size=4, channels_last=False)
    assert (accuracy.top1, accuracy.top5) == (pytest.approx(0.3), pytest.approx(0.7))
    few = DeviceData.from_splits(random_splits(count=8, size=8, classes=4), CPU)
    assert evaluate_accuracy(nn.Sequential(nn.Flatten(), nn.LazyLinear(4)), few.train, few).top5 is None


def test_training_records_top5_with_five_or_more_classes():
    config = get_preset("smoke", train_subset=None, val_subset=None, eval_batch_size=64)
    result = train(NASNET_A, random_splits(count=64, size=16, classes=6), config, device=CPU)
    assert result.ok and 0 <= result.curve[-1]["val_top5_accuracy"] <= 1
    assert result.curve[-1]["val_top5_accuracy"] >= result.curve[-1]["val_accuracy"]
