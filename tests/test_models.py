import dataclasses

import pytest
import torch

from nasnet.nn import (
    ModelConfigError,
    NASNet,
    build_model,
    count_mult_adds,
    count_parameters,
    create_model,
    genotype_config,
    model_config,
    model_info,
    scheduled_keep_prob,
)
from nasnet.nn.counting import meta_model
from nasnet.nn.drop_path import drop_path
from nasnet.space import DEFAULT_SPACE, NASNET_A, Block, Cell, Genotype

# ---- published sizes (the paper's Tables 1-3) ------------------------------------------


def test_nasnet_a_mobile_size():
    config = model_config("nasnet_a_mobile", aux_head=False)
    assert config.cells_per_stack == 4 and config.filters == 1056 and config.image_size == 224
    assert count_parameters(meta_model(config)) == 5_289_978
    assert count_mult_adds(config) == pytest.approx(564e6, rel=0.01)


def test_nasnet_a_large_size():
    config = model_config("nasnet_a_large", aux_head=False)
    assert config.cells_per_stack == 6 and config.filters == 4032 and config.image_size == 331
    assert count_parameters(meta_model(config)) == 88_753_150
    assert count_mult_adds(config) == pytest.approx(23.8e9, rel=0.01)


def test_nasnet_a_cifar_size():
    config = model_config("nasnet_a_cifar", aux_head=False)
    assert config.filters == 768
    assert count_parameters(meta_model(config)) == pytest.approx(3.3e6, abs=0.1e6)
    with_aux = count_parameters(meta_model(model_config("nasnet_a_cifar")))
    assert with_aux - count_parameters(meta_model(config)) == pytest.approx(1.63e6, abs=0.01e6)


def test_real_model_counts_match_meta_counts():
    model = create_model("nasnet_a_mobile", aux_head=False)
    assert count_parameters(model) == 5_289_978


def test_skip_reduction_does_not_change_parameters():
    large = model_config("nasnet_a_large", aux_head=False, cells_per_stack=2, base_filters=24)
    assert large.skip_reduction
    plain = dataclasses.replace(large, skip_reduction=False)
    assert count_parameters(meta_model(large)) == count_parameters(meta_model(plain))


# ---- shapes (the released TF-slim nasnet_test.py) --------------------------------------------------


def _expected_shapes(stem, stacks, reductions, n):
    shapes = {"Stem": stem}
    cell = 0
    for stack in range(3):
        if stack:
            shapes[f"Reduction_Cell_{stack - 1}"] = reductions[stack - 1]
        for _ in range(n):
            shapes[f"Cell_{cell}"] = stacks[stack]
            cell += 1
    return shapes


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "nasnet_a_cifar",
            _expected_shapes(
                (96, 32, 32), [(192, 32, 32), (384, 16, 16), (768, 8, 8)], [(256, 16, 16), (512, 8, 8)], 6
            ),
        ),
        (
            "nasnet_a_mobile",
            _expected_shapes(
                (88, 28, 28), [(264, 28, 28), (528, 14, 14), (1056, 7, 7)], [(352, 14, 14), (704, 7, 7)], 4
            ),
        ),
        (
            "nasnet_a_large",
            _expected_shapes(
                (336, 42, 42), [(1008, 42, 42), (2016, 21, 21), (4032, 11, 11)], [(1344, 21, 21), (2688, 11, 11)], 6
            ),
        ),
    ],
)
def test_stage_shapes(name, expected):
    shapes = model_info(model_config(name, aux_head=False)).shapes
    for stage, shape in expected.items():
        assert shapes[stage] == shape, stage
    stem_cells = {k: v for k, v in shapes.items() if k.startswith("Cell_Stem")}
    if name == "nasnet_a_large":
        assert stem_cells == {"Cell_Stem_0": (168, 83, 83), "Cell_Stem_1": (336, 42, 42)}


# ---- random genotypes build and train ------------------------------------------------


def _forward_backward(config, image_size, batch=2):
    torch.manual_seed(0)
    model = NASNet(config).train()
    model.set_drop_path_progress(0.5)
    x = torch.randn(batch, 3, image_size, image_size)
    logits, aux = model(x, with_aux=True)
    assert logits.shape == (batch, config.num_classes)
    loss = logits.logsumexp(dim=1).mean()
    if config.aux_head:
        assert aux is not None and aux.shape == logits.shape
        loss = loss + 0.4 * aux.logsumexp(dim=1).mean()
    loss.backward()
    # A cell that never reads h_i leaves the cell before it dead (a valid, if wasteful,
    # architecture), so only parameters on a live path need gradients.
    assert model.stem[0].weight.grad is not None and model.classifier.weight.grad is not None
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert model.num_features == config.filters


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(4))
def test_random_genotypes_build_and_run(chunk):
    for seed in range(chunk * 50, (chunk + 1) * 50):
        genotype = DEFAULT_SPACE.sample(seed)
        cifar = genotype_config(genotype, "cifar", cells_per_stack=1, base_filters=4, aux_head=seed % 2 == 0)
        _forward_backward(cifar, 32)
        imagenet = genotype_config(
            genotype,
            "imagenet",
            cells_per_stack=1,
            base_filters=4,
            stem_multiplier=0.25,
            num_classes=7,
            aux_head=seed % 2 == 1,
            drop_path_keep_prob=0.7,
        )
        _forward_backward(imagenet, 224)


