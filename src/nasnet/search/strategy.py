"""The ask/tell strategy interface, as in Optuna.

``ask()`` proposes a decision sequence; ``tell(trial)`` reports the finished
trial, a `FrozenTrial` as the store recorded it (its ``value`` is the reward,
``None`` for a failed trial). Many trials may be in flight, and their
results may arrive in any order: whatever a strategy needs back at tell time
it puts in the proposal's ``info``, which the store keeps with the trial.

A strategy implements ``propose()`` and ``observe(trial, reward)``; the base
class's ``ask``/``tell`` wrap them and keep the ``asked``/``told`` counts, so
that no strategy counts for itself. Strategies register by name in
`STRATEGIES` (``@register_strategy`` on the class).

A strategy's state (``state_dict``) holds tensors, numbers, strings, lists and
dicts only, so it round-trips through `torch.save` and
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import inspect
import io
import math
import numbers
import types
import typing
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from nasnet.errors import NasnetError, exception_summary, short_repr
from nasnet.registry import Registry
from nasnet.space.canonical import genotype_hash
from nasnet.space.encoding import SearchSpace
from nasnet.store.trial import FrozenTrial, TrialState
from nasnet.validation import check_int


class StrategyError(NasnetError, ValueError):
    """An unknown strategy, an unknown option, or a bad option value."""


@dataclass(frozen=True)
class Proposal:
    """What a strategy asks to be evaluated."""

    decisions: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)


def frozen_trial(space: SearchSpace, number: int, proposal: Proposal, reward: float | None) -> FrozenTrial:
    """A finished trial for ``proposal`` (failed when ``reward`` is None), to drive a strategy by hand."""
    genotype = space.from_decisions(proposal.decisions)
    state = TrialState.FAILED if reward is None else TrialState.COMPLETE
    return FrozenTrial(
        number, state, genotype, genotype_hash(genotype), tuple(proposal.decisions), dict(proposal.info), reward
    )


def summarize_decision_probabilities(space: SearchSpace, step_means: list[list[float]]) -> dict[str, Any]:
    """Per cell kind, the mean probability of each op, input state and combine over that kind's decisions.

    ``step_means[t]`` is the probability of each choice at decision ``t`` (in `SearchSpace.decision_names`
    order). An input decision of block b chooses among states 0 .. 1+b, so a state's probability is
    its mass summed over the input decisions that can choose it, divided by their number.
    """
    groups = {"op": ("ops", list(space.ops)), "input": ("inputs", None), "combine": ("combines", list(space.combines))}
    totals: dict[str, dict[str, dict[str, float]]] = {}
    counts: dict[tuple[str, str], int] = {}
    for name, probs in zip(space.decision_names(), step_means, strict=True):
        kind, _, field = name.split(".")
        group, labels = next(value for prefix, value in groups.items() if field.startswith(prefix))
        table = totals.setdefault(kind, {}).setdefault(group, {})
        counts[kind, group] = counts.get((kind, group), 0) + 1
        for label, p in zip(labels or [str(state) for state in range(len(probs))], probs, strict=True):
            table[label] = table.get(label, 0.0) + float(p)
    return {
        kind: {
            group: {label: total / counts[kind, group] for label, total in table.items()}
            for group, table in parts.items()
        }
        for kind, parts in totals.items()
    }


class Strategy(ABC):
    """Base class of search strategies: subclasses implement `propose` and `observe`."""

    name: ClassVar[str]

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space = space
        self.seed = seed
        self.asked = 0
        self.told = 0

    def ask(self) -> Proposal:
        """The next decision sequence to evaluate."""
        proposal = self.propose()
        self.asked += 1
        return proposal

    def tell(self, trial: FrozenTrial) -> None:
        """Report a finished trial (``trial.value`` is its reward, None if it failed)."""
        self.observe(trial, trial.value)
        self.told += 1

    @abstractmethod
    def propose(self) -> Proposal: ...

    @abstractmethod
    def observe(self, trial: FrozenTrial, reward: float | None) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {"asked": self.asked, "told": self.told}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.asked = int(state["asked"])
        self.told = int(state["told"])

    def describe(self) -> dict[str, Any]:
        """A few numbers for progress views and `nasnet status`."""
        return {"asked": self.asked, "told": self.told}

    def learned(self) -> dict[str, Any] | None:
        """A small JSON summary of what the strategy now prefers, kept with every snapshot for reports.

        A policy-based strategy returns, per cell kind (``normal``, ``reduction``), the probability
        it gives each op, each input state and each combine: ``{"normal": {"ops": {name: p},
        "inputs": {state: p}, "combines": {name: p}}, ...}``. It must leave the strategy's state (and
        its random generators) untouched. The default, for strategies without a policy, is None.
        """
        return None

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.state_dict(), buffer)
        return buffer.getvalue()

    def load_bytes(self, data: bytes) -> None:
        self.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    state = rng.bit_generator.state
    inner = state["state"]
    # 128-bit integers as strings, so the state is plain data for any serializer.
    return {
        "bit_generator": state["bit_generator"],
        "state": str(inner["state"]),
        "inc": str(inner["inc"]),
        "has_uint32": state["has_uint32"],
        "uinteger": state["uinteger"],
    }


def set_rng_state(rng: np.random.Generator, saved: dict[str, Any]) -> None:
    rng.bit_generator.state = {
        "bit_generator": saved["bit_generator"],
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": saved["has_uint32"],
        "uinteger": saved["uinteger"],
    }


# Filled by `register_strategy` as strategy modules are imported. This module never imports them
# (they import it, so doing so would be a cycle): `nasnet.search` imports the built-in ones, and
# nothing here can be reached without that package having been imported first.
STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "nasnet.strategies", StrategyError)


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: register ``cls`` under its ``name``."""
    return STRATEGIES.register(cls.name, cls)


