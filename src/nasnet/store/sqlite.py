"""The experiment store: one SQLite database (WAL) per experiment directory, read and written.

It holds the search config, every trial (genotype JSON and hash, decisions,
status, reward, metrics, timings, worker, failure reason) and snapshots of the
strategy's state. Every ask and every result gets a number from one event
counter, so a strategy can be rebuilt after any interruption: load the latest
snapshot, then replay the asks and results recorded after it, in order.

Only the search driver writes; `nasnet status` and `nasnet top` may read at
any time. A lock file keeps a second driver out of a running experiment.

The database file itself (schema, damage checks, the atomic creation and
swap, migrations) is `nasnet.store.database`'s. Strategy snapshots carry a
SHA-256 checksum (`nasnet.store.snapshot`) and the previous snapshot is kept,
so a damaged newest snapshot costs a longer replay, never a broken strategy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from nasnet.space.genotype import Genotype
from nasnet.space.serialization import genotype_from_dict, genotype_to_dict
from nasnet.store.config import ExperimentConfig
from nasnet.store.database import (
    DB_FILE,
    HISTORY_TABLE,
    LOCK_FILE,
    SCHEMA_VERSION,
    SNAPSHOT_SLOTS,
    SUPPORTED_SCHEMAS,
    DamagedStoreError,
    StoreError,
    dumps,
    examine,
    interrupted_message,
    is_corruption,
    migrate_to_two_snapshots,
    read_error,
    schema_message,
    set_aside_error,
    swap_in,
    transaction,
    wal_bytes,
    write_new_database,
)
from nasnet.store.snapshot import Snapshot, snapshot_checksum
from nasnet.store.trial import FINISHED_STATES, EvalResult, FrozenTrial, TrialState

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
            if is_corruption(err):
                raise DamagedStoreError(self.directory / DB_FILE, f"SQLite: {err}") from None
            raise

    return checked  # type: ignore[return-value]


COUNTED_STATES = (TrialState.COMPLETE, TrialState.FAILED, TrialState.RUNNING, TrialState.WAITING)  # display order


def _row_to_trial(row: sqlite3.Row) -> FrozenTrial:
    return FrozenTrial(
        number=row["number"],
        state=TrialState(row["status"]),
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
            db.execute(HISTORY_TABLE)
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
        set_aside = set_aside_error(path)
        if set_aside is not None:
            raise set_aside
        if not db_path.exists():
            wal = wal_bytes(db_path)
            if wal:
                raise StoreError(
                    f"{path}: holds {DB_FILE}-wal ({wal} bytes) but no {DB_FILE}; move it away before starting here"
                )
            return
        if not db_path.is_file():
            raise StoreError(f"{db_path}: is not a file")
        contents = examine(db_path)
        if contents.holds_experiment and not overwrite:
            raise StoreError(
                f"{path}: already holds an experiment ({contents.trials} trials); continue it with --resume {path}, "
                "or replace it, deleting its trials, with --overwrite"
            )

    @classmethod
    def create(
        cls, directory: str | os.PathLike[str], config: ExperimentConfig, overwrite: bool = False
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
            swap_in(write_new_database(path, config), path / DB_FILE)
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
            raise set_aside_error(path) or StoreError(f"{path}: no experiment here (missing {DB_FILE})")
        lock = None if readonly else cls._lock(path)
        db = None
        try:
            contents = examine(db_path)  # before any writable connection: it must find damage untouched
            if not contents.holds_experiment:
                raise StoreError(interrupted_message(path, db_path))
            if contents.schema not in SUPPORTED_SCHEMAS:
                raise StoreError(schema_message(db_path, contents.schema))
            db = cls._connect(db_path, readonly)
            store = cls(path, db, lock)
            store.config  # noqa: B018 (refuses a config written by a newer nasnet before anything else is read)
            if contents.schema != SCHEMA_VERSION and not readonly:
                migrate_to_two_snapshots(db)
            return store
        except BaseException as err:
            if db is not None:
                db.close()
            if lock is not None:
                os.close(lock)
            if isinstance(err, sqlite3.DatabaseError):
                raise read_error(db_path, err) from None
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
    def config(self) -> ExperimentConfig:
        """The experiment's config; a ConfigError if a newer nasnet wrote it (see `ExperimentConfig.from_dict`)."""
        raw = self._get_meta("config")
        try:
            data = json.loads(raw) if raw is not None else None
        except json.JSONDecodeError as err:
            raise StoreError(f"{self.directory / DB_FILE}: the experiment config is not valid JSON ({err})") from None
        return ExperimentConfig.from_dict(data, source=str(self.directory))

    @_reports_damage
    def update_config(self, config: ExperimentConfig) -> None:
        with self._tx():
            self._set_meta("config", dumps(config.to_dict()))

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
            with transaction(self._db):
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
        state: TrialState = TrialState.RUNNING,
        cached: FrozenTrial | None = None,
    ) -> FrozenTrial:
        """Record an ask. With ``cached``, the trial takes that finished trial's result at once.

        A ``running`` trial starts now, as attempt 1.
        """
        now = time.time()
        started = state == TrialState.RUNNING and cached is None
        values: dict[str, Any] = {
            "state": state,
            "genotype": genotype,
            "genotype_hash": genotype_hash,
            "decisions": tuple(decisions),
            "info": dict(info),
            "created_at": now,
            "started_at": now if started else None,
            "attempts": 1 if started else 0,
        }
        with self._tx():
            values["ask_seq"] = self._next_seq()
            if cached is not None:
                values.update(
                    state=cached.state,
                    reward=cached.reward,
                    accuracy=cached.accuracy,
                    metrics=dict(cached.metrics),
                    failure=cached.failure,
                    cached_from=cached.cached_from or cached.number,
                    tell_seq=self._next_seq(),
                    finished_at=now,
                    seconds=0.0,
                )
            cursor = self._db.execute(
                "INSERT INTO trials (status, genotype, genotype_hash, decisions, info, reward, accuracy, metrics, "
                "failure, attempts, cached_from, ask_seq, tell_seq, created_at, started_at, finished_at, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    values["state"].value,
                    dumps(genotype_to_dict(genotype)),
                    genotype_hash,
                    dumps(list(values["decisions"])),
                    dumps(values["info"]),
                    values.get("reward"),
                    values.get("accuracy"),
                    dumps(values["metrics"]) if cached is not None else None,
                    values.get("failure"),
                    values["attempts"],
                    values.get("cached_from"),
                    values["ask_seq"],
                    values.get("tell_seq"),
                    now,
                    values["started_at"],
                    values.get("finished_at"),
                    values.get("seconds"),
                ),
            )
        return FrozenTrial(number=int(cursor.lastrowid), **values)

    @_reports_damage
    def start_trial(self, number: int) -> FrozenTrial:
        """Start trial ``number`` again (its previous attempt was cut off, or it waited for a result that is gone):
        it becomes ``running`` with its next attempt number, which is what the executor carries."""
        with self._tx():
            self._db.execute(
                "UPDATE trials SET status = ?, started_at = ?, worker = NULL, attempts = attempts + 1 WHERE number = ?",
                (TrialState.RUNNING.value, time.time(), number),
            )
        return self.get_trial(number)

    @_reports_damage
    def finish_trial(
        self, trial: FrozenTrial, result: EvalResult, reward: float | None, cached_from: int | None = None
    ) -> FrozenTrial:
        """Record ``result`` (and its ``reward``) as the outcome of ``trial``, committed before anyone is told of it.

        The result brings its attempt number and worker from the executor; ``cached_from`` names the trial
        whose result a duplicate took. Returns the finished trial as stored.
        """
        if not result.state.finished:
            raise ValueError(f"a result must be complete or failed, got {result.state}")
        now = time.time()
        with self._tx():
            tell_seq = self._next_seq()
            cursor = self._db.execute(
                "UPDATE trials SET status = ?, reward = ?, accuracy = ?, metrics = ?, failure = ?, seconds = ?, "
                "worker = COALESCE(?, worker), cached_from = ?, tell_seq = ?, finished_at = ?, "
                "attempts = ? WHERE number = ? AND status NOT IN (?, ?)",
                (
                    result.state.value,
                    reward,
                    result.accuracy,
                    dumps(result.metrics),
                    result.failure,
                    result.seconds,
                    result.worker,
                    cached_from,
                    tell_seq,
                    now,
                    result.attempt,
                    trial.number,
                    *(state.value for state in FINISHED_STATES),
                ),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"{self.directory}: trial {trial.number} is missing or already finished")
        return dataclasses.replace(
            trial,
            state=result.state,
            reward=reward,
            accuracy=result.accuracy,
            metrics=dict(result.metrics),
            failure=result.failure,
            seconds=result.seconds,
            worker=result.worker or trial.worker,
            cached_from=cached_from,
            tell_seq=tell_seq,
            finished_at=now,
            attempts=result.attempt,
        )

    @_reports_damage
    def get_trial(self, number: int) -> FrozenTrial:
        row = self._db.execute("SELECT * FROM trials WHERE number = ?", (number,)).fetchone()
        if row is None:
            raise StoreError(f"{self.directory}: no trial {number}")
        return _row_to_trial(row)

    @_reports_damage
    def find_result(self, genotype_hash: str) -> FrozenTrial | None:
        """A finished, trained (not itself cached) trial of an equivalent genotype."""
        row = self._db.execute(
            "SELECT * FROM trials WHERE genotype_hash = ? AND status IN (?, ?) AND cached_from IS NULL "
            "ORDER BY number LIMIT 1",
            (genotype_hash, *(state.value for state in FINISHED_STATES)),
        ).fetchone()
        return _row_to_trial(row) if row else None

    @_reports_damage
    def trials(self, state: TrialState | tuple[TrialState, ...] | None = None) -> list[FrozenTrial]:
        if state is None:
            rows = self._db.execute("SELECT * FROM trials ORDER BY number").fetchall()
        else:
            states = [TrialState(state).value] if isinstance(state, str) else [TrialState(s).value for s in state]
            marks = ", ".join("?" for _ in states)
            query = f"SELECT * FROM trials WHERE status IN ({marks}) ORDER BY number"
            rows = self._db.execute(query, states).fetchall()
        return [_row_to_trial(row) for row in rows]

    @_reports_damage
    def counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall()
        counts = {state.value: 0 for state in COUNTED_STATES}
        counts.update({row[0]: row[1] for row in rows})
        counts["cached"] = self._db.execute("SELECT COUNT(*) FROM trials WHERE cached_from IS NOT NULL").fetchone()[0]
        return counts

    @_reports_damage
    def best(self, k: int = 10) -> list[FrozenTrial]:
        rows = self._db.execute(
            "SELECT * FROM trials WHERE status = ? AND reward IS NOT NULL ORDER BY reward DESC, number LIMIT ?",
            (TrialState.COMPLETE.value, k),
        ).fetchall()
        return [_row_to_trial(row) for row in rows]

    @_reports_damage
    def events_after(self, event_seq: int) -> Iterator[tuple[str, FrozenTrial]]:
        """``("ask", trial)`` and ``("tell", trial)`` events after ``event_seq``, in order."""
        rows = self._db.execute(
            "SELECT * FROM trials WHERE ask_seq > ? OR tell_seq > ?", (event_seq, event_seq)
        ).fetchall()
        events: list[tuple[int, str, FrozenTrial]] = []
        for row in rows:
            record = _row_to_trial(row)
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
    def save_snapshot(self, strategy: str, state: bytes, learned: dict[str, Any] | None = None, told: int = 0) -> None:
        """Store ``state`` as of the current event, keeping the previous snapshot as a fallback.

        ``learned`` (`Strategy.learned`), when given, is kept for good in the strategy's history.
        """
        slot = self._slot_to_replace()
        checksum = snapshot_checksum(strategy, self._seq, state)
        now = time.time()
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO strategy_state (id, strategy, event_seq, state, saved_at, sha256) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (slot, strategy, self._seq, sqlite3.Binary(state), now, checksum),
            )
            if learned is not None:
                self._db.execute(
                    "INSERT INTO strategy_history (event_seq, told, saved_at, learned) VALUES (?, ?, ?, ?)",
                    (self._seq, told, now, dumps(learned)),
                )
        self._newest_slot = slot

    @_reports_damage
    def strategy_history(self) -> list[dict[str, Any]]:
        """What the strategy had learned at each snapshot, oldest first: ``event_seq``, ``told``, ``saved_at``,
        ``learned``. Empty for strategies that report nothing and for experiments from before the history."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "strategy_history" not in tables:
            return []
        rows = self._db.execute(
            "SELECT event_seq, told, saved_at, learned FROM strategy_history ORDER BY event_seq, saved_at"
        ).fetchall()
        return [
            {"event_seq": row[0], "told": row[1], "saved_at": row[2], "learned": json.loads(row[3])} for row in rows
        ]

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
