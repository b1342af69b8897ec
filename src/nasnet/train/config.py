"""Training configurations and the named recipe presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nasnet.errors import NasnetError
from nasnet.space.sizing import CHILD_SIZE, CIFAR_SIZE
from nasnet.validation import check_int, check_number


class TrainConfigError(NasnetError, ValueError):
    """A training configuration or preset is invalid; the message names the field."""


SCHEDULES = ("cosine", "triangle", "constant")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (a recipe), JSON-serializable.

    Model sizing fields (``skeleton``, ``cells_per_stack``, ``base_filters``,
    ``filters``) apply when a genotype is trained; a named model keeps its own
    sizing. Each preset states its size; a config built field by field
    starts from a search child's (``nasnet.space.CHILD_SIZE``).
    ``aux_weight > 0`` builds and trains the auxiliary head.
    ``cuda_graphs`` captures the training step once and replays it (CUDA
    only; see `nasnet.train.step`).
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    aux_weight: float = 0.0
    drop_path_keep_prob: float = 1.0
    dropout: float = 0.0
    ema_decay: float | None = None
    pad: int = 4
    flip: bool = True
    cutout: int = 0
    tta: bool = False
    skeleton: str = "auto"
    cells_per_stack: int = CHILD_SIZE.cells_per_stack
    base_filters: int | None = CHILD_SIZE.base_filters
    filters: int | None = None
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    cuda_graphs: bool = True
    recompute_activations: bool | None = None  # recompute cell activations in backward; None: no
    micro_batch: int | None = None  # accumulate gradients over chunks this big; None: CPU_MICRO_BATCH on the CPU only
    seed: int = 0
    eval_batch_size: int = 1000
    eval_every: int = 1
    train_subset: int | None = None
    val_subset: int | None = None
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "cells_per_stack", "eval_batch_size"):
            check_int(f"field '{name}'", getattr(self, name), 1, error=TrainConfigError)
        for name in ("eval_every", "checkpoint_every", "pad", "cutout"):
            check_int(f"field '{name}'", getattr(self, name), 0, error=TrainConfigError)
        for name in ("train_subset", "val_subset", "base_filters", "filters", "micro_batch"):
            if getattr(self, name) is not None:
                check_int(f"field '{name}' (or null)", getattr(self, name), 1, error=TrainConfigError)
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "aux_weight"):
            check_number(f"field '{name}'", getattr(self, name), low=0, error=TrainConfigError)
        if not 0 <= self.label_smoothing < 1:
            raise TrainConfigError(f"field 'label_smoothing': must be in [0, 1), got {self.label_smoothing!r}")
        if not 0 < self.drop_path_keep_prob <= 1:
            raise TrainConfigError(f"field 'drop_path_keep_prob': must be in (0, 1], got {self.drop_path_keep_prob!r}")
        if not 0 <= self.dropout < 1:
            raise TrainConfigError(f"field 'dropout': must be in [0, 1), got {self.dropout!r}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise TrainConfigError(f"field 'ema_decay': must be in (0, 1) or null, got {self.ema_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise TrainConfigError(f"field 'grad_clip': must be > 0 or null, got {self.grad_clip!r}")
        if self.recompute_activations not in (None, True, False):
            raise TrainConfigError(
                f"field 'recompute_activations': expected true, false or null, got {self.recompute_activations!r}"
            )
        if self.schedule not in SCHEDULES:
            raise TrainConfigError(f"field 'schedule': expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.precision not in PRECISIONS:
            raise TrainConfigError(f"field 'precision': expected one of {PRECISIONS}, got {self.precision!r}")
        if self.skeleton not in ("auto", "cifar", "imagenet"):
            raise TrainConfigError(f"field 'skeleton': expected auto, cifar or imagenet, got {self.skeleton!r}")
        if self.warmup_epochs > self.epochs:
            raise TrainConfigError(f"field 'warmup_epochs': {self.warmup_epochs} exceeds epochs {self.epochs}")

    def replace(self, **changes: Any) -> TrainConfig:
        return apply_overrides(self, changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], source: str = "train config") -> TrainConfig:
        if not isinstance(obj, dict):
            raise TrainConfigError(f"{source}: expected an object, got {type(obj).__name__}")
        try:
            return apply_overrides(cls(), obj)
        except TrainConfigError as err:
            raise TrainConfigError(f"{source}: {err}") from None


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TrainConfigError(f"unknown training option(s) {unknown}; allowed: {sorted(fields)}")
    if overrides.get("filters") is not None and "base_filters" not in overrides:
        overrides = {**overrides, "base_filters": None}
    if "epochs" in overrides and "warmup_epochs" not in overrides and config.warmup_epochs:
        # A recipe's warmup is a share of its schedule: fewer epochs, proportionally shorter warmup.
        epochs = overrides["epochs"]
        if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1:
            overrides = {**overrides, "warmup_epochs": config.warmup_epochs * epochs / config.epochs}
    return dataclasses.replace(config, **overrides)


# The paper's proxy task (the paper's Appendix A.1 and A.6): a search child (N=2), 20 epochs,
# single-period cosine, momentum 0.9, reward = final validation accuracy. The paper does not
# give the child's filters, batch or learning rate; these are our choices.
_SEARCH = TrainConfig(
    epochs=20,
    batch_size=128,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    **CHILD_SIZE.fields(),
    pad=4,
    flip=True,
    # Only the final validation accuracy is the reward; validating after every epoch costs a child 5-10%.
    eval_every=0,
)

PRESETS: dict[str, TrainConfig] = {
    "search": _SEARCH,
    # A faster proxy in the airbench style (Keller Jordan's airbench, 2024): large batches, Nesterov,
    # a short triangular schedule, label smoothing, 2-pixel translations, flip test-time augmentation.
    "search-fast": dataclasses.replace(
        _SEARCH,
        epochs=8,
        batch_size=512,
        lr=0.2,
        nesterov=True,
        schedule="triangle",
        warmup_epochs=1.6,
        label_smoothing=0.2,
        pad=2,
        tta=True,
        weight_decay=5e-4,
    ),
    # The released CIFAR-10 recipe (the paper's Section 4.1, as the released code trains it), for NASNet-A 6@768.
    "cifar10-paper": TrainConfig(
        epochs=600,
        batch_size=32,
        lr=0.025,
        momentum=0.9,
        weight_decay=5e-4,
        schedule="cosine",
        cutout=16,
        aux_weight=0.4,
        drop_path_keep_prob=0.6,
        grad_clip=5.0,
        **CIFAR_SIZE.fields(),
        eval_every=10,
        checkpoint_every=5,
    ),
    # A short modern final-training recipe: bigger batches, Nesterov, warmup + cosine, label smoothing,
    # cutout, aux head, drop path and a weight EMA.
    "cifar10-short": TrainConfig(
        epochs=60,
        batch_size=256,
        lr=0.2,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        schedule="cosine",
        warmup_epochs=2,
        label_smoothing=0.1,
        cutout=16,
        aux_weight=0.4,
        drop_path_keep_prob=0.8,
        grad_clip=5.0,
        ema_decay=0.999,
        tta=True,
        **CIFAR_SIZE.fields(),
        eval_every=5,
        checkpoint_every=5,
    ),
    # Tiny, for tests and smoke checks.
    "smoke": TrainConfig(
        epochs=1,
        batch_size=32,
        lr=0.05,
        cells_per_stack=1,
        base_filters=4,
        train_subset=256,
        val_subset=128,
        eval_batch_size=256,
    ),
}


def list_presets() -> list[str]:
    return list(PRESETS)


def get_preset(name: str, **overrides: Any) -> TrainConfig:
    if name not in PRESETS:
        raise TrainConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return apply_overrides(PRESETS[name], overrides)


def resolve_config(config: TrainConfig | str | dict[str, Any] | None, **overrides: Any) -> TrainConfig:
    """A `TrainConfig` from a preset name, a dict of fields, or a config."""
    if config is None:
        config = "search"
    if isinstance(config, str):
        return get_preset(config, **overrides)
    if isinstance(config, dict):
        return apply_overrides(TrainConfig.from_dict(config), overrides)
    if isinstance(config, TrainConfig):
        return apply_overrides(config, overrides)
    raise TrainConfigError(f"expected a preset name, a dict or a TrainConfig, got {type(config).__name__}")
