"""The experiment store: one SQLite database (WAL) per experiment directory.

It holds the search config, every trial (genotype JSON and hash, decisions,
status, reward, metrics, timings, worker, failure reason) and snapshots of the
strategy's state. Every ask and every result gets a number from one event
counter, so a strategy can be rebuilt after any interruption: load the latest
snapshot, then replay the asks and results recorded after it, in order.

Only the search driver writes; `nasnet status` and `nasnet top` may read at
any time. A lock file keeps a second driver out of a running experiment.

Nothing here deletes trials unless asked to (``overwrite=True``): a damaged
database (SQLite's quick_check fails, or a read reports corruption) is named
as damaged and left byte for byte as it is, and a new experiment is written
beside the old one and renamed into place, so a crash never leaves half of
either. Strategy snapshots carry a SHA-256 checksum and the previous snapshot
is kept, so a damaged newest snapshot costs a longer replay, never a broken
strategy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import json
import os
import shlex
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from nasnet.errors import NasnetError
from nasnet.space.genotype import Genotype
from nasnet.space.serialization import genotype_from_dict, genotype_to_dict

DB_FILE = "experiment.db"
LOCK_FILE = ".lock"
NEW_DB_FILE = f".{DB_FILE}.new"  # a new experiment is written here, then renamed to DB_FILE
OLD_DB_FILE = f".{DB_FILE}.old"  # the experiment being replaced, for the moment of the swap
WAL_SUFFIXES = ("-wal", "-shm")
SCHEMA_VERSION = 2  # 2: two checksummed strategy snapshots
SUPPORTED_SCHEMAS = (1, 2)  # 1 is migrated when a writer opens it
SNAPSHOT_SLOTS = (1, 2)
QUICK_CHECK_LINES = 3  # how many of quick_check's complaints an error quotes

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
    id INTEGER PRIMARY KEY CHECK (id IN (1, 2)),
    strategy TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL,
    sha256 TEXT
);
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


def _is_corruption(err: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file's contents are wrong (not a busy lock or a failed open)."""
    code = getattr(err, "sqlite_errorcode", None)  # Python >= 3.11
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return type(err) is sqlite3.DatabaseError  # the class sqlite3 gives exactly these two codes


def _read_error(db_path: Path, err: sqlite3.DatabaseError) -> StoreError:
    """The StoreError for an SQLite error met while reading ``db_path``."""
    if _is_corruption(err):
        return DamagedStoreError(db_path, f"SQLite: {err}")
    return StoreError(f"{db_path}: cannot be read as an experiment database (SQLite: {err})")


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _reports_damage(method: _Method) -> _Method:
    """Turn corruption that SQLite meets in ``method`` into a one-line DamagedStoreError.

    quick_check at open catches structural damage; this catches what it cannot see
    (or what happens to the file while the experiment runs).
    """

    @functools.wraps(method)
    def checked(self: ExperimentStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            if _is_corruption(err):
                raise DamagedStoreError(self.directory / DB_FILE, f"SQLite: {err}") from None
            raise

    return checked  # type: ignore[return-value]


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


def snapshot_checksum(strategy: str, event_seq: int, state: bytes) -> str:
    """SHA-256 over everything a restore relies on: a flipped event number misleads it as much as a flipped byte."""
    digest = hashlib.sha256(f"{strategy}\n{event_seq}\n".encode())
    digest.update(state)
    return digest.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    strategy: str
    event_seq: int
    state: bytes
    checksum: str | None = None  # None: saved by schema 1, which kept no checksum
    slot: int = 1
    saved_at: float = 0.0

    @property
    def verified(self) -> bool:
        return self.checksum is not None and self.checksum == snapshot_checksum(
            self.strategy, self.event_seq, self.state
        )

    @property
    def damaged(self) -> bool:
        """Its bytes differ from those saved (a snapshot without a checksum cannot be judged here)."""
        return self.checksum is not None and not self.verified


@dataclass(frozen=True)
class _Contents:
    """What an experiment database holds, as far as deciding whether it may be replaced."""

    configured: bool  # the config row committed
    trials: int
    schema: int | None

    @property
    def holds_experiment(self) -> bool:
        return self.configured or self.trials > 0


def _wal_bytes(db_path: Path) -> int:
    wal = Path(f"{db_path}-wal")
    return wal.stat().st_size if wal.is_file() else 0


def _quick_check(db: sqlite3.Connection) -> list[str]:
    """SQLite's quick_check complaints (empty when the file's structure is sound)."""
    lines = [str(row[0]) for row in db.execute(f"PRAGMA quick_check({QUICK_CHECK_LINES})")]
    return [] if lines == ["ok"] else lines


def _examine(db_path: Path) -> _Contents:
    """What ``db_path`` holds, read without writing a byte of it; DamagedStoreError if it is damaged.

    A 0-byte file with no write-ahead log beside it holds nothing (a creation that died before
    SQLite wrote a page, or a file truncated to nothing): it counts as an interrupted creation.
    """
    if db_path.stat().st_size == 0:
        wal = _wal_bytes(db_path)
        if wal:  # SQLite would discard that log when it opens an empty database for writing
            raise DamagedStoreError(db_path, f"0 bytes, but its write-ahead log {db_path.name}-wal holds {wal} bytes")
        return _Contents(configured=False, trials=0, schema=None)
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0)
        try:
            problems = _quick_check(db)
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
        raise _read_error(db_path, err) from None
    schema = meta.get("schema_version")
    return _Contents(
        configured="config" in meta, trials=trials, schema=int(schema) if schema and schema.isdigit() else None
    )


