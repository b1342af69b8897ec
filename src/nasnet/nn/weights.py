"""Published NASNet-A weights in the layouts people have on disk, mapped by name onto nasnet's models.

Four layouts are read:

* ``keras``: Keras 2 ``NASNet-mobile.h5`` / ``NASNet-large.h5`` (``layer_names`` / ``weight_names``
  attributes, with or without a ``model_weights`` group), Keras 3 ``.weights.h5`` files
  (``layers/<name>/vars/<i>``) and Keras 3 ``.keras`` archives (which hold a ``model.weights.h5``);
  all through h5py. Layers are found by Keras' names (``stem_conv1``, ``normal_conv_1_0``,
  ``separable_conv_1_normal_left1_0``, ``adjust_conv_projection_3``, ``predictions`` ...).
* ``timm`` (``nasnetalarge``) and ``cadene`` (``pretrainedmodels``' NASNet-A Mobile and Large): the
  same PyTorch port, so the same module names (``conv0.conv``, ``cell_stem_0``, ``cell_6``,
  ``reduction_cell_0``, ``comb_iter_0_left.separable_1.depthwise_conv2d`` ...), in ``.pth``/``.bin``
  files read with ``torch.load(weights_only=True)`` or in ``.safetensors`` files.
* ``nasnet``: a ``.safetensors`` file that `save_weights` (``nasnet convert-weights``) wrote.

The layouts differ only in where each tensor sits and how it is laid out: Keras kernels are HWIO
(depthwise HW(C,1)), PyTorch's OIHW. A 1001-way TF head (class 0 = background) loses row 0. The
padding each source computed with comes along (`TRAINED_WITH`), since a TF-trained network
evaluated with PyTorch's symmetric padding shifts every stride-2 layer by half a pixel.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasnet.errors import NasnetError
from nasnet.fileio import atomic_write_bytes
from nasnet.nn.network import ModelConfig, NASNet
from nasnet.nn.ops import Padding
from nasnet.nn.registry import Preprocessing, model_config, model_preprocessing
from nasnet.space.zoo import NASNET_A

LAYOUTS = ("nasnet", "keras", "timm", "cadene")
FORMAT = "nasnet-weights"
MAX_LISTED = 4


# All three sources come from TF-slim checkpoints, so TF's asymmetric SAME padding. Keras pads its
# stride-2 pools explicitly (ZeroPadding2D, then a VALID pool), so its average pools count the
# padded zeros and its max pools see them; timm pads stride-2 average pools with zeros outside
# F.avg_pool2d (counted) and max pools with -inf. Cadene's AvgPoolPad/MaxPoolPad leave the padding
# to the pool itself, as TF-slim did.
TRAINED_WITH: dict[str, Padding] = {
    "keras": Padding("tf-same", avg_pool_count_pad=True, max_pool_pad_zeros=True),
    "timm": Padding("tf-same", avg_pool_count_pad=True, max_pool_pad_zeros=False),
    "cadene": Padding("tf-same", avg_pool_count_pad=False, max_pool_pad_zeros=False),
}


class WeightsError(NasnetError, ValueError):
    """A weights file cannot be read or does not fit the model; the message says which tensors."""


@dataclass
class ConvertedWeights:
    """A nasnet state dict and what it needs: the model, padding and preprocessing it was made for."""

    state_dict: dict[str, torch.Tensor]
    model: str
    layout: str
    padding: Padding
    preprocessing: Preprocessing | None
    source: str = ""

    @property
    def has_aux_head(self) -> bool:
        return any(key.startswith("aux_head.") for key in self.state_dict)

    def config_overrides(self) -> dict[str, Any]:
        """The `ModelConfig` fields a model needs to take these weights."""
        return {
            "aux_head": self.has_aux_head,
            "padding": self.padding.mode,
            "avg_pool_count_pad": self.padding.avg_pool_count_pad,
            "max_pool_pad_zeros": self.padding.max_pool_pad_zeros,
        }

    def metadata(self) -> dict[str, str]:
        meta = {
            "format": FORMAT,
            "model": self.model,
            "padding": self.padding.mode,
            "avg_pool_count_pad": json.dumps(self.padding.avg_pool_count_pad),
            "max_pool_pad_zeros": json.dumps(self.padding.max_pool_pad_zeros),
            "source_layout": self.layout,
        }
        if self.source:
            meta["source"] = self.source
        if self.preprocessing is not None:
            meta["preprocessing"] = json.dumps(self.preprocessing.to_dict())
        return meta


# --- the name maps -----------------------------------------------------------------------------

_BN = {"weight": "weight", "bias": "bias", "running_mean": "running_mean", "running_var": "running_var"}
_KERAS_BN = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}
# The ops with weights in NASNet-A's cells (op index = 2 * block + side), as Keras names them.
_KERAS_NORMAL_OPS = {0: "left1", 1: "right1", 2: "left2", 3: "right2", 8: "left5"}
_KERAS_REDUCTION_OPS = {0: "left1", 1: "right1", 3: "right2", 5: "right3", 8: "left4"}


def _check_config(config: ModelConfig) -> None:
    if config.genotype != NASNET_A or config.skeleton != "imagenet":
        raise WeightsError("published weights exist only for NASNet-A on the ImageNet skeleton")


def _cell_names(config: ModelConfig) -> list[tuple[str, str, str]]:
    """Per nasnet cell: its kind, the PyTorch port's module name and Keras' block id."""
    n = config.cells_per_stack
    names = []
    stack = normal = reductions = 0
    for spec in _specs(config):
        if spec.kind == "stem":
            index = len(names)
            names.append(("stem", f"cell_stem_{index}", f"stem_{index + 1}"))
        elif spec.kind == "reduction":
            stack += 1
            normal = 0
            names.append(("reduction", f"reduction_cell_{reductions}", f"reduce_{stack * n}"))
            reductions += 1
        else:
            # The port numbers normal cells 6 per stack for Mobile (N=4) too: cell_0-3, cell_6-9, cell_12-15.
            keras_id = str(normal) if stack == 0 else str(stack * n + normal + 1)
            names.append(("normal", f"cell_{6 * stack + normal}", keras_id))
            normal += 1
    return names


def _specs(config: ModelConfig) -> list[Any]:
    from nasnet.nn.counting import meta_model

    return meta_model(config).cell_specs


def _expected(config: ModelConfig) -> dict[str, torch.Size]:
    from nasnet.nn.counting import meta_model

    return {key: value.shape for key, value in meta_model(config).state_dict().items()}


def _separable_torch(prefix: str, target: str) -> dict[str, str]:
    out = {}
    for nasnet_index, name in ((1, "separable_1"), (4, "separable_2")):
        out[f"{prefix}.{nasnet_index}.0.weight"] = f"{target}.{name}.depthwise_conv2d.weight"
        out[f"{prefix}.{nasnet_index}.1.weight"] = f"{target}.{name}.pointwise_conv2d.weight"
    for nasnet_index, name in ((2, "bn_sep_1"), (5, "bn_sep_2")):
        out.update({f"{prefix}.{nasnet_index}.{k}": f"{target}.{name}.{v}" for k, v in _BN.items()})
    return out


def _conv_bn_torch(conv: str, bn: str, target: str) -> dict[str, str]:
    out = {conv: f"{target}.conv.weight"}
    out.update({f"{bn}.{k}": f"{target}.bn.{v}" for k, v in _BN.items()})
    return out


def torch_names(config: ModelConfig) -> dict[str, str]:
    """nasnet state-dict key -> the timm / Cadene key, for every tensor the port has (BN step counters aside)."""
    _check_config(config)
    names = _conv_bn_torch("stem.0.weight", "stem.1", "conv0")
    expected = _expected(config)
    for index, (_kind, port, _keras) in enumerate(_cell_names(config)):
        cell = f"cells.{index}"
        names.update(_conv_bn_torch(f"{cell}.preprocess0.1.weight", f"{cell}.preprocess0.2", f"{port}.conv_1x1"))
        if f"{cell}.preprocess1.conv_1.weight" in expected:
            names[f"{cell}.preprocess1.conv_1.weight"] = f"{port}.path_1.conv.weight"
            names[f"{cell}.preprocess1.conv_2.weight"] = f"{port}.path_2.conv.weight"
            names.update({f"{cell}.preprocess1.bn.{k}": f"{port}.final_path_bn.{v}" for k, v in _BN.items()})
        elif f"{cell}.preprocess1.1.weight" in expected:
            names.update(
                _conv_bn_torch(f"{cell}.preprocess1.1.weight", f"{cell}.preprocess1.2", f"{port}.conv_prev_1x1")
            )
        for op in range(10):
            if f"{cell}.ops.{op}.1.0.weight" in expected:
                side = "left" if op % 2 == 0 else "right"
                names.update(_separable_torch(f"{cell}.ops.{op}", f"{port}.comb_iter_{op // 2}_{side}"))
    names["classifier.weight"] = "last_linear.weight"
    names["classifier.bias"] = "last_linear.bias"
    return names


# Keras tensors: (layer name, variable index, kind), kind saying how to lay it out for PyTorch.
KerasRef = tuple[str, int, str]


def _conv_bn_keras(conv: str, bn: str, keras_conv: str, keras_bn: str) -> dict[str, KerasRef]:
    out: dict[str, KerasRef] = {conv: (keras_conv, 0, "conv")}
    out.update({f"{bn}.{k}": (keras_bn, i, "vector") for k, i in _KERAS_BN.items()})
    return out


def keras_names(config: ModelConfig) -> dict[str, KerasRef]:
    """nasnet state-dict key -> (Keras layer name, variable index, kind)."""
    _check_config(config)
    names = _conv_bn_keras("stem.0.weight", "stem.1", "stem_conv1", "stem_bn1")
    expected = _expected(config)
    for index, (kind, _port, block) in enumerate(_cell_names(config)):
        cell = f"cells.{index}"
        prefix = "normal" if kind == "normal" else "reduction"
        names.update(
            _conv_bn_keras(
                f"{cell}.preprocess0.1.weight",
                f"{cell}.preprocess0.2",
                f"{prefix}_conv_1_{block}",
                f"{prefix}_bn_1_{block}",
            )
        )
        if f"{cell}.preprocess1.conv_1.weight" in expected:
            names[f"{cell}.preprocess1.conv_1.weight"] = (f"adjust_conv_1_{block}", 0, "conv")
            names[f"{cell}.preprocess1.conv_2.weight"] = (f"adjust_conv_2_{block}", 0, "conv")
            names.update(
                {f"{cell}.preprocess1.bn.{k}": (f"adjust_bn_{block}", i, "vector") for k, i in _KERAS_BN.items()}
            )
        elif f"{cell}.preprocess1.1.weight" in expected:
            names.update(
                _conv_bn_keras(
                    f"{cell}.preprocess1.1.weight",
                    f"{cell}.preprocess1.2",
                    f"adjust_conv_projection_{block}",
                    f"adjust_bn_{block}",
                )
            )
        ops = _KERAS_NORMAL_OPS if kind == "normal" else _KERAS_REDUCTION_OPS
        for op, where in ops.items():
            tag = f"{prefix}_{where}_{block}"
            for nasnet_index, bn_index, number in ((1, 2, 1), (4, 5, 2)):
                layer = f"separable_conv_{number}_{tag}"
                names[f"{cell}.ops.{op}.{nasnet_index}.0.weight"] = (layer, 0, "depthwise")
                names[f"{cell}.ops.{op}.{nasnet_index}.1.weight"] = (layer, 1, "conv")
                bn = f"separable_conv_{number}_bn_{tag}"
                names.update({f"{cell}.ops.{op}.{bn_index}.{k}": (bn, i, "vector") for k, i in _KERAS_BN.items()})
    names["classifier.weight"] = ("predictions", 0, "dense")
    names["classifier.bias"] = ("predictions", 1, "vector")
    return names


# --- reading files -------------------------------------------------------------------------------


def _is_hdf5(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(8) == b"\x89HDF\r\n\x1a\n"


def _is_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def read_torch_file(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (and safetensors metadata) of a ``.pth``/``.bin``/``.safetensors`` file, never unpickling code."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return {key: handle.get_tensor(key) for key in handle.keys()}, dict(handle.metadata() or {})  # noqa: SIM118
        except Exception as err:  # safetensors raises its own error types for damaged files
            raise WeightsError(f"{path}: not a readable safetensors file ({err})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(
            f"{path}: refused: the file holds objects other than tensors, and nasnet loads weights only "
            f"(torch.load(weights_only=True)): {first}"
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise WeightsError(f"{path}: not a readable PyTorch file ({err})") from None
    # Training checkpoints wrap the weights; take the state dict where the usual keys put it.
    for key in ("state_dict", "model", "model_state_dict", "state_dict_ema"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: expected a state dict (names to tensors), got {type(obj).__name__}")
    odd = [str(k) for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if odd:
        raise WeightsError(f"{path}: expected a state dict (names to tensors); not tensors: {_listed(odd)}")
    tensors = {str(k).removeprefix("module."): v for k, v in obj.items()}
    return tensors, {}


def _keras_group_arrays(group: Any) -> dict[str, list[np.ndarray]]:
    """Keras 2 layout: ``layer_names`` on the group, ``weight_names`` on each layer's group."""
    out: dict[str, list[np.ndarray]] = {}
    for raw in group.attrs["layer_names"]:
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        layer = group[name]
        weights = [w.decode() if isinstance(w, bytes) else str(w) for w in layer.attrs.get("weight_names", [])]
        if weights:
            out[name] = [np.asarray(layer[w]) for w in weights]
    return out


