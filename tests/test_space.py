import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nasnet.space import (
    DEFAULT_SPACE,
    NASNET_A,
    OPS,
    Block,
    Cell,
    Genotype,
    GenotypeError,
    SearchSpace,
    canonical_genotype,
    equivalent,
    genotype_from_json,
    genotype_hash,
    genotype_to_dict,
    genotype_to_json,
    load_genotype,
    save_genotype,
)

decision_sequences = st.tuples(*(st.integers(0, n - 1) for n in DEFAULT_SPACE.choice_counts())).map(list)


def test_the_thirteen_ops_in_paper_order():
    assert OPS == (
        "identity",
        "conv_1x3_3x1",
        "conv_1x7_7x1",
        "dil_conv_3x3",
        "avg_pool_3x3",
        "max_pool_3x3",
        "max_pool_5x5",
        "max_pool_7x7",
        "conv_1x1",
        "conv_3x3",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "sep_conv_7x7",
    )


def test_choice_counts_per_step():
    counts = DEFAULT_SPACE.choice_counts()
    assert len(counts) == 50
    per_cell = [c for b in range(5) for c in (2 + b, 2 + b, 13, 13, 2)]
    assert list(counts) == per_cell + per_cell
    names = DEFAULT_SPACE.decision_names()
    assert names[0] == "normal.block0.input_1"
    assert names[27] == "reduction.block0.op_1"


def test_space_size_matches_the_derivation():
    assert DEFAULT_SPACE.cell_size() == 720**2 * 13**10 * 2**5
    assert math.isclose(DEFAULT_SPACE.cell_size(), 2.29e18, rel_tol=0.01)
    assert math.isclose(DEFAULT_SPACE.size(), 5.2e36, rel_tol=0.01)


def test_nasnet_a_matches_the_released_cells():
    normal = NASNET_A.normal
    assert [i for b in normal.blocks for i in b.inputs] == [0, 1, 1, 1, 0, 1, 1, 1, 0, 0]
    assert [op for b in normal.blocks for op in b.ops] == [
        "sep_conv_5x5",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "sep_conv_3x3",
        "avg_pool_3x3",
        "identity",
        "avg_pool_3x3",
        "avg_pool_3x3",
        "sep_conv_3x3",
        "identity",
    ]
    assert normal.output_states() == (1, 2, 3, 4, 5, 6)
    reduction = NASNET_A.reduction
    assert [i for b in reduction.blocks for i in b.inputs] == [0, 1, 0, 1, 0, 1, 3, 2, 2, 0]
    assert [op for b in reduction.blocks for op in b.ops] == [
        "sep_conv_5x5",
        "sep_conv_7x7",
        "max_pool_3x3",
        "sep_conv_7x7",
        "avg_pool_3x3",
        "sep_conv_5x5",
        "identity",
        "avg_pool_3x3",
        "sep_conv_3x3",
        "max_pool_3x3",
    ]
    assert reduction.output_states() == (3, 4, 5, 6)
    assert all(b.combine == "add" for _, cell in NASNET_A.cells() for b in cell.blocks)
    assert NASNET_A.normal.output_width() == 6 and NASNET_A.reduction.output_width() == 4


def test_paper_rule_concatenates_unconsumed_block_outputs():
    # Under the paper's rule NASNet-A's normal cell would output all five blocks.
    assert Cell(NASNET_A.normal.blocks).output_states() == (2, 3, 4, 5, 6)
    # ... and its reduction cell B2, B3, B4 (B0 and B1 are consumed).
    assert Cell(NASNET_A.reduction.blocks).output_states() == (4, 5, 6)


@settings(max_examples=3000, deadline=None)
@given(decision_sequences)
def test_decisions_genotype_json_round_trip(decisions):
    genotype = DEFAULT_SPACE.from_decisions(decisions)
    assert DEFAULT_SPACE.to_decisions(genotype) == decisions
    text = genotype_to_json(genotype, name="g", meta={"trial": 3})
    assert genotype_from_json(text) == genotype
    assert json.loads(text)["version"] == 1


@settings(max_examples=1000, deadline=None)
@given(decision_sequences)
def test_canonical_form_is_idempotent_and_equivalent(decisions):
    genotype = DEFAULT_SPACE.from_decisions(decisions)
    canonical = canonical_genotype(genotype)
    assert canonical_genotype(canonical) == canonical
    assert genotype_hash(canonical) == genotype_hash(genotype)
    for kind, cell in genotype.cells():
        canon_cell = getattr(canonical, kind)
        # Same multiset of ops and combines, same output width: the same graph relabelled.
        assert sorted(op for b in cell.blocks for op in b.ops) == sorted(op for b in canon_cell.blocks for op in b.ops)
        assert sorted(b.combine for b in cell.blocks) == sorted(b.combine for b in canon_cell.blocks)
        assert cell.output_width() == canon_cell.output_width()


