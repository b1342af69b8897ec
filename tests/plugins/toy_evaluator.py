"""A toy evaluator, registered as a plug-in (the recipe in docs/extending.md): scores separable convolutions."""

from __future__ import annotations

import time
from typing import Any

from nasnet.evaluate import EvalResult, Evaluator, register_evaluator
from nasnet.space import Genotype


@register_evaluator
class SeparableShare(Evaluator):
    """Accuracy = ``weight`` x the share of separable convolutions among the genotype's ops."""

    kind = "toy-separable"

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = float(weight)

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "weight": self.weight}

    def evaluate(self, genotype: Genotype, trial: int = 0) -> EvalResult:
        start = time.perf_counter()
        ops = [op for cell in (genotype.normal, genotype.reduction) for block in cell.blocks for op in block.ops]
        share = sum(op.startswith("sep_conv") for op in ops) / len(ops)
        return EvalResult.complete(self.weight * share, {"ops": len(ops)}, time.perf_counter() - start)