def _keras3_arrays(handle: Any) -> dict[str, list[np.ndarray]]:
    """Keras 3 layout: ``layers/<name>/vars/<i>``."""
    out: dict[str, list[np.ndarray]] = {}
    for name, layer in handle["layers"].items():
        if "vars" in layer and len(layer["vars"]):
            variables = layer["vars"]
            out[name] = [np.asarray(variables[str(i)]) for i in range(len(variables))]
    return out


# Keras 3 stores a functional model's layers as ``<snake_case class>_<k>``: the k-th layer of that
# class in ``model.layers``, not the layer's name. The names come back from the model's layer order.
_KERAS3_KEYS = {
    "Conv2D": "conv2d",
    "SeparableConv2D": "separable_conv2d",
    "BatchNormalization": "batch_normalization",
    "Dense": "dense",
}


def _keras3_renamed(
    arrays: dict[str, list[np.ndarray]], order: list[tuple[str, str]], label: str
) -> dict[str, list[np.ndarray]]:
    """``arrays`` under the layer names of ``order`` (``(class name, layer name)`` as in ``model.layers``)."""
    counters: dict[str, int] = {}
    generic_to_name = {}
    for class_name, name in order:
        key = _KERAS3_KEYS.get(class_name)
        if key is None:
            continue
        count = counters.get(key, 0)
        generic_to_name[key if count == 0 else f"{key}_{count}"] = name
        counters[key] = count + 1
    unknown = [k for k in arrays if k not in generic_to_name]
    if unknown:
        raise WeightsError(f"{label}: layers the model's layer list does not name: {_listed(unknown)}")
    return {generic_to_name[k]: v for k, v in arrays.items()}


