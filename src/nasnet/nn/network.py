"""CIFAR and ImageNet skeletons for any genotype (the paper's Figure 2 and Section 4).

Cell wiring follows TF-slim's ``_build_nasnet_base``: N normal cells per stack,
reduction cells before normal-cell indices N and 2N, filters doubling at each
reduction, the auxiliary head after normal cell 2N-1, and ScheduledDropPath
counted over every cell including the ImageNet stem cells.

``padding="tf-same"`` (with ``avg_pool_count_pad`` and ``max_pool_pad_zeros``) makes the ops pad
as TensorFlow's SAME / Keras' NASNet do (`nasnet.nn.ops.Padding`); the stem is the same in every
mode: TF-slim's and Keras' ImageNet stem is a 3x3 stride-2 VALID convolution (111 px from 224,
165 from 331), and the CIFAR stem's 3x3 stride-1 "same" convolution pads symmetrically in TF too.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasnet.errors import NasnetError, short_repr
from nasnet.nn.cell import CellModule
from nasnet.nn.ops import PADDINGS, Padding
from nasnet.nn.recompute import recomputed
from nasnet.space.genotype import Genotype
from nasnet.space.serialization import genotype_from_dict, genotype_to_dict
from nasnet.space.sizing import CIFAR_SIZE

SKELETONS = ("cifar", "imagenet")
AUX_POOL_SIZE = 5
AUX_POOL_STRIDE = 3


class ModelConfigError(NasnetError, ValueError):
    """A model configuration is invalid; the message names the field."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a network from a genotype.

    ``cells_per_stack`` is the paper's N; ``base_filters`` is C, the filter count
    of the first stack's cells. The paper's F (penultimate width) follows as
    ``4 * w * C``, where ``w`` is the normal cell's output width in units of C
    (6 for NASNet-A); `with_filters` sets C from F. Unless given, N and C are
    NASNet-A's CIFAR-10 size (``nasnet.space.CIFAR_SIZE``).

    ``padding`` is "symmetric" (``k // 2`` each side) or "tf-same" (TensorFlow's SAME, asymmetric at
    stride 2 on even inputs); ``avg_pool_count_pad`` and ``max_pool_pad_zeros`` make stride-2 pools
    count / pad zeros as Keras' NASNet does (see `nasnet.nn.ops.Padding`). Weights load into any
    combination: parameters do not depend on padding. ``features_only`` builds a backbone whose
    ``forward`` returns `NASNet.forward_features`' list, with no classifier, dropout or aux head.
    """

    genotype: Genotype
    skeleton: str = "cifar"
    cells_per_stack: int = CIFAR_SIZE.cells_per_stack
    base_filters: int = CIFAR_SIZE.base_filters
    num_classes: int = 10
    image_size: int = 32
    in_channels: int = 3
    stem_multiplier: float = 3.0
    skip_reduction: bool = False
    aux_head: bool = True
    dropout: float = 0.0
    drop_path_keep_prob: float = 1.0
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    padding: str = "symmetric"
    avg_pool_count_pad: bool = False
    max_pool_pad_zeros: bool = False
    features_only: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.genotype, Genotype):
            raise ModelConfigError(f"field 'genotype': expected a Genotype, got {type(self.genotype).__name__}")
        if self.skeleton not in SKELETONS:
            raise ModelConfigError(f"field 'skeleton': expected one of {SKELETONS}, got {self.skeleton!r}")
        for name in ("cells_per_stack", "base_filters", "num_classes", "image_size", "in_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelConfigError(f"field '{name}': expected a positive integer, got {value!r}")
        if not self.stem_multiplier > 0:
            raise ModelConfigError(f"field 'stem_multiplier': must be positive, got {self.stem_multiplier!r}")
        if self.padding not in PADDINGS:
            raise ModelConfigError(f"field 'padding': expected one of {PADDINGS}, got {short_repr(self.padding)}")
        for name in ("avg_pool_count_pad", "max_pool_pad_zeros", "features_only"):
            if not isinstance(getattr(self, name), bool):
                raise ModelConfigError(f"field '{name}': expected true or false, got {short_repr(getattr(self, name))}")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"field 'dropout': must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.drop_path_keep_prob <= 1.0:
            raise ModelConfigError(f"field 'drop_path_keep_prob': must be in (0, 1], got {self.drop_path_keep_prob!r}")
        if self.skeleton == "imagenet" and int(self.base_filters * 0.25) < 1:
            raise ModelConfigError(
                f"field 'base_filters': the ImageNet stem cells use C/4 filters, so C must be >= 4, "
                f"got {self.base_filters}"
            )
        if self.skeleton == "imagenet" and self.image_size < 3:
            raise ModelConfigError(
                f"field 'image_size': the ImageNet stem needs at least 3 pixels, got {self.image_size}"
            )
        if self.has_aux_head and self.aux_input_size() < AUX_POOL_SIZE:
            raise ModelConfigError(
                f"field 'aux_head': the auxiliary head needs a feature map of at least "
                f"{AUX_POOL_SIZE}x{AUX_POOL_SIZE} at 2/3 depth, but image_size {self.image_size} gives "
                f"{self.aux_input_size()}x{self.aux_input_size()}; disable aux_head or use larger images"
            )

    @property
    def has_aux_head(self) -> bool:
        """Whether the network builds the aux head: a ``features_only`` backbone has none."""
        return self.aux_head and not self.features_only

    @property
    def padding_spec(self) -> Padding:
        return Padding(self.padding, self.avg_pool_count_pad, self.max_pool_pad_zeros)

    @property
    def normal_width(self) -> int:
        return self.genotype.normal.output_width()

    @property
    def filters(self) -> int:
        """The paper's F: channels of the penultimate layer."""
        return 4 * self.normal_width * self.base_filters

    @property
    def total_cells(self) -> int:
        """Cells counted by the drop-path schedule: stem cells, reductions, normal cells."""
        return 3 * self.cells_per_stack + 2 + (2 if self.skeleton == "imagenet" else 0)

    def stem_output_size(self) -> int:
        # Every padding mode gives ceil(n / 2) at stride 2, so only the VALID stem differs.
        if self.skeleton == "imagenet":
            return (self.image_size - 3) // 2 + 1
        return self.image_size

    def size_at_level(self, level: int) -> int:
        size = self.stem_output_size()
        for _ in range(level):
            size = (size + 1) // 2
        return size

    def aux_input_size(self) -> int:
        return self.size_at_level(3 if self.skeleton == "imagenet" else 1)

    def with_filters(self, filters: int) -> ModelConfig:
        """A copy sized by the paper's F instead of C."""
        per_c = 4 * self.normal_width
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1 or filters % per_c:
            nearest = ""
            if isinstance(filters, int) and not isinstance(filters, bool) and filters >= 1:
                below, above = filters // per_c * per_c, (filters // per_c + 1) * per_c
                options = [f for f in (below, above) if f >= per_c]
                nearest = f"; the nearest valid F: {' or '.join(str(f) for f in options)} (C={options[0] // per_c}"
                nearest += f" or {options[-1] // per_c})" if len(options) > 1 else ")"
            raise ModelConfigError(
                f"field 'filters': F={short_repr(filters)} must be a positive multiple of {per_c} "
                f"(4 x the normal cell's output width {self.normal_width} x C){nearest}"
            )
        return dataclasses.replace(self, base_filters=filters // per_c)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["genotype"] = genotype_to_dict(self.genotype)
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any], source: str = "model config") -> ModelConfig:
        if not isinstance(obj, dict):
            raise ModelConfigError(f"{source}: expected an object, got {type(obj).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(obj) - fields)
        if unknown:
            raise ModelConfigError(f"{source}: unknown field(s) {unknown}; allowed: {sorted(fields)}")
        if "genotype" not in obj:
            raise ModelConfigError(f"{source}: missing field 'genotype'")
        kwargs = dict(obj)
        kwargs["genotype"] = genotype_from_dict(obj["genotype"], source=f"{source}, field 'genotype'", num_blocks=None)
        try:
            return cls(**kwargs)
        except ModelConfigError as err:
            raise ModelConfigError(f"{source}: {err}") from None


@dataclass(frozen=True)
class _CellSpec:
    kind: str  # "stem", "normal" or "reduction"
    name: str  # endpoint name, as in TF-slim
    prev_prev: int  # index into the outputs list; 0 means "none"


class AuxHead(nn.Module):
    """ReLU -> 5x5/3 avg pool -> 1x1 conv 128 -> BN -> ReLU -> full-size conv 768 -> BN -> ReLU -> FC."""

    def __init__(self, c_in: int, input_size: int, num_classes: int, norm: Any) -> None:
        super().__init__()
        pooled = (input_size - AUX_POOL_SIZE) // AUX_POOL_STRIDE + 1
        self.pooled_size = pooled
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(AUX_POOL_SIZE, stride=AUX_POOL_STRIDE, padding=0),
            nn.Conv2d(c_in, 128, 1, bias=False),
            norm(128),
            nn.ReLU(inplace=True),
        )
        self.conv = nn.Conv2d(128, 768, pooled, bias=False)
        self.post = nn.Sequential(norm(768), nn.ReLU(inplace=True), nn.Flatten())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if x.shape[-1] != self.pooled_size or x.shape[-2] != self.pooled_size:
            # Inputs of another size than the model was built for: keep the head usable.
            x = F.adaptive_avg_pool2d(x, self.pooled_size)
        return self.classifier(self.post(self.conv(x)))


