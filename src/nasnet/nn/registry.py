"""Named model configurations, `create_model`, and the one lookup from an architecture spec to a model.

In the style of timm's registry: `MODELS` maps names to `ModelConfig`s and never imports the modules
that fill it. The published NASNet-A configurations register in `nasnet.nn.zoo`; a new model is a
``register_model("name", **fields)`` line in a module that ``nasnet.nn`` imports (in the package),
that ``--plugin`` names, or that an entry point in the ``nasnet.models`` group names (an entry
point may also name a `ModelConfig` object).

`resolve_architecture` is the single place where a string (a model name, a zoo genotype name, a
genotype JSON path) or an object becomes a genotype and, for a named model, its configuration;
the trainer, the command line and the builders below all go through it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import short_repr
from nasnet.nn.network import ModelConfig, ModelConfigError, NASNet
from nasnet.registry import Registry
from nasnet.space.genotype import Genotype, GenotypeError
from nasnet.space.sizing import CHILD_SIZE, ModelSize
from nasnet.space.zoo import find_genotype, list_genotypes

MODELS: Registry[ModelConfig] = Registry("model", "nasnet.models", ModelConfigError)


def register_model(name: str, **fields: Any) -> ModelConfig:
    """Register the `ModelConfig` made of ``fields`` as ``name`` (checked now, not at first use).

    ``genotype`` may be a `Genotype` or anything `resolve_architecture` reads (a zoo name, a JSON path).
    """
    if "genotype" in fields and not isinstance(fields["genotype"], Genotype):
        fields = {**fields, "genotype": resolve_architecture(fields["genotype"]).genotype}
    config = ModelConfig(**fields)
    return MODELS.register(name, config)


def list_models() -> list[str]:
    return MODELS.names()


def is_model_name(name: object) -> bool:
    return isinstance(name, str) and name in MODELS


def _apply_overrides(config: ModelConfig, overrides: dict[str, Any]) -> ModelConfig:
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    overrides = dict(overrides)
    filters = overrides.pop("filters", None)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ModelConfigError(f"unknown model option(s) {unknown}; allowed: {sorted(fields | {'filters'})}")
    if "genotype" in overrides:
        overrides["genotype"] = resolve_architecture(overrides["genotype"]).genotype
    if filters is not None and "base_filters" in overrides:
        raise ModelConfigError("give either 'filters' (F) or 'base_filters' (C), not both")
    config = dataclasses.replace(config, **overrides)
    return config.with_filters(filters) if filters is not None else config


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The configuration registered as ``name``, with ``overrides`` applied.

    ``filters=F`` sets the paper's penultimate width instead of ``base_filters``.
    """
    return _apply_overrides(MODELS.get(name), overrides)


@dataclass(frozen=True)
class Preprocessing:
    """How a model's inputs are prepared: resize to ``input_size / crop_fraction``, centre-crop, normalize.

    The published NASNet-A weights take RGB in [0, 1] normalized to [-1, 1] (mean = std = 0.5).
    """

    input_size: int
    crop_fraction: float
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"

    @property
    def resize_size(self) -> int:
        return int(self.input_size / self.crop_fraction)  # timm floors: 256 for Mobile, 363 for Large

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Mobile: TF-slim's and Cadene's 224 of 256 (0.875); Large: timm's default_cfg for nasnetalarge (0.911).
PREPROCESSING: dict[str, Preprocessing] = {
    "nasnet_a_mobile": Preprocessing(224, 0.875),
    "nasnet_a_large": Preprocessing(331, 0.911),
}


def model_preprocessing(name: str) -> Preprocessing | None:
    """The input preprocessing of the published weights for model ``name``; ``None`` where none are published."""
    return PREPROCESSING.get(name)


def create_model(name: str, pretrained: str | os.PathLike[str] | None = None, **overrides: Any) -> NASNet:
    """Build the model registered as ``name``, e.g. ``create_model("nasnet_a_mobile", aux_head=False)``.

    ``pretrained`` is a weights file in any layout ``nasnet.nn.weights`` reads (Keras ``.h5``, timm or
    Cadene ``.pth``/``.safetensors``, a nasnet ``.safetensors``); the model is then built with the
    padding the weights were trained with and without the aux head the files lack. The model's
    ``preprocessing`` attribute says how to prepare its inputs.
    """
    if pretrained is None:
        model = NASNet(model_config(name, **overrides))
    else:
        from nasnet.nn.weights import convert_weights, load_pretrained

        converted = convert_weights(pretrained, model=name)
        model = load_pretrained(NASNet(model_config(name, **{**converted.config_overrides(), **overrides})), converted)
    model.preprocessing = model_preprocessing(name)  # type: ignore[assignment]
    return model