def _remove_database(db_path: Path) -> None:
    for name in (db_path.name, *(db_path.name + suffix for suffix in (*WAL_SUFFIXES, "-journal"))):
        (db_path.parent / name).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_database(directory: Path, config: dict[str, Any]) -> Path:
    """A complete new experiment database beside DB_FILE, committed to disk in one file."""
    fresh = directory / NEW_DB_FILE
    _remove_database(fresh)  # the remains of a creation that died: they were never an experiment
    db = sqlite3.connect(fresh, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, ready to be renamed
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
    finally:
        db.close()
    return fresh


def _swap_in(fresh: Path, db_path: Path) -> None:
    """Rename ``fresh`` to ``db_path``; the old database and its WAL files go aside first, then away.

    SQLite applies a ``-wal`` file to whatever database sits beside it, so the old one's log must
    never meet the new file; and until the rename the old experiment stays whole under OLD_DB_FILE.
    """
    aside = db_path.with_name(OLD_DB_FILE)
    _remove_database(aside)  # only ever a leftover of a replacement that completed: DB_FILE is here
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
    _fsync_directory(db_path.parent)
    _remove_database(aside)


def _set_aside_error(path: Path) -> StoreError | None:
    """The error for a directory whose old experiment went aside and whose new one never arrived."""
    aside = path / OLD_DB_FILE
    if (path / DB_FILE).exists() or not aside.is_file():
        return None
    return StoreError(
        f"{path}: replacing the experiment was interrupted; the old one is {aside}: rename it (and any "
        f"{OLD_DB_FILE}-wal) back to {DB_FILE} (and {DB_FILE}-wal) to keep it, or delete them to start afresh"
    )


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
        self._newest_slot: int | None = None  # the snapshot slot this process wrote last

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
    def check_can_create(cls, directory: str | os.PathLike[str], overwrite: bool = False) -> None:
        """Raise StoreError unless a new experiment may be written to ``directory``.

        An experiment (a config or any trial) is replaced only with ``overwrite``; a damaged
        database, or a write-ahead log without its database, never.
        """
        path = Path(directory)
        db_path = path / DB_FILE
        set_aside = _set_aside_error(path)
        if set_aside is not None:
            raise set_aside
        if not db_path.exists():
            wal = _wal_bytes(db_path)
            if wal:
                raise StoreError(
                    f"{path}: holds {DB_FILE}-wal ({wal} bytes) but no {DB_FILE}; move it away before starting here"
                )
            return
        if not db_path.is_file():
            raise StoreError(f"{db_path}: is not a file")
        contents = _examine(db_path)
        if contents.holds_experiment and not overwrite:
            raise StoreError(
                f"{path}: already holds an experiment ({contents.trials} trials); continue it with --resume {path}, "
                "or replace it, deleting its trials, with --overwrite"
            )

    @classmethod
    def create(
        cls, directory: str | os.PathLike[str], config: dict[str, Any], overwrite: bool = False
    ) -> ExperimentStore:
        """Start a new experiment in ``directory``; one already there is replaced only with ``overwrite``."""
        path = Path(directory)
        cls.check_can_create(path, overwrite)
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock = cls._lock(path)
        except OSError as err:
            raise StoreError(f"{path}: cannot create the experiment directory ({err})") from None
        db = None
        try:
            cls.check_can_create(path, overwrite)  # again, now that no one else can start here
            _swap_in(_write_new_database(path, config), path / DB_FILE)
            db = cls._connect(path / DB_FILE, readonly=False)
            return cls(path, db, lock)
        except BaseException as err:
            if db is not None:
                db.close()
            os.close(lock)
            if isinstance(err, (OSError, sqlite3.Error)):
                raise StoreError(f"{path}: cannot write the new experiment ({err})") from None
            raise

    @classmethod
    def open(cls, directory: str | os.PathLike[str], readonly: bool = False) -> ExperimentStore:
        """Open an existing experiment; writers take the lock, readers do not."""
        path = Path(directory)
        db_path = path / DB_FILE
        if not db_path.is_file():
            raise _set_aside_error(path) or StoreError(f"{path}: no experiment here (missing {DB_FILE})")
        lock = None if readonly else cls._lock(path)
        db = None
        try:
            contents = _examine(db_path)  # before any writable connection: it must find damage untouched
            if not contents.holds_experiment:
                raise StoreError(_interrupted_message(path, db_path))
            if contents.schema not in SUPPORTED_SCHEMAS:
                raise StoreError(f"{db_path}: unsupported experiment schema {contents.schema!r}")
            db = cls._connect(db_path, readonly)
            if contents.schema != SCHEMA_VERSION and not readonly:
                _migrate_to_two_snapshots(db)
            return cls(path, db, lock)
        except BaseException as err:
            if db is not None:
                db.close()
            if lock is not None:
                os.close(lock)
            if isinstance(err, sqlite3.DatabaseError):
                raise _read_error(db_path, err) from None
            raise

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

    @_reports_damage
    def _get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self._get_meta("config", "{}") or "{}")

    @_reports_damage
    def update_config(self, config: dict[str, Any]) -> None:
        with self._tx():
            self._set_meta("config", _dumps(config))

    @property
    def elapsed_seconds(self) -> float:
        return float(self._get_meta("elapsed_seconds", "0") or 0)

    @_reports_damage
    def add_elapsed(self, seconds: float) -> None:
        with self._tx():
            self._set_meta("elapsed_seconds", str(self.elapsed_seconds + seconds))

    @_reports_damage
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

    @_reports_damage
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

    @_reports_damage
    def mark_started(self, number: int, worker: str | None) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE trials SET started_at = ?, worker = ?, attempts = attempts + 1 WHERE number = ?",
                (time.time(), worker, number),
            )

    @_reports_damage
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

    @_reports_damage
    def get_trial(self, number: int) -> TrialRecord:
        row = self._db.execute("SELECT * FROM trials WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise StoreError(f"{self.directory}: no trial {number}")
        return _row_to_record(row)

    @_reports_damage
    def find_result(self, genotype_hash: str) -> TrialRecord | None:
        """A finished, trained (not itself cached) trial of an equivalent genotype."""
        row = self._db.execute(
            "SELECT * FROM trials WHERE genotype_hash = ? AND status IN (?, ?) AND cached_from IS NULL "
            "ORDER BY number LIMIT 1",
            (genotype_hash, *TERMINAL),
        ).fetchone()
        return _row_to_record(row) if row else None

    @_reports_damage
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

    @_reports_damage
    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
        counts = {status: 0 for status in (STATUS_COMPLETE, STATUS_FAILED, STATUS_RUNNING, STATUS_WAITING)}
        counts.update({row[0]: row[1] for row in rows})
        counts["cached"] = self._db.execute("SELECT COUNT(*) FROM trials WHERE cached_from IS NOT NULL").fetchone()[0]
        return counts

    @_reports_damage
    def best(self, k: int = 10) -> list[TrialRecord]:
        rows = self._db.execute(
            "SELECT * FROM trials WHERE status = ? AND reward IS NOT NULL ORDER BY reward DESC, number LIMIT ?",
            (STATUS_COMPLETE, k),
        ).fetchall()
        return [_row_to_record(row) for row in rows]

    @_reports_damage
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
        # a list, not a generator, so that reading the rows happens inside the damage check
        return iter([(kind, record) for _, kind, record in sorted(events, key=lambda e: e[0])])

    # ---- strategy snapshots --------------------------------------------------------------

    @property
    def event_seq(self) -> int:
        return self._seq

    @_reports_damage
    def save_snapshot(self, strategy: str, state: bytes) -> None:
        """Store ``state`` as of the current event, keeping the previous snapshot as a fallback."""
        slot = self._slot_to_replace()
        checksum = snapshot_checksum(strategy, self._seq, state)
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO strategy_state (id, strategy, event_seq, state, saved_at, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (slot, strategy, self._seq, sqlite3.Binary(state), time.time(), checksum),
            )
        self._newest_slot = slot

    def _slot_to_replace(self) -> int:
        """An empty slot, else a damaged one, else the older: the newest good snapshot always survives."""
        if self._newest_slot is not None:  # written by this process: the other slot is the one to reuse
            return next(slot for slot in SNAPSHOT_SLOTS if slot != self._newest_slot)
        snapshots = self.snapshots()
        used = {snapshot.slot for snapshot in snapshots}
        empty = [slot for slot in SNAPSHOT_SLOTS if slot not in used]
        if empty:
            return empty[0]
        damaged = [snapshot.slot for snapshot in snapshots if snapshot.damaged]
        return damaged[0] if damaged else snapshots[-1].slot

    @_reports_damage
    def snapshots(self) -> list[Snapshot]:
        """Every stored strategy snapshot, newest first, checksums not yet compared."""
        checksum = "sha256" if self._has_checksums() else "NULL"
        rows = self._db.execute(
            f"SELECT id, strategy, event_seq, state, saved_at, {checksum} FROM strategy_state "
            "ORDER BY event_seq DESC, saved_at DESC, id DESC"
        ).fetchall()
        return [Snapshot(row[1], row[2], bytes(row[3]), checksum=row[5], slot=row[0], saved_at=row[4]) for row in rows]

    def load_snapshot(self) -> Snapshot | None:
        """The newest snapshot whose checksum matches (or that has none to compare, from schema 1)."""
        return next((snapshot for snapshot in self.snapshots() if not snapshot.damaged), None)

    def _has_checksums(self) -> bool:
        """False for a schema-1 database opened read-only (a writer migrates it at open)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(strategy_state)")}
        return "sha256" in columns


def _interrupted_message(path: Path, db_path: Path) -> str:
    if db_path.stat().st_size == 0:
        return (
            f"{db_path} is empty (0 bytes): the experiment's creation died before anything was stored, "
            f"or the file was emptied; start it again with --out {path}"
        )
    return (
        f"{path}: holds no experiment: its creation was interrupted before the config was stored "
        f"({DB_FILE} has no config and no trials); start it again with --out {path}"
    )


def _migrate_to_two_snapshots(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: strategy_state takes two slots and a checksum column; the old snapshot keeps NULL."""
    with _transaction(db):
        db.execute("ALTER TABLE strategy_state RENAME TO strategy_state_v1")
        for statement in _SCHEMA.strip().split(";"):
            if "CREATE TABLE IF NOT EXISTS strategy_state" in statement:
                db.execute(statement)
        db.execute(
            "INSERT INTO strategy_state (id, strategy, event_seq, state, saved_at, sha256) "
            "SELECT id, strategy, event_seq, state, saved_at, NULL FROM strategy_state_v1"
        )
        db.execute("DROP TABLE strategy_state_v1")
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