def _generic_names(arrays: Mapping[str, list[np.ndarray]]) -> bool:
    return "stem_conv1" not in arrays and any(k.startswith(("conv2d", "batch_normalization")) for k in arrays)


def _keras_layer_order(model: str, include_top: bool, label: str) -> list[tuple[str, str]]:
    """``(class name, layer name)`` of Keras' own NASNet, built without weights (needs keras)."""
    try:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    except Exception as err:  # keras raises whatever its backend's import raises
        raise WeightsError(
            f"{label}: a Keras 3 .weights.h5 names its layers by type only; convert the .keras model file "
            f"instead, or install keras to recover the names ({type(err).__name__}: {err})"
        ) from None
    build = {"nasnet_a_mobile": keras.applications.NASNetMobile, "nasnet_a_large": keras.applications.NASNetLarge}
    if model not in build:
        raise WeightsError(f"{label}: Keras publishes NASNetMobile and NASNetLarge only, not {model!r}")
    net = build[model](weights=None, include_top=include_top)
    return [(type(layer).__name__, layer.name) for layer in net.layers]


def _read_h5(source: Any, label: str) -> dict[str, list[np.ndarray]]:
    import h5py

    with h5py.File(source, "r") as handle:
        if "layer_names" in handle.attrs:
            return _keras_group_arrays(handle)
        if "model_weights" in handle and "layer_names" in handle["model_weights"].attrs:
            return _keras_group_arrays(handle["model_weights"])
        if "layers" in handle:
            return _keras3_arrays(handle)
    raise WeightsError(f"{label}: an HDF5 file, but not Keras weights (no layer_names, model_weights or layers)")


