"""Whole-batch augmentation on the training device: no per-image Python loop.

Every function takes a batch ``[B, C, H, W]`` and a `torch.Generator` on the
batch's device, so runs are reproducible and resumable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and take a random crop of the original size from each image.

    The result is in channels-last memory order.
    """
    if pad == 0:
        return x
    batch, _, height, width = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (batch,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (batch,), device=x.device, generator=generator)
    rows = dy[:, None] + torch.arange(height, device=x.device)[None, :]
    cols = dx[:, None] + torch.arange(width, device=x.device)[None, :]
    index = torch.arange(batch, device=x.device)[:, None, None]
    # Advanced indexing yields [B, H, W, C]; permuting back gives channels-last memory.
    return padded[index, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size x size`` square (clipped at the borders) centred at a random pixel of each image."""
    if size == 0:
        return x
    batch, _, height, width = x.shape
    cy = torch.randint(0, height, (batch,), device=x.device, generator=generator)
    cx = torch.randint(0, width, (batch,), device=x.device, generator=generator)
    y0, x0 = cy - size // 2, cx - size // 2
    ys = torch.arange(height, device=x.device)[None, :]
    xs = torch.arange(width, device=x.device)[None, :]
    in_y = (ys >= y0[:, None]) & (ys < y0[:, None] + size)
    in_x = (xs >= x0[:, None]) & (xs < x0[:, None] + size)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None, :, :].to(x.dtype)


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels to standardized floats: ``(x / 255 - mean) / std`` per channel."""
    return (x.float().div_(255.0) - mean[None, :, None, None]) / std[None, :, None, None]
