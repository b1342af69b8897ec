"""The NASNet operation vocabulary and combine methods, under stable names.

The order is the paper's (Section 3). It is part of the decision
encoding, so it must never change: a controller decision ``k`` for an op means
``OPS[k]``.
"""

from __future__ import annotations

OPS: tuple[str, ...] = (
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

COMBINES: tuple[str, ...] = ("add", "concat")

OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OPS)}
COMBINE_INDEX: dict[str, int] = {name: i for i, name in enumerate(COMBINES)}