def test_searched_cell_sizing_uses_output_width():
    genotype = DEFAULT_SPACE.sample(0)
    width = genotype.normal.output_width()
    config = genotype_config(genotype, "cifar", cells_per_stack=2, filters=4 * width * 8)
    assert config.base_filters == 8
    model = build_model(genotype, cells_per_stack=2, filters=4 * width * 8, aux_head=False)
    assert model.num_features == 4 * width * 8
    with pytest.raises(ModelConfigError, match=f"field 'filters': F=7 must be a positive multiple of {4 * width}"):
        genotype_config(genotype, filters=7)


def test_concat_blocks_double_the_width():
    cell = Cell(
        (
            Block((0, 1), ("sep_conv_3x3", "identity"), "concat"),
            Block((2, 0), ("identity", "max_pool_3x3")),
            Block((0, 1), ("conv_1x1", "conv_3x3")),
            Block((4, 3), ("avg_pool_3x3", "conv_1x7_7x1"), "concat"),
            Block((1, 1), ("dil_conv_3x3", "conv_1x3_3x1")),
        )
    )
    assert cell.output_states() == (5, 6)
    assert cell.output_width() == 3
    genotype = Genotype(cell, cell)
    _forward_backward(genotype_config(genotype, cells_per_stack=1, base_filters=4, aux_head=False), 16)


def test_create_model_overrides_and_errors():
    model = create_model("nasnet_a_cifar", cells_per_stack=1, filters=96, num_classes=3, aux_head=False)
    assert model.config.base_filters == 4 and model.classifier.out_features == 3
    with pytest.raises(ModelConfigError, match="unknown model 'resnet50'"):
        create_model("resnet50")
    with pytest.raises(ModelConfigError, match=r"unknown model option\(s\) \['depth'\]"):
        create_model("nasnet_a_cifar", depth=3)
    with pytest.raises(ModelConfigError, match="either 'filters'"):
        create_model("nasnet_a_cifar", filters=96, base_filters=4)
    with pytest.raises(ModelConfigError, match=r"field 'aux_head'.*at least 5x5"):
        create_model("nasnet_a_cifar", image_size=8)
    with pytest.raises(ModelConfigError, match="field 'skeleton'"):
        genotype_config(NASNET_A, skeleton="vit")


def test_model_config_json_round_trip():
    config = model_config("nasnet_a_large", cells_per_stack=2)
    assert type(config).from_dict(config.to_dict()) == config
    with pytest.raises(ModelConfigError, match=r"unknown field\(s\) \['depth'\]"):
        type(config).from_dict({**config.to_dict(), "depth": 1})


def test_final_dropout_and_aux_only_in_training():
    model = create_model("nasnet_a_mobile", cells_per_stack=1, base_filters=8, num_classes=5)
    assert isinstance(model.dropout, torch.nn.Dropout) and model.dropout.p == 0.5
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    logits, aux = model(x, with_aux=True)
    assert aux is None and logits.shape == (1, 5)


# ---- ScheduledDropPath (the paper's Appendix A.5) ---------------------------------------


def test_drop_path_preserves_the_expectation():
    torch.manual_seed(0)
    x = torch.ones(200_000, 1, 1, 1)
    for keep in (0.9, 0.6, 0.3):
        out = drop_path(x, keep)
        kept = (out != 0).float().mean().item()
        assert kept == pytest.approx(keep, abs=0.01)
        assert out.mean().item() == pytest.approx(1.0, abs=0.02)
        assert torch.allclose(out[out != 0], torch.tensor(1 / keep))


def test_drop_path_schedule_start_middle_end():
    total, final = 20, 0.6
    # start of training: nothing dropped anywhere
    assert scheduled_keep_prob(19, total, 0.0, final) == 1.0
    # middle: half the final drop rate, scaled by depth
    assert scheduled_keep_prob(19, total, 0.5, final) == pytest.approx(1 - 0.5 * 0.4)
    assert scheduled_keep_prob(9, total, 0.5, final) == pytest.approx(1 - 0.5 * 0.5 * 0.4)
    # end (and beyond): the deepest cell reaches keep_final
    assert scheduled_keep_prob(19, total, 1.0, final) == pytest.approx(0.6)
    assert scheduled_keep_prob(19, total, 1.7, final) == pytest.approx(0.6)
    assert scheduled_keep_prob(0, total, 1.0, final) == pytest.approx(1 - 0.4 / 20)


def test_model_cells_follow_the_schedule():
    cifar = create_model("nasnet_a_cifar", cells_per_stack=2, base_filters=4)
    assert cifar.config.total_cells == 8
    for index, cell in enumerate(cifar.cells):
        assert cell.max_drop_prob == pytest.approx((index + 1) / 8 * 0.4)
    large = create_model("nasnet_a_large", cells_per_stack=1, base_filters=8, image_size=64, aux_head=False)
    assert large.config.total_cells == 7
    assert large.cells[0].max_drop_prob == pytest.approx(1 / 7 * 0.3)  # stem cells count
    assert large.cells[-1].max_drop_prob == pytest.approx(0.3)


def test_drop_path_is_off_in_eval_and_active_in_training():
    torch.manual_seed(0)
    model = create_model("nasnet_a_cifar", cells_per_stack=1, base_filters=4, drop_path_keep_prob=0.3, aux_head=False)
    model.set_drop_path_progress(1.0)
    x = torch.randn(4, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
    model.set_drop_path_progress(0.0)  # keep = 1 everywhere: training forward is deterministic again
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
