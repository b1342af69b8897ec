"""`train`: the one entry point that trains a child network or a final model.

The search calls it for every child; `nasnet train` calls it for final models.
Failures that belong to the architecture or the hardware (a non-finite loss,
running out of memory) come back as a failed `TrainResult` with the reason,
never as an exception.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from nasnet.data.arrays import Dataset, DataSplits, make_splits
from nasnet.errors import NasnetError
from nasnet.fileio import atomic_write_json, atomic_write_text
from nasnet.nn.counting import count_parameters
from nasnet.nn.network import ModelConfig, NASNet
from nasnet.nn.registry import create_model, genotype_config, is_model_name
from nasnet.space.genotype import Genotype
from nasnet.space.zoo import resolve_genotype
from nasnet.train.checkpoint import (
    CHECKPOINT_VERSION,
    MODEL_FORMAT,
    TRAIN_STATE_FORMAT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from nasnet.train.config import TrainConfig, resolve_config
from nasnet.train.loader import DeviceArray, DeviceData, eval_batches, steps_per_epoch, train_batches
from nasnet.train.step import TrainStep, autocast_for, is_out_of_memory, recompute_activations_for

STATE_FILE = "checkpoint.pt"
# On the CPU, evaluation batches of 1,000 raised a search worker's peak memory from 3.3 to 4.9 GB and a
# child's time from 23 to 60 s (a one-off probe with this cap lifted, 500 training images): larger is
# not faster there.
CPU_EVAL_BATCH = 256
MODEL_FILE = "model.pt"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"


@dataclass
class TrainResult:
    """The outcome of one training run.

    ``accuracy`` is the final validation accuracy: the search's reward. The
    test set is evaluated only when asked (``test_accuracy``) and never feeds
    a reward.
    """

    status: str
    accuracy: float | None = None
    best_accuracy: float | None = None
    test_accuracy: float | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    images_per_second: float = 0.0
    failure: str | None = None
    epochs_completed: int = 0
    params: int = 0
    model_path: str | None = None
    step_mode: str = "eager"  # "eager" or "cuda_graph": how the training steps ran

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TrainResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})


@dataclass
class Callbacks:
    """Optional hooks: ``on_step(step, total_steps)`` and ``on_epoch(record)`` after each epoch."""

    on_step: Callable[[int, int], None] | None = None
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    on_start: Callable[[int, int], None] | None = None  # (first step, total steps)
    on_phase: Callable[[str], None] | None = None  # "validating", "testing", "saving": long steps after training


class _NonFiniteLoss(Exception):
    pass


def default_device(requested: torch.device | str | None = None) -> torch.device:
    """``requested`` as a device; without one, CUDA when available, else the CPU."""
    device = torch.device(requested) if requested else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # so "cuda" and "cuda:0" compare equal
    return device


# ---- inputs ----------------------------------------------------------------------------


def prepare_data(
    data: DeviceData | DataSplits | Dataset | str | os.PathLike[str],
    device: torch.device,
    config: TrainConfig,
    include_test: bool = True,
) -> DeviceData:
    """Put ``data`` on ``device`` (unless it already is), applying the config's subsets."""
    if isinstance(data, DeviceData):
        if data.device != device:
            raise NasnetError(f"data lives on {data.device} but training runs on {device}")
        return subset_device_data(data, config.train_subset, config.val_subset, config.seed)
    if isinstance(data, (str, os.PathLike)):
        from nasnet.data.sources import load_splits

        data = load_splits(data)
    if isinstance(data, Dataset):
        data = make_splits(data)
    return DeviceData.from_splits(data, device, config.train_subset, config.val_subset, include_test, config.seed)


def subset_device_data(data: DeviceData, train_subset: int | None, val_subset: int | None, seed: int) -> DeviceData:
    if train_subset is None and val_subset is None:
        return data
    val = data.val.subset(val_subset, seed) if data.val is not None else None
    return dataclasses.replace(data, train=data.train.subset(train_subset, seed), val=val)


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


# ---- schedule and evaluation ----------------------------------------------------------


