"""Cell diagrams in the style of the paper's Figure 4 (NASNet-A's normal and reduction cells).

Each cell is drawn bottom to top: its two inputs h_i and h_{i-1} (Section 3: the hidden states of
the previous two cells), one box per op, one combine node per block (``add`` or ``concat``, step 5
of Figure 3), and the cell's output, the concatenation of its output states (h_{i+1}). In the
reduction cell the ops that read h_i or h_{i-1} use stride 2 (Section 3), marked ``/2`` as in the
text form of `nasnet.report.text`.

Rendering needs Graphviz: the ``graphviz`` Python package (the ``report`` extra) to build the
graph and its ``dot`` program to lay it out. Where either is absent, `DotMissing` says how to
install it, and `text_diagram` draws the same cells as plain text.

SVG element classes (for counting, styling and tests): every node carries ``node`` (Graphviz's own)
plus one of ``input``, ``op``, ``combine`` or ``output``, and the cell kind (``normal`` or
``reduction``); stride-2 ops also carry ``strided``. Node names (the SVG ``<title>``) are
``{kind}_h{s}`` for inputs, ``{kind}_b{b}_op{side}`` for ops, ``{kind}_b{b}`` for combines and
``{kind}_out`` for the output.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from nasnet.errors import NasnetError, printable, short_repr
from nasnet.fileio import atomic_write_bytes
from nasnet.space.canonical import genotype_hash
from nasnet.space.genotype import CELL_KINDS, NUM_INPUT_STATES, Cell, Genotype, state_name

if TYPE_CHECKING:
    import graphviz

FORMATS: tuple[str, ...] = ("svg", "png", "pdf")
CELL_CHOICES: tuple[str, ...] = (*CELL_KINDS, "both")

INSTALL_DOT = "install Graphviz's dot program: apt install graphviz, brew install graphviz or conda install graphviz"
INSTALL_BINDING = "install the graphviz Python package: pip install 'nasnet[report]'"

# Figure 4's palette: light inputs, grey op boxes, green combines, a yellow concatenated output.
_INPUT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6", "color": "#5b7fa6"}
_OP_STYLE = {"shape": "box", "style": "filled", "fillcolor": "#e6e6e6", "color": "#7a7a7a"}
_COMBINE_STYLE = {"shape": "ellipse", "style": "filled", "fillcolor": "#b9e3b0", "color": "#4f8a43"}
_OUTPUT_STYLE = {"shape": "box", "style": "filled", "fillcolor": "#fbe89a", "color": "#a8901f"}
_PNG_DPI = "150"  # Graphviz's default 96 dpi looks blurry on high-density screens and in slides


class DiagramError(NasnetError):
    """A diagram cannot be drawn as asked (an unsupported output format, an unknown cell)."""


class DotMissing(DiagramError):
    """Graphviz (its ``dot`` program or its Python package) is not installed; the message says how to install it."""


def _binding_available() -> bool:
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return True


def dot_available() -> bool:
    """Whether diagrams can be rendered here: the ``graphviz`` package imports and ``dot`` is on PATH."""
    return _binding_available() and shutil.which("dot") is not None


def _missing_message() -> str:
    missing = []
    if shutil.which("dot") is None:
        missing.append(INSTALL_DOT)
    if not _binding_available():
        missing.append(INSTALL_BINDING)
    return "drawing cells needs Graphviz: " + ("; ".join(missing) or INSTALL_DOT)


def _graphviz() -> ModuleType:
    try:
        import graphviz
    except ImportError:
        raise DotMissing(_missing_message()) from None
    return graphviz


def _cells(genotype: Genotype, cell: str) -> tuple[tuple[str, Cell], ...]:
    if cell == "both":
        return genotype.cells()
    if cell not in CELL_KINDS:
        raise DiagramError(f"unknown cell {short_repr(cell)}; choose one of {', '.join(CELL_CHOICES)}")
    return ((cell, getattr(genotype, cell)),)


def _title(genotype: Genotype, name: str | None) -> str:
    return f"{printable(name or 'genotype')}  (hash {genotype_hash(genotype)})"


def _strided(kind: str, state: int) -> bool:
    """Whether an op reading ``state`` uses stride 2: in the reduction cell, ops on the cell inputs do (Section 3)."""
    return kind == "reduction" and state < NUM_INPUT_STATES


def _op_label(op: str, kind: str, state: int) -> str:
    return f"{op} /2" if _strided(kind, state) else op


def _state_node(kind: str, state: int) -> str:
    """The node whose output is ``state``: an input node, or the combine node of a block."""
    return f"{kind}_h{state}" if state < NUM_INPUT_STATES else f"{kind}_b{state - NUM_INPUT_STATES}"


def _add_cell(graph: graphviz.Digraph, cell: Cell, kind: str) -> None:
    """Draw ``cell`` into ``graph`` (a cluster or a whole graph)."""
    graphviz = _graphviz()
    # Inputs on one rank at the bottom, as in Figure 4, so both cells line up side by side.
    with graph.subgraph(name=f"{kind}_inputs") as inputs:
        inputs.attr(rank="same")
        for state in range(NUM_INPUT_STATES):
            inputs.node(
                _state_node(kind, state), state_name(state), _attributes={"class": f"input {kind}"}, **_INPUT_STYLE
            )
    for b, block in enumerate(cell.blocks):
        combine = f"{kind}_b{b}"
        for side, (state, op) in enumerate(zip(block.inputs, block.ops, strict=True)):
            op_node = f"{combine}_op{side}"
            classes = f"op {kind}" + (" strided" if _strided(kind, state) else "")
            # escape(): a plug-in chooses op names; dot must not read a backslash in one as a directive.
            graph.node(
                op_node, graphviz.escape(_op_label(op, kind, state)), _attributes={"class": classes}, **_OP_STYLE
            )
            graph.edge(_state_node(kind, state), op_node)
            graph.edge(op_node, combine)
        # The block name ties the drawing to the text form's B0..B4 and to the edges into later blocks.
        label = f'<{block.combine}<BR/><FONT POINT-SIZE="9">{state_name(NUM_INPUT_STATES + b)}</FONT>>'
        graph.node(combine, label, _attributes={"class": f"combine {kind}"}, **_COMBINE_STYLE)
    output = f"{kind}_out"
    width = cell.output_width()
    graph.node(output, f"concat\\nh_{{i+1}}  ({width} x C)", _attributes={"class": f"output {kind}"}, **_OUTPUT_STYLE)
    for state in cell.output_states():
        graph.edge(_state_node(kind, state), output)


def _cell_title(kind: str) -> str:
    if kind == "reduction":
        return "Reduction cell  (ops on h_i, h_{i-1}: stride 2)"
    return "Normal cell"


def _new_graph(title: str) -> graphviz.Digraph:
    graphviz = _graphviz()
    graph = graphviz.Digraph(name="nasnet_genotype")
    # Bottom to top, as the paper draws cells: inputs below, the concatenated output on top.
    graph.attr(rankdir="BT", label=graphviz.escape(title), labelloc="t", fontname="Helvetica", fontsize="16")
    graph.attr(nodesep="0.25", ranksep="0.45")
    graph.attr("node", fontname="Helvetica", fontsize="12", height="0.35")
    graph.attr("edge", color="#555555", arrowsize="0.7")
    return graph


def cell_dot(cell: Cell, kind: str = "normal", name: str | None = None) -> graphviz.Digraph:
    """One cell as a Graphviz graph (Figure 4, one panel); ``kind`` decides which ops use stride 2."""
    if kind not in CELL_KINDS:
        raise DiagramError(f"unknown cell kind {short_repr(kind)}; choose one of {', '.join(CELL_KINDS)}")
    cell.check(kind)
    graph = _new_graph(f"{printable(name)}: {_cell_title(kind)}" if name else _cell_title(kind))
    _add_cell(graph, cell, kind)
    return graph


def genotype_dot(genotype: Genotype, name: str | None = None, *, cell: str = "both") -> graphviz.Digraph:
    """A genotype's cells as one Graphviz graph, one cluster per cell, side by side as in Figure 4.

    ``cell`` is ``normal``, ``reduction`` or ``both``. Raises `DotMissing` without the ``graphviz`` package
    (building the graph needs no ``dot``; rendering it does).
    """
    graph = _new_graph(_title(genotype, name))
    for kind, chosen in _cells(genotype, cell):
        with graph.subgraph(name=f"cluster_{kind}") as cluster:
            # labelloc="b": rankdir=BT flips clusters, so "b" puts the cell's title above it, where Figure 4 has it.
            cluster.attr(label=_cell_title(kind), labelloc="b", style="rounded", color="#b0b0b0", fontsize="13")
            _add_cell(cluster, chosen, kind)
    return graph


def _render(graph: graphviz.Digraph, fmt: str) -> bytes:
    graphviz = _graphviz()
    if shutil.which("dot") is None:  # checked first: the binding's own error names no install command
        raise DotMissing(_missing_message())
    try:
        return graph.pipe(format=fmt, quiet=True)
    except graphviz.ExecutableNotFound:
        raise DotMissing(_missing_message()) from None
    except graphviz.CalledProcessError as err:
        detail = err.stderr.decode("utf-8", "replace") if isinstance(err.stderr, bytes) else str(err.stderr or "")
        raise DiagramError(f"dot failed (exit {err.returncode}): {printable(' '.join(detail.split()), 300)}") from None


def genotype_svg(genotype: Genotype, name: str | None = None, *, cell: str = "both") -> str:
    """The diagram of `genotype_dot` as SVG text, laid out by ``dot``; raises `DotMissing` where Graphviz is absent."""
    return _render(genotype_dot(genotype, name, cell=cell), "svg").decode("utf-8")


def diagram_format(path: str | os.PathLike[str]) -> str:
    """The output format that ``path``'s suffix names (``svg``, ``png`` or ``pdf``), else a one-line `DiagramError`."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        got = f"'.{printable(suffix, 20)}'" if suffix else "none"
        allowed = ", ".join(f".{fmt}" for fmt in FORMATS)
        raise DiagramError(f"-o {printable(os.fspath(path), 80)}: the suffix must be one of {allowed} (got {got})")
    return suffix


