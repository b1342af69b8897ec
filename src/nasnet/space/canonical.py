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

from nasnet.space.genotype import NUM_INPUT_STATES, Block, Cell, Genotype
from nasnet.space.ops import COMBINE_INDEX, OP_INDEX

_HASH_NAMESPACE = "nasnet-genotype-v1"

BlockKey = tuple[int, int, int, int, int]


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
    keys = []
    for b in order:
        block = cell.blocks[b]
        operands = sorted((renumber[s], OP_INDEX[op]) for s, op in zip(block.inputs, block.ops, strict=True))
        (in1, op1), (in2, op2) = operands
        keys.append((in1, op1, in2, op2, COMBINE_INDEX[block.combine]))
    concat = None if cell.concat is None else tuple(sorted(renumber[s] for s in cell.concat))
    return tuple(keys), concat


def _decode(keys: tuple[BlockKey, ...], concat: tuple[int, ...] | None) -> Cell:
    from nasnet.space.ops import COMBINES, OPS

    blocks = tuple(Block((in1, in2), (OPS[op1], OPS[op2]), COMBINES[comb]) for in1, op1, in2, op2, comb in keys)
    return Cell(blocks, concat)


def canonical_cell(cell: Cell) -> Cell:
    """The canonical encoding of ``cell``."""
    cell.check()
    if cell.concat is not None and tuple(sorted(cell.concat)) == Cell(cell.blocks).output_states():
        # An explicit list that equals the paper's rule is the same network.
        cell = Cell(cell.blocks)
    best = min(
        (_encode(cell, order) for order in _topological_orders(cell)),
        key=lambda enc: (enc[0], enc[1] or ()),
    )
    return _decode(*best)


def canonical_genotype(genotype: Genotype) -> Genotype:
    """The canonical encoding of ``genotype``: equal for all equivalent encodings."""
    return Genotype(normal=canonical_cell(genotype.normal), reduction=canonical_cell(genotype.reduction))


def genotype_hash(genotype: Genotype) -> str:
    """A stable 16-hex-digit hash, equal for equivalent encodings.

    It depends only on the canonical form, never on Python's hash seed, so it
    is the same across processes, machines and versions of this format.
    """
    from nasnet.space.serialization import genotype_to_dict

    canonical = genotype_to_dict(canonical_genotype(genotype), include_header=False)
    payload = json.dumps([_HASH_NAMESPACE, canonical], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def equivalent(a: Genotype, b: Genotype) -> bool:
    return canonical_genotype(a) == canonical_genotype(b)
