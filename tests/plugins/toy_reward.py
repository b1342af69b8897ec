"""A toy reward, registered as a plug-in (the recipe in docs/extending.md): accuracy minus a fixed penalty."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasnet.evaluate import RewardError, RewardFn, register_reward


@register_reward("toy-penalty")
def penalised(spec: Mapping[str, Any]) -> RewardFn:
    unknown = sorted(set(spec) - {"kind", "penalty"})
    if unknown:
        raise RewardError(f"reward toy-penalty: unknown field(s) {unknown}")
    penalty = float(spec.get("penalty", 0.1))
    return lambda accuracy, metrics: accuracy - penalty