@settings(max_examples=500, deadline=None)
@given(decision_sequences, st.data())
def test_swapped_operands_and_reordered_blocks_hash_equal(decisions, data):
    genotype = DEFAULT_SPACE.from_decisions(decisions)
    block_index = data.draw(st.integers(0, 4))
    blocks = list(genotype.normal.blocks)
    b = blocks[block_index]
    blocks[block_index] = Block((b.inputs[1], b.inputs[0]), (b.ops[1], b.ops[0]), b.combine)
    swapped = Genotype(Cell(tuple(blocks)), genotype.reduction)
    assert genotype_hash(swapped) == genotype_hash(genotype)
    assert equivalent(swapped, genotype)


def test_independent_blocks_in_either_order_hash_equal():
    a = Block((0, 1), ("sep_conv_3x3", "identity"))
    b = Block((1, 1), ("max_pool_3x3", "conv_1x1"), "concat")
    c = Block((2, 3), ("avg_pool_3x3", "sep_conv_5x5"))
    d = Block((4, 0), ("identity", "conv_3x3"))
    e = Block((5, 4), ("sep_conv_7x7", "identity"))
    first = Cell((a, b, c, d, e))
    # Blocks 0 and 1 swapped: every reference to 2 and 3 swaps too.
    second = Cell((b, a, Block((3, 2), c.ops), d, e))
    g1 = Genotype(first, NASNET_A.reduction)
    g2 = Genotype(second, NASNET_A.reduction)
    assert g1 != g2
    assert genotype_hash(g1) == genotype_hash(g2)


def test_different_genotypes_hash_differently():
    seen: dict[str, Genotype] = {}
    for seed in range(1000):
        genotype = DEFAULT_SPACE.sample(seed)
        digest = genotype_hash(genotype)
        if digest in seen:
            assert equivalent(seen[digest], genotype)
        seen[digest] = genotype
    assert len(seen) > 990


def test_hash_is_stable_across_versions():
    # Changing this value breaks every stored experiment's dedup: do not update it casually.
    assert genotype_hash(NASNET_A) == "592fbbe6328e5400"


def test_explicit_concat_equal_to_paper_rule_is_the_same_network():
    cell = DEFAULT_SPACE.sample(4).normal
    explicit = Cell(cell.blocks, tuple(reversed(cell.output_states())))
    g = DEFAULT_SPACE.sample(4)
    assert genotype_hash(Genotype(explicit, g.reduction)) == genotype_hash(Genotype(cell, g.reduction))


def test_sampling_is_seeded():
    assert DEFAULT_SPACE.sample(123) == DEFAULT_SPACE.sample(123)
    assert DEFAULT_SPACE.sample(123) != DEFAULT_SPACE.sample(124)


def test_narrowed_space():
    space = SearchSpace(ops=("identity", "sep_conv_3x3"), combines=("add",))
    assert space.choice_counts()[:5] == (2, 2, 2, 2, 1)
    genotype = space.sample(0)
    assert {op for _, c in genotype.cells() for b in c.blocks for op in b.ops} <= {"identity", "sep_conv_3x3"}
    assert space.to_decisions(genotype) == space.to_decisions(space.from_decisions(space.to_decisions(genotype)))
    with pytest.raises(GenotypeError, match="not in this search space"):
        space.to_decisions(NASNET_A.__class__(DEFAULT_SPACE.sample(1).normal, DEFAULT_SPACE.sample(1).reduction))
    with pytest.raises(GenotypeError, match="search space field 'ops'"):
        SearchSpace(ops=("sep_conv_4x4",))


def test_nasnet_a_cannot_become_decisions():
    with pytest.raises(GenotypeError, match="normal cell, field 'concat'"):
        DEFAULT_SPACE.to_decisions(NASNET_A)


# ---- invalid input -------------------------------------------------------------------


def _document(**changes):
    doc = genotype_to_dict(DEFAULT_SPACE.sample(0))
    doc.update(changes)
    return doc


def _load(doc) -> Genotype:
    return genotype_from_json(json.dumps(doc), source="cell.json")


def test_bad_op_name():
    doc = _document()
    doc["normal"]["blocks"][2]["ops"][1] = "sep_conv_4x4"
    with pytest.raises(GenotypeError) as err:
        _load(doc)
    message = str(err.value)
    assert message.startswith("cell.json: normal cell, block 2, field 'ops[1]'")
    assert "unknown op 'sep_conv_4x4'" in message and "sep_conv_3x3" in message


def test_input_index_out_of_range():
    doc = _document()
    doc["reduction"]["blocks"][1]["inputs"][0] = 3
    with pytest.raises(
        GenotypeError, match=r"reduction cell, block 1, field 'inputs\[0\]': state index 3 is out of range"
    ):
        _load(doc)
    with pytest.raises(GenotypeError, match=r"block 1 may read states 0\.\.2"):
        _load(doc)


