"""The experiment store: SQLite (WAL), resumable; and the trial vocabulary it records."""

from nasnet.store.config import CONFIG_VERSION, ConfigError, ExperimentConfig, space_from_spec, space_spec
from nasnet.store.sqlite import (
    DB_FILE,
    DamagedStoreError,
    ExperimentStore,
    Snapshot,
    StoreError,
    snapshot_checksum,
)
from nasnet.store.trial import FINISHED_STATES, EvalResult, FrozenTrial, TrialState

__all__ = [
    "CONFIG_VERSION",
    "DB_FILE",
    "FINISHED_STATES",
    "ConfigError",
    "DamagedStoreError",
    "EvalResult",
    "ExperimentConfig",
    "ExperimentStore",
    "FrozenTrial",
    "Snapshot",
    "StoreError",
    "TrialState",
    "snapshot_checksum",
    "space_from_spec",
    "space_spec",
]
