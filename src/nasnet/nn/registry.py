"""Named model configurations and `create_model`, in the style of timm's registry.

The three published NASNet-A configurations follow TF-slim's ``cifar_config``,
``mobile_imagenet_config`` and ``large_imagenet_config`` (the released TF-slim ``nasnet.py``). BN
momentum is PyTorch's usual 0.1 for all three: slim's 0.9997 decay suits its
250k-step, 50-replica ImageNet runs, not training from scratch on one machine.
Override ``bn_momentum`` to change it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nasnet.nn.network import ModelConfig, ModelConfigError, NASNet
from nasnet.space.genotype import Genotype
from nasnet.space.zoo import NASNET_A, resolve_genotype

_REGISTRY: dict[str, dict[str, Any]] = {}


def register_model(name: str, **defaults: Any) -> None:
    """Register a named configuration. ``defaults`` are `ModelConfig` fields."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")
    ModelConfig(**defaults)  # fail at registration, not at first use
    _REGISTRY[name] = defaults


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def is_model_name(name: str) -> bool:
    return name in _REGISTRY


def _apply_overrides(config: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    overrides = dict(overrides)
    filters = overrides.pop("filters", None)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ModelConfigError(f"unknown model option(s) {unknown}; allowed: {sorted(fields | {'filters'})}")
    if "genotype" in overrides:
        overrides["genotype"] = resolve_genotype(overrides["genotype"])
    if filters is not None and "base_filters" in overrides:
        raise ModelConfigError("give either 'filters' (F) or 'base_filters' (C), not both")
    config = dataclasses.replace(config, **overrides)
    return config.with_filters(filters) if filters is not None else config


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The configuration registered as ``name``, with ``overrides`` applied.

    ``filters=F`` sets the paper's penultimate width instead of ``base_filters``.
    """
    if name not in _REGISTRY:
        raise ModelConfigError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return _apply_overrides(ModelConfig(**_REGISTRY[name]), overrides)


def create_model(name: str, **overrides: Any) -> NASNet:
    """Build the model registered as ``name``, e.g. ``create_model("nasnet_a_mobile", aux_head=False)``."""
    return NASNet(model_config(name, **overrides))


def genotype_config(
    genotype: Genotype | str,
    skeleton: str = "cifar",
    cells_per_stack: int = 2,
    filters: int | None = None,
    base_filters: int | None = None,
    **options: Any,
) -> ModelConfig:
    """A configuration for any genotype, sized by N and either F or C.

    The other ``options`` are `ModelConfig` fields. ImageNet skeletons default
    to 224 px, 1000 classes and a stem multiplier of 1, as NASNet-A Mobile.
    """
    base: dict[str, Any] = {
        "genotype": resolve_genotype(genotype),
        "skeleton": skeleton,
        "cells_per_stack": cells_per_stack,
    }
    if skeleton == "imagenet":
        base.update(image_size=224, num_classes=1000, stem_multiplier=1.0, bn_eps=1e-3)
    if base_filters is None and filters is None:
        base_filters = 16
    if base_filters is not None:
        options["base_filters"] = base_filters
    if filters is not None:
        options["filters"] = filters
    return _apply_overrides(ModelConfig(**base), options)


def build_model(genotype: Genotype | str, **kwargs: Any) -> NASNet:
    """Build a network for any genotype; see `genotype_config` for the options."""
    return NASNet(genotype_config(genotype, **kwargs))


register_model(
    "nasnet_a_cifar",
    genotype=NASNET_A,
    skeleton="cifar",
    cells_per_stack=6,
    base_filters=32,
    num_classes=10,
    image_size=32,
    stem_multiplier=3.0,
    drop_path_keep_prob=0.6,
    dropout=0.0,
    aux_head=True,
    bn_eps=1e-5,
)
register_model(
    "nasnet_a_mobile",
    genotype=NASNET_A,
    skeleton="imagenet",
    cells_per_stack=4,
    base_filters=44,
    num_classes=1000,
    image_size=224,
    stem_multiplier=1.0,
    drop_path_keep_prob=1.0,
    dropout=0.5,
    aux_head=True,
    bn_eps=1e-3,
)
register_model(
    "nasnet_a_large",
    genotype=NASNET_A,
    skeleton="imagenet",
    cells_per_stack=6,
    base_filters=168,
    num_classes=1000,
    image_size=331,
    stem_multiplier=3.0,
    skip_reduction=True,
    drop_path_keep_prob=0.7,
    dropout=0.5,
    aux_head=True,
    bn_eps=1e-3,
)
