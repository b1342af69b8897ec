"""`train`: the one entry point that trains a child network or a final model.

The search calls it for every child; `nasnet train` calls it for final models.
Failures that belong to the architecture or the hardware (a non-finite loss,
running out of memory) come back as a failed `TrainResult` with the reason,
never as an exception.
"""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from nasnet.data.arrays import Dataset, DataSplits
from nasnet.fileio import atomic_write_json, atomic_write_text
from nasnet.nn.counting import count_parameters
from nasnet.nn.network import ModelConfig, NASNet
from nasnet.space.genotype import Genotype
from nasnet.store.trial import TrialState
from nasnet.train.checkpoint import (
    CHECKPOINT_VERSION,
    TRAIN_STATE_FORMAT,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from nasnet.train.config import TrainConfig, resolve_config
from nasnet.train.evaluation import CPU_EVAL_BATCH, Accuracy, evaluate_accuracy
from nasnet.train.inputs import default_device, prepare_data
from nasnet.train.loader import DeviceArray, DeviceData, steps_per_epoch, train_batches
from nasnet.train.model_file import MODEL_FILE, save_model
from nasnet.train.models import ResolvedModel, build_network, train_config_for
from nasnet.train.result import RESULT_FILE, Callbacks, TrainResult
from nasnet.train.schedule import ema_with_warmup, lr_at
from nasnet.train.step import TrainStep, is_out_of_memory

STATE_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"


class _NonFiniteLoss(Exception):
    pass


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
            model.set_recompute_activations(bool(config.recompute_activations))  # null: no
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

    def validate(self, array: DeviceArray | None) -> Accuracy | None:
        """Top-1 and top-5 accuracy of the evaluated weights: the EMA's where the run keeps one."""
        if array is None or len(array) == 0:
            return None
        c = self.config
        batch = c.eval_batch_size if self.device.type != "cpu" else min(c.eval_batch_size, CPU_EVAL_BATCH)
        return evaluate_accuracy(self.eval_model, array, self.data, batch, c.channels_last, c.precision, c.tta)


def _phase(callbacks: Callbacks, name: str) -> None:
    if callbacks.on_phase is not None:
        callbacks.on_phase(name)


def _write_metrics(out_dir: Path, curve: list[dict[str, Any]]) -> None:
    atomic_write_text(out_dir / METRICS_FILE, "".join(json.dumps(record) + "\n" for record in curve))


def train(
    model: nn.Module | Genotype | ModelConfig | ResolvedModel | str | os.PathLike[str],
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
            `Genotype`, a genotype JSON path, a zoo genotype or model name
            (looked up by ``nasnet.nn.resolve_architecture``), a `ModelConfig`
            (fitted to ``data`` and ``config``), or a `ResolvedModel` (built as
            it is).
        data: a `DeviceData` already on the device (the search's workers keep
            one), `DataSplits`, a `Dataset`, or a dataset name or path.
        config: a preset name (``search``, ``search-fast``, ``cifar10-paper``,
            ``cifar10-short``, ``imagenet-mobile``, ``imagenet-large``,
            ``smoke``), a dict of fields, or a `TrainConfig`; ``overrides``
            replace single fields. A named model keeps its own dropout,
            drop path and auxiliary head unless ``overrides`` (or the
            config's ``model_overrides``) name them; the run's config
            records what it trained with.
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
    if isinstance(data, (str, os.PathLike)) and config.image_size is not None:
        from nasnet.data.sources import load_splits

        data = load_splits(data, image_size=config.image_size)
    device_data = prepare_data(data, device, config, include_test=evaluate_test)
    net, model_config = build_network(model, config, device_data)
    config = train_config_for(model, config, model_config)
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
        state=TrialState.FAILED,
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
            accuracy = run.validate(run.data.val)
            record["val_accuracy"] = accuracy.top1 if accuracy is not None else None
            if accuracy is not None and accuracy.top5 is not None:
                record["val_top5_accuracy"] = accuracy.top5
        run.curve.append(record)
        if out is not None:
            _write_metrics(out, run.curve)
            if config.checkpoint_every and run.epoch % config.checkpoint_every == 0 and not last:
                save_checkpoint(out / STATE_FILE, run.state_dict(config_dict))
        if callbacks.on_epoch is not None:
            callbacks.on_epoch(record)
    test = None
    if evaluate_test:
        _phase(callbacks, "testing")
        test = run.validate(run.data.test)
    val_curve = [r["val_accuracy"] for r in run.curve if r.get("val_accuracy") is not None]
    total_images = sum(r["images_per_second"] * r["seconds"] for r in run.curve)
    result = TrainResult(
        state=TrialState.COMPLETE,
        accuracy=val_curve[-1] if val_curve else None,
        best_accuracy=max(val_curve) if val_curve else None,
        test_accuracy=test.top1 if test is not None else None,
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