def read_keras_file(path: str | os.PathLike[str], model: str = "nasnet_a_mobile") -> dict[str, list[np.ndarray]]:
    """Keras layer name -> its variables in Keras' order (kernel; depthwise, pointwise; gamma, beta, mean, var).

    A Keras 3 ``.weights.h5`` on its own names layers by type; ``model`` says which Keras NASNet
    to take the layer names from (see `_keras_layer_order`). A ``.keras`` archive carries them.
    """
    path = Path(path)
    order = None
    if _is_zip(path):
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise WeightsError(f"{path}: a zip archive without model.weights.h5, so not a .keras model")
            config = json.loads(archive.read("config.json")) if "config.json" in archive.namelist() else {}
            layers = config.get("config", {}).get("layers", [])
            order = [(entry.get("class_name", ""), entry.get("config", {}).get("name", "")) for entry in layers]
            arrays = _read_h5(io.BytesIO(archive.read("model.weights.h5")), str(path))
    else:
        try:
            arrays = _read_h5(path, str(path))
        except OSError as err:
            raise WeightsError(f"{path}: not a readable HDF5 file ({err})") from None
    if not _generic_names(arrays):
        return arrays
    if not order:
        order = _keras_layer_order(model, include_top="dense" in arrays, label=str(path))
    return _keras3_renamed(arrays, order, str(path))


