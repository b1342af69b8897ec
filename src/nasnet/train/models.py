"""The network a run trains: a named model, a model config, a genotype sized by the config, or a module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nasnet.nn.network import ModelConfig, NASNet
from nasnet.nn.registry import resolve_architecture
from nasnet.space.genotype import Genotype
from nasnet.train.config import TrainConfig
from nasnet.train.loader import DeviceData


@dataclass(frozen=True)
class ResolvedModel:
    """A `ModelConfig` that `model_config_for` has already fitted to this run: `train` builds it as it is.

    A caller that needs the configuration before training (the search's evaluator counts each
    child's multiply-adds) resolves it once and hands it over in this wrapper, so that the trainer
    does not resolve it a second time. A bare `ModelConfig` is still fitted to the run's data and
    training config.
    """

    config: ModelConfig


def model_config_for(
    spec: Genotype | str | os.PathLike[str] | ModelConfig, config: TrainConfig, data: DeviceData
) -> ModelConfig:
    """The network to train, fitted to ``data`` and ``config``.

    ``spec`` is anything ``nasnet.nn.resolve_architecture`` takes, in its order. A named model or a
    `ModelConfig` keeps its own size; a genotype is sized by ``config``'s sizing fields.
    """
    common: dict[str, Any] = {
        "num_classes": data.num_classes,
        "image_size": data.image_size,
        "in_channels": data.in_channels,
        "aux_head": config.aux_weight > 0,
        "drop_path_keep_prob": config.drop_path_keep_prob,
        "dropout": config.dropout,
    }
    architecture = resolve_architecture(spec)
    if architecture.config is not None:
        return architecture.configure(**common)
    skeleton = config.skeleton if config.skeleton != "auto" else ("cifar" if data.image_size < 128 else "imagenet")
    sizing = {"filters": config.filters} if config.filters is not None else {"base_filters": config.base_filters}
    return architecture.configure(skeleton=skeleton, cells_per_stack=config.cells_per_stack, **sizing, **common)


def build_network(spec: Any, config: TrainConfig, data: DeviceData) -> tuple[nn.Module, ModelConfig | None]:
    """The module to train and its config (``None`` for a module that is not a `NASNet`)."""
    if isinstance(spec, nn.Module):
        return spec, spec.config if isinstance(spec, NASNet) else None
    model_config = spec.config if isinstance(spec, ResolvedModel) else model_config_for(spec, config, data)
    torch.manual_seed(config.seed)
    return NASNet(model_config), model_config
