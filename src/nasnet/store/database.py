"""The experiment database as a file: its schema and version, damage checks, creation beside the old
experiment with an atomic swap, and the migration of older schemas.

Nothing here deletes an experiment unless asked to: a damaged database (SQLite's quick_check fails,
or a read reports corruption) is named as damaged and left byte for byte as it is, and a new
experiment is written beside the old one and renamed into place, so a crash never leaves half of
either.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasnet.errors import NasnetError
from nasnet.store.config import ExperimentConfig

DB_FILE = "experiment.db"
LOCK_FILE = ".lock"
NEW_DB_FILE = f".{DB_FILE}.new"  # a new experiment is written here, then renamed to DB_FILE
OLD_DB_FILE = f".{DB_FILE}.old"  # the experiment being replaced, for the moment of the swap
WAL_SUFFIXES = ("-wal", "-shm")
SCHEMA_VERSION = 2  # 2: two checksummed strategy snapshots
SUPPORTED_SCHEMAS = (1, 2)  # 1 is migrated when a writer opens it
SNAPSHOT_SLOTS = (1, 2)
QUICK_CHECK_LINES = 3  # how many of quick_check's complaints an error quotes


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY,
    status TEXT NOT NULL,
    genotype TEXT NOT NULL,
    genotype_hash TEXT NOT NULL,
    decisions TEXT NOT NULL,
    info TEXT NOT NULL,
    reward REAL,
    accuracy REAL,
    metrics TEXT,
    failure TEXT,
    worker TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cached_from INTEGER,
    ask_seq INTEGER NOT NULL,
    tell_seq INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    seconds REAL
);
CREATE INDEX IF NOT EXISTS trials_by_hash ON trials (genotype_hash, status);
CREATE INDEX IF NOT EXISTS trials_by_status ON trials (status);
CREATE TABLE IF NOT EXISTS strategy_state (
    id INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
    strategy TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL,
    sha256 TEXT
);
"""
# strategy_history: a small summary of what the strategy had learned at each snapshot (`Strategy.learned`,
# JSON), kept for reports: the snapshots themselves are overwritten. Created when a writer opens an older
# database, so that it needs no schema version of its own (an older nasnet ignores the table).
HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS strategy_history (
    event_seq INTEGER NOT NULL,
    told INTEGER NOT NULL,
    saved_at REAL NOT NULL,
    learned TEXT NOT NULL
)
"""
# sha256: of strategy, event_seq and state (see `snapshot_checksum`); NULL in a snapshot migrated from schema 1.


class StoreError(NasnetError):
    """The experiment directory is missing, locked, or not a nasnet experiment."""


class DamagedStoreError(StoreError):
    """The experiment database is damaged; nasnet leaves it untouched and says how to recover it."""

    def __init__(self, db_path: Path, problem: str) -> None:
        self.db_path = db_path
        self.problem = problem
        recover = f'sqlite3 {shlex.quote(str(db_path))} ".recover" | sqlite3 recovered.db'
        super().__init__(
            f"{db_path} is damaged ({problem}); nasnet has not changed or deleted it. "
            f"Copy out what it still holds with: {recover}"
        )


def is_corruption(err: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file's contents are wrong (not a busy lock or a failed open)."""
    code = getattr(err, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return type(err) is sqlite3.DatabaseError  # the class sqlite3 gives exactly these two codes


def read_error(db_path: Path, err: sqlite3.DatabaseError) -> StoreError:
    """The StoreError for an SQLite error met while reading ``db_path``."""
    if is_corruption(err):
        return DamagedStoreError(db_path, f"SQLite: {err}")
    return StoreError(f"{db_path}: cannot be read as an experiment database (SQLite: {err})")


@dataclass(frozen=True)
class Contents:
    """What an experiment database holds, as far as deciding whether it may be replaced."""

    configured: bool  # the config row committed
    trials: int
    schema: int | None

    @property
    def holds_experiment(self) -> bool:
        return self.configured or self.trials > 0


def wal_bytes(db_path: Path) -> int:
    wal = Path(f"{db_path}-wal")
    return wal.stat().st_size if wal.is_file() else 0


def quick_check(db: sqlite3.Connection) -> list[str]:
    """SQLite's quick_check complaints (empty when the file's structure is sound)."""
    lines = [str(row[0]) for row in db.execute(f"PRAGMA quick_check({QUICK_CHECK_LINES})")]
    return [] if lines == ["ok"] else lines


def examine(db_path: Path) -> Contents:
    """What ``db_path`` holds, read without writing a byte of it; DamagedStoreError if it is damaged.

    A 0-byte file with no write-ahead log beside it holds nothing (a creation that died before
    SQLite wrote a page, or a file truncated to nothing): it counts as an interrupted creation.
    """
    if db_path.stat().st_size == 0:
        wal = wal_bytes(db_path)
        if wal:  # SQLite would discard that log when it opens an empty database for writing
            raise DamagedStoreError(db_path, f"0 bytes, but its write-ahead log {db_path.name}-wal holds {wal} bytes")
        return Contents(configured=False, trials=0, schema=None)
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0)
        try:
            problems = quick_check(db)
            if problems:
                raise DamagedStoreError(db_path, "SQLite quick_check: " + "; ".join(problems))
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            meta: dict[str, str] = {}
            if "meta" in tables:
                meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('config', 'schema_version')"))
            trials = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] if "trials" in tables else 0
        finally:
            db.close()
    except sqlite3.DatabaseError as err:
        raise read_error(db_path, err) from None
    schema = meta.get("schema_version")
    return Contents(
        configured="config" in meta, trials=trials, schema=int(schema) if schema and schema.isdigit() else None
    )


