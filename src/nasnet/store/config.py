"""`ExperimentConfig`: what an experiment was created with, versioned.

It is stored as JSON in the experiment database. Version history:

* 1: the first format (strategy, options, seed, budget, evaluator, reward, dedup, space).
* 2: adds ``plugins``, the modules (``--plugin``) that registered what the experiment uses, so
  that a resume imports them again.

An experiment written by a newer nasnet is refused with a message naming both versions: this
nasnet cannot know what the newer fields mean, and guessing could corrupt the experiment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nasnet.errors import NasnetError, short_repr
from nasnet.space.encoding import SearchSpace

CONFIG_VERSION = 2
UNLIMITED_TRIALS = 2**62  # the stored budget of a search limited by time alone


class ConfigError(NasnetError, ValueError):
    """An experiment config that this nasnet cannot read (newer, or missing a field)."""


def space_spec(space: SearchSpace) -> dict[str, Any]:
    """A search space as the plain data an experiment records."""
    return {"num_blocks": space.num_blocks, "ops": list(space.ops), "combines": list(space.combines)}


def space_from_spec(spec: dict[str, Any]) -> SearchSpace:
    """The search space an experiment's config records."""
    return SearchSpace(num_blocks=spec["num_blocks"], ops=tuple(spec["ops"]), combines=tuple(spec["combines"]))


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything fixed when an experiment is created, plus its budget (which a resume may change)."""

    strategy: str
    evaluator: dict[str, Any]
    space: dict[str, Any]
    trials: int = UNLIMITED_TRIALS
    hours: float | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    reward: dict[str, Any] = field(default_factory=lambda: {"kind": "accuracy"})
    dedup: bool = True
    plugins: tuple[str, ...] = ()
    version: int = CONFIG_VERSION

    def search_space(self) -> SearchSpace:
        return space_from_spec(self.space)

    def replace(self, **changes: Any) -> ExperimentConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["plugins"] = list(self.plugins)
        out["version"] = CONFIG_VERSION  # written by this nasnet, so in this version's format
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the experiment") -> ExperimentConfig:
        """Read a stored config of version 1 to CONFIG_VERSION; a newer one is refused with both versions named."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the experiment config is not a JSON object, got {short_repr(data)}")
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigError(f"{source}: the experiment config has no valid version, got {short_repr(version)}")
        if version > CONFIG_VERSION:
            raise ConfigError(
                f"{source}: written by a newer nasnet (experiment config version {version}); this nasnet reads "
                f"versions 1 to {CONFIG_VERSION}: upgrade nasnet to open it"
            )
        missing = [name for name in ("strategy", "evaluator", "space") if name not in data]
        if missing:
            raise ConfigError(f"{source}: the experiment config lacks field(s) {', '.join(missing)}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["plugins"] = tuple(data.get("plugins") or ())
        values["strategy_options"] = dict(data.get("strategy_options") or {})
        values["reward"] = dict(data.get("reward") or {"kind": "accuracy"})
        values["version"] = version
        return cls(**values)
