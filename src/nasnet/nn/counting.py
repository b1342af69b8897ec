"""Parameter and multiply-add counts of built models.

Multiply-adds come from `torch.utils.flop_counter` (a FLOP is counted as 2 per
multiply-add for convolutions and matrix products, so mult-adds = FLOPs / 2).
Like the paper's figures, they cover convolutions and the classifier, not
BN, pooling or additions. Counting runs on PyTorch's "meta" device, so even
NASNet-A Large at 331 px costs no real compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nasnet.nn.network import ModelConfig, NASNet


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def meta_model(config: ModelConfig) -> NASNet:
    """``config`` built on the meta device: shapes and parameter counts, no memory."""
    with torch.device("meta"):
        return NASNet(config)


def count_mult_adds(config: ModelConfig, image_size: int | None = None) -> int:
    """Multiply-adds of one forward pass (eval mode, batch 1) at ``image_size``."""
    model = meta_model(config).eval()
    size = image_size or config.image_size
    x = torch.zeros(1, config.in_channels, size, size, device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class ModelInfo:
    params: int
    mult_adds: int
    filters: int
    base_filters: int
    image_size: int
    shapes: dict[str, tuple[int, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "mult_adds": self.mult_adds,
            "filters": self.filters,
            "base_filters": self.base_filters,
            "image_size": self.image_size,
            "shapes": {name: list(shape) for name, shape in self.shapes.items()},
        }


def model_info(config: ModelConfig) -> ModelInfo:
    """Parameters, multiply-adds and per-stage output shapes of ``config``."""
    model = meta_model(config)
    return ModelInfo(
        params=count_parameters(model),
        mult_adds=count_mult_adds(config),
        filters=config.filters,
        base_filters=config.base_filters,
        image_size=config.image_size,
        shapes=model.endpoint_shapes(),
    )
