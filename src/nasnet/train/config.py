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


SCHEDULES = ("cosine", "triangle", "constant", "exponential")
PRECISIONS = ("auto", "fp32", "bf16")
OPTIMIZERS = ("sgd", "rmsprop")
# The fields that a named model (or a given `ModelConfig`) also sets: its own values win over a preset's,
# and only a value the user chose explicitly (listed in ``model_overrides``) replaces them.
MODEL_FIELDS = ("aux_weight", "dropout", "drop_path_keep_prob")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run (a recipe), JSON-serializable.

    Model sizing fields (``skeleton``, ``cells_per_stack``, ``base_filters``,
    ``filters``) apply when a genotype is trained; a named model keeps its own
    sizing. Each preset states its size; a config built field by field
    starts from a search child's (``nasnet.space.CHILD_SIZE``).
    ``aux_weight > 0`` builds and trains the auxiliary head.

    A named model (or a given `ModelConfig`) keeps its own dropout, drop-path
    keep probability and auxiliary head: ``aux_weight``, ``dropout`` and
    ``drop_path_keep_prob`` replace them only when they are listed in
    ``model_overrides``, which every override (``replace``, ``get_preset``'s
    and ``train``'s keyword overrides, ``from_dict``, ``--set``) fills in by
    itself. The precedence is: explicit overrides > the named model's own
    values > the preset's. A model with its own auxiliary head trains it with
    the preset's ``aux_weight`` (0.4 where the preset has none).

    ``optimizer`` is ``sgd`` (``momentum``, ``nesterov``) or ``rmsprop`` in
    TensorFlow's form (``rmsprop_decay``, ``rmsprop_eps``, ``momentum``; see
    `nasnet.train.step.TFRMSprop`). The ``exponential`` schedule multiplies
    the rate by ``lr_decay`` every ``lr_decay_epochs`` (staircase).
    ``image_size`` resizes images when the data is loaded by name or path
    (``None``: as stored).
    ``cuda_graphs`` captures the training step once and replays it (CUDA
    only; see `nasnet.train.step`).
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    optimizer: str = "sgd"
    rmsprop_decay: float = 0.9
    rmsprop_eps: float = 1.0
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    lr_decay: float = 0.97
    lr_decay_epochs: float = 2.4
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
    image_size: int | None = None
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
    model_overrides: tuple[str, ...] = ()  # which of MODEL_FIELDS the user set: they replace a named model's own

    def __post_init__(self) -> None:
        overrides = self.model_overrides
        if isinstance(overrides, (list, tuple)) and all(isinstance(name, str) for name in overrides):
            # A JSON config holds a list; sorted and unique, so equal choices compare (and resume) equal.
            object.__setattr__(self, "model_overrides", tuple(sorted(set(overrides))))
        self.validate()

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "cells_per_stack", "eval_batch_size"):
            check_int(f"field '{name}'", getattr(self, name), 1, error=TrainConfigError)
        for name in ("eval_every", "checkpoint_every", "pad", "cutout"):
            check_int(f"field '{name}'", getattr(self, name), 0, error=TrainConfigError)
        for name in ("train_subset", "val_subset", "base_filters", "filters", "micro_batch", "image_size"):
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
        check_number("field 'rmsprop_decay'", self.rmsprop_decay, low=0, error=TrainConfigError)
        if not self.rmsprop_decay < 1:
            raise TrainConfigError(f"field 'rmsprop_decay': must be in [0, 1), got {self.rmsprop_decay!r}")
        for name in ("rmsprop_eps", "lr_decay_epochs"):
            check_number(f"field '{name}'", getattr(self, name), positive=True, error=TrainConfigError)
        check_number("field 'lr_decay'", self.lr_decay, positive=True, high=1, error=TrainConfigError)
        if self.optimizer not in OPTIMIZERS:
            raise TrainConfigError(f"field 'optimizer': expected one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer == "rmsprop" and self.nesterov:
            raise TrainConfigError("field 'nesterov': applies to optimizer 'sgd' only")
        if not isinstance(self.model_overrides, tuple) or not set(self.model_overrides) <= set(MODEL_FIELDS):
            raise TrainConfigError(
                f"field 'model_overrides': expected a list of {list(MODEL_FIELDS)}, got {self.model_overrides!r}"
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
        out = dataclasses.asdict(self)
        out["model_overrides"] = list(self.model_overrides)  # as JSON holds it, so that saved and new compare equal
        return out

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
    if "model_overrides" not in overrides:
        # Naming a field here is the explicit choice that outranks a named model's own value.
        chosen = set(config.model_overrides) | (set(overrides) & set(MODEL_FIELDS))
        if chosen != set(config.model_overrides):
            overrides = {**overrides, "model_overrides": tuple(sorted(chosen))}
    if overrides.get("filters") is not None and "base_filters" not in overrides:
        overrides = {**overrides, "base_filters": None}
    if overrides.get("base_filters") is not None and "filters" not in overrides and config.filters is not None:
        overrides = {**overrides, "filters": None}  # C given on a preset sized by F (the ImageNet ones): C wins
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

# One machine's share of the paper's ImageNet recipe. TF-slim's released NASNet runs trained 50 replicas
# with 32 images each at a learning rate of 0.04 per replica; one machine takes the per-replica rate and
# scales it linearly with its own batch (Goyal et al., 2017): 0.04 * batch / 32.
IMAGENET_LR_PER_32 = 0.04


def _imagenet(batch_size: int, **fields: Any) -> TrainConfig:
    """The paper's ImageNet recipe (Section 4.2; Appendix A): RMSProp (decay 0.9, momentum 0.9, eps 1.0),
    the rate decayed by 0.97 every 2.4 epochs, label smoothing 0.1, auxiliary loss weight 0.4, dropout 0.5
    and a weight EMA of 0.9999 for evaluation. ``fields`` hold what differs between Mobile and Large."""
    return TrainConfig(
        # Not in the paper: the 0.97 / 2.4 decay leaves 2% of the rate after 300 epochs, where recipes
        # of this form (MnasNet, EfficientNet: the same RMSProp and decay) stop.
        epochs=300,
        batch_size=batch_size,
        lr=IMAGENET_LR_PER_32 * batch_size / 32,
        optimizer="rmsprop",
        momentum=0.9,
        rmsprop_decay=0.9,
        rmsprop_eps=1.0,
        schedule="exponential",
        lr_decay=0.97,
        lr_decay_epochs=2.4,
        label_smoothing=0.1,
        aux_weight=0.4,
        dropout=0.5,
        ema_decay=0.9999,
        skeleton="imagenet",
        # Pad-and-crop is a CIFAR augmentation; Inception-style crops need the streaming ImageNet loader.
        pad=0,
        flip=True,
        eval_batch_size=250,
        eval_every=5,  # a 50,000-image validation pass every epoch would cost more than it tells
        checkpoint_every=1,  # an ImageNet epoch is hours: lose at most one
        **fields,
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
    # NASNet-A Mobile (4@1056, 224 px; the paper's Table 3: 74.0% top-1) and Large (6@4032, 331 px; Table 2:
    # 82.7% top-1); docs/imagenet.md. A named model keeps its own regularisation (see TrainConfig): the same values.
    "imagenet-mobile": _imagenet(
        256,
        weight_decay=4e-5,
        drop_path_keep_prob=1.0,
        image_size=224,
        cells_per_stack=4,
        base_filters=None,
        filters=1056,
    ),
    # 64 images of 331 px keep Large's activations within one 80 GB GPU.
    "imagenet-large": _imagenet(
        64,
        weight_decay=5e-5,
        drop_path_keep_prob=0.7,
        image_size=331,
        cells_per_stack=6,
        base_filters=None,
        filters=4032,
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
