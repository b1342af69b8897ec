"""The search space as the controller sees it: a flat sequence of decisions.

Each cell is 5 decisions per block, in the paper's order (Section 3 and Figure 3):
input 1, input 2, op 1, op 2, combine. The normal cell comes first, then the
reduction cell, so B=5 gives 2 x 5B = 50 decisions. At block ``b`` the input
decisions have ``2 + b`` choices, the op decisions one per op, and the combine
decision one per combine method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nasnet.space.genotype import (
    CELL_KINDS,
    DEFAULT_NUM_BLOCKS,
    NUM_INPUT_STATES,
    Block,
    Cell,
    Genotype,
    GenotypeError,
)
from nasnet.space.ops import COMBINES, OPS, is_op, op_names

DECISIONS_PER_BLOCK = 5
DECISION_FIELDS = ("input_1", "input_2", "op_1", "op_2", "combine")


def _as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class SearchSpace:
    """The NASNet cell space: B blocks, an op vocabulary and combine methods.

    The defaults are the paper's: B=5, its 13 ops, add or concat. Any
    registered ops may be chosen instead (a subset narrows the space; a
    plug-in op, e.g. ``ops=OPS + ("my_op",)``, widens it); decisions then
    index into the ops as given.
    """

    num_blocks: int = DEFAULT_NUM_BLOCKS
    ops: tuple[str, ...] = OPS
    combines: tuple[str, ...] = COMBINES
    _choice_counts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.num_blocks, int) or self.num_blocks < 1:
            raise GenotypeError(
                f"search space field 'num_blocks': expected a positive integer, got {self.num_blocks!r}"
            )
        for name, chosen in (("ops", self.ops), ("combines", self.combines)):
            if not chosen:
                raise GenotypeError(f"search space field '{name}': must not be empty")
            # Op names are checked one by one: listing every registered op would load the plug-ins' entry points.
            unknown = [x for x in chosen if not (is_op(x) if name == "ops" else x in COMBINES)]
            if unknown:
                allowed = op_names() if name == "ops" else COMBINES
                raise GenotypeError(f"search space field '{name}': unknown {unknown}; allowed: {', '.join(allowed)}")
            if len(set(chosen)) != len(chosen):
                raise GenotypeError(f"search space field '{name}': entries repeat: {list(chosen)}")
        counts = []
        for _kind in CELL_KINDS:
            for b in range(self.num_blocks):
                states = NUM_INPUT_STATES + b
                counts += [states, states, len(self.ops), len(self.ops), len(self.combines)]
        object.__setattr__(self, "_choice_counts", tuple(counts))

    @property
    def num_decisions(self) -> int:
        return len(self._choice_counts)

    def choice_counts(self) -> tuple[int, ...]:
        """The number of choices at each decision step."""
        return self._choice_counts

    def decision_names(self) -> tuple[str, ...]:
        """A name per decision, such as ``normal.block2.op_1``."""
        return tuple(
            f"{kind}.block{b}.{name}" for kind in CELL_KINDS for b in range(self.num_blocks) for name in DECISION_FIELDS
        )

    def cell_size(self) -> int:
        """Decision sequences per cell (ordered, so equivalent encodings count twice)."""
        return math.prod(self._choice_counts[: self.num_decisions // 2])

    def size(self) -> int:
        """Decision sequences for a normal + reduction pair."""
        return self.cell_size() ** 2

    def check_decisions(self, decisions: Sequence[int]) -> list[int]:
        """Return ``decisions`` as a list of ints, or raise naming the bad step."""
        if isinstance(decisions, (str, bytes)) or not isinstance(decisions, Sequence):
            raise GenotypeError(f"decisions: expected a sequence of integers, got {type(decisions).__name__}")
        if len(decisions) != self.num_decisions:
            raise GenotypeError(
                f"decisions: expected {self.num_decisions} decisions "
                f"(2 cells x {self.num_blocks} blocks x {DECISIONS_PER_BLOCK}), got {len(decisions)}"
            )
        if all(type(v) is int and 0 <= v < c for v, c in zip(decisions, self._choice_counts, strict=True)):
            return list(decisions)  # the common case, checked in one pass
        names = self.decision_names()
        out = []
        for step, (value, count) in enumerate(zip(decisions, self._choice_counts, strict=True)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise GenotypeError(f"decision {step} ({names[step]}): expected an integer, got {value!r}")
            if not 0 <= int(value) < count:
                raise GenotypeError(f"decision {step} ({names[step]}): {value} is out of range 0..{count - 1}")
            out.append(int(value))
        return out

    def from_decisions(self, decisions: Sequence[int]) -> Genotype:
        """Build the genotype that a flat decision sequence describes."""
        values = self.check_decisions(decisions)
        per_cell = self.num_blocks * DECISIONS_PER_BLOCK
        cells = []
        for c in range(len(CELL_KINDS)):
            chunk = values[c * per_cell : (c + 1) * per_cell]
            blocks = []
            for b in range(self.num_blocks):
                in1, in2, op1, op2, comb = chunk[b * DECISIONS_PER_BLOCK : (b + 1) * DECISIONS_PER_BLOCK]
                blocks.append(Block((in1, in2), (self.ops[op1], self.ops[op2]), self.combines[comb]))
            cells.append(Cell(tuple(blocks)))
        # Every decision was range-checked above, so the cells are valid by construction.
        return Genotype.trusted(cells[0], cells[1])

    def to_decisions(self, genotype: Genotype) -> list[int]:
        """The decision sequence for ``genotype``; the exact inverse of `from_decisions`."""
        genotype.check(num_blocks=self.num_blocks)
        decisions: list[int] = []
        for kind, cell in genotype.cells():
            if cell.concat is not None and tuple(cell.concat) != Cell(cell.blocks).output_states():
                raise GenotypeError(
                    f"{kind} cell, field 'concat': an explicit output list {list(cell.concat)} "
                    "cannot be expressed as controller decisions (the controller's cells "
                    "concatenate every unconsumed block output)"
                )
            for b, block in enumerate(cell.blocks):
                for side in range(2):
                    if block.ops[side] not in self.ops:
                        raise GenotypeError(
                            f"{kind} cell, block {b}, field 'ops[{side}]': op {block.ops[side]!r} "
                            f"is not in this search space ({', '.join(self.ops)})"
                        )
                if block.combine not in self.combines:
                    raise GenotypeError(
                        f"{kind} cell, block {b}, field 'combine': {block.combine!r} "
                        f"is not in this search space ({', '.join(self.combines)})"
                    )
                decisions += [
                    block.inputs[0],
                    block.inputs[1],
                    self.ops.index(block.ops[0]),
                    self.ops.index(block.ops[1]),
                    self.combines.index(block.combine),
                ]
        return decisions

    def sample_decisions(self, seed: int | np.random.Generator | None = None) -> list[int]:
        """Uniformly random decisions: each step independent and uniform."""
        rng = _as_generator(seed)
        return [int(rng.integers(count)) for count in self._choice_counts]

    def sample(self, seed: int | np.random.Generator | None = None) -> Genotype:
        """A uniformly random genotype (uniform over decision sequences)."""
        return self.from_decisions(self.sample_decisions(seed))


DEFAULT_SPACE = SearchSpace()


def to_decisions(genotype: Genotype, space: SearchSpace = DEFAULT_SPACE) -> list[int]:
    return space.to_decisions(genotype)


def from_decisions(decisions: Sequence[int], space: SearchSpace = DEFAULT_SPACE) -> Genotype:
    return space.from_decisions(decisions)
