"""Top-1 and top-5 accuracy of a model on an array of the run's data, optionally with flip test-time augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nasnet.train.loader import DeviceArray, DeviceData, eval_batches
from nasnet.train.step import autocast_for

# On the CPU larger evaluation batches were slower per image as well as bigger (a one-off probe of a
# search child at batches 64, 128 and 256); bench/worker_memory.py measures the whole worker at 64.
CPU_EVAL_BATCH = 64
TOP_K = 5  # the paper reports ImageNet top-1 and top-5 (Tables 2 and 3)


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-5 accuracy; ``top5`` is ``None`` where there are fewer than 5 classes (it would be 1)."""

    top1: float
    top5: float | None = None


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    array: DeviceArray,
    data: DeviceData,
    batch_size: int = 1000,
    channels_last: bool = True,
    precision: str = "auto",
    tta: bool = False,
) -> Accuracy:
    """Top-1 and top-5 accuracy of ``model`` on ``array``; ``tta`` averages the logits of the image and its mirror."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    correct_k = torch.zeros((), dtype=torch.long, device=data.device)
    with_top_k = data.num_classes >= TOP_K
    try:
        for x, y in eval_batches(array, data, batch_size, channels_last):
            with autocast_for(data.device, precision):
                logits = model(x).float()
                if tta:
                    logits = logits + model(x.flip(3)).float()
            correct += (logits.argmax(1) == y).sum()
            if with_top_k:
                correct_k += (logits.topk(TOP_K, dim=1).indices == y[:, None]).any(1).sum()
    finally:
        model.train(was_training)
    count = max(1, len(array))
    return Accuracy(correct.item() / count, correct_k.item() / count if with_top_k else None)


def evaluate(
    model: nn.Module,
    array: DeviceArray,
    data: DeviceData,
    batch_size: int = 1000,
    channels_last: bool = True,
    precision: str = "auto",
    tta: bool = False,
) -> float:
    """Top-1 accuracy of ``model`` on ``array`` (`evaluate_accuracy` gives top-5 as well)."""
    return evaluate_accuracy(model, array, data, batch_size, channels_last, precision, tta).top1
