"""The evaluator interface: what the search and the executors need to know of any evaluator.

`EvalResult` is the trial vocabulary's (`nasnet.store.trial`): the executors and the store carry
it on unchanged. Kept free of torch and of the trainer, so that the executors and the search
loop can import it without pulling in what a particular evaluator needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from nasnet.errors import NasnetError
from nasnet.registry import Registry
from nasnet.space.genotype import Genotype
from nasnet.store.trial import EvalResult


class EvaluatorError(NasnetError, ValueError):
    """An evaluator specification is invalid."""


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


# Evaluator classes by ``kind``, filled as their modules are imported (`nasnet.evaluate` imports the
# built-in ones); this module imports none of them.
EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator kind", "nasnet.evaluators", EvaluatorError)


def register_evaluator(cls: type[Evaluator]) -> type[Evaluator]:
    """Class decorator: register ``cls`` under its ``kind``, so that ``{"kind": cls.kind, ...}`` specs build it."""
    return EVALUATORS.register(cls.kind, cls)
