"""Cells and genotypes as readable text."""

from __future__ import annotations

from nasnet.errors import printable
from nasnet.space.canonical import genotype_hash
from nasnet.space.genotype import NUM_INPUT_STATES, Cell, Genotype, state_name


def _operand(op: str, state: int, reduction: bool) -> str:
    strided = reduction and state < NUM_INPUT_STATES
    return f"{op}{'/2' if strided else ''}({state_name(state)})"


def cell_lines(cell: Cell, kind: str) -> list[str]:
    """One line per block, then the output concat."""
    reduction = kind == "reduction"
    lines = []
    for b, block in enumerate(cell.blocks):
        left = _operand(block.ops[0], block.inputs[0], reduction)
        right = _operand(block.ops[1], block.inputs[1], reduction)
        combined = f"{left} + {right}" if block.combine == "add" else f"concat({left}, {right})"
        lines.append(f"B{b} = {combined}")
    outputs = ", ".join(state_name(s) for s in cell.output_states())
    rule = "explicit list" if cell.concat is not None else "unconsumed block outputs"
    lines.append(f"output = concat({outputs})  [{cell.output_width()} x C channels; {rule}]")
    return lines


def genotype_text(genotype: Genotype, name: str | None = None) -> str:
    header = f"{printable(name or 'genotype')}  (hash {genotype_hash(genotype)})"
    parts = [header]
    for kind, cell in genotype.cells():
        title = f"{kind} cell" + ("  (ops reading h_i / h_{i-1} use stride 2)" if kind == "reduction" else "")
        parts.append(title)
        parts.extend(f"  {line}" for line in cell_lines(cell, kind))
    return "\n".join(parts)
