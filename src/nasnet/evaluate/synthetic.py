"""The ``synthetic`` evaluator: an instant reward from a fixed function of the genotype.

It exists so that tests, benchmarks and demonstrations can drive the whole
search machinery (strategies, store, executors) without training anything.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from nasnet.evaluate.base import EvalResult, Evaluator, EvaluatorError, register_evaluator
from nasnet.space.canonical import genotype_hash
from nasnet.space.genotype import Cell, Genotype
from nasnet.space.ops import op_spec
from nasnet.space.sizing import CHILD_SIZE

# How much the synthetic objective likes each of the paper's ops. An op a plug-in adds is neutral:
# the objective has no opinion of it, and the paper's ops keep their values, so rewards do not move.
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
NEUTRAL_OP_VALUE = 0.5


def _depth(cell: Cell) -> int:
    depth = [0, 0]
    for block in cell.blocks:
        depth.append(1 + max(depth[s] for s in block.inputs))
    return max(depth)


def _cell_score(cell: Cell) -> float:
    ops = [op for block in cell.blocks for op in block.ops]
    op_term = sum(_OP_VALUE.get(op, NEUTRAL_OP_VALUE) for op in ops) / len(ops)
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


def synthetic_costs(
    genotype: Genotype,
    base_filters: int = CHILD_SIZE.base_filters,
    cells_per_stack: int = CHILD_SIZE.cells_per_stack,
) -> dict[str, float]:
    """Rough multiply-adds and parameters from the registered op costs (synthetic units, for cost-aware rewards).

    The default size is a search child's. Each op's cost is its ``nasnet.space.OpSpec.cost``.
    """
    normal = sum(op_spec(op).cost for block in genotype.normal.blocks for op in block.ops)
    reduction = sum(op_spec(op).cost for block in genotype.reduction.blocks for op in block.ops)
    c2 = base_filters**2
    params = c2 * (normal * 3 * cells_per_stack * 5 + reduction * 2 * 3)  # widths grow by 1, 2, 4 over the stacks
    mult_adds = c2 * 1024 * (normal * cells_per_stack * (1 + 4 / 4 + 16 / 16) + reduction * 2)
    return {"params": float(params), "mult_adds": float(mult_adds)}


@register_evaluator
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
        return EvalResult.complete(value, synthetic_costs(genotype), time.perf_counter() - start)
