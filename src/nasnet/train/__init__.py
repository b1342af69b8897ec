"""Training: GPU-resident data, batch augmentation, recipes, checkpoints and the `train` entry point."""

from nasnet.train.checkpoint import CheckpointError
from nasnet.train.config import PRESETS, TrainConfig, TrainConfigError, get_preset, list_presets, resolve_config
from nasnet.train.evaluation import evaluate
from nasnet.train.inputs import default_device, prepare_data
from nasnet.train.loader import DeviceArray, DeviceData
from nasnet.train.model_file import MODEL_FILE, LoadedModel, load_model
from nasnet.train.models import ResolvedModel, model_config_for
from nasnet.train.result import RESULT_FILE, Callbacks, TrainResult
from nasnet.train.schedule import lr_at
from nasnet.train.trainer import METRICS_FILE, STATE_FILE, train

__all__ = [
    "METRICS_FILE",
    "MODEL_FILE",
    "PRESETS",
    "RESULT_FILE",
    "STATE_FILE",
    "Callbacks",
    "CheckpointError",
    "DeviceArray",
    "DeviceData",
    "LoadedModel",
    "ResolvedModel",
    "TrainConfig",
    "TrainConfigError",
    "TrainResult",
    "default_device",
    "evaluate",
    "get_preset",
    "list_presets",
    "load_model",
    "lr_at",
    "model_config_for",
    "prepare_data",
    "resolve_config",
    "train",
]
