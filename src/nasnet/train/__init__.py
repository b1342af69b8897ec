"""Training: GPU-resident data, batch augmentation, recipes, checkpoints and the `train` entry point."""

from nasnet.train.checkpoint import CheckpointError
from nasnet.train.config import PRESETS, TrainConfig, TrainConfigError, get_preset, list_presets, resolve_config
from nasnet.train.loader import DeviceArray, DeviceData
from nasnet.train.trainer import (
    Callbacks,
    LoadedModel,
    TrainResult,
    default_device,
    evaluate,
    load_model,
    lr_at,
    prepare_data,
    train,
)

__all__ = [
    "PRESETS",
    "Callbacks",
    "CheckpointError",
    "DeviceArray",
    "DeviceData",
    "LoadedModel",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "default_device",
    "evaluate",
    "get_preset",
    "list_presets",
    "load_model",
    "lr_at",
    "prepare_data",
    "resolve_config",
    "train",
]
