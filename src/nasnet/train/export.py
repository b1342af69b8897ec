"""Export a trained ``model.pt`` to ONNX, TorchScript or a `torch.export` program, checked against PyTorch.

Every export takes one input, ``images`` (float32, NCHW, the model's image size, a dynamic batch
dimension), and returns one output, ``logits``: the auxiliary head is dropped and the model runs in
eval mode. Each file carries the metadata a user needs to run it (genotype, normalisation, classes,
accuracy, seed, versions): ONNX in ``metadata_props`` (one JSON value per key), TorchScript and
`torch.export` archives in an extra file ``nasnet.json``. `read_export_metadata` reads it back from
any of the three without loading the program.

The exported file is compared with the PyTorch model on random inputs before it is put in place; a
difference over the tolerance is an error, and the target is never half-written (it is written to a
temporary file beside it and renamed).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import logging
import math
import os
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasnet.errors import NasnetError, exception_summary, printable
from nasnet.fileio import atomic_write_bytes, update_with_file
from nasnet.nn.network import NASNet
from nasnet.space.serialization import genotype_to_dict
from nasnet.train.model_file import MODEL_FILE, LoadedModel, load_model

FORMATS = ("onnx", "torchscript", "exported")
# Default file suffixes. TorchScript's usual ".pt" would clash with model.pt in the same run folder.
SUFFIXES = {"onnx": ".onnx", "torchscript": ".torchscript.pt", "exported": ".pt2"}
# The dynamo exporter's own opset in torch 2.13: asking for another one runs the ONNX version
# converter over the graph, one more thing that can fail. onnxruntime reads it from 1.17 on.
ONNX_OPSET = 20
DEFAULT_TOLERANCE = 1e-4
METADATA_FILE = "nasnet.json"  # the extra file in TorchScript and torch.export archives
METADATA_VERSION = 1
INPUT_NAME = "images"
OUTPUT_NAME = "logits"
CHECK_BATCHES = (1, 3)  # neither is the batch the graph was captured with (2), so the batch dimension is tested
_EXAMPLE_BATCH = 2  # export and trace specialise a dimension of size 0 or 1; 2 keeps the batch dimension free
EXPORT_EXTRA = "pip install 'nasnet[export]'"


class ExportError(NasnetError):
    """An export that cannot be made, or that does not compute what the PyTorch model does."""


class MissingExportDependency(ExportError):
    """onnx, onnxscript or onnxruntime is not installed."""


class ExportMismatch(ExportError):
    """The exported model's outputs differ from PyTorch's by more than the tolerance."""

    def __init__(self, message: str, max_abs_diff: float) -> None:
        super().__init__(message)
        self.max_abs_diff = max_abs_diff


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float | None  # None when the check was skipped
    seconds: float
    size_bytes: int
    metadata: dict[str, Any]


class LogitsOnly(nn.Module):
    """The network as deployed: one input named ``images``, logits out, no auxiliary head."""

    def __init__(self, model: NASNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {printable(repr(fmt), 40)}; choose one of {', '.join(FORMATS)}")
    return fmt


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """A ``model.pt``, or the run folder holding one (as `nasnet eval` takes it)."""
    source = Path(path)
    return source / MODEL_FILE if source.is_dir() else source


def default_output(source: Path, fmt: str) -> Path:
    """``runs/a/model.pt`` -> ``runs/a/model.onnx`` (``.torchscript.pt``, ``.pt2``)."""
    stem = source.name[: -len(".pt")] if source.name.endswith(".pt") else source.stem
    return source.with_name(stem + SUFFIXES[check_format(fmt)])


def output_path(source: Path, output: str | os.PathLike[str] | None, fmt: str) -> Path:
    """Where the export goes: ``output``, a file in ``output`` when it is a folder, or beside ``source``."""
    if output is None:
        target = default_output(source, fmt)
    else:
        target = Path(output)
        if target.is_dir():
            target = target / default_output(source, fmt).name
    if not target.parent.is_dir():
        raise ExportError(f"{target}: output folder {target.parent} does not exist")
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise ExportError(f"{target}: is the model file being exported; choose another output")
    return target


def require_dependencies(fmt: str, check: bool = True) -> None:
    """Raise `MissingExportDependency` naming what ``fmt`` needs and lacks (only ONNX needs more than torch)."""
    if fmt != "onnx":
        return
    needed = ["onnx", "onnxscript"] + (["onnxruntime"] if check else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        skip = " (or pass --no-check to export without comparing in onnxruntime)" if missing == ["onnxruntime"] else ""
        raise MissingExportDependency(
            f"--format onnx needs {' and '.join(missing)}, not installed: {EXPORT_EXTRA}{skip}"
        )


def inference_model(model: NASNet) -> LogitsOnly:
    """``model`` prepared for export: CPU, float32, eval mode, frozen, without the auxiliary head."""
    model = model.to("cpu", torch.float32).eval()
    # Eval mode never calls the aux head; removing it keeps its weights out of the exported files.
    if getattr(model, "aux_head", None) is not None:
        del model.aux_head
    model.aux_after = None
    # Frozen weights make cat_channels take plain torch.cat rather than its autograd Function,
    # which tracing cannot save and export would have to inline.
    model.requires_grad_(False)
    return LogitsOnly(model).eval()


def file_sha256(path: Path) -> str:
    return update_with_file(hashlib.sha256(), path).hexdigest()


def export_metadata(loaded: LoadedModel, source: Path, fmt: str, opset: int | None = None) -> dict[str, Any]:
    """What a user of the exported file needs to know, all of it JSON."""
    from nasnet import __version__

    config = loaded.model.config
    payload = loaded.payload
    result = payload.get("result") if isinstance(payload.get("result"), dict) else {}
    train_config = payload.get("train_config") if isinstance(payload.get("train_config"), dict) else None
    model_config = config.to_dict()
    model_config.pop("genotype")  # given once, below
    model_config["aux_head"] = False  # not in the export
    size = config.image_size
    metadata: dict[str, Any] = {
        "nasnet_export": METADATA_VERSION,
        "format": fmt,
        "nasnet_version": __version__,
        "torch_version": torch.__version__,
        "source_file": str(source),
        "source_sha256": file_sha256(source),
        "genotype": genotype_to_dict(config.genotype),
        "model_config": model_config,
        "image_size": size,
        "in_channels": config.in_channels,
        "num_classes": config.num_classes,
        "classes": [str(c) for c in loaded.classes],
        "input": {"name": INPUT_NAME, "dtype": "float32", "shape": ["batch", config.in_channels, size, size]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", config.num_classes]},
        "preprocessing": "RGB pixels scaled to [0, 1], then (x - mean) / std per channel; NCHW",
        "mean": [float(v) for v in loaded.mean],
        "std": [float(v) for v in loaded.std],
        "accuracy": result.get("accuracy"),
        "test_accuracy": result.get("test_accuracy"),
        "epochs_completed": result.get("epochs_completed"),
        "seed": train_config.get("seed") if train_config is not None else None,
        "train_config": train_config,
    }
    if opset is not None:
        metadata["onnx_opset"] = opset
    return metadata


def sample_inputs(
    metadata: dict[str, Any], batches: Sequence[int] = CHECK_BATCHES, seed: int = 0
) -> list[torch.Tensor]:
    """Random images as the model sees them: uniform pixels, normalised with the model's mean and std."""
    generator = torch.Generator().manual_seed(seed)
    channels, size = metadata["in_channels"], metadata["image_size"]
    mean = torch.tensor(metadata["mean"], dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(metadata["std"], dtype=torch.float32)[None, :, None, None]
    images = [torch.rand(batch, channels, size, size, generator=generator) for batch in batches]
    return [((x - mean) / std).contiguous() for x in images]


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
    """The exporters' progress logs and deprecation chatter off: the command prints one line."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _batch_dim() -> Any:
    return torch.export.Dim("batch", min=1)


def _json(metadata: dict[str, Any]) -> str:
    return json.dumps(metadata, indent=2, sort_keys=False)


def _export_onnx(model: LogitsOnly, example: torch.Tensor, metadata: dict[str, Any], opset: int) -> bytes:
    # The dynamo exporter (the default since torch 2.9) goes through torch.export, as the "exported"
    # format does; the TorchScript-based one is deprecated and stops at opset 20.
    program = torch.onnx.export(
        model,
        (example,),
        None,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes={INPUT_NAME: {0: _batch_dim()}},
        opset_version=opset,
        dynamo=True,
        verbose=False,
    )
    if program is None:
        raise ExportError("torch.onnx.export returned no program")
    proto = program.model_proto
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    return proto.SerializeToString()


def _export_torchscript(model: LogitsOnly, example: torch.Tensor, metadata: dict[str, Any], opset: int) -> bytes:
    # Tracing, not scripting: the cells index module lists by Python-level plans that TorchScript cannot
    # compile. Eval mode has no data-dependent branches, and the check runs other batch sizes than the trace's.
    with torch.no_grad():
        traced = torch.jit.trace(model, (example,), check_trace=False, _store_inputs=False)
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer, _extra_files={METADATA_FILE: _json(metadata)})
    return buffer.getvalue()


def _export_program(model: LogitsOnly, example: torch.Tensor, metadata: dict[str, Any], opset: int) -> bytes:
    program = torch.export.export(model, (example,), dynamic_shapes={INPUT_NAME: {0: _batch_dim()}})
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={METADATA_FILE: _json(metadata)})
    return buffer.getvalue()


_EXPORTERS: dict[str, Callable[[LogitsOnly, torch.Tensor, dict[str, Any], int], bytes]] = {
    "onnx": _export_onnx,
    "torchscript": _export_torchscript,
    "exported": _export_program,
}


def _onnx_runner(data: bytes) -> Callable[[torch.Tensor], torch.Tensor]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return lambda x: torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0])


def _torchscript_runner(data: bytes) -> Callable[[torch.Tensor], torch.Tensor]:
    module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return lambda x: module(x)


def _program_runner(data: bytes) -> Callable[[torch.Tensor], torch.Tensor]:
    # torch.export.load unpickles; these are the bytes written a moment ago in this process.
    module = torch.export.load(io.BytesIO(data)).module()
    return lambda x: module(x)


_RUNNERS: dict[str, Callable[[bytes], Callable[[torch.Tensor], torch.Tensor]]] = {
    "onnx": _onnx_runner,
    "torchscript": _torchscript_runner,
    "exported": _program_runner,
}


def compare_with_pytorch(
    fmt: str, data: bytes, model: nn.Module, inputs: Sequence[torch.Tensor]
) -> tuple[float, float]:
    """The largest |exported - PyTorch| over ``inputs``, and the largest |logit| (the scale it is relative to)."""
    with _quiet_exporters():
        run = _RUNNERS[fmt](data)
        worst, scale = 0.0, 0.0
        with torch.no_grad():
            for x in inputs:
                expected = model(x)
                got = run(x)
                if tuple(got.shape) != tuple(expected.shape):
                    raise ExportMismatch(
                        f"{fmt} export gives logits of shape {tuple(got.shape)} for a batch of {x.shape[0]}, "
                        f"PyTorch {tuple(expected.shape)}",
                        math.inf,
                    )
                diff = (got.float() - expected).abs().max().item()
                worst = max(worst, diff if math.isfinite(diff) else math.inf)
                scale = max(scale, expected.abs().max().item())
    return worst, scale


def export_model(
    model_path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    fmt: str = "onnx",
    *,
    check: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    opset: int = ONNX_OPSET,
    check_batches: Sequence[int] = CHECK_BATCHES,
) -> ExportResult:
    """Export the ``model.pt`` at ``model_path`` (or in that folder) as ``fmt`` to ``output``.

    ``output`` defaults to the model file's name with the format's suffix, beside it; a folder
    puts that name in it. With ``check`` (the default) the written bytes are loaded back
    (onnxruntime for ONNX, torch for the others) and compared with the PyTorch model on random
    inputs of ``check_batches`` images; a max |diff| over ``tolerance`` raises `ExportMismatch`
    and leaves no file. Bad input raises an `ExportError` (or the `CheckpointError` of `load_model`).
    """
    started = time.perf_counter()
    check_format(fmt)
    if not (isinstance(tolerance, (int, float)) and tolerance >= 0 and math.isfinite(tolerance)):
        raise ExportError(f"tolerance must be a finite number >= 0, got {tolerance!r}")
    require_dependencies(fmt, check)
    source = resolve_model_path(model_path)
    loaded = load_model(source)
    target = output_path(source, output, fmt)
    metadata = export_metadata(loaded, source, fmt, opset if fmt == "onnx" else None)
    model = inference_model(loaded.model)
    example = sample_inputs(metadata, [_EXAMPLE_BATCH], seed=1)[0]
    try:
        with _quiet_exporters():
            data = _EXPORTERS[fmt](model, example, metadata, opset)
    except ExportError:
        raise
    except Exception as err:  # the exporters raise anything from torch._dynamo errors to protobuf limits
        raise ExportError(f"{fmt} export of {source} failed: {_first_line(err)}") from err
    max_abs_diff = None
    if check:
        try:
            max_abs_diff, scale = compare_with_pytorch(fmt, data, model, sample_inputs(metadata, check_batches))
        except ExportError:
            raise
        except Exception as err:  # a file the runtime cannot load or run is as wrong as one that computes wrong
            raise ExportError(f"{fmt} export of {source} does not run: {_first_line(err)}") from err
        if not max_abs_diff <= tolerance:
            raise ExportMismatch(
                f"{fmt} export of {source} differs from PyTorch: max |diff| {max_abs_diff:.3g} > tolerance "
                f"{tolerance:g} (largest |logit| {scale:.3g}); nothing written to {target}",
                max_abs_diff,
            )
    atomic_write_bytes(target, data)
    return ExportResult(target, fmt, max_abs_diff, time.perf_counter() - started, len(data), metadata)


def _first_line(err: BaseException, limit: int = 300) -> str:
    lines = [line.strip() for line in exception_summary(err).splitlines() if line.strip()]
    return printable(lines[0] if lines else type(err).__name__, limit)


def read_export_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of a file `export_model` wrote, in any of the three formats, without loading its program.

    TorchScript and `torch.export` files are zip archives, read with `zipfile` (``torch.export.load``
    would unpickle); ONNX files are read with ``onnx``, their values decoded from JSON.
    """
    file = Path(path)
    if not file.is_file():
        raise ExportError(f"{file}: no such file")
    if zipfile.is_zipfile(file):
        return _archive_metadata(file)
    return _onnx_metadata(file)


def _archive_metadata(file: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(file) as archive:
            # Both archives keep extra files at <root>/extra/<name>; the root folder's name varies.
            names = [n for n in archive.namelist() if n.split("/")[1:] == ["extra", METADATA_FILE]]
            if not names:
                raise ExportError(f"{file}: holds no {METADATA_FILE}; not written by nasnet export-model")
            text = archive.read(names[0]).decode("utf-8")
        metadata = json.loads(text)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"{file}: unreadable export metadata ({_first_line(err)})") from None
    if not isinstance(metadata, dict) or "nasnet_export" not in metadata:
        raise ExportError(f"{file}: {METADATA_FILE} is not nasnet export metadata")
    return metadata


def _onnx_metadata(file: Path) -> dict[str, Any]:
    if importlib.util.find_spec("onnx") is None:
        raise MissingExportDependency(f"{file}: reading ONNX metadata needs onnx, not installed: {EXPORT_EXTRA}")
    import onnx

    try:
        proto = onnx.load(str(file), load_external_data=False)
    except Exception as err:  # protobuf raises its own DecodeError, and others on odd files
        raise ExportError(f"{file}: neither an ONNX model nor a TorchScript/torch.export archive") from err
    metadata: dict[str, Any] = {}
    for entry in proto.metadata_props:
        try:
            metadata[entry.key] = json.loads(entry.value)
        except json.JSONDecodeError:  # a property some other tool added
            metadata[entry.key] = entry.value
    if "nasnet_export" not in metadata:
        raise ExportError(f"{file}: holds no nasnet metadata; not written by nasnet export-model")
    return metadata
