"""Activation recomputation: keep a module's input, recompute its inside in the backward pass.

A search child trained on the CPU keeps about 3 GB of activations at batch 128,
most of them inside the separable convolutions of the first stack. `NASNet`
recomputes each cell's inside during the backward pass (one more forward pass
of compute) and keeps only the cells' inputs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


@contextlib.contextmanager
def frozen_batchnorm_statistics(module: nn.Module) -> Iterator[None]:
    """BatchNorm layers keep normalizing with batch statistics but do not update their running ones."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


def recomputed(module: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``module(*inputs)``, with its activations recomputed in backward instead of kept.

    The recomputation replays the random number state (the same dropout and
    drop-path masks) and leaves BatchNorm's running statistics as the forward
    pass left them, so training is the same as without it.
    """
    return checkpoint(
        module,
        *inputs,
        use_reentrant=False,
        context_fn=lambda: (contextlib.nullcontext(), frozen_batchnorm_statistics(module)),
    )