def draw_genotype(
    genotype: Genotype, path: str | os.PathLike[str], name: str | None = None, *, cell: str = "both"
) -> Path:
    """Write the diagram of `genotype_dot` to ``path`` as SVG, PNG or PDF, chosen by its suffix.

    Rendered in memory, then written to a temporary file beside ``path`` and renamed, so a failure
    (no ``dot``, a full disk) leaves no file, nor a half-written one.
    """
    fmt = diagram_format(path)
    graph = genotype_dot(genotype, name, cell=cell)
    if fmt == "png":
        graph.attr(dpi=_PNG_DPI)
    return atomic_write_bytes(path, _render(graph, fmt))


def _text_cell(cell: Cell, kind: str) -> list[str]:
    operands = [
        (state_name(state), _op_label(op, kind, state))
        for block in cell.blocks
        for state, op in zip(block.inputs, block.ops, strict=True)
    ]
    state_width = max(len(state) for state, _ in operands)
    op_width = max(len(op) for _, op in operands)
    combine_width = max(len(block.combine) for block in cell.blocks)
    lines = [_cell_title(kind)]
    for b, block in enumerate(cell.blocks):
        # Two lines per block, joined by a bracket, read like Figure 4 turned on its side: inputs -> ops -> combine.
        for side, (state, op) in enumerate(operands[2 * b : 2 * b + 2]):
            joint = (
                "--\\" if side == 0 else f"--/  {block.combine:<{combine_width}} -> {state_name(NUM_INPUT_STATES + b)}"
            )
            lines.append(f"  {state:<{state_width}} -> {op:<{op_width}}  {joint}".rstrip())
    outputs = ", ".join(state_name(state) for state in cell.output_states())
    lines.append(f"  {outputs} -> concat -> h_{{i+1}}  [{cell.output_width()} x C channels]")
    return lines


def text_diagram(genotype: Genotype, name: str | None = None, *, cell: str = "both") -> str:
    """The cells of `genotype_dot` as plain text, for where Graphviz is absent (same names as Figure 4).

    Per cell, each block is two lines, its inputs through its ops into its combine, then the output concat.
    """
    parts = [_title(genotype, name)]
    for kind, chosen in _cells(genotype, cell):
        parts.append("")
        parts.extend(_text_cell(chosen, kind))
    return "\n".join(parts)


__all__ = [
    "CELL_CHOICES",
    "FORMATS",
    "DiagramError",
    "DotMissing",
    "cell_dot",
    "diagram_format",
    "dot_available",
    "draw_genotype",
    "genotype_dot",
    "genotype_svg",
    "text_diagram",
]
