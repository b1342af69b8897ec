"""The NASNet operation vocabulary and combine methods, under stable names.

The order is the paper's (NASNET.md section 1.2). It is part of the decision
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

# Human-readable descriptions, used by `nasnet show` and the docs.
OP_DESCRIPTIONS: dict[str, str] = {
    "identity": "identity",
    "conv_1x3_3x1": "1x3 then 3x1 convolution",
    "conv_1x7_7x1": "1x7 then 7x1 convolution",
    "dil_conv_3x3": "3x3 dilated convolution (rate 2)",
    "avg_pool_3x3": "3x3 average pooling",
    "max_pool_3x3": "3x3 max pooling",
    "max_pool_5x5": "5x5 max pooling",
    "max_pool_7x7": "7x7 max pooling",
    "conv_1x1": "1x1 convolution",
    "conv_3x3": "3x3 convolution",
    "sep_conv_3x3": "3x3 depthwise-separable convolution (x2)",
    "sep_conv_5x5": "5x5 depthwise-separable convolution (x2)",
    "sep_conv_7x7": "7x7 depthwise-separable convolution (x2)",
}
