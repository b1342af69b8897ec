"""Top-1 accuracy of a model on an array of the run's data, optionally with flip test-time augmentation."""

from __future__ import annotations

import torch
from torch import nn

from nasnet.train.loader import DeviceArray, DeviceData, eval_batches
from nasnet.train.step import autocast_for

# On the CPU larger evaluation batches were slower per image as well as bigger (a one-off probe of a
# search child at batches 64, 128 and 256); bench/worker_memory.py measures the whole worker at 64.
CPU_EVAL_BATCH = 64


@torch.no_grad()
def evaluate(
    model: nn.Module,
    array: DeviceArray,
    data: DeviceData,
    batch_size: int = 1000,
    channels_last: bool = True,
    precision: str = "auto",
    tta: bool = False,
) -> float:
    """Top-1 accuracy of ``model`` on ``array``; ``tta`` averages the logits of the image and its mirror."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    try:
        for x, y in eval_batches(array, data, batch_size, channels_last):
            with autocast_for(data.device, precision):
                logits = model(x).float()
                if tta:
                    logits = logits + model(x.flip(3)).float()
            correct += (logits.argmax(1) == y).sum()
    finally:
        model.train(was_training)
    return correct.item() / max(1, len(array))
