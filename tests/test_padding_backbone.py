"""The ``padding`` options (symmetric / TF SAME / Keras' zero-padded pools) and the backbone API."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasnet.nn import ModelConfig, ModelConfigError, NASNet, model_config
from nasnet.nn.counting import meta_model
from nasnet.nn.ops import (
    AvgPoolExcludingPad,
    Conv2dSame,
    FactorizedConv,
    PaddedPool,
    Padding,
    Pool,
    ReLUConvBN,
    StackedSeparableConv,
    same_pads,
)

TF_SAME = Padding("tf-same")
# TF SAME for k = 3, stride 2, even input: 0 before, 1 after (F.pad order: left, right, top, bottom).
ASYM_3 = (0, 1, 0, 1)


def _small(skeleton: str = "imagenet", **overrides) -> ModelConfig:
    base = model_config("nasnet_a_mobile" if skeleton == "imagenet" else "nasnet_a_cifar")
    fields = dict(cells_per_stack=1, base_filters=8, image_size=64, aux_head=False, num_classes=5)
    return dataclasses.replace(base, **{**fields, **overrides})


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    dst.load_state_dict(src.state_dict())


def test_same_pads_follow_tensorflow() -> None:
    assert same_pads(8, 3, 2) == (0, 1)
    assert same_pads(7, 3, 2) == (1, 1)
    assert same_pads(8, 7, 2) == (2, 3)
    assert same_pads(8, 3, 1, dilation=2) == (2, 2)


def test_padding_is_validated() -> None:
    with pytest.raises(ModelConfigError, match="field 'padding'"):
        _small(padding="same")
    with pytest.raises(ModelConfigError, match="field 'avg_pool_count_pad'"):
        _small(avg_pool_count_pad=1)


def test_symmetric_builds_the_plain_modules() -> None:
    # The default mode must stay the pre-option model: plain convs and pools, k // 2 padding.
    model = NASNet(_small())
    for module in model.modules():
        assert not isinstance(module, (Conv2dSame, PaddedPool))
        if isinstance(module, nn.Conv2d) and module is not model.stem[0]:
            kh, kw = module.kernel_size
            dh, dw = module.dilation
            assert module.padding == (dh * (kh // 2), dw * (kw // 2))


def test_padding_changes_no_parameter() -> None:
    config = model_config("nasnet_a_mobile")
    shapes = {k: v.shape for k, v in meta_model(config).state_dict().items()}
    for other in (
        dataclasses.replace(config, padding="tf-same"),
        dataclasses.replace(config, padding="tf-same", avg_pool_count_pad=True, max_pool_pad_zeros=True),
    ):
        assert {k: v.shape for k, v in meta_model(other).state_dict().items()} == shapes


def test_tf_same_equals_symmetric_on_odd_sizes() -> None:
    # 33 -> 17 -> 9: every stride-2 op sees an odd input, where TF SAME pads symmetrically.
    torch.manual_seed(0)
    symmetric = NASNet(_small("cifar", image_size=33)).eval()
    tf_same = NASNet(_small("cifar", image_size=33, padding="tf-same")).eval()
    _copy_weights(symmetric, tf_same)
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        torch.testing.assert_close(tf_same(x), symmetric(x), rtol=1e-5, atol=1e-5)
        # On even sizes the grids differ: the option must do something.
        y = torch.randn(2, 3, 32, 32)
        assert not torch.allclose(tf_same(y), symmetric(y), atol=1e-4)


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_tf_same_separable_conv_pads_after(kernel: int) -> None:
    torch.manual_seed(1)
    op = StackedSeparableConv(4, 6, kernel, stride=2, padding=TF_SAME).eval()
    x = torch.randn(2, 4, 10, 10)
    depthwise, pointwise = op[1][0], op[1][1]
    before, after = same_pads(10, kernel, 2)
    assert before + 1 == after
    h = F.conv2d(F.pad(F.relu(x), (before, after, before, after)), depthwise.weight, stride=2, groups=4)
    h = op[2](F.conv2d(h, pointwise.weight))
    expected = op[5](op[4](op[3](h)))
    with torch.no_grad():
        torch.testing.assert_close(op(x), expected)


def test_tf_same_conv_and_factorized_conv() -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 4, 8, 8)
    conv = ReLUConvBN(4, 4, 3, stride=2, padding=TF_SAME).eval()
    with torch.no_grad():
        expected = conv[2](F.conv2d(F.pad(F.relu(x), ASYM_3), conv[1].weight, stride=2))
        torch.testing.assert_close(conv(x), expected)
        dilated = ReLUConvBN(4, 4, 3, stride=2, dilation=2, padding=TF_SAME).eval()
        pads = same_pads(8, 3, 2, dilation=2)  # (1, 2)
        expected = dilated[2](F.conv2d(F.pad(F.relu(x), pads + pads), dilated[1].weight, stride=2, dilation=2))
        torch.testing.assert_close(dilated(x), expected)
        fact = FactorizedConv(4, 4, 7, stride=2, padding=TF_SAME).eval()
        h = F.conv2d(F.pad(F.relu(x), (2, 3, 0, 0)), fact[1].weight, stride=(1, 2))
        h = F.conv2d(F.pad(h, (0, 0, 2, 3)), fact[2].weight, stride=(2, 1))
        torch.testing.assert_close(fact(x), fact[3](h))


def test_tf_same_max_pool_ignores_padding() -> None:
    x = -1.0 - torch.rand(1, 2, 8, 8)  # all negative: zero padding would win at the border
    pool = Pool("max", 2, 2, 3, 2, padding=TF_SAME)
    expected = F.max_pool2d(F.pad(x, ASYM_3, value=float("-inf")), 3, 2)
    torch.testing.assert_close(pool(x), expected)
    assert (pool(x) < 0).all()
    keras = Pool("max", 2, 2, 3, 2, padding=Padding("tf-same", max_pool_pad_zeros=True))
    torch.testing.assert_close(keras(x), F.max_pool2d(F.pad(x, ASYM_3), 3, 2))


def test_tf_same_avg_pool_excludes_or_counts_padding() -> None:
    torch.manual_seed(3)
    x = torch.randn(1, 2, 8, 8)
    sums = F.avg_pool2d(F.pad(x, ASYM_3), 3, 2, divisor_override=1)
    counts = F.avg_pool2d(F.pad(torch.ones(1, 1, 8, 8), ASYM_3), 3, 2, divisor_override=1)
    excluding = Pool("avg", 2, 2, 3, 2, padding=TF_SAME)
    torch.testing.assert_close(excluding(x), sums / counts)
    assert counts[0, 0, -1, -1] == 4  # the bottom-right window holds 2 x 2 real pixels
    counting = Pool("avg", 2, 2, 3, 2, padding=Padding("tf-same", avg_pool_count_pad=True))
    torch.testing.assert_close(counting(x), sums / 9)
    # Symmetric mode with the timm/Keras count at stride 2; stride 1 always excludes, as TF's SAME does.
    symmetric_counting = Pool("avg", 2, 2, 3, 2, padding=Padding(avg_pool_count_pad=True))
    torch.testing.assert_close(symmetric_counting(x), F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=True))
    assert isinstance(Pool("avg", 2, 2, 3, 1, padding=Padding("tf-same", avg_pool_count_pad=True)).pool,
                      AvgPoolExcludingPad)  # fmt: skip


# Per-stage shapes (C, H, W) of Keras 3.x `keras.applications.NASNetMobile(weights=None)` and
# `NASNetLarge(weights=None)`, read off `model.summary()`: stem_bn1, reduction_concat_stem_1/2,
# normal_concat_{N-1}, reduction_concat_reduce_N, normal_concat_{2N}, reduction_concat_reduce_2N, the last
# normal_concat (Keras numbers normal cells after a reduction one higher than TF-slim's Cell_i).
KERAS_SHAPES = {
    "nasnet_a_mobile": [
        (32, 111, 111),
        (44, 56, 56),
        (88, 28, 28),
        (264, 28, 28),
        (352, 14, 14),
        (528, 14, 14),
        (704, 7, 7),
        (1056, 7, 7),
    ],
    "nasnet_a_large": [
        (96, 165, 165),
        (168, 83, 83),
        (336, 42, 42),
        (1008, 42, 42),
        (1344, 21, 21),
        (2016, 21, 21),
        (2688, 11, 11),
        (4032, 11, 11),
    ],
}


@pytest.mark.parametrize("name", sorted(KERAS_SHAPES))
def test_tf_same_shapes_match_keras(name: str) -> None:
    config = dataclasses.replace(model_config(name), padding="tf-same")
    model = meta_model(config).eval()
    n = config.cells_per_stack
    x = torch.zeros(1, 3, config.image_size, config.image_size, device="meta")
    endpoints: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        endpoints["stem"] = model.stem(x)
        model._forward_cells(x, endpoints)
    names = ["stem", "Cell_Stem_0", "Cell_Stem_1", f"Cell_{n - 1}", "Reduction_Cell_0", f"Cell_{2 * n - 1}"]
    names += ["Reduction_Cell_1", f"Cell_{3 * n - 1}"]
    assert [tuple(endpoints[k].shape[1:]) for k in names] == KERAS_SHAPES[name]


BACKBONE = {
    # (num_chs, spatial size, reduction) of each feature map.
    "nasnet_a_mobile": [(44, 56, 4), (264, 28, 8), (528, 14, 16), (1056, 7, 32)],
    "nasnet_a_large": [(168, 83, 4), (1008, 42, 8), (2016, 21, 16), (4032, 11, 32)],
}


@pytest.mark.parametrize("name", sorted(BACKBONE))
def test_backbone_shapes(name: str) -> None:
    config = model_config(name)
    model = meta_model(config).eval()
    x = torch.zeros(1, 3, config.image_size, config.image_size, device="meta")
    with torch.no_grad():
        features = model.forward_features(x)
    got = [(f.shape[1], f.shape[2], info["reduction"]) for f, info in zip(features, model.feature_info, strict=True)]
    assert got == BACKBONE[name]
    assert [info["num_chs"] for info in model.feature_info] == [c for c, _, _ in BACKBONE[name]]
    for info in model.feature_info:
        assert isinstance(model.get_submodule(info["module"]), nn.Module)


def test_cifar_backbone_gives_three_maps() -> None:
    model = meta_model(model_config("nasnet_a_cifar")).eval()
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, 32, 32, device="meta"))
    assert [tuple(f.shape[1:]) for f in features] == [(192, 32, 32), (384, 16, 16), (768, 8, 8)]
    assert [info["reduction"] for info in model.feature_info] == [1, 2, 4]


def test_features_only_model_returns_the_maps() -> None:
    torch.manual_seed(4)
    full = NASNet(_small(aux_head=True, image_size=96, dropout=0.5)).eval()
    backbone = NASNet(_small(aux_head=True, image_size=96, dropout=0.5, features_only=True)).eval()
    assert not hasattr(backbone, "aux_head") and backbone.classifier is None and not hasattr(backbone, "dropout")
    missing = set(full.state_dict()) - set(backbone.state_dict())
    assert missing and all(k.startswith(("aux_head.", "classifier.")) for k in missing)
    backbone.load_state_dict(full.state_dict(), strict=False)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        outputs = backbone(x)
        expected = full.forward_features(x)
    assert len(outputs) == 4
    assert [tuple(o.shape[2:]) for o in outputs] == [(24, 24), (12, 12), (6, 6), (3, 3)]
    for got, want in zip(outputs, expected, strict=True):
        torch.testing.assert_close(got, want)
