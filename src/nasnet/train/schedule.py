"""The learning-rate schedule and the weight EMA's decay schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from nasnet.train.config import TrainConfig


def lr_at(step: int, total_steps: int, config: TrainConfig, steps_in_epoch: int) -> float:
    """The learning rate at ``step``: linear warmup, then cosine, linear or staircase exponential decay.

    ``exponential`` is the paper's ImageNet schedule (Appendix A): the rate times ``lr_decay`` (0.97)
    after every ``lr_decay_epochs`` (2.4) epochs, in whole steps, as TF-slim's
    ``exponential_decay(..., staircase=True)`` with ``decay_steps = int(epochs_per_decay * steps_per_epoch)``.
    """
    warmup = min(round(config.warmup_epochs * steps_in_epoch), total_steps)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "exponential":
        return config.lr * config.lr_decay ** ((step - warmup) // decay_steps(config, steps_in_epoch))
    progress = (step - warmup) / max(1, total_steps - warmup)
    if config.schedule == "triangle":
        return config.lr * max(0.0, 1.0 - progress)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def ema_with_warmup(decay: float) -> Callable:
    """An EMA update whose decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates.

    With a fixed 0.999, a run of a few hundred steps would evaluate weights
    still weighted heavily towards the initialisation.
    """

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        effective = min(decay, (1.0 + n) / (10.0 + n))
        floating = [(e, p) for e, p in zip(ema_params, params, strict=True) if e.is_floating_point()]
        if floating:
            torch._foreach_lerp_([e for e, _ in floating], [p for _, p in floating], 1.0 - effective)
        for e, p in zip(ema_params, params, strict=True):
            if not e.is_floating_point():
                e.copy_(p)  # counters such as BatchNorm's num_batches_tracked

    return update


def decay_steps(config: TrainConfig, steps_in_epoch: int) -> int:
    """Steps between two decays of the ``exponential`` schedule (at least one)."""
    return max(1, int(config.lr_decay_epochs * steps_in_epoch))
