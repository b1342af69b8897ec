"""The experiment store: SQLite (WAL), resumable."""

from nasnet.store.sqlite import (
    DB_FILE,
    STATUS_COMPLETE,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_WAITING,
    TERMINAL,
    DamagedStoreError,
    ExperimentStore,
    Snapshot,
    StoreError,
    TrialRecord,
    snapshot_checksum,
)

__all__ = [
    "DB_FILE",
    "STATUS_COMPLETE",
    "STATUS_FAILED",
    "STATUS_RUNNING",
    "STATUS_WAITING",
    "TERMINAL",
    "DamagedStoreError",
    "ExperimentStore",
    "Snapshot",
    "StoreError",
    "TrialRecord",
    "snapshot_checksum",
]
