"""An experiment written before the trial vocabulary and config versioning still opens, and a newer one is refused.

The fixture in ``fixtures/experiment_v1`` was written by an earlier nasnet (config version 1, no
``plugins`` field) and killed mid-search (see its README): it holds complete, failed and running trials.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from nasnet.cli import main
from nasnet.execution import InProcessExecutor
from nasnet.search import search
from nasnet.store import CONFIG_VERSION, DB_FILE, ConfigError, ExperimentStore, TrialState

FIXTURE = Path(__file__).parent / "fixtures" / "experiment_v1"


@pytest.fixture
def old_experiment(tmp_path: Path) -> Path:
    directory = tmp_path / "old"
    directory.mkdir()
    shutil.copy(FIXTURE / DB_FILE, directory / DB_FILE)
    return directory


def _stored_config(directory: Path) -> dict:
    db = sqlite3.connect(directory / DB_FILE)
    try:
        return json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    finally:
        db.close()


def test_the_fixture_is_a_version_1_experiment_with_an_interrupted_trial(old_experiment):
    assert _stored_config(old_experiment)["version"] == 1 and "plugins" not in _stored_config(old_experiment)
    with ExperimentStore.open(old_experiment, readonly=True) as store:
        counts = store.counts()
        config = store.config
    assert (counts["complete"], counts["failed"], counts["running"]) == (18, 2, 1)
    assert config.version == 1 and config.strategy == "evolution" and config.plugins == ()
    assert config.strategy_options == {"population_size": 6, "sample_size": 3}


def test_status_top_and_export_read_it(old_experiment, tmp_path, capsys):
    assert main(["status", str(old_experiment), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["completed"], status["failed"], status["running"]) == (18, 2, 1)
    assert status["strategy"] == "evolution" and status["budget"]["trials"] == 40

    assert main(["top", str(old_experiment), "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ranked = [row for row in rows if row["rank"] is not None]
    assert [row["rank"] for row in ranked] == [1, 2, 3]
    assert ranked[0]["reward"] >= ranked[1]["reward"] >= ranked[2]["reward"]

    out = tmp_path / "cell.json"
    assert main(["export", str(old_experiment), "--best", "-o", str(out)]) == 0
    exported = json.loads(out.read_text())
    assert exported["meta"]["trial"] == ranked[0]["trial"] and exported["meta"]["strategy"] == "evolution"


def test_resume_finishes_it_and_rewrites_the_config_in_this_version(old_experiment):
    summary = search(out=old_experiment, resume=True, progress=False, executor=InProcessExecutor(), trials=24)
    assert summary.counts["complete"] + summary.counts["failed"] == 24
    assert summary.counts["running"] == 0 and summary.counts["waiting"] == 0
    with ExperimentStore.open(old_experiment, readonly=True) as store:
        trials = {trial.number: trial for trial in store.trials()}
        config = store.config
    assert all(trial.state in (TrialState.COMPLETE, TrialState.FAILED) for trial in trials.values())
    interrupted = trials[21]  # the trial that was running when the first session was killed
    assert interrupted.finished and interrupted.attempts == 2
    assert config.version == CONFIG_VERSION and config.trials == 24
    assert _stored_config(old_experiment)["version"] == CONFIG_VERSION


def test_an_experiment_from_a_newer_nasnet_is_refused_naming_both_versions(old_experiment, capsys):
    config = _stored_config(old_experiment)
    config["version"] = CONFIG_VERSION + 1
    db = sqlite3.connect(old_experiment / DB_FILE)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(config),))
    db.close()
    with pytest.raises(ConfigError, match=rf"config version {CONFIG_VERSION + 1}\).*versions 1 to {CONFIG_VERSION}"):
        ExperimentStore.open(old_experiment, readonly=True)
    for argv in (["status", str(old_experiment)], ["search", "--resume", str(old_experiment), "--no-progress"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"version {CONFIG_VERSION + 1}" in err and f"versions 1 to {CONFIG_VERSION}" in err
        assert len(err.strip().splitlines()) == 1


def test_a_database_schema_from_a_newer_nasnet_is_refused_naming_both(old_experiment):
    db = sqlite3.connect(old_experiment / DB_FILE)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(Exception, match=r"newer nasnet \(database schema 99\); this nasnet reads schemas 1 to 2"):
        ExperimentStore.open(old_experiment, readonly=True)
