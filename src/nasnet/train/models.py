"""The network a run trains: a named model, a model config, a genotype sized by the config, or a module."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import nn

from nasnet.nn.network import ModelConfig, NASNet
from nasnet.nn.registry import create_model, genotype_config, is_model_name
from nasnet.space.genotype import Genotype
from nasnet.space.zoo import resolve_genotype
from nasnet.train.config import TrainConfig
from nasnet.train.loader import DeviceData


def model_config_for(
    spec: Genotype | str | os.PathLike[str] | ModelConfig, config: TrainConfig, data: DeviceData
) -> ModelConfig:
    """The network to train: a named model, a model config or a genotype sized by ``config``."""
    common: dict[str, Any] = {
        "num_classes": data.num_classes,
        "image_size": data.image_size,
        "in_channels": data.in_channels,
        "aux_head": config.aux_weight > 0,
        "drop_path_keep_prob": config.drop_path_keep_prob,
        "dropout": config.dropout,
    }
    if isinstance(spec, ModelConfig):
        return dataclasses.replace(spec, **common)
    if isinstance(spec, str) and is_model_name(spec):
        return create_model(spec, **common).config
    skeleton = config.skeleton if config.skeleton != "auto" else ("cifar" if data.image_size < 128 else "imagenet")
    sizing = {"filters": config.filters} if config.filters is not None else {"base_filters": config.base_filters}
    return genotype_config(
        resolve_genotype(spec), skeleton=skeleton, cells_per_stack=config.cells_per_stack, **sizing, **common
    )


def build_network(spec: Any, config: TrainConfig, data: DeviceData) -> tuple[nn.Module, ModelConfig | None]:
    if isinstance(spec, nn.Module):
        return spec, spec.config if isinstance(spec, NASNet) else None
    model_config = model_config_for(spec, config, data)
    torch.manual_seed(config.seed)
    return NASNet(model_config), model_config
