"""Final model files (``model.pt``): weights, model config, normalisation and class names, loaded weights-only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasnet.nn.network import ModelConfig, NASNet
from nasnet.train.checkpoint import CHECKPOINT_VERSION, MODEL_FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from nasnet.train.config import TrainConfig
from nasnet.train.loader import DeviceData
from nasnet.train.result import TrainResult

MODEL_FILE = "model.pt"


def save_model(
    path: Path,
    model: nn.Module,
    model_config: ModelConfig | None,
    data: DeviceData,
    config: TrainConfig,
    result: TrainResult | None = None,
) -> Path:
    """A self-describing model file: weights, model config, normalization and class names."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint(
        path,
        {
            "format": MODEL_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_config": model_config.to_dict() if model_config is not None else None,
            "state_dict": state,
            "mean": data.mean.tolist(),
            "std": data.std.tolist(),
            "classes": list(data.classes),
            "train_config": config.to_dict(),
            "result": result.to_dict() if result is not None else None,
        },
    )


@dataclass
class LoadedModel:
    model: NASNet
    mean: list[float]
    std: list[float]
    classes: list[str]
    payload: dict[str, Any]


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> LoadedModel:
    """Load a ``model.pt`` written by `train` (weights only; nothing is executed)."""
    payload = load_checkpoint(path, MODEL_FORMAT)
    if payload.get("model_config") is None:
        raise CheckpointError(f"{path}: holds weights of a custom module, with no nasnet model config to rebuild it")
    config = ModelConfig.from_dict(payload["model_config"], source=f"{path}: model_config")
    model = NASNet(config)
    state = payload["state_dict"]
    state.pop("n_averaged", None)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the stored model config ({err})") from None
    model.to(device)
    return LoadedModel(model, payload["mean"], payload["std"], payload["classes"], payload)
