"""The ``train`` evaluator: train each child with a preset and reward its validation accuracy.

The trainer, the dataset loaders and torch are imported inside the methods:
importing `nasnet.evaluate` (as every executor and the command line do) stays
cheap, and only a process that trains a child pays for them.
"""

from __future__ import annotations

import time
from typing import Any

from nasnet.evaluate.base import EvalResult, Evaluator, EvaluatorError, register_evaluator
from nasnet.space.genotype import Genotype
from nasnet.validation import check_int

MAX_IMAGE_SIZE = 1024  # beyond any NASNet input (331 px); a larger resize would decode into tens of GB


@register_evaluator
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

        check_int("val_size (--val-size)", self.val_size, 0, error=EvaluatorError)
        if self.image_size is not None:
            check_int("image_size (--image-size)", self.image_size, 1, MAX_IMAGE_SIZE, EvaluatorError)
        # Decode (and cache) the dataset once here, so that workers start from the cache, and hold out
        # the reward set as the workers will: a missing or broken dataset, or a val_size the training
        # set cannot spare, is reported before the experiment is created.
        load_splits(self.data_spec, val_size=self.val_size, seed=0, image_size=self.image_size)

    def shared_data(self) -> Any:
        from nasnet.data.sources import load_splits

        # The split seed is fixed: every child is rewarded on the same held-out images.
        return load_splits(self.data_spec, val_size=self.val_size, seed=0, image_size=self.image_size)

    def setup(self, device: str | None = None, data: Any = None) -> None:
        from nasnet.train import default_device, prepare_data

        self._device = default_device(device)
        splits = data if data is not None else self.shared_data()
        self._data = prepare_data(splits, self._device, self.config, include_test=False)

    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        from nasnet.nn.counting import count_mult_adds
        from nasnet.train import Callbacks, ResolvedModel, model_config_for, train

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
            # Resolved once above: the trainer builds this config as it is, and the metrics count the same one.
            result = train(
                ResolvedModel(model_config), self._data, self.config, device=self._device, callbacks=callbacks
            )
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
            return EvalResult.complete(result.accuracy, metrics, time.perf_counter() - start)
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