def lr_at(step: int, total_steps: int, config: TrainConfig, steps_in_epoch: int) -> float:
    """The learning rate at ``step``: linear warmup, then cosine or linear decay to 0."""
    warmup = min(round(config.warmup_epochs * steps_in_epoch), total_steps)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    progress = (step - warmup) / max(1, total_steps - warmup)
    if config.schedule == "triangle":
        return config.lr * max(0.0, 1.0 - progress)
    return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    array: DeviceArray,
    data: DeviceData,
    batch_size: int = 1000,
    channels_last: bool = True,
    precision: str = "auto",
    tta: bool = False,
) -> float:
    """Top-1 accuracy of ``model`` on ``array``; ``tta`` averages the logits of the image and its mirror."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=data.device)
    try:
        for x, y in eval_batches(array, data, batch_size, channels_last):
            with autocast_for(data.device, precision):
                logits = model(x).float()
                if tta:
                    logits = logits + model(x.flip(3)).float()
            correct += (logits.argmax(1) == y).sum()
    finally:
        model.train(was_training)
    return correct.item() / max(1, len(array))


def ema_with_warmup(decay: float) -> Callable:
    """An EMA update whose decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates.

    With a fixed 0.999, a run of a few hundred steps would evaluate weights
    still weighted heavily towards the initialisation.
    """

    @torch.no_grad()
    def update(ema_params: list[torch.Tensor], params: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        effective = min(decay, (1.0 + n) / (10.0 + n))
        floating = [(e, p) for e, p in zip(ema_params, params, strict=True) if e.is_floating_point()]
        if floating:
            torch._foreach_lerp_([e for e, _ in floating], [p for _, p in floating], 1.0 - effective)
        for e, p in zip(ema_params, params, strict=True):
            if not e.is_floating_point():
                e.copy_(p)  # counters such as BatchNorm's num_batches_tracked

    return update


# ---- the run ---------------------------------------------------------------------------


class _Run:
    """The state of one training run, so that it can be checkpointed and resumed."""

    def __init__(self, model: nn.Module, data: DeviceData, config: TrainConfig, device: torch.device) -> None:
        self.model = model
        self.data = data
        self.config = config
        self.device = device
        fmt = torch.channels_last if config.channels_last else torch.contiguous_format
        model.to(device=device, memory_format=fmt)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each convolution once per process
        self.ema = None
        if config.ema_decay is not None:
            self.ema = AveragedModel(model, multi_avg_fn=ema_with_warmup(config.ema_decay), use_buffers=True)
        if isinstance(model, NASNet):
            model.set_recompute_activations(recompute_activations_for(config, device))
        forward = torch.compile(model) if config.compile else model
        self.step_fn = TrainStep.for_model(model, config, device, forward)
        self.optimizer = self.step_fn.optimizer
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed)
        self.steps_in_epoch = steps_per_epoch(len(data.train), config.batch_size)
        self.total_steps = config.epochs * self.steps_in_epoch
        self.epoch = 0
        self.curve: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.check_every = 1 if device.type == "cpu" else 25

    @property
    def step(self) -> int:
        return self.epoch * self.steps_in_epoch

    @property
    def eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def state_dict(self, model_config: dict[str, Any] | None) -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state(), "data": self.generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": TRAIN_STATE_FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": rng,
            "curve": self.curve,
            "elapsed": self.elapsed,
            "train_config": self.config.to_dict(),
            "model_config": model_config,
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        saved = {**TrainConfig().to_dict(), **(state.get("train_config") or {})}  # fields added later: defaults
        changed = sorted(k for k, v in self.config.to_dict().items() if saved.get(k) != v and k != "cuda_graphs")
        if changed:
            raise CheckpointError(
                f"{source}: written for another training config (differs in {', '.join(changed)}); "
                "use a new output folder, or the same options to resume"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        self.generator.set_state(state["rng"]["data"].cpu())
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), self.device)
        self.epoch = int(state["epoch"])
        self.curve = list(state["curve"])
        self.elapsed = float(state["elapsed"])

    def train_epoch(self, callbacks: Callbacks) -> dict[str, Any]:
        config, model = self.config, self.model
        model.train()
        step_fn = self.step_fn
        step_fn.reset_totals()
        loss_sum = step_fn.loss_sum
        seen = 0
        started = time.perf_counter()
        step = self.step
        lr = config.lr
        is_nasnet = isinstance(model, NASNet)
        batches = train_batches(
            self.data, config.batch_size, self.generator, config.pad, config.flip, config.cutout, config.channels_last
        )
        for x, y in batches:
            lr = lr_at(step, self.total_steps, config, self.steps_in_epoch)
            step_fn.set_lr(lr)
            if is_nasnet:
                model.set_drop_path_progress(step / self.total_steps)
            step_fn(x, y)
            if self.ema is not None:
                self.ema.update_parameters(model)
            seen += len(y)
            step += 1
            if step % self.check_every == 0 and not torch.isfinite(loss_sum):
                raise _NonFiniteLoss(f"non-finite loss at epoch {self.epoch + 1}, step {step}")
            if callbacks.on_step is not None:
                callbacks.on_step(step, self.total_steps)
        if not torch.isfinite(loss_sum):
            raise _NonFiniteLoss(f"non-finite loss at epoch {self.epoch + 1}")
        seconds = time.perf_counter() - started
        self.elapsed += seconds
        self.epoch += 1
        return {
            "epoch": self.epoch,
            "train_loss": loss_sum.item() / max(1, seen),
            "train_accuracy": step_fn.correct.item() / max(1, seen),
            "lr": lr,
            "seconds": seconds,
            "images_per_second": seen / seconds if seconds > 0 else 0.0,
        }

    def validate(self, array: DeviceArray | None) -> float | None:
        if array is None or len(array) == 0:
            return None
        c = self.config
        batch = c.eval_batch_size if self.device.type != "cpu" else min(c.eval_batch_size, CPU_EVAL_BATCH)
        return evaluate(self.eval_model, array, self.data, batch, c.channels_last, c.precision, c.tta)


def _phase(callbacks: Callbacks, name: str) -> None:
    if callbacks.on_phase is not None:
        callbacks.on_phase(name)


def _write_metrics(out_dir: Path, curve: list[dict[str, Any]]) -> None:
    atomic_write_text(out_dir / METRICS_FILE, "".join(json.dumps(record) + "\n" for record in curve))


def _build_model(spec: Any, config: TrainConfig, data: DeviceData) -> tuple[nn.Module, ModelConfig | None]:
    if isinstance(spec, nn.Module):
        return spec, spec.config if isinstance(spec, NASNet) else None
    model_config = model_config_for(spec, config, data)
    torch.manual_seed(config.seed)
    return NASNet(model_config), model_config


def train(
    model: nn.Module | Genotype | ModelConfig | str | os.PathLike[str],
    data: DeviceData | DataSplits | Dataset | str | os.PathLike[str],
    config: TrainConfig | str | dict[str, Any] | None = "search",
    *,
    device: torch.device | str | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    evaluate_test: bool = False,
    callbacks: Callbacks | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a model, a genotype or a named model on ``data`` with a preset or config.

    Args:
        model: an `nn.Module` (a `NASNet` for drop path and the aux head), a
            `Genotype`, a genotype JSON path, a zoo genotype or model name, or
            a `ModelConfig`.
        data: a `DeviceData` already on the device (the search's workers keep
            one), `DataSplits`, a `Dataset`, or a dataset name or path.
        config: a preset name (``search``, ``search-fast``, ``cifar10-paper``,
            ``cifar10-short``, ``smoke``), a dict of fields, or a `TrainConfig`;
            ``overrides`` replace single fields.
        out_dir: where to write ``metrics.jsonl``, ``checkpoint.pt`` (while
            running), ``model.pt`` and ``result.json``. Without it nothing is
            written.
        resume: continue from ``out_dir/checkpoint.pt`` when it exists.
        evaluate_test: also report test-set accuracy (never used as a reward).
    """
    config = resolve_config(config, **overrides)
    device = default_device(device)
    callbacks = callbacks or Callbacks()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if resume and (out / RESULT_FILE).is_file() and not (out / STATE_FILE).exists():
            return TrainResult.from_dict(json.loads((out / RESULT_FILE).read_text()))
    device_data = prepare_data(data, device, config, include_test=evaluate_test)
    net, model_config = _build_model(model, config, device_data)
    params = count_parameters(net)
    run: _Run | None = None
    try:
        run = _Run(net, device_data, config, device)
        if resume and out is not None and (out / STATE_FILE).is_file():
            run.load_state_dict(load_checkpoint(out / STATE_FILE, TRAIN_STATE_FORMAT, device), out / STATE_FILE)
        return _train_loop(run, model_config, out, evaluate_test, callbacks, params)
    except _NonFiniteLoss as err:
        return _failed(run, str(err), params, out)
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        result = _failed(run, f"out of memory on {device}: {str(err).splitlines()[0][:200]}", params, out)
        if run is not None:
            run.step_fn.release()
        run = None  # drop the references so the memory can be freed
        del net
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return result
    finally:
        if run is not None:
            run.step_fn.release()  # a long-lived worker must not keep a finished child's graph pool