def genotype_config(
    genotype: Genotype | str | os.PathLike[str],
    skeleton: str = "cifar",
    cells_per_stack: int | None = None,
    filters: int | None = None,
    base_filters: int | None = None,
    *,
    default_size: ModelSize = CHILD_SIZE,
    **options: Any,
) -> ModelConfig:
    """A configuration for any genotype, sized by N and either F or C.

    ``genotype`` is anything `resolve_architecture` takes (a named model gives its genotype). N and C
    not given come from ``default_size``, a search child's size unless the caller says otherwise.
    The other ``options`` are `ModelConfig` fields. ImageNet skeletons default to 224 px, 1000
    classes and a stem multiplier of 1, as NASNet-A Mobile.
    """
    base: dict[str, Any] = {
        "genotype": resolve_architecture(genotype).genotype,
        "skeleton": skeleton,
        "cells_per_stack": default_size.cells_per_stack if cells_per_stack is None else cells_per_stack,
    }
    if skeleton == "imagenet":
        base.update(image_size=224, num_classes=1000, stem_multiplier=1.0, bn_eps=1e-3)
    if base_filters is None and filters is None:
        base_filters = default_size.base_filters
    if base_filters is not None:
        options["base_filters"] = base_filters
    if filters is not None:
        options["filters"] = filters
    return _apply_overrides(ModelConfig(**base), options)


def build_model(genotype: Genotype | str | os.PathLike[str], **kwargs: Any) -> NASNet:
    """Build a network for any genotype; see `genotype_config` for the options."""
    return NASNet(genotype_config(genotype, **kwargs))


@dataclass(frozen=True)
class Architecture:
    """What an architecture spec names: a genotype and, where the spec brings one, its configuration.

    ``config`` is a named model's registered configuration or the `ModelConfig` given, and ``None``
    for a bare genotype, which the caller sizes (`configure`). ``label`` names the architecture in
    reports (the model or zoo name, the name a genotype file records, else the path); ``meta`` is a
    genotype file's provenance.
    """

    genotype: Genotype
    model: str | None = None
    config: ModelConfig | None = None
    label: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def configure(self, default_size: ModelSize = CHILD_SIZE, **options: Any) -> ModelConfig:
        """A `ModelConfig`: the spec's own with ``options`` applied, or the genotype sized by them.

        ``options`` are `ModelConfig` fields, ``filters`` (F) and, for a genotype, ``skeleton``;
        a genotype's N and C that ``options`` leave out come from ``default_size``.
        """
        if self.config is not None:
            return _apply_overrides(self.config, options)
        return genotype_config(self.genotype, default_size=default_size, **options)


def resolve_architecture(spec: object) -> Architecture:
    """The architecture ``spec`` names. The one lookup order, first match wins:

    1. an `Architecture`, a `ModelConfig` or a `Genotype` object: itself;
    2. a registered model name (`list_models`): the model's genotype and configuration;
    3. a zoo genotype name (``nasnet.space.list_genotypes``): that genotype;
    4. a path to an existing genotype JSON file: the genotype it holds, with its name and meta.

    Anything else is a `GenotypeError` that lists the known names.
    """
    if isinstance(spec, Architecture):
        return spec
    if isinstance(spec, ModelConfig):
        return Architecture(spec.genotype, config=spec)
    if isinstance(spec, Genotype):
        return Architecture(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise GenotypeError(
            f"expected a Genotype, a ModelConfig, a model or genotype name or a JSON path, got {type(spec).__name__}"
        )
    text = os.fspath(spec)
    if is_model_name(text):
        config = model_config(text)
        return Architecture(config.genotype, model=text, config=config, label=text)
    record = find_genotype(text)
    if record is None:
        raise GenotypeError(
            f"{short_repr(text)} is neither a known genotype ({', '.join(list_genotypes())}), "
            f"a model ({', '.join(list_models())}) nor an existing genotype JSON file"
        )
    return Architecture(record.genotype, label=record.name or text, meta=record.meta)
