"""The experiment store: one SQLite database (WAL) per experiment directory.

It holds the search config, every trial (genotype JSON and hash, decisions,
status, reward, metrics, timings, worker, failure reason) and snapshots of the
strategy's state. Every ask and every result gets a number from one event
counter, so a strategy can be rebuilt after any interruption: load the latest
snapshot, then replay the asks and results recorded after it, in order.

Only the search driver writes; `nasnet status` and `nasnet top` may read at
any time. A lock file keeps a second driver out of a running experiment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasnet.errors import NasnetError
from nasnet.space.genotype import Genotype
from nasnet.space.serialization import genotype_from_dict, genotype_to_dict

DB_FILE = "experiment.db"
LOCK_FILE = ".lock"
SCHEMA_VERSION = 1

STATUS_RUNNING = "running"
STATUS_WAITING = "waiting"  # an identical genotype is being trained; this trial takes its result
STATUS_COMPLETE = "complete"
STATUS_FAILED = "failed"
TERMINAL = (STATUS_COMPLETE, STATUS_FAILED)

_SCHEMA = """
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
    id INTEGER PRIMARY KEY CHECK (id = 1),
    strategy TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL
);
"""


class StoreError(NasnetError):
    """The experiment directory is missing, locked, or not a nasnet experiment."""


@dataclass
class TrialRecord:
    number: int
    status: str
    genotype: Genotype
    genotype_hash: str
    decisions: tuple[int, ...]
    info: dict[str, Any]
    reward: float | None = None
    accuracy: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    worker: str | None = None
    attempts: int = 0
    cached_from: int | None = None
    ask_seq: int = 0
    tell_seq: int | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "genotype"}
        out["genotype"] = genotype_to_dict(self.genotype)
        out["decisions"] = list(self.decisions)
        return out


@dataclass(frozen=True)
class Snapshot:
    strategy: str
    event_seq: int
    state: bytes


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _row_to_record(row: sqlite3.Row) -> TrialRecord:
    return TrialRecord(
        number=row["number"],
        status=row["status"],
        genotype=genotype_from_dict(json.loads(row["genotype"]), source=f"trial {row['number']}", num_blocks=None),
        genotype_hash=row["genotype_hash"],
        decisions=tuple(json.loads(row["decisions"])),
        info=json.loads(row["info"]),
        reward=row["reward"],
        accuracy=row["accuracy"],
        metrics=json.loads(row["metrics"]) if row["metrics"] else {},
        failure=row["failure"],
        worker=row["worker"],
        attempts=row["attempts"],
        cached_from=row["cached_from"],
        ask_seq=row["ask_seq"],
        tell_seq=row["tell_seq"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        seconds=row["seconds"],
    )


class ExperimentStore:
    """Read and write one experiment directory's database."""

    def __init__(self, directory: Path, connection: sqlite3.Connection, lock_fd: int | None) -> None:
        self.directory = directory
        self._db = connection
        self._lock_fd = lock_fd
        self._seq = self._max_seq()

    # ---- opening -------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0, check_same_thread=False)
        db.row_factory = sqlite3.Row
        if not readonly:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives any process crash (kill -9 included); only a power
            # loss can drop the last commits.
            db.execute("PRAGMA synchronous=NORMAL")
        return db

    @staticmethod
    def _lock(directory: Path) -> int:
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"{directory}: the experiment is being run by another process (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    @classmethod
    def create(cls, directory: str | os.PathLike[str], config: dict[str, Any]) -> ExperimentStore:
        """Start a new experiment in ``directory`` (which must not hold one already)."""
        path = Path(directory)
        if (path / DB_FILE).exists() and not cls._interrupted_creation(path / DB_FILE):
            raise StoreError(f"{path}: already holds an experiment; continue it with --resume, or use a new folder")
        path.mkdir(parents=True, exist_ok=True)
        lock = cls._lock(path)
        for leftover in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm"):
            (path / leftover).unlink(missing_ok=True)
        db = cls._connect(path / DB_FILE, readonly=False)
        with _transaction(db):
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            for key, value in (
                ("schema_version", str(SCHEMA_VERSION)),
                ("config", _dumps(config)),
                ("created_at", str(time.time())),
                ("elapsed_seconds", "0"),
            ):
                db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        return cls(path, db, lock)

    @staticmethod
    def _interrupted_creation(db_path: Path) -> bool:
        """True for a database whose creation never committed (no config row)."""
        try:
            db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return True
        return row is None

    @classmethod
    def open(cls, directory: str | os.PathLike[str], readonly: bool = False) -> ExperimentStore:
        """Open an existing experiment; writers take the lock, readers do not."""
        path = Path(directory)
        db_path = path / DB_FILE
        if not db_path.is_file():
            raise StoreError(f"{path}: no experiment here (missing {DB_FILE})")
        lock = None if readonly else cls._lock(path)
        db = None
        try:
            db = cls._connect(db_path, readonly)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None or int(version[0]) != SCHEMA_VERSION:
                raise StoreError(f"{db_path}: unsupported experiment schema {version[0] if version else None!r}")
        except (sqlite3.DatabaseError, StoreError) as err:
            if db is not None:
                db.close()
            if lock is not None:
                os.close(lock)
            if cls._interrupted_creation(db_path):
                raise StoreError(
                    f"{path}: the experiment's creation was interrupted; start it again with --out {path}"
                ) from None
            if isinstance(err, StoreError):
                raise
            raise StoreError(f"{db_path}: not a nasnet experiment database ({err})") from None
        return cls(path, db, lock)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> ExperimentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- meta ----------------------------------------------------------------------------

    def _get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self._get_meta("config", "{}") or "{}")

    def update_config(self, config: dict[str, Any]) -> None:
        with self._tx():
            self._set_meta("config", _dumps(config))

    @property
    def elapsed_seconds(self) -> float:
        return float(self._get_meta("elapsed_seconds", "0") or 0)

    def add_elapsed(self, seconds: float) -> None:
        with self._tx():
            self._set_meta("elapsed_seconds", str(self.elapsed_seconds + seconds))

    def _max_seq(self) -> int:
        row = self._db.execute("SELECT MAX(ask_seq), MAX(tell_seq) FROM trials").fetchone()
        return max(row[0] or 0, row[1] or 0)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        try:
            with _transaction(self._db):
                yield
        except BaseException:
            self._seq = self._max_seq()  # undo counter steps of the rolled-back write
            raise

    def _next_seq(self) -> int:
        """The next event number; the counter lives in the trials' ask_seq and tell_seq columns."""
        self._seq += 1
        return self._seq

    # ---- trials --------------------------------------------------------------------------

    def add_trial(
        self,
        genotype: Genotype,
        genotype_hash: str,
        decisions: tuple[int, ...] | list[int],
        info: dict[str, Any],
        status: str = STATUS_RUNNING,
        cached: TrialRecord | None = None,
    ) -> TrialRecord:
        """Record an ask. With ``cached``, the trial takes that trial's result at once.

        A ``running`` trial counts as started (attempt 1) from this moment.
        """
        now = time.time()
        record = TrialRecord(
            number=0,
            status=status,
            genotype=genotype,
            genotype_hash=genotype_hash,
            decisions=tuple(decisions),
            info=dict(info),
            created_at=now,
        )
        if status == STATUS_RUNNING and cached is None:
            record.started_at, record.attempts = now, 1
        with self._tx():
            record.ask_seq = self._next_seq()
            if cached is not None:
                record.status, record.reward, record.accuracy = cached.status, cached.reward, cached.accuracy
                record.metrics, record.failure = dict(cached.metrics), cached.failure
                record.cached_from = cached.cached_from or cached.number
                record.tell_seq, record.finished_at, record.seconds = self._next_seq(), now, 0.0
            cursor = self._db.execute(
                "INSERT INTO trials (status, genotype, genotype_hash, decisions, info, reward, accuracy, metrics, "
                "failure, attempts, cached_from, ask_seq, tell_seq, created_at, started_at, finished_at, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.status,
                    _dumps(genotype_to_dict(genotype)),
                    genotype_hash,
                    _dumps(list(decisions)),
                    _dumps(record.info),
                    record.reward,
                    record.accuracy,
                    _dumps(record.metrics) if cached is not None else None,
                    record.failure,
                    record.attempts,
                    record.cached_from,
                    record.ask_seq,
                    record.tell_seq,
                    now,
                    record.started_at,
                    record.finished_at,
                    record.seconds,
                ),
            )
        record.number = int(cursor.lastrowid)
        return record

    def mark_started(self, number: int, worker: str | None) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE trials SET started_at = ?, worker = ?, attempts = attempts + 1 WHERE number = ?",
                (time.time(), worker, number),
            )

    def finish_trial(
        self,
        record: TrialRecord,
        status: str,
        reward: float | None,
        accuracy: float | None,
        metrics: dict[str, Any],
        failure: str | None,
        seconds: float | None,
        worker: str | None = None,
        cached_from: int | None = None,
        attempts: int | None = None,
    ) -> TrialRecord:
        """Record the result of ``record`` (committed before anyone is told of it); returns the updated record."""
        if status not in TERMINAL:
            raise ValueError(f"status must be one of {TERMINAL}, got {status!r}")
        now = time.time()
        with self._tx():
            tell_seq = self._next_seq()
            cursor = self._db.execute(
                "UPDATE trials SET status = ?, reward = ?, accuracy = ?, metrics = ?, failure = ?, seconds = ?, "
                "worker = COALESCE(?, worker), cached_from = ?, tell_seq = ?, finished_at = ?, "
                "attempts = COALESCE(?, attempts) WHERE number = ? AND status NOT IN (?, ?)",
                (
                    status,
                    reward,
                    accuracy,
                    _dumps(metrics),
                    failure,
                    seconds,
                    worker,
                    cached_from,
                    tell_seq,
                    now,
                    attempts,
                    record.number,
                    *TERMINAL,
                ),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"{self.directory}: trial {record.number} is missing or already finished")
        return dataclasses.replace(
            record,
            status=status,
            reward=reward,
            accuracy=accuracy,
            metrics=dict(metrics),
            failure=failure,
            seconds=seconds,
            worker=worker or record.worker,
            cached_from=cached_from,
            tell_seq=tell_seq,
            finished_at=now,
            attempts=attempts if attempts is not None else record.attempts,
        )

    def get_trial(self, number: int) -> TrialRecord:
        row = self._db.execute("SELECT * FROM trials WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise StoreError(f"{self.directory}: no trial {number}")
        return _row_to_record(row)

    def find_result(self, genotype_hash: str) -> TrialRecord | None:
        """A finished, trained (not itself cached) trial of an equivalent genotype."""
        row = self._db.execute(
            "SELECT * FROM trials WHERE genotype_hash = ? AND status IN (?, ?) AND cached_from IS NULL "
            "ORDER BY number LIMIT 1",
            (genotype_hash, *TERMINAL),
        ).fetchone()
        return _row_to_record(row) if row else None

    def trials(self, status: str | tuple[str, ...] | None = None) -> list[TrialRecord]:
        if status is None:
            rows = self._db.execute("SELECT * FROM trials ORDER BY number").fetchall()
        else:
            statuses = (status,) if isinstance(status, str) else status
            marks = ", ".join("?" for _ in statuses)
            rows = self._db.execute(
                f"SELECT * FROM trials WHERE status IN ({marks}) ORDER BY number", statuses
            ).fetchall()
        return [_row_to_record(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
        counts = {status: 0 for status in (STATUS_COMPLETE, STATUS_FAILED, STATUS_RUNNING, STATUS_WAITING)}
        counts.update({row[0]: row[1] for row in rows})
        counts["cached"] = self._db.execute("SELECT COUNT(*) FROM trials WHERE cached_from IS NOT NULL").fetchone()[0]
        return counts

    def best(self, k: int = 10) -> list[TrialRecord]:
        rows = self._db.execute(
            "SELECT * FROM trials WHERE status = ? AND reward IS NOT NULL ORDER BY reward DESC, number LIMIT ?",
            (STATUS_COMPLETE, k),
        ).fetchall()
        return [_row_to_record(row) for row in rows]

    def events_after(self, event_seq: int) -> Iterator[tuple[str, TrialRecord]]:
        """``("ask", trial)`` and ``("tell", trial)`` events after ``event_seq``, in order."""
        rows = self._db.execute(
            "SELECT * FROM trials WHERE ask_seq > ? OR tell_seq > ?", (event_seq, event_seq)
        ).fetchall()
        events: list[tuple[int, str, TrialRecord]] = []
        for row in rows:
            record = _row_to_record(row)
            if record.ask_seq > event_seq:
                events.append((record.ask_seq, "ask", record))
            if record.tell_seq is not None and record.tell_seq > event_seq:
                events.append((record.tell_seq, "tell", record))
        for _, kind, record in sorted(events, key=lambda e: e[0]):
            yield kind, record

    # ---- strategy snapshots --------------------------------------------------------------

    @property
    def event_seq(self) -> int:
        return self._seq

    def save_snapshot(self, strategy: str, state: bytes) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO strategy_state (id, strategy, event_seq, state, saved_at) "
                "VALUES (1, ?, ?, ?, ?)",
                (strategy, self._seq, sqlite3.Binary(state), time.time()),
            )

    def load_snapshot(self) -> Snapshot | None:
        row = self._db.execute("SELECT strategy, event_seq, state FROM strategy_state WHERE id = 1").fetchone()
        return Snapshot(row[0], row[1], bytes(row[2])) if row else None


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