def _failed(run: _Run | None, reason: str, params: int, out: Path | None) -> TrainResult:
    result = TrainResult(
        status="failed",
        failure=reason,
        curve=list(run.curve) if run else [],
        seconds=run.elapsed if run else 0.0,
        epochs_completed=run.epoch if run else 0,
        params=params,
    )
    if out is not None:
        atomic_write_json(out / RESULT_FILE, result.to_dict())
        (out / STATE_FILE).unlink(missing_ok=True)
    return result


def _train_loop(
    run: _Run,
    model_config: ModelConfig | None,
    out: Path | None,
    evaluate_test: bool,
    callbacks: Callbacks,
    params: int,
) -> TrainResult:
    config = run.config
    config_dict = model_config.to_dict() if model_config is not None else None
    if out is not None and run.curve:
        _write_metrics(out, run.curve)  # drop lines of an epoch that ran past the last checkpoint
    if callbacks.on_start is not None:
        callbacks.on_start(run.step, run.total_steps)
    while run.epoch < config.epochs:
        record = run.train_epoch(callbacks)
        last = run.epoch == config.epochs
        if last or (config.eval_every and run.epoch % config.eval_every == 0):
            _phase(callbacks, "validating")
            record["val_accuracy"] = run.validate(run.data.val)
        run.curve.append(record)
        if out is not None:
            _write_metrics(out, run.curve)
            if config.checkpoint_every and run.epoch % config.checkpoint_every == 0 and not last:
                save_checkpoint(out / STATE_FILE, run.state_dict(config_dict))
        if callbacks.on_epoch is not None:
            callbacks.on_epoch(record)
    if evaluate_test:
        _phase(callbacks, "testing")
    val_curve = [r["val_accuracy"] for r in run.curve if r.get("val_accuracy") is not None]
    total_images = sum(r["images_per_second"] * r["seconds"] for r in run.curve)
    result = TrainResult(
        status="ok",
        accuracy=val_curve[-1] if val_curve else None,
        best_accuracy=max(val_curve) if val_curve else None,
        test_accuracy=run.validate(run.data.test) if evaluate_test else None,
        curve=run.curve,
        seconds=run.elapsed,
        images_per_second=total_images / run.elapsed if run.elapsed > 0 else 0.0,
        epochs_completed=run.epoch,
        params=params,
        step_mode=run.step_fn.mode,
    )
    if out is not None:
        _phase(callbacks, "saving")
        result.model_path = str(out / MODEL_FILE)
        save_model(out / MODEL_FILE, run.eval_model, model_config, run.data, config, result)
        atomic_write_json(out / RESULT_FILE, result.to_dict())
        (out / STATE_FILE).unlink(missing_ok=True)
    return result


