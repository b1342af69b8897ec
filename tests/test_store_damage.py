"""No silent loss in the experiment store: damaged databases, --overwrite, and checksummed strategy snapshots."""

import random
import shutil
import sqlite3
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from nasnet.cli import main
from nasnet.execution import InProcessExecutor
from nasnet.search import Strategy, search
from nasnet.search.loop import SearchError, SnapshotWarning
from nasnet.space import DEFAULT_SPACE
from nasnet.store import DB_FILE, DamagedStoreError, ExperimentConfig, ExperimentStore, StoreError, space_spec
from nasnet.store.database import NEW_DB_FILE, OLD_DB_FILE

ROOT = Path(__file__).resolve().parents[1]
SEED = 3
BUDGET = 40  # trials in the stored experiment
RESUMED_BUDGET = 60  # trials after a resume
STRATEGY_OPTIONS = {"hidden_size": 16, "batch_size": 10}  # a small controller: small snapshots, several updates
SYNTHETIC = {"kind": "synthetic"}


MINIMAL_CONFIG = ExperimentConfig(strategy="random", evaluator={"kind": "synthetic"}, space=space_spec(DEFAULT_SPACE))


def _run(directory: Path, trials: int, **kwargs) -> None:
    search(
        "rl",
        out=directory,
        evaluator=SYNTHETIC,
        executor=InProcessExecutor(),
        trials=trials,
        seed=SEED,
        strategy_options=STRATEGY_OPTIONS,
        snapshot_every=15,  # snapshots after 15 and 30 results and at exit: two slots, different events
        **kwargs,
    )


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    """A finished, cleanly closed rl experiment (no -wal left); tests work on copies."""
    directory = tmp_path_factory.mktemp("stored") / "exp"
    _run(directory, BUDGET)
    return directory


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[tuple[int, ...]]:
    """The decisions of the same search run to RESUMED_BUDGET without a stop."""
    directory = tmp_path_factory.mktemp("reference") / "exp"
    _run(directory, RESUMED_BUDGET)
    with ExperimentStore.open(directory, readonly=True) as store:
        return [t.decisions for t in store.trials()]


def _copy(experiment: Path, tmp_path: Path, name: str = "exp") -> Path:
    target = tmp_path / name
    shutil.copytree(experiment, target)
    return target


def _cli_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit status 2 and a one-line error without a traceback; returns the line."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- 1. a damaged database is named as damaged and left untouched -----------------------------------


