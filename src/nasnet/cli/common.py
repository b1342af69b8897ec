"""Helpers that several commands share: showing a flag's value, naming a reward, opening an experiment."""

from __future__ import annotations

from typing import Any

from nasnet.errors import printable


def show(value: Any) -> str:
    """A flag's value as given on the command line, cut and escaped."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return printable(str(value), 80)


def reward_name(spec: dict[str, Any]) -> str:
    if spec.get("kind") != "mnas":
        return str(spec.get("kind"))
    hard = spec.get("alpha") == 0 and spec.get("beta") == -1
    return "mnas-hard" if hard else "mnas-soft"


def open_experiment(directory: str) -> Any:
    """An experiment opened for reading (no lock: a search may be running in it)."""
    from nasnet.store import ExperimentStore

    return ExperimentStore.open(directory, readonly=True)


def one_line(text: str | None, limit: int = 200) -> str:
    """A failure reason on one line, escaped and cut."""
    return printable(" ".join(str(text or "unknown").split()), limit)
