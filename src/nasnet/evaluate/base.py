"""The evaluator interface: what the search and the executors need to know of any evaluator.

Kept free of torch and of the trainer, so that the executors and the search
loop can import it without pulling in what a particular evaluator needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import NasnetError, exception_summary
from nasnet.space.genotype import Genotype


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
