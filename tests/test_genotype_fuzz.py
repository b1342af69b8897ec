"""Any JSON document gives a genotype or a one-line error, in bounded time, and hostile files stay harmless."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasnet.cli import main
from nasnet.space import OPS
from nasnet.space.canonical import canonical_genotype, genotype_hash
from nasnet.space.genotype import GenotypeError
from nasnet.space.serialization import MAX_BLOCKS, MAX_FILE_BYTES, genotype_from_json

SECONDS = 2.0
MESSAGE_CHARS = 400

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([*OPS, "add", "concat", "nasnet.genotype", 0, 1, 2, 3, 7])
)
any_json = st.recursive(
    json_leaves, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
)


def block_like():
    states = st.integers(min_value=-2, max_value=12) | json_leaves
    return st.fixed_dictionaries(
        {"inputs": st.lists(states, min_size=0, max_size=3), "ops": st.lists(json_leaves, min_size=0, max_size=3)},
        optional={"combine": st.sampled_from(["add", "concat", "mul"]) | json_leaves},
    )


def cell_like():
    return st.fixed_dictionaries(
        {"blocks": st.lists(block_like(), max_size=12) | any_json},
        optional={"concat": st.none() | st.lists(st.integers(min_value=-1, max_value=14), max_size=6) | any_json},
    )


near_genotypes = st.fixed_dictionaries(
    {
        "format": st.just("nasnet.genotype") | json_leaves,
        "version": st.just(1) | json_leaves,
        "normal": cell_like() | any_json,
        "reduction": cell_like() | any_json,
    },
    optional={"name": st.text(max_size=40) | json_leaves, "meta": any_json},
)


def check_bounded(text: str) -> None:
    """Parse and hash ``text``: a result or one short line of error, within the time bound."""
    start = time.perf_counter()
    try:
        genotype = genotype_from_json(text, source="fuzz.json", num_blocks=None)
        genotype_hash(genotype)
        canonical_genotype(genotype)
    except GenotypeError as err:
        message = str(err)
        assert "\n" not in message and len(message) <= MESSAGE_CHARS, message[:500]
        assert message.startswith("fuzz.json") or "cell" in message
    assert time.perf_counter() - start < SECONDS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_json)
def test_any_json_value_gives_a_genotype_or_a_one_line_error(value):
    check_bounded(json.dumps(value))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_genotypes)
def test_near_valid_documents_give_a_genotype_or_a_one_line_error(value):
    check_bounded(json.dumps(value))


def _document(blocks: list[dict]) -> str:
    cell = {"blocks": blocks}
    return json.dumps({"format": "nasnet.genotype", "version": 1, "normal": cell, "reduction": cell})


def _block(a: int, b: int, op1: str = "sep_conv_3x3", op2: str = "sep_conv_3x3") -> dict:
    return {"inputs": [a, b], "ops": [op1, op2], "combine": "add"}


HOSTILE = {
    "11 identical blocks": _document([_block(0, 1)] * 11),
    f"{MAX_BLOCKS} identical blocks": _document([_block(0, 1)] * MAX_BLOCKS),
    "20 identical blocks, each read by its own reader": _document(
        [_block(0, 1)] * 20 + [_block(2 + i, 0, "conv_3x3", "identity") for i in range(20)]
    ),
    f"a chain of {MAX_BLOCKS} blocks": _document(
        [_block(0, 1)] + [_block(2 + i, 0, "conv_3x3", "identity") for i in range(MAX_BLOCKS - 1)]
    ),
    "a chain of 1,000 blocks": _document(
        [_block(0, 1)] + [_block(2 + i, 0, "conv_3x3", "identity") for i in range(999)]
    ),
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "an integer of 5,000 digits": '{"format": "nasnet.genotype", "version": ' + "9" * 5000 + "}",
    "a state index of 4,000 digits": _document([{"inputs": [int("7" * 4000), 0], "ops": ["identity", "identity"]}]),
    "a 1 MB string": json.dumps({"format": "x" * (MAX_FILE_BYTES - 100)}),
    "over 1 MB": " " * (MAX_FILE_BYTES + 1),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_documents_are_bounded(case):
    check_bounded(HOSTILE[case])


def test_many_identical_unread_blocks_hash_instantly():
    genotype = genotype_from_json(_document([_block(0, 1)] * 11), num_blocks=None)
    start = time.perf_counter()
    assert len(genotype_hash(genotype)) == 16
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("command", ["show", "info"])
def test_cli_reads_special_and_hostile_files_with_one_line_errors(command, tmp_path, capsys):
    assert main([command, "/dev/zero"]) == 2
    err = capsys.readouterr().err
    assert "larger than" in err and err.count("\n") == 1
    path = tmp_path / "chain.json"
    path.write_text(HOSTILE["a chain of 1,000 blocks"])
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert f"at most {MAX_BLOCKS}" in err and err.count("\n") == 1


def test_show_escapes_terminal_control_characters(tmp_path, capsys):
    cell = {"blocks": [_block(0, 1, "identity", "identity")]}
    path = tmp_path / "escape.json"
    doc = {"format": "nasnet.genotype", "version": 1, "name": "\x1b[31mred\x07", "normal": cell, "reduction": cell}
    path.write_text(json.dumps(doc))
    assert main(["show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[31mred" in out
