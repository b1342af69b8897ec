"""A plug-in op and a plug-in model go everywhere the built-in ones go, through one registration each."""

import json

import pytest
import torch
from torch import nn

from nasnet.evaluate.synthetic import NEUTRAL_OP_VALUE, SyntheticEvaluator, synthetic_costs, synthetic_objective
from nasnet.nn import (
    MODELS,
    OPS,
    build_op,
    create_model,
    genotype_config,
    list_models,
    model_config,
    register_model,
    register_op,
    resolve_architecture,
)
from nasnet.nn.network import NASNet
from nasnet.registry import Registry, RegistryError
from nasnet.space import (
    NASNET_A,
    OP_SPECS,
    Block,
    Cell,
    Genotype,
    GenotypeError,
    SearchSpace,
    canonical_genotype,
    genotype_from_json,
    genotype_hash,
    genotype_to_json,
    op_names,
    op_spec,
    save_genotype,
)
from nasnet.space import OPS as PAPER_OPS

TOY_OP = "toy_conv"
TOY_MODEL = "toy_nasnet_test_model"


def _unregister(registry: Registry, name: str) -> None:
    # So that what a test registers does not leak into the tests after it.
    if name in registry:
        registry.unregister(name)


class ToyConv(nn.Sequential):
    """ReLU -> strided 1x1 conv -> BN: the toy op's module."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), norm(c_out))


@pytest.fixture(scope="module")
def toy_op():
    # What a plug-in module holds: one decorated builder. Registered here rather than at import, so
    # that it can be removed again for the tests after this module.
    @register_op(TOY_OP, cost=1.0)
    def toy_conv(c_in: int, c_out: int, stride: int, norm) -> nn.Module:
        return ToyConv(c_in, c_out, stride, norm)

    yield toy_conv
    _unregister(OPS, TOY_OP)
    _unregister(OP_SPECS, TOY_OP)


@pytest.fixture
def toy_model(toy_op):
    register_model(TOY_MODEL, genotype=_toy_genotype(), cells_per_stack=1, base_filters=8, aux_head=False)
    yield TOY_MODEL
    _unregister(MODELS, TOY_MODEL)


def _toy_genotype() -> Genotype:
    # The toy op reads cell inputs (strided in the reduction cell) and block outputs.
    cell = Cell(
        (
            Block((0, 1), (TOY_OP, "sep_conv_3x3")),
            Block((2, 0), (TOY_OP, "identity")),
            Block((1, 3), ("max_pool_3x3", TOY_OP), "concat"),
        )
    )
    return Genotype(normal=cell, reduction=cell)


# ---- ops -------------------------------------------------------------------------------


def test_a_registered_op_is_part_of_the_vocabulary(toy_op):
    assert op_spec(TOY_OP).cost == 1.0
    assert op_names()[: len(PAPER_OPS)] == PAPER_OPS and TOY_OP in op_names()
    assert PAPER_OPS[-1] == "sep_conv_7x7" and TOY_OP not in PAPER_OPS  # the default space stays the paper's
    genotype = _toy_genotype()
    assert genotype_from_json(genotype_to_json(genotype), num_blocks=None) == genotype
    assert canonical_genotype(genotype) == canonical_genotype(canonical_genotype(genotype))
    assert len(genotype_hash(genotype)) == 16


def test_a_space_with_the_op_searches_over_it(toy_op):
    space = SearchSpace(ops=(*PAPER_OPS, TOY_OP))
    assert space.choice_counts()[:5] == (2, 2, 14, 14, 2)
    sampled = [space.sample(seed) for seed in range(20)]
    assert any(TOY_OP in block.ops for genotype in sampled for _, cell in genotype.cells() for block in cell.blocks)
    for genotype in sampled:
        assert space.from_decisions(space.to_decisions(genotype)) == genotype


def test_a_cifar_model_with_the_op_builds_and_runs(toy_op):
    config = genotype_config(_toy_genotype(), "cifar", cells_per_stack=1, base_filters=8, aux_head=False)
    model = NASNet(config)
    assert sum(isinstance(m, ToyConv) for m in model.modules()) == 3 * len(model.cells)
    assert any(isinstance(m, ToyConv) and m[1].stride == (2, 2) for m in model.modules())  # in a reduction cell
    torch.manual_seed(0)
    logits = model(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def _replaced(genotype: Genotype, op: str) -> Genotype:
    def cell(c: Cell) -> Cell:
        return Cell(tuple(Block(b.inputs, tuple(op if o == TOY_OP else o for o in b.ops), b.combine) for b in c.blocks))

    return Genotype(normal=cell(genotype.normal), reduction=cell(genotype.reduction))


def test_the_synthetic_evaluator_scores_the_op(toy_op):
    genotype = _toy_genotype()
    result = SyntheticEvaluator().evaluate(genotype)
    assert result.ok and 0 < result.accuracy < 1
    # The toy op costs what its registration says (1 C^2, as conv_1x1) and is valued neutrally (0.5, as max_pool_3x3).
    assert NEUTRAL_OP_VALUE == 0.5
    assert synthetic_objective(genotype) == synthetic_objective(_replaced(genotype, "max_pool_3x3"))
    assert synthetic_costs(genotype) == synthetic_costs(_replaced(genotype, "conv_1x1"))
    assert synthetic_costs(genotype) != synthetic_costs(_replaced(genotype, "conv_3x3"))


def test_an_unregistered_op_is_refused_with_the_known_ones():
    doc = json.loads(genotype_to_json(NASNET_A))
    doc["normal"]["blocks"][0]["ops"][0] = "no_such_op"
    with pytest.raises(GenotypeError) as err:
        genotype_from_json(json.dumps(doc), source="cell.json")
    message = str(err.value)
    assert message.startswith("cell.json: normal cell, block 0, field 'ops[0]': unknown op 'no_such_op'; allowed: ")
    assert "sep_conv_7x7" in message
    with pytest.raises(GenotypeError, match=r"search space field 'ops': unknown \['no_such_op'\]"):
        SearchSpace(ops=(*PAPER_OPS, "no_such_op"))
    with pytest.raises(RegistryError, match="unknown op 'no_such_op'"):
        build_op("no_such_op", 8, 8, 1)


def test_op_registration_mistakes_are_refused(toy_op):
    with pytest.raises(RegistryError, match="needs a cost"):
        register_op("toy_without_cost")(toy_op)
    with pytest.raises(RegistryError, match=r"already registered, with cost 1\.0"):
        register_op(TOY_OP, cost=2.0)(toy_op)
    with pytest.raises(RegistryError, match="cost must be a finite number"):
        register_op("toy_negative", cost=-1.0)(toy_op)
    with pytest.raises(RegistryError, match="'conv_3x3' is already registered"):
        register_op("conv_3x3")(toy_op)  # a second builder for a paper op
    assert "toy_without_cost" not in OP_SPECS and "toy_negative" not in OP_SPECS


# ---- models ----------------------------------------------------------------------------


def test_a_registered_model_is_listed_and_built(toy_model):
    assert toy_model in list_models()
    model = create_model(toy_model, num_classes=3)
    assert model.config.cells_per_stack == 1 and model.config.base_filters == 8
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    with pytest.raises(RegistryError, match="already registered"):
        register_model(toy_model, genotype=NASNET_A)


# ---- one lookup from a spec to an architecture -----------------------------------------


def test_architecture_specs_resolve_in_one_documented_order(tmp_path, monkeypatch, toy_op):
    named = resolve_architecture("nasnet_a_mobile")
    assert named.model == "nasnet_a_mobile" and named.config == model_config("nasnet_a_mobile")
    zoo = resolve_architecture("nasnet_a")
    assert zoo.genotype == NASNET_A and zoo.model is None and zoo.config is None and zoo.label == "nasnet_a"
    path = save_genotype(_toy_genotype(), tmp_path / "toy.json", name="toy", meta={"reward": 0.5})
    from_file = resolve_architecture(str(path))
    assert from_file.genotype == _toy_genotype() and from_file.label == "toy" and from_file.meta == {"reward": 0.5}
    # A zoo name comes before a file of the same name, and a model name before both.
    monkeypatch.chdir(tmp_path)
    save_genotype(_toy_genotype(), tmp_path / "nasnet_a")
    assert resolve_architecture("nasnet_a").genotype == NASNET_A
    register_model("nasnet_a", genotype=_toy_genotype(), aux_head=False)
    try:
        assert resolve_architecture("nasnet_a").model == "nasnet_a"
    finally:
        _unregister(MODELS, "nasnet_a")
    with pytest.raises(GenotypeError, match=r"neither a known genotype \(nasnet_a\), a model \(.*nasnet_a_mobile"):
        resolve_architecture("no_such_architecture")
