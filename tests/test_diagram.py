"""Cell diagrams (`nasnet.report.diagram`, `nasnet draw`): the paper's Figure 4 by Graphviz, and the text fallback."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasnet.cli import _run
from nasnet.cli.draw import cmd_draw, register
from nasnet.errors import NasnetError
from nasnet.report.diagram import (
    DiagramError,
    DotMissing,
    cell_dot,
    dot_available,
    draw_genotype,
    genotype_dot,
    genotype_svg,
    text_diagram,
)
from nasnet.space import DEFAULT_SPACE, NASNET_A, SearchSpace, save_genotype
from nasnet.space.genotype import CELL_KINDS, NUM_INPUT_STATES, Genotype, state_name

HAVE_DOT = shutil.which("dot") is not None
HAVE_BINDING = importlib.util.find_spec("graphviz") is not None
needs_dot = pytest.mark.skipif(
    not (HAVE_DOT and HAVE_BINDING),
    reason="needs Graphviz: its dot program (apt install graphviz) and package (pip install 'nasnet[report]')",
)
needs_binding = pytest.mark.skipif(not HAVE_BINDING, reason="needs the graphviz package (pip install 'nasnet[report]')")

SVG = "{http://www.w3.org/2000/svg}"
OP_TITLE = re.compile(r"^(normal|reduction)_b(\d+)_op([01])$")


def svg_nodes(svg: str) -> dict[str, tuple[set[str], str]]:
    """Each node of a Graphviz SVG: its name (the ``<title>``) -> (its classes, its label text)."""
    root = ET.fromstring(svg)  # also checks that the SVG is well-formed XML
    nodes = {}
    for group in root.iter(f"{SVG}g"):
        classes = set(group.get("class", "").split())
        if "node" not in classes:
            continue
        title = group.findtext(f"{SVG}title")
        assert title is not None
        label = " ".join(text.text or "" for text in group.iter(f"{SVG}text"))
        nodes[title] = (classes, label)
    return nodes


def svg_edge_count(svg: str) -> int:
    root = ET.fromstring(svg)
    return sum(1 for group in root.iter(f"{SVG}g") if "edge" in group.get("class", "").split())


def check_svg(svg: str, genotype: Genotype, kinds: tuple[str, ...] = CELL_KINDS) -> None:
    """One node per op, per combine, per input and per output, with the right classes, labels and edges."""
    nodes = svg_nodes(svg)
    ops = {title: value for title, value in nodes.items() if "op" in value[0]}
    expected_edges = 0
    for kind in CELL_KINDS:
        cell = getattr(genotype, kind)
        cell_ops = {title for title, (classes, _) in ops.items() if kind in classes}
        if kind not in kinds:
            assert not cell_ops and not any(kind in classes for classes, _ in nodes.values())
            continue
        assert len(cell_ops) == 2 * cell.num_blocks
        for title in cell_ops:
            match = OP_TITLE.match(title)
            assert match and match[1] == kind
            block, side = cell.blocks[int(match[2])], int(match[3])
            classes, label = ops[title]
            strided = kind == "reduction" and block.inputs[side] < NUM_INPUT_STATES
            assert label == block.ops[side] + (" /2" if strided else "")
            assert ("strided" in classes) == strided
        combines = {t: v for t, v in nodes.items() if "combine" in v[0] and kind in v[0]}
        assert len(combines) == cell.num_blocks
        for b, block in enumerate(cell.blocks):
            assert combines[f"{kind}_b{b}"][1].split()[0] == block.combine
        assert sum("input" in c and kind in c for c, _ in nodes.values()) == NUM_INPUT_STATES
        assert sum("output" in c and kind in c for c, _ in nodes.values()) == 1
        expected_edges += 4 * cell.num_blocks + len(cell.output_states())
    assert len(ops) == sum(2 * getattr(genotype, kind).num_blocks for kind in kinds)
    assert svg_edge_count(svg) == expected_edges


def random_genotypes(count: int, seed: int, space: SearchSpace = DEFAULT_SPACE) -> list[Genotype]:
    rng = np.random.default_rng(seed)
    counts = space.choice_counts()
    assert len(counts) == space.num_decisions == 2 * space.num_blocks * 5
    return [space.from_decisions([int(rng.integers(0, c)) for c in counts]) for _ in range(count)]


@needs_dot
def test_nasnet_a_svg_has_one_node_per_op_and_marks_stride_two() -> None:
    svg = genotype_svg(NASNET_A, "nasnet_a")
    check_svg(svg, NASNET_A)
    nodes = svg_nodes(svg)
    strided = sorted(label for classes, label in nodes.values() if "strided" in classes)
    # Figure 4's reduction cell: seven ops read h_i or h_{i-1}.
    expected = [f"{op} /2" for op in ("sep_conv_5x5", "sep_conv_7x7", "max_pool_3x3", "sep_conv_7x7")]
    expected += [f"{op} /2" for op in ("avg_pool_3x3", "sep_conv_5x5", "max_pool_3x3")]
    assert strided == sorted(expected)
    assert nodes["normal_out"][1].startswith("concat") and "6 x C" in nodes["normal_out"][1]
    assert "4 x C" in nodes["reduction_out"][1]
    assert "nasnet_a" in svg


@needs_dot
def test_fifty_random_genotypes_draw_with_both_combines() -> None:
    genotypes = random_genotypes(50, seed=0)
    combines = Counter(block.combine for g in genotypes for _, cell in g.cells() for block in cell.blocks)
    assert combines["add"] > 0 and combines["concat"] > 0
    for genotype in genotypes:
        check_svg(genotype_svg(genotype), genotype)


@needs_dot
@pytest.mark.parametrize("cell", ["normal", "reduction"])
def test_one_cell_only(cell: str) -> None:
    check_svg(genotype_svg(NASNET_A, cell=cell), NASNET_A, kinds=(cell,))


@needs_binding
def test_dot_source_and_the_per_cell_graph() -> None:
    source = genotype_dot(NASNET_A, "nasnet_a").source
    assert "cluster_normal" in source and "cluster_reduction" in source
    single = cell_dot(NASNET_A.reduction, "reduction").source
    assert "cluster" not in single and single.count('class="op reduction') == 10
    with pytest.raises(DiagramError, match="unknown cell"):
        genotype_dot(NASNET_A, cell="both cells")


@needs_binding
def test_names_cannot_inject_dot_syntax() -> None:
    source = genotype_dot(NASNET_A, 'evil"] x [label="\\N\x1b').source
    assert '\\"' in source and "\\\\N" in source and "\x1b" not in source


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"), (".svg", b"<?xml")])
def test_draw_writes_each_format_atomically(tmp_path: Path, suffix: str, magic: bytes) -> None:
    target = tmp_path / "out" / f"cell{suffix}"
    assert draw_genotype(NASNET_A, target, "nasnet_a") == target
    assert target.read_bytes().startswith(magic)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left beside it


@pytest.mark.parametrize("name", ["cell.txt", "cell", "cell.svg.bak"])
def test_a_bad_suffix_is_one_line_naming_the_flag(tmp_path: Path, name: str) -> None:
    with pytest.raises(DiagramError) as caught:
        draw_genotype(NASNET_A, tmp_path / name)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("-o ") and ".svg, .png, .pdf" in message
    assert not list(tmp_path.iterdir())


def test_missing_dot_says_how_to_install_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not dot_available()
    target = tmp_path / "cell.svg"
    with pytest.raises(DotMissing) as caught:
        draw_genotype(NASNET_A, target)
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, NasnetError)
    for hint in ("apt install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in message
    with pytest.raises(DotMissing):
        genotype_svg(NASNET_A)
    assert list(tmp_path.iterdir()) == [empty]


def test_missing_binding_says_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` raise ImportError
    assert not dot_available()
    with pytest.raises(DotMissing, match=r"pip install 'nasnet\[report\]'"):
        genotype_svg(NASNET_A)
    assert "sep_conv_5x5" in text_diagram(NASNET_A)  # the fallback needs nothing


def cell_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for chunk in text.split("\n\n")[1:]:
        title, *lines = chunk.splitlines()
        sections[title.split()[0].lower()] = lines
    return sections


@pytest.mark.parametrize("genotype", [NASNET_A, *random_genotypes(5, seed=1)])
def test_text_diagram_shows_inputs_ops_and_combines(genotype: Genotype) -> None:
    text = text_diagram(genotype, "g")
    assert text.startswith("g  (hash ")
    sections = cell_sections(text)
    assert list(sections) == list(CELL_KINDS)
    for kind, cell in genotype.cells():
        lines = sections[kind]
        assert len(lines) == 2 * cell.num_blocks + 1
        for b, block in enumerate(cell.blocks):
            for side in range(2):
                state, arrow, op, *rest = lines[2 * b + side].split()
                assert (state, arrow, op) == (state_name(block.inputs[side]), "->", block.ops[side])
                strided = kind == "reduction" and block.inputs[side] < NUM_INPUT_STATES
                assert (rest[0] == "/2") == strided
            assert lines[2 * b + 1].split()[-3:] == [block.combine, "->", f"B{b}"]
        outputs = ", ".join(state_name(state) for state in cell.output_states())
        assert lines[-1].strip().startswith(f"{outputs} -> concat -> h_{{i+1}}")


def test_text_diagram_of_nasnet_a_has_every_op_of_both_cells() -> None:
    sections = cell_sections(text_diagram(NASNET_A, "nasnet_a"))
    for kind, cell in NASNET_A.cells():
        drawn = Counter(line.split()[2] for line in sections[kind][:-1])
        assert drawn == Counter(op for block in cell.blocks for op in block.ops)
    assert sections["normal"][-1].startswith("  h_{i-1}, B0, B1, B2, B3, B4 -> concat")


# Any decision sequence, of spaces of 1 to 6 blocks: drawing never fails and draws each op once.
@st.composite
def genotypes(draw: st.DrawFn) -> Genotype:
    space = SearchSpace(num_blocks=draw(st.integers(1, 6)))
    return space.from_decisions([draw(st.integers(0, count - 1)) for count in space.choice_counts()])


@needs_dot
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genotypes(), st.none() | st.text(max_size=40))
def test_any_genotype_draws(genotype: Genotype, name: str | None) -> None:
    check_svg(genotype_svg(genotype, name), genotype)


def draw_command(argv: list[str]) -> int:
    """``nasnet draw ARGV`` through the command line's error handling, whether or not `nasnet.cli` registers it."""
    parser = argparse.ArgumentParser(prog="nasnet")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["draw", *argv])
    assert args.handler is cmd_draw
    return _run(args, "nasnet draw")


