"""Canonical form and stable hash of a genotype.

Two encodings are equivalent when they describe the same cell graphs. Three
things vary between equivalent encodings, and the canonical form removes all:

* the operand order of a block (``add`` is commutative; ``concat`` only permutes
  channels, which every following layer absorbs);
* the order of blocks that do not depend on each other (block numbering);
* the order of an explicit output list (again a channel permutation).

Cells have at most a handful of blocks, so the canonical form is found exactly:
among all block orders that respect the data dependencies, the one whose
encoding is smallest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from nasnet.space.genotype import NUM_INPUT_STATES, Block, Cell, Genotype, GenotypeError
from nasnet.space.ops import COMBINE_INDEX, COMBINES, op_rank

_HASH_NAMESPACE = "nasnet-genotype-v1"

OpKey = tuple[int, str]  # `op_rank`: the paper's index, then the name; it decodes to the name
BlockKey = tuple[int, OpKey, int, OpKey, int]


def _topological_orders(cell: Cell) -> Iterator[list[int]]:
    deps = [{s - NUM_INPUT_STATES for s in block.inputs if s >= NUM_INPUT_STATES} for block in cell.blocks]
    n = len(deps)

    def extend(order: list[int], placed: set[int]) -> Iterator[list[int]]:
        if len(order) == n:
            yield list(order)
            return
        for b in range(n):
            if b not in placed and deps[b] <= placed:
                order.append(b)
                placed.add(b)
                yield from extend(order, placed)
                placed.discard(b)
                order.pop()

    yield from extend([], set())


def _encode(cell: Cell, order: list[int]) -> tuple[tuple[BlockKey, ...], tuple[int, ...] | None]:
    renumber = {i: i for i in range(NUM_INPUT_STATES)}
    for position, b in enumerate(order):
        renumber[NUM_INPUT_STATES + b] = NUM_INPUT_STATES + position
    keys = [_block_key(cell.blocks[b], renumber) for b in order]
    concat = None if cell.concat is None else tuple(sorted(renumber[s] for s in cell.concat))
    return tuple(keys), concat


def _decode(keys: tuple[BlockKey, ...], concat: tuple[int, ...] | None) -> Cell:
    blocks = tuple(Block((in1, in2), (op1[1], op2[1]), COMBINES[comb]) for in1, op1, in2, op2, comb in keys)
    return Cell(blocks, concat)


def _block_key(block: Block, renumber: dict[int, int]) -> BlockKey:
    left = (renumber[block.inputs[0]], op_rank(block.ops[0]))
    right = (renumber[block.inputs[1]], op_rank(block.ops[1]))
    if right < left:
        left, right = right, left
    return (left[0], left[1], right[0], right[1], COMBINE_INDEX[block.combine])


MAX_CANONICAL_STEPS = 20_000  # block placements; only cells of many identical blocks come near it


def _smallest_encodings(cell: Cell) -> Iterator[list[int]]:
    """Block orders whose encodings may be the smallest.

    A block's key depends only on blocks placed before it, so the smallest
    encoding places, at every position, a ready block of the smallest key.
    Only equal keys (identical blocks reading identical states) need branching,
    and not even those when no block reads them (they are interchangeable).
    The walk is iterative, so a cell of many chained blocks cannot exhaust the
    stack, and bounded, so a cell of many identical blocks cannot hang.
    """
    deps = [{s - NUM_INPUT_STATES for s in block.inputs if s >= NUM_INPUT_STATES} for block in cell.blocks]
    read = {s - NUM_INPUT_STATES for block in cell.blocks for s in block.inputs if s >= NUM_INPUT_STATES}
    in_concat = set(cell.concat or ())
    n = len(deps)
    order: list[int] = []
    renumber = {i: i for i in range(NUM_INPUT_STATES)}

    def candidates() -> list[int]:
        placed = set(order)
        ready = [b for b in range(n) if b not in placed and deps[b] <= placed]
        keys = {b: _block_key(cell.blocks[b], renumber) for b in ready}
        smallest = min(keys.values())
        tied = [b for b in ready if keys[b] == smallest]
        chosen, seen_unread = [], set()
        for b in tied:
            if b not in read:
                kind = (NUM_INPUT_STATES + b) in in_concat
                if kind in seen_unread:
                    continue  # an unread twin of a block already tried: the same encoding
                seen_unread.add(kind)
            chosen.append(b)
        return chosen

    def place(b: int) -> None:
        order.append(b)
        renumber[NUM_INPUT_STATES + b] = NUM_INPUT_STATES + len(order) - 1

    def unplace() -> None:
        del renumber[NUM_INPUT_STATES + order.pop()]

    frames = [candidates()]
    steps = 0
    while frames:
        if not frames[-1]:
            frames.pop()
            if order:
                unplace()
            continue
        place(frames[-1].pop())
        steps += 1
        if steps > MAX_CANONICAL_STEPS:
            raise GenotypeError(
                f"cell of {n} blocks: too many interchangeable identical blocks to put in canonical form"
            )
        if len(order) == n:
            yield list(order)
            unplace()
            continue
        frames.append(candidates())


def _encoding_key(encoding: tuple[tuple[BlockKey, ...], tuple[int, ...] | None]) -> tuple:
    return (encoding[0], encoding[1] or ())


def _canonical_encoding(cell: Cell, exhaustive: bool = False) -> tuple[tuple[BlockKey, ...], tuple[int, ...] | None]:
    if cell.concat is not None and tuple(sorted(cell.concat)) == Cell(cell.blocks).output_states():
        # An explicit list that equals the paper's rule is the same network.
        cell = Cell(cell.blocks)
    orders = _topological_orders(cell) if exhaustive else _smallest_encodings(cell)
    return min((_encode(cell, order) for order in orders), key=_encoding_key)


def canonical_cell(cell: Cell, exhaustive: bool = False) -> Cell:
    """The canonical encoding of ``cell``.

    ``exhaustive=True`` searches every dependency-respecting order (slow; the
    tests use it to check the fast search).
    """
    cell.check()
    return _decode(*_canonical_encoding(cell, exhaustive))


def canonical_genotype(genotype: Genotype) -> Genotype:
    """The canonical encoding of ``genotype``: equal for all equivalent encodings."""
    return Genotype(normal=canonical_cell(genotype.normal), reduction=canonical_cell(genotype.reduction))


def genotype_hash(genotype: Genotype) -> str:
    """A stable 16-hex-digit hash, equal for equivalent encodings.

    It depends only on the canonical form (with op and combine names, not
    indices), never on Python's hash seed, so it is the same across processes,
    machines and versions of this format.
    """
    parts: list[object] = [_HASH_NAMESPACE]
    for _, cell in genotype.cells():
        keys, concat = _canonical_encoding(cell)
        parts.append([[in1, op1[1], in2, op2[1], COMBINES[comb]] for in1, op1, in2, op2, comb in keys])
        parts.append(None if concat is None else list(concat))
    payload = json.dumps(parts, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def equivalent(a: Genotype, b: Genotype) -> bool:
    return canonical_genotype(a) == canonical_genotype(b)