# --- conversion ----------------------------------------------------------------------------------


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def _fit(key: str, tensor: torch.Tensor, shape: torch.Size, label: str, mismatched: list[str]) -> torch.Tensor | None:
    if key.startswith("classifier.") and tensor.shape[0] == shape[0] + 1 and tensor.shape[1:] == shape[1:]:
        # TF-slim's 1001-way head: class 0 is "background", the ImageNet classes follow.
        tensor = tensor[1:]
    if tuple(tensor.shape) != tuple(shape):
        mismatched.append(f"{label} {tuple(tensor.shape)} (model {key} wants {tuple(shape)})")
        return None
    return tensor.to(torch.float32).contiguous() if tensor.is_floating_point() else tensor.contiguous()


def _report(label: str, path: Path, missing: list[str], surplus: list[str], mismatched: list[str]) -> None:
    lines = []
    if missing:
        lines.append(
            f"{path}: {len(missing)} tensor(s) the model needs are missing from the {label} file: {_listed(missing)}"
        )
    if surplus:
        lines.append(f"{path}: {len(surplus)} surplus tensor(s) that the model has no place for: {_listed(surplus)}")
    if mismatched:
        lines.append(f"{path}: {len(mismatched)} tensor(s) of the wrong shape: {_listed(mismatched)}")
    if lines:
        raise WeightsError("\n".join(lines))


