"""`make_evaluator`: rebuild an evaluator from the plain data of its spec.

Worker processes, cluster nodes and a resumed experiment only ever receive
the spec, so every kind an experiment may record must be buildable here.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from nasnet.evaluate.base import EVALUATORS, EvalResult, Evaluator, EvaluatorError
from nasnet.space.genotype import Genotype


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
        return EvalResult.complete(float(value), {}, time.perf_counter() - start)


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
    if kind == "callable":
        raise EvaluatorError(
            f"this experiment used an in-process evaluator ({spec.get('name')}); pass it again as evaluator= to resume"
        )
    if kind == "import":
        return _imported(options)
    evaluator_class = EVALUATORS.get(kind)
    try:
        return evaluator_class(**options)
    except TypeError as err:
        raise EvaluatorError(f"evaluator {kind!r}: {err}") from None


def _imported(options: dict[str, Any]) -> Evaluator:
    """``{"kind": "import", "target": "module:function", "options": {...}}``: whatever that function builds."""
    module_name, _, attr = str(options.get("target", "")).partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        return make_evaluator(factory(**options.get("options", {})))
    except TypeError as err:
        raise EvaluatorError(f"evaluator 'import': {err}") from None


def list_evaluators() -> list[str]:
    """The evaluator kinds a spec may name (besides ``import``)."""
    return EVALUATORS.names()
