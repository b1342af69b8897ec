"""Genotypes as plain, validated data: `Block`, `Cell` and `Genotype`.

State indices follow the released TF-slim code (``nasnet.py``'s hidden-state lists):

* ``0`` is h_i, the previous cell's output (after its 1x1 projection);
* ``1`` is h_{i-1}, the output of the cell before that (after adjustment);
* ``2 + b`` is the output of block ``b`` of this cell.

Block ``b`` may read states ``0 .. 1 + b``. (The DARTS repository numbers the two
cell inputs the other way round.)
"""

from __future__ import annotations

from dataclasses import dataclass

from nasnet.errors import NasnetError, short_repr
from nasnet.space.ops import COMBINES, is_op, op_names

NUM_INPUT_STATES = 2
DEFAULT_NUM_BLOCKS = 5
CELL_KINDS = ("normal", "reduction")


class GenotypeError(NasnetError, ValueError):
    """A genotype, or the file or decisions it came from, is invalid.

    The message always says where (cell, block, field) and what was allowed.
    """


def _where(cell_kind: str | None, block: int | None, field: str | None) -> str:
    parts = []
    if cell_kind is not None:
        parts.append(f"{cell_kind} cell")
    if block is not None:
        parts.append(f"block {block}")
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)


def _fail(cell_kind: str | None, block: int | None, field: str | None, message: str) -> GenotypeError:
    where = _where(cell_kind, block, field)
    return GenotypeError(f"{where}: {message}" if where else message)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def state_name(index: int) -> str:
    """A readable name for a state index inside a cell."""
    if index == 0:
        return "h_i"
    if index == 1:
        return "h_{i-1}"
    return f"B{index - NUM_INPUT_STATES}"


@dataclass(frozen=True)
class Block:
    """Two inputs, one op on each, and a combine method (``add`` or ``concat``)."""

    inputs: tuple[int, int]
    ops: tuple[str, str]
    combine: str = "add"

    def check(self, index: int, cell_kind: str | None = None) -> None:
        """Raise `GenotypeError` unless this is a valid block number ``index``."""
        for field, value in (("inputs", self.inputs), ("ops", self.ops)):
            if not isinstance(value, tuple) or len(value) != 2:
                raise _fail(cell_kind, index, field, f"expected a pair, got {short_repr(value)}")
        num_states = NUM_INPUT_STATES + index
        for side, state in enumerate(self.inputs):
            if not _is_int(state):
                raise _fail(
                    cell_kind, index, f"inputs[{side}]", f"expected an integer state index, got {short_repr(state)}"
                )
            if not 0 <= state < num_states:
                raise _fail(
                    cell_kind,
                    index,
                    f"inputs[{side}]",
                    f"state index {short_repr(state)} is out of range; block {index} may read states "
                    f"0..{num_states - 1} (0=h_i, 1=h_{{i-1}}, 2+k=block k)",
                )
        for side, op in enumerate(self.ops):
            if not isinstance(op, str):
                raise _fail(cell_kind, index, f"ops[{side}]", f"expected an op name string, got {short_repr(op)}")
            if not is_op(op):
                raise _fail(
                    cell_kind, index, f"ops[{side}]", f"unknown op {short_repr(op)}; allowed: {', '.join(op_names())}"
                )
        if not isinstance(self.combine, str) or self.combine not in COMBINES:
            raise _fail(
                cell_kind,
                index,
                "combine",
                f"unknown combine {short_repr(self.combine)}; allowed: {', '.join(COMBINES)}",
            )

    @property
    def width(self) -> int:
        """Output channels of this block, in units of the cell's filter count."""
        return 2 if self.combine == "concat" else 1


@dataclass(frozen=True)
class Cell:
    """B blocks plus the states that form the cell's output.

    ``concat`` is ``None`` for searched cells: the output is then the paper's
    rule, every block output that no block consumes. The published NASNet-A
    cells carry an explicit list (the released code's 6F / 4F outputs).
    """

    blocks: tuple[Block, ...]
    concat: tuple[int, ...] | None = None

    def check(self, cell_kind: str | None = None) -> None:
        if not isinstance(self.blocks, tuple) or not self.blocks:
            raise _fail(
                cell_kind, None, "blocks", f"expected a non-empty tuple of blocks, got {short_repr(self.blocks)}"
            )
        for index, block in enumerate(self.blocks):
            if not isinstance(block, Block):
                raise _fail(cell_kind, index, None, f"expected a Block, got {type(block).__name__}")
            block.check(index, cell_kind)
        if self.concat is not None:
            self._check_concat(cell_kind)

    def _check_concat(self, cell_kind: str | None) -> None:
        num_states = self.num_states
        if not isinstance(self.concat, tuple) or not self.concat:
            raise _fail(
                cell_kind, None, "concat", f"expected a non-empty list of state indices, got {short_repr(self.concat)}"
            )
        for position, state in enumerate(self.concat):
            if not _is_int(state):
                raise _fail(cell_kind, None, f"concat[{position}]", f"expected an integer, got {short_repr(state)}")
            if not 0 <= state < num_states:
                raise _fail(
                    cell_kind,
                    None,
                    f"concat[{position}]",
                    f"state index {short_repr(state)} is out of range 0..{num_states - 1}",
                )
        if len(set(self.concat)) != len(self.concat):
            raise _fail(cell_kind, None, "concat", f"state indices repeat: {short_repr(list(self.concat))}")

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_states(self) -> int:
        return NUM_INPUT_STATES + len(self.blocks)

    def consumed_states(self) -> set[int]:
        return {state for block in self.blocks for state in block.inputs}

    def output_states(self) -> tuple[int, ...]:
        """The states concatenated into the cell output, in order."""
        if self.concat is not None:
            return self.concat
        consumed = self.consumed_states()
        return tuple(NUM_INPUT_STATES + b for b in range(len(self.blocks)) if NUM_INPUT_STATES + b not in consumed)

    def state_width(self, state: int) -> int:
        """Channels of ``state`` in units of the cell's filter count."""
        if state < NUM_INPUT_STATES:
            return 1
        return self.blocks[state - NUM_INPUT_STATES].width

    def output_width(self) -> int:
        """Channels of the cell output in units of the cell's filter count."""
        return sum(self.state_width(state) for state in self.output_states())


@dataclass(frozen=True)
class Genotype:
    """A normal and a reduction cell: everything the controller decides."""

    normal: Cell
    reduction: Cell

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def trusted(cls, normal: Cell, reduction: Cell) -> Genotype:
        """Build without validation, for cells already known to be valid (hot paths only)."""
        genotype = object.__new__(cls)
        object.__setattr__(genotype, "normal", normal)
        object.__setattr__(genotype, "reduction", reduction)
        return genotype

    def check(self, num_blocks: int | None = None) -> None:
        """Raise `GenotypeError` unless valid (and, if given, of ``num_blocks`` blocks)."""
        for kind in CELL_KINDS:
            cell = getattr(self, kind)
            if not isinstance(cell, Cell):
                raise _fail(kind, None, None, f"expected a Cell, got {type(cell).__name__}")
            cell.check(kind)
            if num_blocks is not None and cell.num_blocks != num_blocks:
                raise _fail(kind, None, "blocks", f"expected {num_blocks} blocks, got {cell.num_blocks}")

    def cells(self) -> tuple[tuple[str, Cell], ...]:
        return (("normal", self.normal), ("reduction", self.reduction))