def _used_page(db_path: Path, table: str) -> tuple[int, int]:
    """A page in the middle of those ``table``'s b-tree uses (1-based number), and the page size."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        pages = [row[0] for row in db.execute("SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno", (table,))]
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    return pages[len(pages) // 2], page_size


def _truncate_to_half(data: bytes, db_path: Path) -> bytes:
    return data[: len(data) // 2]


def _truncate_to_100_bytes(data: bytes, db_path: Path) -> bytes:
    return data[:100]


def _overwrite_header(data: bytes, db_path: Path) -> bytes:
    return bytes(range(0xF0, 0x100)) + data[16:]  # the 16-byte magic string "SQLite format 3\0"


def _garble_a_trials_page(data: bytes, db_path: Path) -> bytes:
    page, size = _used_page(db_path, "trials")
    garbage = random.Random(0).randbytes(size)
    return data[: (page - 1) * size] + garbage + data[page * size :]


DAMAGES: dict[str, Callable[[bytes, Path], bytes]] = {
    "truncated-to-half": _truncate_to_half,
    "truncated-to-100-bytes": _truncate_to_100_bytes,
    "header-overwritten": _overwrite_header,
    "trials-page-garbled": _garble_a_trials_page,
}


def _damage(directory: Path, damage: Callable[[bytes, Path], bytes]) -> bytes:
    db_path = directory / DB_FILE
    damaged = damage(db_path.read_bytes(), db_path)
    db_path.write_bytes(damaged)
    return damaged


@pytest.mark.parametrize("variant", list(DAMAGES))
def test_damaged_database_is_named_damaged_and_never_changed(experiment, tmp_path, capsys, variant):
    directory = _copy(experiment, tmp_path)
    db_path = directory / DB_FILE
    damaged = _damage(directory, DAMAGES[variant])
    for readonly in (True, False):
        with pytest.raises(DamagedStoreError, match="damaged") as caught:
            ExperimentStore.open(directory, readonly=readonly)
        assert str(db_path) in str(caught.value) and ".recover" in str(caught.value)
    with pytest.raises(DamagedStoreError):
        ExperimentStore.create(directory, MINIMAL_CONFIG, overwrite=True)  # not even with overwrite
    out = ["--evaluator", "synthetic", "--trials", "3", "--no-progress", "--executor", "inprocess"]
    for argv in (
        ["status", str(directory)],
        ["top", str(directory)],
        ["search", "--resume", str(directory), "--no-progress", "--executor", "inprocess"],
        ["search", "--out", str(directory), *out],
        ["search", "--out", str(directory), *out, "--overwrite"],
    ):
        err = _cli_error(capsys, argv)
        assert f"{db_path} is damaged" in err and '".recover" | sqlite3 recovered.db' in err, err
    assert db_path.read_bytes() == damaged
    assert not (directory / NEW_DB_FILE).exists() and not (directory / OLD_DB_FILE).exists()


def test_damaged_database_error_from_the_command_line_is_one_line(experiment, tmp_path):
    directory = _copy(experiment, tmp_path)
    damaged = _damage(directory, _truncate_to_half)
    process = subprocess.run(
        [sys.executable, "-m", "nasnet", "status", str(directory)],
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.startswith(f"nasnet status: error: {directory / DB_FILE} is damaged")
    assert process.stderr.count("\n") == 1 and "Traceback" not in process.stderr
    assert (directory / DB_FILE).read_bytes() == damaged


def test_damage_met_after_open_is_reported_as_damage(experiment, tmp_path):
    directory = _copy(experiment, tmp_path)
    page, size = _used_page(directory / DB_FILE, "trials")
    with ExperimentStore.open(directory, readonly=True) as store:
        with open(directory / DB_FILE, "r+b") as handle:  # damaged while the store is open
            handle.seek((page - 1) * size)
            handle.write(random.Random(1).randbytes(size))
        with sqlite3.connect(directory / DB_FILE, isolation_level=None) as other:
            other.execute("INSERT INTO meta VALUES ('note', 'x')")  # so the store's cached pages go stale
        with pytest.raises(DamagedStoreError, match="is damaged"):
            store.trials()


def test_empty_file_counts_as_an_interrupted_creation(tmp_path, capsys):
    # 0 bytes and no write-ahead log: nothing was ever stored (or all was already lost), so a new
    # experiment may take its place without --overwrite; status and resume say so and change nothing.
    directory = tmp_path / "exp"
    directory.mkdir()
    (directory / DB_FILE).write_bytes(b"")
    for argv in (["status", str(directory)], ["search", "--resume", str(directory), "--no-progress"]):
        err = _cli_error(capsys, argv)
        assert "is empty (0 bytes)" in err and f"--out {directory}" in err
    assert (directory / DB_FILE).read_bytes() == b""
    argv = ["search", "--out", str(directory), "--evaluator", "synthetic", "--trials", "3", "--no-progress"]
    assert main([*argv, "--executor", "inprocess"]) == 0
    with ExperimentStore.open(directory, readonly=True) as store:
        assert store.counts()["complete"] == 3


def test_empty_file_with_a_write_ahead_log_is_damaged(tmp_path, capsys):
    directory = tmp_path / "exp"
    directory.mkdir()
    (directory / DB_FILE).write_bytes(b"")
    wal = b"\x37\x7f\x06\x82" + bytes(4092)
    (directory / f"{DB_FILE}-wal").write_bytes(wal)
    err = _cli_error(capsys, ["search", "--out", str(directory), "--evaluator", "synthetic", "--trials", "3"])
    assert "is damaged (0 bytes, but its write-ahead log" in err
    assert (directory / DB_FILE).read_bytes() == b"" and (directory / f"{DB_FILE}-wal").read_bytes() == wal


def _crashed_creation(directory: Path) -> None:
    """What the old `create` left when it died between opening the database and committing the config."""
    directory.mkdir()
    db = sqlite3.connect(directory / DB_FILE, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.close()


def test_interrupted_creation_is_told_and_may_be_started_again(tmp_path, capsys):
    directory = tmp_path / "exp"
    _crashed_creation(directory)
    err = _cli_error(capsys, ["status", str(directory)])
    assert "creation was interrupted" in err and f"--out {directory}" in err
    assert main(["search", "--out", str(directory), "--evaluator", "synthetic", "--trials", "2", "--no-progress"]) == 0


def test_a_database_holding_trials_is_never_taken_for_an_interrupted_creation(experiment, tmp_path):
    directory = _copy(experiment, tmp_path)
    with sqlite3.connect(directory / DB_FILE, isolation_level=None) as db:
        db.execute("DELETE FROM meta WHERE key = 'config'")
    before = (directory / DB_FILE).read_bytes()
    with pytest.raises(StoreError, match=f"already holds an experiment \\({BUDGET} trials\\)"):
        _run(directory, 3)
    assert (directory / DB_FILE).read_bytes() == before


# ---- 2. nothing deletes trials without --overwrite ----------------------------------------------------


def test_out_refuses_a_directory_holding_an_experiment(experiment, tmp_path, capsys):
    directory = _copy(experiment, tmp_path)
    before = (directory / DB_FILE).read_bytes()
    with pytest.raises(StoreError, match="already holds an experiment") as caught:
        _run(directory, 3)
    assert f"--resume {directory}" in str(caught.value) and "--overwrite" in str(caught.value)
    argv = ["search", "--out", str(directory), "--evaluator", "synthetic", "--trials", "3", "--no-progress"]
    err = _cli_error(capsys, argv)
    assert str(directory) in err and "--overwrite" in err and "--resume" in err
    with pytest.raises(StoreError, match="already holds an experiment"):
        ExperimentStore.create(directory, MINIMAL_CONFIG)
    assert (directory / DB_FILE).read_bytes() == before


def test_overwrite_replaces_the_experiment_whole(experiment, tmp_path, capsys):
    directory = _copy(experiment, tmp_path)
    argv = ["search", "--out", str(directory), "--strategy", "random", "--evaluator", "synthetic", "--trials", "5"]
    assert main([*argv, "--no-progress", "--executor", "inprocess", "--overwrite"]) == 0
    with ExperimentStore.open(directory, readonly=True) as store:
        assert store.config.strategy == "random"
        assert [t.number for t in store.trials()] == [1, 2, 3, 4, 5]
    leftovers = {path.name for path in directory.iterdir()} - {DB_FILE, ".lock", f"{DB_FILE}-wal", f"{DB_FILE}-shm"}
    assert leftovers == set()
    summary = search(
        "random", out=directory, evaluator=SYNTHETIC, executor=InProcessExecutor(), trials=2, overwrite=True
    )
    assert summary.counts["complete"] == 2


def test_overwrite_does_not_go_with_resume(experiment, tmp_path, capsys):
    directory = _copy(experiment, tmp_path)
    err = _cli_error(capsys, ["search", "--resume", str(directory), "--overwrite", "--no-progress"])
    assert "--overwrite goes with --out" in err
    with pytest.raises(SearchError, match="cannot go with resume=True"):
        search(out=directory, resume=True, overwrite=True)


def test_overwrite_never_lets_the_old_write_ahead_log_into_the_new_database(tmp_path):
    # a crashed search leaves its last commits in experiment.db-wal; SQLite would apply those
    # frames to any database file beside them, so the old log must leave with the old database
    crashed = tmp_path / "crashed"
    _run(tmp_path / "live", 20)
    with ExperimentStore.open(tmp_path / "live") as live:
        live.add_elapsed(1.0)  # a commit that stays in the -wal while the writer is open
        shutil.copytree(tmp_path / "live", crashed)
    assert (crashed / f"{DB_FILE}-wal").stat().st_size > 0
    search("random", out=crashed, evaluator=SYNTHETIC, executor=InProcessExecutor(), trials=3, overwrite=True)
    with ExperimentStore.open(crashed, readonly=True) as store:
        assert store.config.strategy == "random" and len(store.trials()) == 3
        assert store.elapsed_seconds < 1.0
    with sqlite3.connect(crashed / DB_FILE) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_failed_replacement_puts_the_old_experiment_back(experiment, tmp_path, monkeypatch):
    import nasnet.store.database as store_database

    directory = _copy(experiment, tmp_path)
    before = (directory / DB_FILE).read_bytes()
    real_replace = store_database.os.replace

    def failing_replace(source, target):
        if str(source).endswith(NEW_DB_FILE):
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(store_database.os, "replace", failing_replace)
    with pytest.raises(StoreError, match=r"cannot write the new experiment .*No space left"):
        ExperimentStore.create(directory, MINIMAL_CONFIG, overwrite=True)
    monkeypatch.undo()
    assert (directory / DB_FILE).read_bytes() == before
    with ExperimentStore.open(directory, readonly=True) as store:
        assert len(store.trials()) == BUDGET


def test_an_interrupted_replacement_keeps_the_old_experiment(experiment, tmp_path, capsys):
    # killed after the old database went aside, before the new one was renamed in
    directory = _copy(experiment, tmp_path)
    (directory / DB_FILE).rename(directory / OLD_DB_FILE)
    before = (directory / OLD_DB_FILE).read_bytes()
    argv = ["search", "--out", str(directory), "--evaluator", "synthetic", "--trials", "3", "--no-progress"]
    for args in (argv, [*argv, "--overwrite"], ["status", str(directory)]):
        err = _cli_error(capsys, args)
        assert "replacing the experiment was interrupted" in err and str(directory / OLD_DB_FILE) in err
    assert (directory / OLD_DB_FILE).read_bytes() == before and not (directory / DB_FILE).exists()


# ---- 3. checksummed strategy snapshots ----------------------------------------------------------------


def _snapshot_rows(db_path: Path) -> list[tuple[int, int, bytes]]:
    """(slot, event_seq, state) of every snapshot, newest first."""
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT id, event_seq, state FROM strategy_state ORDER BY event_seq DESC").fetchall()
    return [(slot, seq, bytes(state)) for slot, seq, state in rows]


def _set_state(db_path: Path, slot: int, state: bytes) -> None:
    """Change a snapshot's bytes behind the store's back (its checksum stays as saved)."""
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("UPDATE strategy_state SET state = ? WHERE id = ?", (sqlite3.Binary(state), slot))
    db.close()


def _resume(directory: Path, monkeypatch) -> tuple[list[bytes], list[str]]:
    """Resume to RESUMED_BUDGET; returns every state the strategy loaded and the snapshot warnings."""
    loaded: list[bytes] = []
    real_load = Strategy.load_bytes

    def recording_load(self, data: bytes) -> None:
        loaded.append(bytes(data))
        real_load(self, data)

    monkeypatch.setattr(Strategy, "load_bytes", recording_load)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = search(out=directory, resume=True, trials=RESUMED_BUDGET, executor=InProcessExecutor())
    monkeypatch.undo()
    assert summary.replay_divergences == 0
    return loaded, [str(w.message) for w in caught if issubclass(w.category, SnapshotWarning)]


def _assert_continued_exactly(directory: Path, reference: list[tuple[int, ...]]) -> None:
    with ExperimentStore.open(directory, readonly=True) as store:
        trials = store.trials()
        newest = store.snapshots()[0]
        last_event = store.event_seq
    assert [t.number for t in trials] == list(range(1, RESUMED_BUDGET + 1))
    assert [t.decisions for t in trials] == reference  # the same trials as a run that never stopped
    trained = [t.genotype_hash for t in trials if t.cached_from is None]
    assert len(trained) == len(set(trained))
    assert newest.verified and newest.event_seq == last_event


def test_snapshots_keep_the_previous_one(tmp_path):
    with ExperimentStore.create(tmp_path / "exp", MINIMAL_CONFIG) as store:
        for state in (b"first", b"second", b"third"):
            store.save_snapshot("rl", state)
        assert [s.state for s in store.snapshots()] == [b"third", b"second"]
        assert all(s.verified for s in store.snapshots())
    db_path = tmp_path / "exp" / DB_FILE
    newest_slot = _snapshot_rows(db_path)[0][0]
    _set_state(db_path, newest_slot, b"thirX")
    with ExperimentStore.open(tmp_path / "exp") as store:
        assert store.load_snapshot().state == b"second"  # the damaged newest is passed over
        store.save_snapshot("rl", b"fourth")  # takes the damaged slot: the good "second" survives
        assert [s.state for s in store.snapshots()] == [b"fourth", b"second"]


def test_flipped_bytes_in_the_newest_snapshot_are_never_loaded(experiment, reference, tmp_path, monkeypatch):
    rows = _snapshot_rows(experiment / DB_FILE)
    (slot, newest_seq, state), (_, previous_seq, _) = rows
    rng = random.Random(2024)
    for position in rng.sample(range(len(state)), 200):
        corrupted = bytearray(state)
        corrupted[position] ^= rng.randrange(1, 256)
        directory = _copy(experiment, tmp_path, f"flip-{position}")
        _set_state(directory / DB_FILE, slot, bytes(corrupted))
        loaded, said = _resume(directory, monkeypatch)
        assert bytes(corrupted) not in loaded, position
        assert len(said) == 1 and f"the snapshot at event {newest_seq} (damaged: its SHA-256" in said[0], said
        assert f"using the snapshot at event {previous_seq} and replaying the" in said[0]
        _assert_continued_exactly(directory, reference)
        shutil.rmtree(directory)


@pytest.mark.parametrize("keep", [0, 1, 0.5, -1], ids=["empty", "one-byte", "half", "all-but-last"])
def test_truncated_newest_snapshot_is_never_loaded(experiment, reference, tmp_path, monkeypatch, keep):
    directory = _copy(experiment, tmp_path)
    slot, newest_seq, state = _snapshot_rows(directory / DB_FILE)[0]
    truncated = state[: int(len(state) * keep)] if isinstance(keep, float) else state[:keep]
    _set_state(directory / DB_FILE, slot, truncated)
    loaded, said = _resume(directory, monkeypatch)
    assert truncated not in loaded
    assert len(said) == 1 and f"event {newest_seq} (damaged" in said[0]
    _assert_continued_exactly(directory, reference)


def test_no_good_snapshot_means_a_replay_from_the_start(experiment, reference, tmp_path, monkeypatch):
    directory = _copy(experiment, tmp_path)
    rows = _snapshot_rows(directory / DB_FILE)
    for slot, _, state in rows:
        _set_state(directory / DB_FILE, slot, state[:-7] + b"garbage")
    loaded, said = _resume(directory, monkeypatch)
    assert not {state[:-7] + b"garbage" for _, _, state in rows} & set(loaded)
    assert len(said) == 1 and said[0].count("(damaged") == 2
    assert f"replaying all {rows[0][1]} events from the start" in said[0]
    _assert_continued_exactly(directory, reference)


def test_checksum_covers_the_event_number(experiment, reference, tmp_path, monkeypatch):
    directory = _copy(experiment, tmp_path)
    slot, newest_seq, _ = _snapshot_rows(directory / DB_FILE)[0]
    with sqlite3.connect(directory / DB_FILE, isolation_level=None) as db:
        db.execute("UPDATE strategy_state SET event_seq = event_seq - 3 WHERE id = ?", (slot,))
    _, said = _resume(directory, monkeypatch)
    assert len(said) == 1 and f"event {newest_seq - 3} (damaged" in said[0]
    _assert_continued_exactly(directory, reference)


def test_snapshot_bytes_damaged_in_the_file_are_caught_by_the_checksum(experiment, reference, tmp_path, monkeypatch):
    # garbage inside an overflow page of the snapshot blob: the b-tree is intact, so quick_check
    # passes and the database opens; only the checksum can tell
    directory = _copy(experiment, tmp_path)
    db_path = directory / DB_FILE
    _, newest_seq, state = _snapshot_rows(db_path)[0]
    with sqlite3.connect(db_path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(db_path.read_bytes())
    for start in range(len(state) // 2, len(state) - 64, 97):
        offset = data.find(state[start : start + 64])
        if offset >= 0 and 8 <= offset % page_size <= page_size - 64:
            break
    else:
        pytest.fail("no stretch of the snapshot found within one page")
    data[offset : offset + 64] = random.Random(5).randbytes(64)
    db_path.write_bytes(bytes(data))
    with ExperimentStore.open(directory, readonly=True) as store:
        assert store.snapshots()[0].damaged and store.load_snapshot().event_seq < newest_seq
    _, said = _resume(directory, monkeypatch)
    assert len(said) == 1 and f"event {newest_seq} (damaged" in said[0]
    _assert_continued_exactly(directory, reference)


# ---- schema 1 (one snapshot, no checksum) -------------------------------------------------------------

_SCHEMA_1_STRATEGY_STATE = """CREATE TABLE strategy_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    strategy TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    state BLOB NOT NULL,
    saved_at REAL NOT NULL
)"""


def _as_schema_1(directory: Path, change: Callable[[bytes], bytes] = lambda state: state) -> bytes:
    """Rewrite the experiment as schema 1 stored it: the newest snapshot alone, unchecksummed."""
    _, seq, state = _snapshot_rows(directory / DB_FILE)[0]
    state = change(state)
    db = sqlite3.connect(directory / DB_FILE, isolation_level=None)
    db.execute("BEGIN")
    db.execute("DROP TABLE strategy_state")
    db.execute(_SCHEMA_1_STRATEGY_STATE)
    db.execute("INSERT INTO strategy_state VALUES (1, 'rl', ?, ?, 0.0)", (seq, sqlite3.Binary(state)))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.execute("COMMIT")
    db.close()
    return state


def _schema_version(directory: Path) -> str:
    with sqlite3.connect(directory / DB_FILE) as db:
        return db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]


def test_schema_1_snapshot_is_read_and_migrated(experiment, reference, tmp_path, monkeypatch, capsys):
    directory = _copy(experiment, tmp_path)
    state = _as_schema_1(directory)
    with ExperimentStore.open(directory, readonly=True) as store:  # readers leave the schema alone
        snapshot = store.load_snapshot()
        assert snapshot.state == state and snapshot.checksum is None and not snapshot.damaged
    assert main(["status", str(directory), "--json"]) == 0 and '"told": 40' in capsys.readouterr().out
    assert _schema_version(directory) == "1"
    loaded, said = _resume(directory, monkeypatch)
    assert state in loaded and said == []
    assert _schema_version(directory) == "2"
    _assert_continued_exactly(directory, reference)


def test_schema_1_snapshot_that_does_not_load_means_a_full_replay(experiment, reference, tmp_path, monkeypatch):
    directory = _copy(experiment, tmp_path)
    _as_schema_1(directory, lambda state: state[: len(state) // 2])
    _, said = _resume(directory, monkeypatch)
    assert len(said) == 1 and "(it does not load: " in said[0] and "replaying all" in said[0]
    _assert_continued_exactly(directory, reference)
