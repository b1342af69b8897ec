"""Builders of the paper's 13 operations (Section 3 and Appendix A.4), registered like any plug-in op.

Their names, order and costs live in ``nasnet.space.ops``; each builder here registers under its
name without restating the cost, and passes the model's `Padding` to its module. See `nasnet.nn.ops`
for the modules and their conventions.
"""

from __future__ import annotations

from torch import nn

from nasnet.nn.ops import (
    SYMMETRIC,
    FactorizedConv,
    NormFactory,
    Padding,
    Pool,
    ReLUConvBN,
    StackedSeparableConv,
    register_op,
)


@register_op("identity")
def identity(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    # A true identity where it can be one; ReLU -> strided 1x1 conv -> BN where it must stride or change width.
    if stride > 1 or c_in != c_out:
        return ReLUConvBN(c_in, c_out, 1, stride=stride, norm=norm, padding=padding)
    return nn.Identity()


@register_op("conv_1x3_3x1")
def conv_1x3_3x1(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return FactorizedConv(c_in, c_out, 3, stride, norm, padding)


@register_op("conv_1x7_7x1")
def conv_1x7_7x1(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return FactorizedConv(c_in, c_out, 7, stride, norm, padding)


@register_op("dil_conv_3x3")
def dil_conv_3x3(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    # The paper gives no dilation rate; 2 is the usual one.
    return ReLUConvBN(c_in, c_out, 3, stride=stride, dilation=2, norm=norm, padding=padding)


@register_op("avg_pool_3x3")
def avg_pool_3x3(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return Pool("avg", c_in, c_out, 3, stride, norm, padding)


@register_op("max_pool_3x3")
def max_pool_3x3(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return Pool("max", c_in, c_out, 3, stride, norm, padding)


@register_op("max_pool_5x5")
def max_pool_5x5(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return Pool("max", c_in, c_out, 5, stride, norm, padding)


@register_op("max_pool_7x7")
def max_pool_7x7(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return Pool("max", c_in, c_out, 7, stride, norm, padding)


@register_op("conv_1x1")
def conv_1x1(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return ReLUConvBN(c_in, c_out, 1, stride=stride, norm=norm, padding=padding)


@register_op("conv_3x3")
def conv_3x3(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return ReLUConvBN(c_in, c_out, 3, stride=stride, norm=norm, padding=padding)


@register_op("sep_conv_3x3")
def sep_conv_3x3(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return StackedSeparableConv(c_in, c_out, 3, stride, norm, padding)


@register_op("sep_conv_5x5")
def sep_conv_5x5(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return StackedSeparableConv(c_in, c_out, 5, stride, norm, padding)


@register_op("sep_conv_7x7")
def sep_conv_7x7(c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = SYMMETRIC) -> nn.Module:
    return StackedSeparableConv(c_in, c_out, 7, stride, norm, padding)