# ---- final model files -----------------------------------------------------------------


def save_model(
    path: Path,
    model: nn.Module,
    model_config: ModelConfig | None,
    data: DeviceData,
    config: TrainConfig,
    result: TrainResult | None = None,
) -> Path:
    """A self-describing model file: weights, model config, normalization and class names."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return save_checkpoint(
        path,
        {
            "format": MODEL_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model_config": model_config.to_dict() if model_config is not None else None,
            "state_dict": state,
            "mean": data.mean.tolist(),
            "std": data.std.tolist(),
            "classes": list(data.classes),
            "train_config": config.to_dict(),
            "result": result.to_dict() if result is not None else None,
        },
    )


@dataclass
class LoadedModel:
    model: NASNet
    mean: list[float]
    std: list[float]
    classes: list[str]
    payload: dict[str, Any]


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> LoadedModel:
    """Load a ``model.pt`` written by `train` (weights only; nothing is executed)."""
    payload = load_checkpoint(path, MODEL_FORMAT)
    if payload.get("model_config") is None:
        raise CheckpointError(f"{path}: holds weights of a custom module, with no nasnet model config to rebuild it")
    config = ModelConfig.from_dict(payload["model_config"], source=f"{path}: model_config")
    model = NASNet(config)
    state = payload["state_dict"]
    state.pop("n_averaged", None)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path}: weights do not fit the stored model config ({err})") from None
    model.to(device)
    return LoadedModel(model, payload["mean"], payload["std"], payload["classes"], payload)
