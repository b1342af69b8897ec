"""Evaluators turn a genotype into a result: train the child, or score it instantly.

An evaluator is described by plain data (`Evaluator.spec`), so that worker
processes and cluster nodes can rebuild it with `make_evaluator`, and an
experiment can rebuild it on resume.

* ``train``: trains the child with `nasnet.train.train` and a preset (the
  paper's ``search`` proxy by default). The dataset is loaded once per
  evaluator and stays on the device across children.
* ``synthetic``: an instant reward from a fixed, non-trivial function of the
  genotype, for tests, benchmarks and demonstrations of the machinery.
* ``import``: any ``module:function`` that builds an evaluator.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import NasnetError, exception_summary
from nasnet.space.canonical import genotype_hash
from nasnet.space.genotype import Cell, Genotype


class EvaluatorError(NasnetError, ValueError):
    """An evaluator specification is invalid."""


@dataclass
class EvalResult:
    """The outcome of evaluating one child."""

    status: str  # "ok" or "failed"
    accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "accuracy": self.accuracy,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> EvalResult:
        return cls(
            obj["status"], obj.get("accuracy"), obj.get("metrics") or {}, obj.get("seconds", 0.0), obj.get("failure")
        )

    @classmethod
    def failed(cls, reason: str, seconds: float = 0.0) -> EvalResult:
        return cls("failed", seconds=seconds, failure=reason)

    @classmethod
    def from_exception(cls, err: BaseException, seconds: float = 0.0) -> EvalResult:
        """A failed result whose reason is ``error: Type: message``."""
        return cls.failed(f"error: {exception_summary(err)}", seconds)


class Evaluator(ABC):
    """Base class: ``setup`` once per process, then ``evaluate`` per child.

    An executor may set ``report`` to a function that takes a dict such as
    ``{"phase": "training", "epoch": 3, "epochs": 20}``; an evaluator calls it
    as a child progresses, so that the live view can say more than "busy".
    """

    kind: str = ""
    report: Callable[[dict[str, Any]], None] | None = None

    def progress(self, **info: Any) -> None:
        """Tell the executor how the current child is doing (a no-op unless it listens)."""
        if self.report is not None:
            self.report(info)

    @abstractmethod
    def spec(self) -> dict[str, Any]: ...

    def setup(self, device: str | None = None, data: Any = None) -> None:  # noqa: B027 (optional hook)
        """Heavy one-time work (putting data onto ``device``); the default does nothing.

        ``data`` is what `shared_data` returned in the driver, when an executor
        ships one copy to every worker (Ray's object store).
        """

    def shared_data(self) -> Any:
        """Data to load once in the driver and share with every worker; ``None`` if there is none."""
        return None

    def prepare(self) -> None:  # noqa: B027 (optional hook)
        """Driver-side checks and one-time work before any worker starts (fail early, fill caches)."""

    @abstractmethod
    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult: ...

    def __call__(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        return self.evaluate(genotype, trial)


# ---- synthetic ----------------------------------------------------------------------------

# How much the synthetic objective likes each op, and its cost in units of C^2 multiply-adds.
_OP_VALUE = {
    "identity": 0.35,
    "conv_1x3_3x1": 0.55,
    "conv_1x7_7x1": 0.25,
    "dil_conv_3x3": 0.6,
    "avg_pool_3x3": 0.45,
    "max_pool_3x3": 0.5,
    "max_pool_5x5": 0.3,
    "max_pool_7x7": 0.2,
    "conv_1x1": 0.4,
    "conv_3x3": 0.6,
    "sep_conv_3x3": 0.95,
    "sep_conv_5x5": 0.9,
    "sep_conv_7x7": 0.75,
}
_OP_COST = {
    "identity": 0.0,
    "conv_1x3_3x1": 6.0,
    "conv_1x7_7x1": 14.0,
    "dil_conv_3x3": 9.0,
    "avg_pool_3x3": 0.0,
    "max_pool_3x3": 0.0,
    "max_pool_5x5": 0.0,
    "max_pool_7x7": 0.0,
    "conv_1x1": 1.0,
    "conv_3x3": 9.0,
    "sep_conv_3x3": 2.6,
    "sep_conv_5x5": 3.6,
    "sep_conv_7x7": 5.1,
}


def _depth(cell: Cell) -> int:
    depth = [0, 0]
    for block in cell.blocks:
        depth.append(1 + max(depth[s] for s in block.inputs))
    return max(depth)


def _cell_score(cell: Cell) -> float:
    ops = [op for block in cell.blocks for op in block.ops]
    op_term = sum(_OP_VALUE[op] for op in ops) / len(ops)
    depth_term = math.exp(-((_depth(cell) - 3) ** 2) / 4)  # prefers cells about 3 blocks deep
    mixing = sum(len(set(block.inputs)) == 2 for block in cell.blocks) / len(cell.blocks)
    reads_both = float({0, 1} <= cell.consumed_states())
    adds = sum(block.combine == "add" for block in cell.blocks) / len(cell.blocks)
    return 0.5 * op_term + 0.2 * depth_term + 0.1 * mixing + 0.1 * reads_both + 0.1 * adds


def synthetic_objective(genotype: Genotype) -> float:
    """A fixed, non-trivial function of the genotype in [0, 1] (no training involved).

    It rewards separable convolutions, cells about three blocks deep, blocks
    that mix two different states, cells that read both inputs, and ``add``
    combines; the normal cell counts twice as much as the reduction cell.
    """
    return (2 * _cell_score(genotype.normal) + _cell_score(genotype.reduction)) / 3


def synthetic_costs(genotype: Genotype, base_filters: int = 16, cells_per_stack: int = 2) -> dict[str, float]:
    """Rough multiply-adds and parameters from op costs (synthetic units, for cost-aware rewards)."""
    normal = sum(_OP_COST[op] for block in genotype.normal.blocks for op in block.ops)
    reduction = sum(_OP_COST[op] for block in genotype.reduction.blocks for op in block.ops)
    c2 = base_filters**2
    params = c2 * (normal * 3 * cells_per_stack * 5 + reduction * 2 * 3)  # widths grow by 1, 2, 4 over the stacks
    mult_adds = c2 * 1024 * (normal * cells_per_stack * (1 + 4 / 4 + 16 / 16) + reduction * 2)
    return {"params": float(params), "mult_adds": float(mult_adds)}


class SyntheticEvaluator(Evaluator):
    """Instant rewards from `synthetic_objective`, optional seeded noise and a fixed delay per trial.

    By default the noise is seeded by the genotype (the same cell always scores
    the same); ``noise_per_trial=True`` seeds it by the trial too, like the
    run-to-run noise of real training, so that evaluating a cell again gives
    another value.
    """

    kind = "synthetic"

    def __init__(
        self, noise: float = 0.0, delay: float = 0.0, fail_rate: float = 0.0, noise_per_trial: bool = False
    ) -> None:
        if noise < 0 or delay < 0 or not 0 <= fail_rate <= 1:
            raise EvaluatorError("synthetic evaluator: noise and delay must be >= 0, fail_rate in [0, 1]")
        self.noise = noise
        self.delay = delay
        self.fail_rate = fail_rate
        self.noise_per_trial = bool(noise_per_trial)

    def spec(self) -> dict[str, Any]:
        spec = {"kind": self.kind, "noise": self.noise, "delay": self.delay, "fail_rate": self.fail_rate}
        if self.noise_per_trial:
            spec["noise_per_trial"] = True
        return spec

    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        start = time.perf_counter()
        if self.delay:
            time.sleep(self.delay)
        digest = int(genotype_hash(genotype), 16) if self.noise or self.fail_rate else 0
        if self.fail_rate and (digest % 10_000) / 10_000 < self.fail_rate:
            return EvalResult.failed("synthetic failure", time.perf_counter() - start)
        value = synthetic_objective(genotype)
        if self.noise:
            # Noise seeded by the genotype (and, if asked, the trial): reproducible either way.
            seed = digest >> 16
            if self.noise_per_trial:
                seed = int(hashlib.sha256(f"{digest}:{trial}".encode()).hexdigest()[:12], 16)
            value += self.noise * (seed % 2001 - 1000) / 1000
        return EvalResult("ok", value, synthetic_costs(genotype), time.perf_counter() - start)


# ---- training ------------------------------------------------------------------------------

MAX_IMAGE_SIZE = 1024  # beyond any NASNet input (331 px); a larger resize would decode into tens of GB


class TrainingEvaluator(Evaluator):
    """Train each child with a preset and report its validation accuracy.

    Args:
        data: a dataset name or path (`nasnet.data.load_dataset`).
        preset: a training preset (``search`` is the paper's proxy).
        overrides: training fields to change, e.g. ``{"epochs": 10}``.
        val_size: training images held out as the reward set.
        image_size: resize ImageFolder images to this size.
    """

    kind = "train"

    def __init__(
        self,
        data: str,
        preset: str = "search",
        overrides: dict[str, Any] | None = None,
        val_size: int = 5000,
        image_size: int | None = None,
    ) -> None:
        from nasnet.train.config import get_preset

        self.data_spec = str(data)
        self.preset = preset
        self.overrides = dict(overrides or {})
        self.val_size = val_size
        self.image_size = image_size
        self.config = get_preset(preset, **self.overrides)  # validate now, not in a worker
        self._data = None
        self._device = None

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "data": self.data_spec,
            "preset": self.preset,
            "overrides": self.overrides,
            "val_size": self.val_size,
            "image_size": self.image_size,
        }

    def prepare(self) -> None:
        from nasnet.data.sources import load_splits
        from nasnet.errors import short_repr

        if isinstance(self.val_size, bool) or not isinstance(self.val_size, int) or self.val_size < 0:
            raise EvaluatorError(f"val_size (--val-size) must be an integer >= 0, got {short_repr(self.val_size)}")
        if self.image_size is not None and (
            isinstance(self.image_size, bool)
            or not isinstance(self.image_size, int)
            or not 1 <= self.image_size <= MAX_IMAGE_SIZE
        ):
            raise EvaluatorError(
                f"image_size (--image-size) must be an integer from 1 to {MAX_IMAGE_SIZE}, "
                f"got {short_repr(self.image_size)}"
            )
        # Decode (and cache) the dataset once here, so that workers start from the cache, and hold out
        # the reward set as the workers will: a missing or broken dataset, or a val_size the training
        # set cannot spare, is reported before the experiment is created.
        load_splits(self.data_spec, val_size=self.val_size, seed=0, image_size=self.image_size)

    def shared_data(self) -> Any:
        from nasnet.data.sources import load_splits

        # The split seed is fixed: every child is rewarded on the same held-out images.
        return load_splits(self.data_spec, val_size=self.val_size, seed=0, image_size=self.image_size)

    def setup(self, device: str | None = None, data: Any = None) -> None:
        from nasnet.train.trainer import default_device, prepare_data

        self._device = default_device(device)
        splits = data if data is not None else self.shared_data()
        self._data = prepare_data(splits, self._device, self.config, include_test=False)

    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        from nasnet.nn.counting import count_mult_adds
        from nasnet.train.trainer import Callbacks, model_config_for, train

        if self._data is None:
            self.setup()
        start = time.perf_counter()
        try:
            model_config = model_config_for(genotype, self.config, self._data)
            memory = _CudaMemory(self._device)
            epochs = self.config.epochs
            callbacks = Callbacks(
                on_start=lambda step, total: self.progress(phase="training", epoch=1, epochs=epochs),
                on_epoch=lambda record: self.progress(phase="training", epoch=record["epoch"] + 1, epochs=epochs),
                on_phase=lambda name: self.progress(phase=name),
            )
            result = train(model_config, self._data, self.config, device=self._device, callbacks=callbacks)
            if not result.ok:
                return EvalResult.failed(result.failure or "training failed", time.perf_counter() - start)
            metrics = {
                "params": result.params,
                "mult_adds": count_mult_adds(model_config),
                "images_per_second": result.images_per_second,
                "train_seconds": result.seconds,
                "step_mode": result.step_mode,
                **memory.report(),
                "curve": [
                    {k: r.get(k) for k in ("epoch", "train_loss", "train_accuracy", "val_accuracy")}
                    for r in result.curve
                ],
            }
            return EvalResult("ok", result.accuracy, metrics, time.perf_counter() - start)
        except Exception as err:  # a child must never take the search down
            return EvalResult.from_exception(err, time.perf_counter() - start)


class _CudaMemory:
    """Peak and left-over CUDA memory of one child, so that a leak across children shows in the metrics."""

    def __init__(self, device: Any) -> None:
        import torch

        self.cuda = device is not None and torch.device(device).type == "cuda"
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(device)
        self.device = device

    def report(self) -> dict[str, float]:
        if not self.cuda:
            return {}
        import gc

        import torch

        gc.collect()
        mib = 2**20
        return {
            "cuda_peak_mib": torch.cuda.max_memory_allocated(self.device) / mib,
            "cuda_allocated_after_mib": torch.cuda.memory_allocated(self.device) / mib,
        }


# ---- construction ------------------------------------------------------------------------------


class _CallableEvaluator(Evaluator):
    """Wraps a plain ``genotype -> accuracy`` function (in-process use only)."""

    kind = "callable"

    def __init__(self, function: Any) -> None:
        self.function = function

    def spec(self) -> dict[str, Any]:
        name = f"{getattr(self.function, '__module__', '?')}.{getattr(self.function, '__qualname__', '?')}"
        return {"kind": self.kind, "name": name}

    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        start = time.perf_counter()
        value = self.function(genotype)
        if isinstance(value, EvalResult):
            return value
        return EvalResult("ok", float(value), {}, time.perf_counter() - start)


def make_evaluator(spec: dict[str, Any] | Evaluator | Any) -> Evaluator:
    """An evaluator from its spec, an `Evaluator`, or a ``genotype -> accuracy`` callable."""
    if isinstance(spec, Evaluator):
        return spec
    if callable(spec) and not isinstance(spec, dict):
        return _CallableEvaluator(spec)
    if not isinstance(spec, dict) or "kind" not in spec:
        raise EvaluatorError(f"evaluator spec must be a dict with a 'kind', got {spec!r}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    kind = spec["kind"]
    try:
        if kind == "synthetic":
            return SyntheticEvaluator(**options)
        if kind == "train":
            return TrainingEvaluator(**options)
        if kind == "import":
            module_name, _, attr = str(options.pop("target", "")).partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            return make_evaluator(factory(**options.get("options", {})))
    except TypeError as err:
        raise EvaluatorError(f"evaluator {kind!r}: {err}") from None
    if kind == "callable":
        raise EvaluatorError(
            f"this experiment used an in-process evaluator ({spec.get('name')}); pass it again as evaluator= to resume"
        )
    raise EvaluatorError(f"unknown evaluator kind {kind!r}; expected synthetic, train or import")
