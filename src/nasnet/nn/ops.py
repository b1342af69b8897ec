"""The op builder registry and the modules NASNet's operations are made of (the paper's Section 3 and Appendix A.4).

`OPS` maps each op name to its builder ``(c_in, c_out, stride, norm, padding) -> nn.Module``, as
DARTS' ``OPS`` table does (a builder without a ``padding`` parameter still works for symmetric
models). `register_op` puts a builder there and the op's name and cost in the search
space's registry (``nasnet.space.OP_SPECS``) in one step, so that genotypes, search spaces, the
model builder and the synthetic evaluator all know the same ops. The paper's 13 register in
`nasnet.nn.paper_ops`; a new op is a module with ``@register_op("my_op", cost=...)`` on its
builder, imported by ``nasnet.nn`` (in the package), by ``--plugin`` or by an entry point in the
``nasnet.ops`` group.

Conventions of the paper's ops, all from the paper's appendix and the released TF-slim code:

* every convolution is ReLU -> conv -> BatchNorm, with no conv bias;
* separable convolutions are applied twice, with no BN or ReLU between the
  depthwise and pointwise parts, and the stride only on the first;
* padding is "same"; average pooling excludes the padding. Where "same" is asymmetric (a stride-2
  op on an even input), ``Padding("symmetric")`` pads ``k // 2`` on each side as most PyTorch
  ports do, and ``Padding("tf-same")`` pads as TensorFlow's SAME does (see `Padding`);
* a pooling op whose input width differs from the cell's adds 1x1 conv + BN;
* ``identity`` becomes ReLU -> strided 1x1 conv -> BN when it must stride or
  change the width, and is a true identity otherwise.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from nasnet.registry import Registry, RegistryError
from nasnet.space.ops import op_names, register_op_spec

NormFactory = Callable[[int], nn.Module]


def default_norm(channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels)


PADDINGS = ("symmetric", "tf-same")


@dataclass(frozen=True)
class Padding:
    """How ops pad: the model config's ``padding``, ``avg_pool_count_pad`` and ``max_pool_pad_zeros``.

    ``mode="symmetric"`` pads ``dilation * (k // 2)`` on each side. ``mode="tf-same"`` pads as
    TensorFlow's SAME: ``total = max((ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)``, with
    ``total // 2`` before and the rest after. The two differ only where ``total`` is odd, which for
    the odd kernels of the paper's ops means stride 2 on an even input: TF then pads 0 before and 1
    after (k = 3), moving the sampling grid by one pixel. Output sizes are the same in both modes.

    The pooling flags change only stride-2 pooling, where Keras' NASNet pads explicitly
    (``ZeroPadding2D`` then a VALID pool) and timm's NASNet-A Large pads with zeros in ``pad_same``:

    * ``avg_pool_count_pad``: padded positions count as zeros in the average (Keras and timm),
      instead of being left out of the count (TF's SAME average pooling);
    * ``max_pool_pad_zeros``: padded positions are zeros, so they win over negative inputs (Keras),
      instead of being ignored (TF's SAME max pooling, and timm's ``-inf`` padding).
    """

    mode: str = "symmetric"
    avg_pool_count_pad: bool = False
    max_pool_pad_zeros: bool = False

    def __post_init__(self) -> None:
        if self.mode not in PADDINGS:
            raise ValueError(f"padding: expected one of {PADDINGS}, got {self.mode!r}")

    @property
    def tf_same(self) -> bool:
        return self.mode == "tf-same"


SYMMETRIC = Padding()


def same_pads(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding ``(before, after)`` of one spatial dimension of ``size`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + (kernel_size - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def differs_from_symmetric(kernel_size: int | tuple[int, int], stride: int | tuple[int, int]) -> bool:
    """Whether TF SAME can pad asymmetrically here, for some input size (an even kernel, or a stride > 1)."""
    kernels = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    return any(k % 2 == 0 or s > 1 for k, s in zip(kernels, strides, strict=True))


def _same_pad_arg(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]):
    # F.pad takes (left, right, top, bottom): width first.
    top, bottom = same_pads(x.shape[-2], kernel[0], stride[0], dilation[0])
    left, right = same_pads(x.shape[-1], kernel[1], stride[1], dilation[1])
    return left, right, top, bottom


class Conv2dSame(nn.Conv2d):
    """A convolution with TensorFlow's SAME padding, computed from each input's size.

    A subclass rather than pad + conv in a Sequential, so that its state-dict keys are those of
    ``nn.Conv2d`` and weights move between "symmetric" and "tf-same" models unchanged.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["padding"] = 0
        super().__init__(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _same_pad_arg(x, self.kernel_size, self.stride, self.dilation)  # type: ignore[arg-type]
        return super().forward(F.pad(x, pad) if any(pad) else x)


def conv2d(
    c_in: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int = 1,
    groups: int = 1,
    padding: Padding = SYMMETRIC,
) -> nn.Conv2d:
    """A bias-free "same" convolution; a plain ``nn.Conv2d`` wherever TF SAME equals symmetric padding."""
    kernels = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    if padding.tf_same and differs_from_symmetric(kernel_size, stride):
        return Conv2dSame(c_in, c_out, kernel_size, stride=stride, dilation=dilation, groups=groups, bias=False)
    pads = tuple(dilation * (k // 2) for k in kernels)
    return nn.Conv2d(
        c_in, c_out, kernel_size, stride=stride, padding=pads, dilation=dilation, groups=groups, bias=False
    )


class _CatChannels(torch.autograd.Function):
    """``torch.cat(dim=1)`` whose backward hands each input a dense gradient.

    Plain ``cat`` gives each input a strided channel slice of the output's
    gradient. A BatchNorm whose gradient is such a slice leaves the fast
    channels-last kernels for a generic one: on an H100 that generic kernel
    was the largest single cost of a search child's step.
    """

    @staticmethod
    def forward(ctx, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.widths = [t.shape[1] for t in tensors]
        ctx.dtypes = [t.dtype for t in tensors]
        dtype = tensors[0].dtype
        for t in tensors[1:]:
            dtype = torch.promote_types(dtype, t.dtype)
        return torch.cat([t.to(dtype) for t in tensors], dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        channels_last = grad.dim() == 4 and grad.is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        parts = grad.split(ctx.widths, dim=1)
        return tuple(g.contiguous(memory_format=layout).to(dtype) for g, dtype in zip(parts, ctx.dtypes, strict=True))


def cat_channels(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along channels; each input's gradient comes back dense (see `_CatChannels`)."""
    if len(tensors) == 1:
        return tensors[0]
    if not torch.is_grad_enabled() or not any(t.requires_grad for t in tensors):
        return torch.cat(tensors, dim=1)
    return _CatChannels.apply(*tensors)


class ReLUConvBN(nn.Sequential):
    """ReLU -> k x k conv -> BN."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        norm: NormFactory = default_norm,
        padding: Padding = SYMMETRIC,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            conv2d(c_in, c_out, kernel_size, stride=stride, dilation=dilation, padding=padding),
            norm(c_out),
        )


class FactorizedConv(nn.Sequential):
    """ReLU -> 1 x k conv -> k x 1 conv -> BN (the factorized k x k convolution)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        norm: NormFactory = default_norm,
        padding: Padding = SYMMETRIC,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            conv2d(c_in, c_out, (1, kernel_size), stride=(1, stride), padding=padding),
            conv2d(c_out, c_out, (kernel_size, 1), stride=(stride, 1), padding=padding),
            norm(c_out),
        )


class SeparableConv(nn.Sequential):
    """Depthwise k x k conv followed by a pointwise 1 x 1 conv, no BN or ReLU between."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: Padding = SYMMETRIC) -> None:
        super().__init__(
            conv2d(c_in, c_in, kernel_size, stride=stride, groups=c_in, padding=padding),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )


class StackedSeparableConv(nn.Sequential):
    """(ReLU -> separable conv -> BN) x 2; the first maps the width and strides."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        norm: NormFactory = default_norm,
        padding: Padding = SYMMETRIC,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            SeparableConv(c_in, c_out, kernel_size, stride, padding),
            norm(c_out),
            nn.ReLU(inplace=False),
            SeparableConv(c_out, c_out, kernel_size, 1, padding),
            norm(c_out),
        )


# How a CUDA tensor in channels-last layout is average-pooled. PyTorch's channels-last
# average-pool kernels were the largest single cost of a search child's step on an H100
# (docs/performance.md); `bench/avg_pool.py` times the three ways on a GPU:
#   "native": nn.AvgPool2d;  "conv": a depthwise convolution with a fixed all-ones kernel, divided
#   by the count of real (unpadded) pixels;  "nchw": a round trip through the contiguous layout.
# Every way gives the same values; CPU tensors and contiguous CUDA tensors always take "native".
CUDA_CHANNELS_LAST_AVG_POOL = "native"
AVG_POOL_WAYS = ("native", "conv", "nchw")


class AvgPoolExcludingPad(nn.Module):
    """k x k average pooling with "same" padding that averages over real pixels only."""

    def __init__(self, kernel_size: int, stride: int):
        super().__init__()
        self.kernel_size, self.stride, self.pad = kernel_size, stride, kernel_size // 2
        self.native = nn.AvgPool2d(kernel_size, stride=stride, padding=self.pad, count_include_pad=False)
        # Per (channels, height, width, dtype, device): the all-ones kernel and 1 / pixel counts.
        # Not buffers: they are derived, and the state dict stays that of nn.AvgPool2d.
        self._conv_constants: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def way(self, x: torch.Tensor) -> str:
        if x.is_cuda and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            return CUDA_CHANNELS_LAST_AVG_POOL
        return "native"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        way = self.way(x)
        if way == "conv":
            return self._as_conv(x)
        if way == "nchw":
            return self.native(x.contiguous()).contiguous(memory_format=torch.channels_last)
        return self.native(x)

    def _as_conv(self, x: torch.Tensor) -> torch.Tensor:
        channels, height, width = x.shape[1:]
        key = (channels, height, width, x.dtype, x.device)
        if key not in self._conv_constants:
            k = self.kernel_size
            ones = torch.ones(channels, 1, k, k, dtype=x.dtype, device=x.device)
            plane = torch.ones(1, 1, height, width, dtype=torch.float32, device=x.device)
            counts = F.conv2d(plane, torch.ones(1, 1, k, k, device=x.device), stride=self.stride, padding=self.pad)
            self._conv_constants[key] = (ones, counts.reciprocal().to(x.dtype))
        ones, inverse_counts = self._conv_constants[key]
        summed = F.conv2d(x, ones, stride=self.stride, padding=self.pad, groups=channels)
        return summed * inverse_counts


class PaddedPool(nn.Module):
    """k x k pooling with explicit padding: the pooling of a `Padding` other than the default.

    The input is padded (TF SAME or symmetric, per ``padding.mode``) and pooled VALID. Max pooling
    pads with ``-inf`` so padding never wins, as TF's SAME max pooling, unless
    ``max_pool_pad_zeros`` (Keras' ``ZeroPadding2D``). Average pooling divides by the count of real
    pixels, as TF's SAME average pooling, unless ``avg_pool_count_pad`` (Keras and timm count the zeros).
    """

    def __init__(self, kind: str, kernel_size: int, stride: int, padding: Padding) -> None:
        super().__init__()
        if kind not in ("avg", "max"):
            raise ValueError(f"pooling kind must be 'avg' or 'max', got {kind!r}")
        self.kind, self.kernel_size, self.stride, self.mode = kind, kernel_size, stride, padding.mode
        strided = stride > 1
        self.count_pad = kind == "avg" and strided and padding.avg_pool_count_pad
        self.fill = 0.0 if kind == "avg" or (strided and padding.max_pool_pad_zeros) else -math.inf

    def _pad(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        if self.mode == "tf-same":
            k, s = (self.kernel_size,) * 2, (self.stride,) * 2
            return _same_pad_arg(x, k, s, (1, 1))
        return (self.kernel_size // 2,) * 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self._pad(x)
        padded = F.pad(x, pad, value=self.fill) if any(pad) else x
        if self.kind == "max":
            return F.max_pool2d(padded, self.kernel_size, self.stride)
        summed = F.avg_pool2d(padded, self.kernel_size, self.stride)
        if self.count_pad or not any(pad):
            return summed
        # Mean over real pixels only: rescale by (window size / real pixels in the window).
        ones = F.pad(torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype, device=x.device), pad)
        return summed / F.avg_pool2d(ones, self.kernel_size, self.stride)


class Pool(nn.Module):
    """k x k average or max pooling, "same" padding, then 1x1 conv + BN if the width must change."""

    def __init__(
        self,
        kind: str,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        norm: NormFactory = default_norm,
        padding: Padding = SYMMETRIC,
    ):
        super().__init__()
        pad = kernel_size // 2
        explicit = stride > 1 and (
            padding.tf_same
            or (kind == "avg" and padding.avg_pool_count_pad)
            or (kind == "max" and padding.max_pool_pad_zeros)
        )
        if explicit or (padding.tf_same and kernel_size % 2 == 0):
            self.pool: nn.Module = PaddedPool(kind, kernel_size, stride, padding)
        elif kind == "avg":
            self.pool = AvgPoolExcludingPad(kernel_size, stride)
        else:
            self.pool = nn.MaxPool2d(kernel_size, stride=stride, padding=pad)
        self.project: nn.Module | None = None
        if c_in != c_out:
            self.project = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), norm(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return x if self.project is None else self.project(x)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels (the released TF-slim ``factorized_reduction``).

    Two 1x1 convolutions on the even and the one-pixel-shifted odd grid,
    concatenated, then BN. With ``stride=1`` it is a 1x1 conv + BN. It takes no
    `Padding`: TF-slim and Keras (``_adjust_block``) both build it from VALID 1x1
    pools and a fixed pad-right-then-crop-left shift, which is what it does in
    every padding mode.
    ``relu`` puts a ReLU in front, as the released code does when it adjusts
    h_{i-1}, but not when it adjusts a state for the output concat.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 2, relu: bool = True, norm: NormFactory = default_norm):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"FactorizedReduce supports stride 1 or 2, got {stride}")
        self.stride = stride
        self.relu = nn.ReLU(inplace=False) if relu else nn.Identity()
        if stride == 1:
            self.conv_1 = nn.Conv2d(c_in, c_out, 1, bias=False)
            self.conv_2 = None
        else:
            self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
            self.conv_2 = nn.Conv2d(c_in, c_out // 2 + c_out % 2, 1, bias=False)
        self.bn = norm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        if self.conv_2 is None:
            return self.bn(self.conv_1(x))
        path_1 = self.conv_1(x[:, :, ::2, ::2])
        # Shift by one pixel: pad bottom/right with zeros, drop the first row/column.
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        path_2 = self.conv_2(shifted[:, :, ::2, ::2])
        return self.bn(cat_channels([path_1, path_2]))


class OpBuilder(Protocol):
    """Builds op modules: ``c_in`` channels in, ``c_out`` out, at ``stride`` (1, or 2 in a reduction cell).

    ``norm(channels)`` makes the network's BatchNorm layer (its eps and momentum come from the
    model config); an op that normalizes should use it. ``padding`` (a `Padding`, keyword) says how
    its convolutions and pools pad; a builder may leave it out, and then builds symmetric models only.
    """

    def __call__(self, c_in: int, c_out: int, stride: int, norm: NormFactory, padding: Padding = ...) -> nn.Module: ...


Builder = TypeVar("Builder", bound=OpBuilder)

OPS: Registry[OpBuilder] = Registry("op", "nasnet.ops")


def register_op(name: str, cost: float | None = None) -> Callable[[Builder], Builder]:
    """A decorator that registers an op builder as ``name``, with the op's ``cost`` for the search space.

    ``cost`` is the op's multiply-adds per output pixel in units of C^2 (``nasnet.space.OpSpec``);
    a new op needs one, while the paper's ops leave it out (their costs live in ``nasnet.space.ops``).
    Once registered, genotypes and ``SearchSpace(ops=...)`` accept the name, and models build it.
    """

    def decorator(builder: Builder) -> Builder:
        if not callable(builder):
            raise RegistryError(f"op {name!r}: register_op decorates a builder function, got {type(builder).__name__}")
        register_op_spec(name, cost)
        OPS.register(name, builder)
        return builder

    return decorator


def _takes_padding(builder: Callable) -> bool:
    try:
        parameters = inspect.signature(builder).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "padding" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def build_op(
    name: str, c_in: int, c_out: int, stride: int, norm: NormFactory = default_norm, padding: Padding = SYMMETRIC
) -> nn.Module:
    """The module for op ``name`` mapping ``c_in`` to ``c_out`` channels at ``stride``."""
    if name not in OPS:
        buildable = ", ".join(op for op in op_names() if op in OPS)
        raise RegistryError(f"unknown op {name!r}: no builder is registered for it; allowed: {buildable}")
    builder = OPS.get(name)
    if _takes_padding(builder):
        return builder(c_in, c_out, stride, norm, padding=padding)
    if padding != SYMMETRIC:
        # Building it anyway would silently pad symmetrically in a model that asked for otherwise.
        raise RegistryError(
            f"op {name!r}: its builder takes no 'padding' argument, so it cannot build with {padding}; "
            f"add a 'padding' parameter to it or use padding='symmetric'"
        )
    return builder(c_in, c_out, stride, norm)