def test_wrong_block_count():
    doc = _document()
    doc["normal"]["blocks"].pop()
    with pytest.raises(GenotypeError, match=r"cell\.json: normal cell, field 'blocks': expected 5 blocks, got 4"):
        _load(doc)
    with pytest.raises(GenotypeError, match="expected 50 decisions"):
        DEFAULT_SPACE.from_decisions([0] * 49)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["normal"]["blocks"][0].update(inputs=["0", 1]),
            r"block 0, field 'inputs\[0\]': expected an integer",
        ),
        (
            lambda d: d["normal"]["blocks"][0].update(inputs=[True, 1]),
            r"block 0, field 'inputs\[0\]': expected an integer",
        ),
        (lambda d: d["normal"]["blocks"][0].update(ops=[3, "identity"]), r"field 'ops\[0\]': expected an op name"),
        (lambda d: d["normal"]["blocks"][0].update(ops="identity"), r"field 'ops': expected a list of two items"),
        (lambda d: d["normal"]["blocks"][0].update(combine="multiply"), r"field 'combine': unknown combine 'multiply'"),
        (lambda d: d["normal"].update(blocks={}), r"normal cell, field 'blocks': expected a list"),
        (lambda d: d.update(reduction=[]), r"field 'reduction': expected an object"),
        (lambda d: d["normal"]["blocks"][0].update(extra=1), r"unknown field\(s\) \['extra'\]"),
        (lambda d: d["normal"].update(concat=[2, 2]), r"field 'concat': state indices repeat"),
        (lambda d: d["normal"].update(concat=[9]), r"field 'concat\[0\]': state index 9 is out of range"),
        (lambda d: d.pop("normal"), r"missing field\(s\) \['normal'\]"),
        (lambda d: d.update(format="darts"), r"field 'format': expected 'nasnet.genotype'"),
    ],
)
def test_wrong_types_and_fields(mutate, expected):
    doc = _document()
    mutate(doc)
    with pytest.raises(GenotypeError, match=expected):
        _load(doc)


def test_decision_errors_name_the_step():
    decisions = DEFAULT_SPACE.sample_decisions(0)
    decisions[6] = 13
    with pytest.raises(GenotypeError, match=r"decision 6 \(normal.block1.input_2\): 13 is out of range 0..2"):
        DEFAULT_SPACE.from_decisions(decisions)
    decisions[6] = 1.5
    with pytest.raises(GenotypeError, match=r"decision 6 .* expected an integer"):
        DEFAULT_SPACE.from_decisions(decisions)


def test_truncated_json(tmp_path):
    path = tmp_path / "cell.json"
    text = genotype_to_json(NASNET_A)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(GenotypeError, match=rf"{path}: not valid JSON \(line \d+, column \d+\)"):
        load_genotype(path)


def test_unknown_format_version(tmp_path):
    path = tmp_path / "cell.json"
    path.write_text(json.dumps(_document(version=7)))
    with pytest.raises(
        GenotypeError, match=r"field 'version': unsupported format version 7; this nasnet reads version\(s\) 1"
    ):
        load_genotype(path)


def test_missing_file(tmp_path):
    with pytest.raises(GenotypeError, match="cannot read genotype file"):
        load_genotype(tmp_path / "absent.json")


def test_loading_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"
    doc = _document()
    doc["normal"]["blocks"][0]["ops"][0] = f"__import__('os').system('touch {marker}')"
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GenotypeError, match="unknown op"):
        load_genotype(path)
    (tmp_path / "pickle.json").write_bytes(b"\x80\x04\x95\x00")
    with pytest.raises(GenotypeError, match="not"):
        load_genotype(tmp_path / "pickle.json")
    assert not marker.exists()


def test_save_and_load_keep_name_and_meta(tmp_path):
    from nasnet.space import load_genotype_record

    path = save_genotype(NASNET_A, tmp_path / "sub" / "a.json", name="nasnet_a", meta={"reward": 0.9})
    record = load_genotype_record(path)
    assert record.genotype == NASNET_A and record.name == "nasnet_a" and record.meta == {"reward": 0.9}
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]  # no temporary files left


tie_heavy_decisions = st.tuples(
    *(st.integers(0, min(n, 3) - 1) if n != 13 else st.sampled_from([0, 4, 10]) for n in DEFAULT_SPACE.choice_counts())
).map(list)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(decision_sequences, tie_heavy_decisions), st.booleans())
def test_fast_canonical_form_equals_the_exhaustive_one(decisions, explicit):
    from nasnet.space.canonical import canonical_cell

    genotype = DEFAULT_SPACE.from_decisions(decisions)
    for _, cell in genotype.cells():
        if explicit:  # an explicit output list that differs from the paper's rule
            cell = Cell(cell.blocks, (0, *cell.output_states()))
        assert canonical_cell(cell) == canonical_cell(cell, exhaustive=True)
