"""What a training run returns, and the hooks it calls while it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nasnet.store.trial import TrialState, as_plain_dict, known_fields

RESULT_FILE = "result.json"


@dataclass
class TrainResult:
    """The outcome of one training run.

    ``accuracy`` is the final validation accuracy: the search's reward. The
    test set is evaluated only when asked (``test_accuracy``) and never feeds
    a reward.
    """

    state: TrialState  # COMPLETE or FAILED, the trial vocabulary's
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
        return self.state == TrialState.COMPLETE

    def to_dict(self) -> dict[str, Any]:
        return as_plain_dict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> TrainResult:
        """A result as `to_dict` wrote it; also one written before the trial vocabulary (``"status": "ok"``)."""
        values = known_fields(cls, obj)
        legacy = {"ok": TrialState.COMPLETE, "failed": TrialState.FAILED}
        values["state"] = TrialState(obj["state"]) if "state" in obj else legacy[obj["status"]]
        return cls(**values)


@dataclass
class Callbacks:
    """Optional hooks: ``on_step(step, total_steps)`` and ``on_epoch(record)`` after each epoch."""

    on_step: Callable[[int, int], None] | None = None
    on_epoch: Callable[[dict[str, Any]], None] | None = None
    on_start: Callable[[int, int], None] | None = None  # (first step, total steps)
    on_phase: Callable[[str], None] | None = None  # "validating", "testing", "saving": long steps after training