def _complete(state: dict[str, torch.Tensor], expected: Mapping[str, torch.Size]) -> dict[str, torch.Tensor]:
    # BN step counters matter only to momentum=None BNs; the sources either lack them or disagree.
    for key, shape in expected.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros(shape, dtype=torch.long)
    return {key: state[key] for key in expected}


def from_torch_layout(
    tensors: Mapping[str, torch.Tensor], config: ModelConfig, path: Path = Path("<memory>"), label: str = "timm"
) -> dict[str, torch.Tensor]:
    """A nasnet state dict from timm / Cadene names; missing, surplus and misshapen tensors are one line each."""
    names = torch_names(config)
    expected = _expected(dataclasses.replace(config, aux_head=False))
    state: dict[str, torch.Tensor] = {}
    missing, mismatched = [], []
    for key, source in names.items():
        if source not in tensors:
            missing.append(source)
            continue
        fitted = _fit(key, tensors[source], expected[key], source, mismatched)
        if fitted is not None:
            state[key] = fitted
    used = set(names.values())
    surplus = [k for k in tensors if k not in used and not k.endswith("num_batches_tracked")]
    _report(label, path, missing, surplus, mismatched)
    return _complete(state, expected)


def to_torch_layout(state_dict: Mapping[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    """The inverse of `from_torch_layout`: a nasnet state dict under timm / Cadene names."""
    return {source: state_dict[key].clone() for key, source in torch_names(config).items()}


def _keras_tensor(array: np.ndarray, kind: str) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if kind == "conv" and tensor.dim() == 4:
        return tensor.permute(3, 2, 0, 1)  # HWIO -> OIHW
    if kind == "depthwise" and tensor.dim() == 4:
        return tensor.permute(2, 3, 0, 1)  # H W C 1 -> C 1 H W
    if kind == "dense" and tensor.dim() == 2:
        return tensor.t()  # (in, out) -> (out, in)
    return tensor


def from_keras_layout(
    layers: Mapping[str, list[np.ndarray]], config: ModelConfig, path: Path = Path("<memory>")
) -> dict[str, torch.Tensor]:
    """A nasnet state dict from Keras layer variables (see `read_keras_file`)."""
    names = keras_names(config)
    expected = _expected(dataclasses.replace(config, aux_head=False))
    state: dict[str, torch.Tensor] = {}
    missing, mismatched = [], []
    for key, (layer, index, kind) in names.items():
        label = f"{layer}[{index}]"
        if layer not in layers or index >= len(layers[layer]):
            missing.append(label)
            continue
        fitted = _fit(key, _keras_tensor(layers[layer][index], kind), expected[key], label, mismatched)
        if fitted is not None:
            state[key] = fitted
    wanted: dict[str, int] = {}
    for layer, index, _kind in names.values():
        wanted[layer] = max(wanted.get(layer, 0), index + 1)
    surplus = [
        f"{layer}[{i}]" for layer, arrays in layers.items() for i in range(len(arrays)) if i >= wanted.get(layer, 0)
    ]
    _report("Keras", path, sorted(dict.fromkeys(missing), key=missing.index), surplus, mismatched)
    return _complete(state, expected)


def detect_layout(path: str | os.PathLike[str], model: str | None = None) -> str:
    """``keras``, ``timm``, ``cadene`` or ``nasnet``, from the file's contents.

    timm and Cadene share names; a 1001-way head, or NASNet-A Mobile (timm has no Mobile), is Cadene's.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if _is_hdf5(path) or (path.suffix == ".keras" and _is_zip(path)):
        return "keras"
    tensors, meta = read_torch_file(path)
    return _torch_layout(tensors, meta, model, path)


def _torch_layout(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, str], model: str | None, path: Path) -> str:
    if meta.get("format") == FORMAT or "stem.0.weight" in tensors:
        return "nasnet"
    if "conv0.conv.weight" in tensors:
        head = tensors.get("last_linear.weight")
        if model == "nasnet_a_mobile" or (head is not None and head.shape[0] == 1001):
            return "cadene"
        return "timm"
    raise WeightsError(
        f"{path}: not a layout nasnet knows (nasnet, keras, timm, cadene): its first tensors are "
        f"{_listed(list(tensors))}"
    )


def convert_weights(
    path: str | os.PathLike[str], model: str = "nasnet_a_mobile", layout: str = "auto"
) -> ConvertedWeights:
    """Read ``path`` in ``layout`` (or the one `detect_layout` finds) as weights of the registered ``model``."""
    path = Path(path)
    if layout not in (*LAYOUTS, "auto"):
        raise WeightsError(f"unknown weights layout {layout!r}; allowed: auto, {', '.join(LAYOUTS)}")
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    config = model_config(model)
    if layout == "auto" and (_is_hdf5(path) or (path.suffix == ".keras" and _is_zip(path))):
        layout = "keras"
    if layout == "keras":
        state = from_keras_layout(read_keras_file(path, model), config, path)
        return ConvertedWeights(state, model, layout, TRAINED_WITH[layout], model_preprocessing(model), path.name)
    tensors, meta = read_torch_file(path)
    if layout == "auto":
        layout = _torch_layout(tensors, meta, model, path)
    if layout == "nasnet":
        return _from_nasnet(tensors, meta, model, config, path)
    state = from_torch_layout(tensors, config, path, layout)
    return ConvertedWeights(state, model, layout, TRAINED_WITH[layout], model_preprocessing(model), path.name)


def _from_nasnet(
    tensors: dict[str, torch.Tensor], meta: Mapping[str, str], model: str, config: ModelConfig, path: Path
) -> ConvertedWeights:
    if meta.get("model") and meta["model"] != model:
        raise WeightsError(f"{path}: holds weights of {meta['model']!r}, not {model!r}")
    aux = any(key.startswith("aux_head.") for key in tensors)
    expected = _expected(dataclasses.replace(config, aux_head=aux))
    missing = [k for k in expected if k not in tensors and not k.endswith("num_batches_tracked")]
    surplus = [k for k in tensors if k not in expected]
    mismatched: list[str] = []
    state = {}
    for key in expected:
        if key in tensors:
            fitted = _fit(key, tensors[key], expected[key], key, mismatched)
            if fitted is not None:
                state[key] = fitted
    _report("nasnet", path, missing, surplus, mismatched)
    padding = Padding(
        meta.get("padding", "symmetric"),
        avg_pool_count_pad=json.loads(meta.get("avg_pool_count_pad", "false")),
        max_pool_pad_zeros=json.loads(meta.get("max_pool_pad_zeros", "false")),
    )
    layout = meta.get("source_layout", "nasnet")
    return ConvertedWeights(_complete(state, expected), model, layout, padding, model_preprocessing(model), path.name)


def save_weights(converted: ConvertedWeights, path: str | os.PathLike[str]) -> Path:
    """Write the state dict as safetensors with its metadata (model, padding, preprocessing, source), atomically."""
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in converted.state_dict.items()}, metadata=converted.metadata())
    return atomic_write_bytes(path, data)


def load_pretrained(model: NASNet, converted: ConvertedWeights) -> NASNet:
    """Copy ``converted`` into ``model``, built with `ConvertedWeights.config_overrides`."""
    state = converted.state_dict
    if model.config.features_only:  # a backbone keeps everything but the head
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise WeightsError(
            f"{converted.source}: does not fit the model: missing {_listed(result.missing_keys)}; "
            f"surplus {_listed(result.unexpected_keys)}"
        )
    model.pretrained_source = {"source": converted.source, "layout": converted.layout}  # type: ignore[assignment]
    return model


__all__ = [
    "FORMAT",
    "LAYOUTS",
    "TRAINED_WITH",
    "ConvertedWeights",
    "WeightsError",
    "convert_weights",
    "detect_layout",
    "from_keras_layout",
    "from_torch_layout",
    "keras_names",
    "load_pretrained",
    "read_keras_file",
    "read_torch_file",
    "save_weights",
    "to_torch_layout",
    "torch_names",
]
