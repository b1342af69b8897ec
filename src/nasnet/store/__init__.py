"""The experiment store: SQLite (WAL), resumable."""

from nasnet.store.sqlite import (
    DB_FILE,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_WAITING,
    TERMINAL,
    ExperimentStore,
    Snapshot,
    StoreError,
    TrialRecord,
)

__all__ = [
    "DB_FILE",
    "STATUS_COMPLETE",
    "STATUS_FAILED",
    "STATUS_RUNNING",
    "STATUS_WAITING",
    "TERMINAL",
    "ExperimentStore",
    "Snapshot",
    "StoreError",
    "TrialRecord",
]