def list_strategies() -> list[str]:
    return STRATEGIES.names()


def strategy_options(name: str) -> dict[str, Any]:
    """The options of strategy ``name`` with their defaults."""
    signature = inspect.signature(STRATEGIES.get(name).__init__)
    return {
        key: param.default
        for key, param in signature.parameters.items()
        if key not in ("self", "space", "seed") and param.default is not inspect.Parameter.empty
    }


MAX_SEED = 2**63  # torch and numpy generators take seeds in [0, 2**63)


def _option_types(cls: type[Strategy]) -> dict[str, Any]:
    """The annotated type of each constructor option (``float``, ``int``, ``str``, ``float | None``...)."""
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that cannot be resolved: such options are not type-checked
        return {}


def _expected(annotation: Any) -> tuple[tuple[type, ...], bool] | None:
    """The accepted types of an annotation and whether None is accepted; None if it is not a simple type."""
    allow_none = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        allow_none = type(None) in members
        members = tuple(m for m in members if m is not type(None))
    else:
        members = (annotation,)
    if not members or not all(m in (int, float, str, bool) for m in members):
        return None
    return members, allow_none


def _describe(members: tuple[type, ...], allow_none: bool) -> str:
    words = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}
    text = " or ".join(words[m] for m in members)
    return text + " (or null)" if allow_none else text


def check_option(strategy: str, key: str, value: Any, annotation: Any) -> Any:
    """``value`` checked against the option's annotated type (ints stay ints, numbers become floats).

    Raises StrategyError naming the option, the value and the expected type: a value of the wrong
    type must never reach the strategy, where it would fail far from its cause.
    """
    expected = _expected(annotation)
    if expected is None:
        return value
    members, allow_none = expected
    if value is None and allow_none:
        return None
    is_bool = isinstance(value, (bool, np.bool_))
    if bool in members and is_bool:
        return bool(value)
    if int in members and isinstance(value, numbers.Integral) and not is_bool:
        return int(value)
    if float in members and isinstance(value, numbers.Real) and not is_bool:
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
        if math.isfinite(number):
            return number
    if str in members and isinstance(value, str):
        return value
    raise StrategyError(f"{strategy} option {key!r} must be {_describe(members, allow_none)}, got {short_repr(value)}")


def make_strategy(name: str, space: SearchSpace, seed: int = 0, **options: Any) -> Strategy:
    """Create strategy ``name`` (``rl``, ``random`` or ``evolution``) with ``options``.

    Option values are checked against the constructor's annotations first (an ``int`` option
    takes integers only, a ``float`` option finite numbers), and the seed must be an integer
    in [0, 2**63); every refusal is a one-line StrategyError.
    """
    allowed = strategy_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise StrategyError(
            f"strategy {name!r}: unknown option(s) {short_repr(unknown, 200)}; allowed: {sorted(allowed)}"
        )
    seed = check_int("the seed (--seed)", seed, 0, MAX_SEED - 1, StrategyError, shown="in [0, 2**63)")
    types_ = _option_types(STRATEGIES.get(name))
    checked = {key: check_option(name, key, value, types_.get(key)) for key, value in options.items()}
    try:
        return STRATEGIES.get(name)(space, seed=seed, **checked)
    except StrategyError:
        raise
    except (ValueError, TypeError, OverflowError, RuntimeError, MemoryError) as err:
        # e.g. torch refusing a learning rate: one line naming the strategy, never a traceback
        summary = " ".join(exception_summary(err).split())
        raise StrategyError(f"strategy {name!r} with options {short_repr(checked, 200)}: {summary[:300]}") from None