class NASNet(nn.Module):
    """A NASNet network: stem, three stacks of N cells with two reductions, head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        norm = partial(nn.BatchNorm2d, eps=config.bn_eps, momentum=config.bn_momentum)
        self.register_buffer("drop_path_progress", torch.zeros(()), persistent=False)
        padding = config.padding_spec
        self.stem, channels = self._build_stem(config, norm)
        # outputs[k] = (channels, level); index 0 stands for "no h_{i-1}".
        outputs: list[tuple[int, int] | None] = [None, (channels, 0)]
        self.cells = nn.ModuleList()
        self.recompute_cells = False  # see set_recompute_activations
        self.cell_specs: list[_CellSpec] = []
        self.aux_after: int | None = None
        drop = 1.0 - config.drop_path_keep_prob
        cell_index = 0  # the drop-path schedule's cell number

        def add_cell(kind: str, name: str, channels: int, prev_prev: int) -> None:
            nonlocal cell_index
            prev = outputs[-1]
            assert prev is not None
            pp = outputs[prev_prev]
            reduction = kind in ("stem", "reduction")
            module = CellModule(
                config.genotype.reduction if reduction else config.genotype.normal,
                c_prev_prev=None if pp is None else pp[0],
                c_prev=prev[0],
                channels=channels,
                reduction=reduction,
                prev_prev_stride=1 if pp is None else 2 ** (prev[1] - pp[1]),
                max_drop_prob=(cell_index + 1) / config.total_cells * drop,
                norm=norm,
                padding=padding,
            )
            self.cells.append(module)
            self.cell_specs.append(_CellSpec(kind, name, prev_prev))
            outputs.append((module.out_channels, prev[1] + (1 if reduction else 0)))
            cell_index += 1

        c = config.base_filters
        if config.skeleton == "imagenet":
            for s in range(2):
                add_cell("stem", f"Cell_Stem_{s}", int(c * 0.25 * 2**s), len(outputs) - 2)
        n = config.cells_per_stack
        reduction_at = (n, 2 * n)
        scaling = 1
        for normal_index in range(3 * n):
            prev_prev = len(outputs) - 2
            if normal_index in reduction_at:
                scaling *= 2
                add_cell("reduction", f"Reduction_Cell_{reduction_at.index(normal_index)}", c * scaling, prev_prev)
            if not config.skip_reduction:
                prev_prev = len(outputs) - 2
            add_cell("normal", f"Cell_{normal_index}", c * scaling, prev_prev)
            if config.has_aux_head and normal_index == reduction_at[1] - 1:
                self.aux_after = len(self.cells) - 1
                last = outputs[-1]
                assert last is not None
                self.aux_head = AuxHead(last[0], config.aux_input_size(), config.num_classes, norm)
        last = outputs[-1]
        assert last is not None
        self.num_features = last[0]
        self.feature_cells, self.feature_info = self._feature_info(config, outputs[2:])
        self.classifier: nn.Linear | None = None
        if not config.features_only:
            self.dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
            self.classifier = nn.Linear(self.num_features, config.num_classes)
        self._init_weights()

    @staticmethod
    def _feature_info(
        config: ModelConfig, cell_outputs: list[tuple[int, int] | None]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        # The last cell at each resolution: the cell each later stage reads, as timm's backbones pick.
        stem_stride = 2 if config.skeleton == "imagenet" else 1
        last_at_level: dict[int, int] = {}
        for index, output in enumerate(cell_outputs):
            assert output is not None
            last_at_level[output[1]] = index
        cells = [last_at_level[level] for level in sorted(last_at_level)]
        info = []
        for index in cells:
            channels, level = cell_outputs[index]  # type: ignore[misc]
            info.append({"module": f"cells.{index}", "num_chs": channels, "reduction": stem_stride * 2**level})
        return cells, info

    @staticmethod
    def _build_stem(config: ModelConfig, norm: Any) -> tuple[nn.Module, int]:
        if config.skeleton == "imagenet":
            channels = int(32 * config.stem_multiplier)
            conv = nn.Conv2d(config.in_channels, channels, 3, stride=2, padding=0, bias=False)
        else:
            channels = int(config.base_filters * config.stem_multiplier)
            conv = nn.Conv2d(config.in_channels, channels, 3, stride=1, padding=1, bias=False)
        if channels < 1:
            raise ModelConfigError(f"field 'stem_multiplier': gives {channels} stem filters")
        return nn.Sequential(conv, norm(channels)), channels

    def _init_weights(self) -> None:
        if next(self.parameters()).device.type == "meta":
            return  # shape-only models (for counting) need no values
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                nn.init.uniform_(module.weight, -bound, bound)
                nn.init.zeros_(module.bias)

    def set_drop_path_progress(self, progress: float) -> None:
        """Set t / T_total for ScheduledDropPath (clamped to [0, 1] when used)."""
        self.drop_path_progress.fill_(float(progress))

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's feature maps, one per resolution, as `feature_info` describes them.

        Each is the output of the last cell at its resolution. The ImageNet skeleton gives four,
        at strides 4, 8, 16 and 32 (of a 224 px input: 56, 28, 14 and 7 px; the VALID stem makes a
        331 px input give 83, 42, 21 and 11): Cell_Stem_0, and the last normal cell of each stack,
        Cell_{N-1}, Cell_{2N-1} and Cell_{3N-1} (Cell_Stem_1 is at stride 8 too, but stack 1 reads on).
        The CIFAR skeleton has no stem reduction, so it gives three, at strides 1, 2 and 4: the last
        normal cell of each stack.
        """
        features: list[torch.Tensor] = []
        self._forward_cells(x, features=features)
        return features

    def _forward_cells(
        self,
        x: torch.Tensor,
        endpoints: dict[str, torch.Tensor] | None = None,
        features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last cell's output and, in training with an aux head, the aux logits."""
        stem = self.stem(x)
        outputs: list[torch.Tensor | None] = [None, stem]
        if endpoints is not None and self.config.skeleton == "cifar":
            endpoints["Stem"] = stem
        aux = None
        progress = self.drop_path_progress
        for index, (cell, spec) in enumerate(zip(self.cells, self.cell_specs, strict=True)):
            out = self._run_cell(cell, outputs[spec.prev_prev], outputs[-1], progress)
            outputs.append(out)
            if features is not None and index in self.feature_cells:
                features.append(out)
            if endpoints is not None:
                endpoints[spec.name] = out
                if spec.name == "Cell_Stem_1":
                    endpoints["Stem"] = out
            if index == self.aux_after and self.training:
                aux = self.aux_head(out)
        last = outputs[-1]
        assert last is not None
        return last, aux

    def set_recompute_activations(self, enabled: bool) -> None:
        """Recompute activations in backward instead of keeping them (see `nasnet.nn.recompute`)."""
        self.recompute_cells = enabled

    def _run_cell(
        self, cell: nn.Module, prev_prev: torch.Tensor | None, prev: torch.Tensor, progress: torch.Tensor
    ) -> torch.Tensor:
        if self.recompute_cells and self.training and torch.is_grad_enabled():
            return recomputed(cell, prev_prev, prev, progress)
        return cell(prev_prev, prev, progress)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        if self.classifier is None:
            raise NasnetError("a features_only model has no classifier head; use forward_features")
        x = F.relu(features)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))

    def forward(self, x: torch.Tensor, with_aux: bool = False) -> Any:
        """Logits; with ``with_aux=True`` a pair ``(logits, aux_logits)``.

        ``aux_logits`` is ``None`` in eval mode or without an aux head. A ``features_only`` model
        returns `forward_features`' list instead (and ``(features, None)`` with ``with_aux=True``).
        """
        if self.classifier is None:
            features_list = self.forward_features(x)
            return (features_list, None) if with_aux else features_list
        features, aux = self._forward_cells(x)
        logits = self.forward_head(features)
        return (logits, aux) if with_aux else logits

    def endpoint_shapes(self, batch: int = 1) -> dict[str, tuple[int, ...]]:
        """Per-stage output shapes (without the batch dimension), as TF-slim names them."""
        device = next(self.parameters()).device
        x = torch.zeros(batch, self.config.in_channels, self.config.image_size, self.config.image_size, device=device)
        endpoints: dict[str, torch.Tensor] = {}
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                self._forward_cells(x, endpoints)
        finally:
            self.train(was_training)
        return {name: tuple(t.shape[1:]) for name, t in endpoints.items()}
