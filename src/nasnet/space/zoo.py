"""Published cells (the paper's Figure 4 and Appendix B), as plain genotypes.

NASNet-A carries the released code's explicit output lists: the normal cell
concatenates h_{i-1} and all five blocks (6F), the reduction cell blocks 1-4
(4F). These are what reproduce the published parameter counts.
"""

from __future__ import annotations

import os
from pathlib import Path

from nasnet.space.genotype import Block, Cell, Genotype, GenotypeError
from nasnet.space.serialization import GenotypeRecord, load_genotype_record

NASNET_A = Genotype(
    normal=Cell(
        blocks=(
            Block((0, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((1, 1), ("sep_conv_5x5", "sep_conv_3x3")),
            Block((0, 1), ("avg_pool_3x3", "identity")),
            Block((1, 1), ("avg_pool_3x3", "avg_pool_3x3")),
            Block((0, 0), ("sep_conv_3x3", "identity")),
        ),
        concat=(1, 2, 3, 4, 5, 6),
    ),
    reduction=Cell(
        blocks=(
            Block((0, 1), ("sep_conv_5x5", "sep_conv_7x7")),
            Block((0, 1), ("max_pool_3x3", "sep_conv_7x7")),
            Block((0, 1), ("avg_pool_3x3", "sep_conv_5x5")),
            Block((3, 2), ("identity", "avg_pool_3x3")),
            Block((2, 0), ("sep_conv_3x3", "max_pool_3x3")),
        ),
        concat=(3, 4, 5, 6),
    ),
)

GENOTYPES: dict[str, Genotype] = {"nasnet_a": NASNET_A}


def list_genotypes() -> list[str]:
    return sorted(GENOTYPES)


def find_genotype(spec: str | os.PathLike[str]) -> GenotypeRecord | None:
    """The genotype that a zoo name or a genotype JSON path names, in that order; ``None`` for neither.

    A path that exists but holds no valid genotype is a `GenotypeError` saying what is wrong with it.
    These are the genotype steps of ``nasnet.nn.resolve_architecture``, which tries model names first.
    """
    text = os.fspath(spec)
    if text in GENOTYPES:
        return GenotypeRecord(GENOTYPES[text], name=text)
    path = Path(text)
    if path.exists():
        return load_genotype_record(path, num_blocks=None)
    return None


def resolve_genotype(spec: object) -> Genotype:
    """A genotype from a `Genotype`, a zoo name or a genotype JSON path (see `find_genotype`).

    For a string that may also name a model, use ``nasnet.nn.resolve_architecture``.
    """
    if isinstance(spec, Genotype):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise GenotypeError(f"expected a Genotype, a genotype name or a JSON path, got {type(spec).__name__}")
    record = find_genotype(spec)
    if record is None:
        raise GenotypeError(
            f"{os.fspath(spec)!r} is neither a known genotype ({', '.join(list_genotypes())}) nor an existing JSON file"
        )
    return record.genotype