def remove_database(db_path: Path) -> None:
    for name in (db_path.name, *(db_path.name + suffix for suffix in (*WAL_SUFFIXES, "-journal"))):
        (db_path.parent / name).unlink(missing_ok=True)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def dumps(obj: Any) -> str:
    """Compact JSON, as every value in the database is stored."""
    return json.dumps(obj, separators=(",", ":"))


def write_new_database(directory: Path, config: ExperimentConfig) -> Path:
    """A complete new experiment database beside DB_FILE, committed to disk in one file."""
    fresh = directory / NEW_DB_FILE
    remove_database(fresh)  # the remains of a creation that died: they were never an experiment
    db = sqlite3.connect(fresh, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, ready to be renamed
        with transaction(db):
            for statement in SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            for key, value in (
                ("schema_version", str(SCHEMA_VERSION)),
                ("config", dumps(config.to_dict())),
                ("created_at", str(time.time())),
                ("elapsed_seconds", "0"),
            ):
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
    finally:
        db.close()
    return fresh


def swap_in(fresh: Path, db_path: Path) -> None:
    """Rename ``fresh`` to ``db_path``; the old database and its WAL files go aside first, then away.

    SQLite applies a ``-wal`` file to whatever database sits beside it, so the old one's log must
    never meet the new file; and until the rename the old experiment stays whole under OLD_DB_FILE.
    """
    aside = db_path.with_name(OLD_DB_FILE)
    remove_database(aside)  # only ever a leftover of a replacement that completed: DB_FILE is here
    moved: list[str] = []
    try:
        for suffix in ("", *WAL_SUFFIXES):  # the database first: a log without its database is never opened
            if Path(f"{db_path}{suffix}").exists():
                os.replace(f"{db_path}{suffix}", f"{aside}{suffix}")
                moved.append(suffix)
        os.replace(fresh, db_path)
    except BaseException:
        for suffix in reversed(moved):  # put the old experiment back as it was
            os.replace(f"{aside}{suffix}", f"{db_path}{suffix}")
        raise
    fsync_directory(db_path.parent)
    remove_database(aside)


def set_aside_error(path: Path) -> StoreError | None:
    """The error for a directory whose old experiment went aside and whose new one never arrived."""
    aside = path / OLD_DB_FILE
    if (path / DB_FILE).exists() or not aside.is_file():
        return None
    return StoreError(
        f"{path}: replacing the experiment was interrupted; the old one is {aside}: rename it (and any "
        f"{OLD_DB_FILE}-wal) back to {DB_FILE} (and {DB_FILE}-wal) to keep it, or delete them to start afresh"
    )


def schema_message(db_path: Path, schema: int | None) -> str:
    supported = f"{min(SUPPORTED_SCHEMAS)} to {SCHEMA_VERSION}"
    if schema is not None and schema > SCHEMA_VERSION:
        return (
            f"{db_path}: written by a newer nasnet (database schema {schema}); this nasnet reads schemas {supported}: "
            "upgrade nasnet to open it"
        )
    return f"{db_path}: unsupported experiment schema {schema!r} (this nasnet reads schemas {supported})"


def interrupted_message(path: Path, db_path: Path) -> str:
    if db_path.stat().st_size == 0:
        return (
            f"{db_path} is empty (0 bytes): the experiment's creation died before anything was stored, "
            f"or the file was emptied; start it again with --out {path}"
        )
    return (
        f"{path}: holds no experiment: its creation was interrupted before the config was stored "
        f"({DB_FILE} has no config and no trials); start it again with --out {path}"
    )


def migrate_to_two_snapshots(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: strategy_state takes two slots and a checksum column; the old snapshot keeps NULL."""
    with transaction(db):
        db.execute("ALTER TABLE strategy_state RENAME TO strategy_state_v1")
        for statement in SCHEMA.strip().split(";"):
            if "CREATE TABLE IF NOT EXISTS strategy_state" in statement:
                db.execute(statement)
        db.execute(
            "INSERT INTO strategy_state (id, strategy, event_seq, state, saved_at, sha256) "
            "SELECT id, strategy, event_seq, state, saved_at, NULL FROM strategy_state_v1"
        )
        db.execute("DROP TABLE strategy_state_v1")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
