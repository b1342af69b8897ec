"""Checkpoints: atomic writes, and loads that never unpickle arbitrary objects.

Everything in a checkpoint is tensors, numbers, strings, lists and dicts, so
`torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from nasnet.errors import NasnetError
from nasnet.fileio import atomic_write_bytes

TRAIN_STATE_FORMAT = "nasnet.train-state"
MODEL_FORMAT = "nasnet.model"
CHECKPOINT_VERSION = 1


class CheckpointError(NasnetError):
    """A checkpoint is missing, unreadable or of another format."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], expected_format: str, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such checkpoint")
    try:
        payload = torch.load(file, map_location=map_location, weights_only=True)
    except Exception as err:  # corrupt, truncated, or holding objects weights_only refuses
        raise CheckpointError(f"{file}: not a readable nasnet checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{file}: expected a {expected_format!r} checkpoint, found {found!r}")
    if payload.get("version") != CHECKPOINT_VERSION:
        version = payload.get("version")
        raise CheckpointError(
            f"{file}: unsupported checkpoint version {version!r} (this nasnet reads {CHECKPOINT_VERSION})"
        )
    return payload
