"""The network a run trains: a named model, a model config, a genotype sized by the config, or a module."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nasnet.nn.network import AUX_POOL_SIZE, ModelConfig, NASNet
from nasnet.nn.registry import Architecture, resolve_architecture
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


# The auxiliary loss weight of the paper's CIFAR-10 and ImageNet training (Section 4 and Appendix A): a named
# model with its own auxiliary head trains it with this weight when the recipe gives none.
DEFAULT_AUX_WEIGHT = 0.4


def model_config_for(
    spec: Genotype | str | os.PathLike[str] | ModelConfig, config: TrainConfig, data: DeviceData
) -> ModelConfig:
    """The network to train, fitted to ``data`` and ``config``.

    ``spec`` is anything ``nasnet.nn.resolve_architecture`` takes, in its order. A named model or a
    `ModelConfig` keeps its own size and its own dropout, drop-path keep probability and auxiliary
    head, except those that ``config.model_overrides`` lists (explicit overrides > the model's own >
    the preset's); its auxiliary head is left out only where the images are too small for it. A
    genotype is sized by ``config``'s sizing fields and regularised by its fields.
    """
    data_fields: dict[str, Any] = {
        "num_classes": data.num_classes,
        "image_size": data.image_size,
        "in_channels": data.in_channels,
    }
    architecture = resolve_architecture(spec)
    if architecture.config is not None:
        return _named_model_config(architecture, config, data_fields)
    common = {
        **data_fields,
        "aux_head": config.aux_weight > 0,
        "drop_path_keep_prob": config.drop_path_keep_prob,
        "dropout": config.dropout,
    }
    skeleton = config.skeleton if config.skeleton != "auto" else ("cifar" if data.image_size < 128 else "imagenet")
    sizing = {"filters": config.filters} if config.filters is not None else {"base_filters": config.base_filters}
    return architecture.configure(skeleton=skeleton, cells_per_stack=config.cells_per_stack, **sizing, **common)


def _named_model_config(architecture: Architecture, config: TrainConfig, data_fields: dict[str, Any]) -> ModelConfig:
    own = architecture.config
    assert own is not None
    chosen = set(config.model_overrides)
    regularization = {
        "dropout": config.dropout if "dropout" in chosen else own.dropout,
        "drop_path_keep_prob": config.drop_path_keep_prob
        if "drop_path_keep_prob" in chosen
        else own.drop_path_keep_prob,
    }
    if "aux_weight" in chosen:
        return architecture.configure(**data_fields, **regularization, aux_head=config.aux_weight > 0)
    fitted = architecture.configure(**data_fields, **regularization, aux_head=False)
    if own.aux_head and fitted.aux_input_size() >= AUX_POOL_SIZE:
        # Only an explicit aux_weight may fail on small images; the model's own head just steps aside.
        fitted = dataclasses.replace(fitted, aux_head=True)
    return fitted


def has_own_regularization(spec: object) -> bool:
    """Whether ``spec`` brings its own configuration (a named model, a `ModelConfig`) that `model_config_for` keeps."""
    if isinstance(spec, (nn.Module, ResolvedModel)):
        return False
    return resolve_architecture(spec).config is not None


def train_config_for(spec: object, config: TrainConfig, model_config: ModelConfig | None) -> TrainConfig:
    """``config`` with the regularisation the network of ``spec`` really trains with written in.

    For a named model (or a `ModelConfig`) the fields it kept (`model_config_for`) replace the preset's
    in the run's record, and the weight of its own auxiliary head is the preset's ``aux_weight``, or
    `DEFAULT_AUX_WEIGHT` where the preset has none; without an auxiliary head it is 0. Other specs'
    configs come back unchanged.
    """
    if model_config is None or not has_own_regularization(spec):
        return config
    if "aux_weight" in config.model_overrides:
        aux_weight = config.aux_weight
    elif model_config.aux_head:
        aux_weight = config.aux_weight or DEFAULT_AUX_WEIGHT
    else:
        aux_weight = 0.0
    fitted = {
        "dropout": model_config.dropout,
        "drop_path_keep_prob": model_config.drop_path_keep_prob,
        "aux_weight": aux_weight,
    }
    changes = {k: v for k, v in fitted.items() if getattr(config, k) != v}
    # dataclasses.replace, not config.replace: these are the model's values, not the user's explicit choices.
    return dataclasses.replace(config, **changes) if changes else config


def build_network(spec: Any, config: TrainConfig, data: DeviceData) -> tuple[nn.Module, ModelConfig | None]:
    """The module to train and its config (``None`` for a module that is not a `NASNet`)."""
    if isinstance(spec, nn.Module):
        return spec, spec.config if isinstance(spec, NASNet) else None
    model_config = spec.config if isinstance(spec, ResolvedModel) else model_config_for(spec, config, data)
    torch.manual_seed(config.seed)
    return NASNet(model_config), model_config