@needs_dot
def test_cli_draws_a_zoo_name_and_an_exported_genotype(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a.svg"
    assert draw_command(["nasnet_a", "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"wrote {target}\n"
    check_svg(target.read_text(), NASNET_A)

    # What `nasnet export` writes: a genotype file with a name and provenance.
    genotype = random_genotypes(1, seed=2)[0]
    exported = save_genotype(genotype, tmp_path / "exp-trial3.json", name="exp-trial3", meta={"trial": 3})
    png = tmp_path / "trial3.png"
    assert draw_command([str(exported), "-o", str(png), "--cell", "reduction"]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    assert capsys.readouterr().out == f"wrote {png}\n"


def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert draw_command(["nasnet_a", "-o", str(tmp_path / "a.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-o " in err and ".svg, .png, .pdf" in err

    assert draw_command(["no_such_genotype", "-o", str(tmp_path / "a.svg")]) == 2
    assert capsys.readouterr().err.count("\n") == 1

    monkeypatch.setenv("PATH", str(tmp_path))
    assert draw_command(["nasnet_a", "-o", str(tmp_path / "a.svg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nasnet draw: error: ") and err.count("\n") == 1
    assert "apt install graphviz" in err and "nasnet show nasnet_a" in err
    assert not list(tmp_path.iterdir())
