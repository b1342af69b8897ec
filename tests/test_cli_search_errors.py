"""`nasnet search/status/top/export`: every flag error is one line, never a traceback, a hang or a silent ignore."""

import json
import math
import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nasnet.cli import main
from nasnet.execution import ExecutorError, InProcessExecutor, make_executor
from nasnet.search import StrategyError, make_strategy, search
from nasnet.search.loop import SearchError
from nasnet.space import DEFAULT_SPACE
from nasnet.store import DB_FILE, ExperimentStore
from nasnet.store.database import LOCK_FILE

FAST = ["--evaluator", "synthetic", "--executor", "inprocess", "--no-progress"]


def _run(argv: list[str]) -> int:
    """main(argv), with argparse's own usage errors (SystemExit) turned into their exit code."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


def _one_line_error(capsys, argv: list[str], code: int = 2) -> str:
    """Run the CLI; expect ``code`` and exactly one short stderr line without a traceback; returns it."""
    assert main(argv) == code, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and len(err) < 500, err
    return err.strip()


def _new(tmp_path: Path, *extra: str, trials: int = 3, name: str = "exp") -> Path:
    directory = tmp_path / name
    assert main(["search", "--out", str(directory), *FAST, "--trials", str(trials), *extra]) == 0
    return directory


@pytest.fixture
def experiment(tmp_path, capsys) -> Path:
    directory = _new(tmp_path, "--strategy", "random")
    capsys.readouterr()
    return directory


# ---- 1. strategy option types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["lr=abc"], ["'lr'", "'abc'", "finite number"]),
        (["batch_size=2.5"], ["'batch_size'", "2.5", "integer"]),
        (["lr=NaN"], ["'lr'", "nan", "finite number"]),
        (["lr=1e999"], ["'lr'", "inf", "finite number"]),
        (["entropy_weight=true"], ["'entropy_weight'", "True", "finite number"]),
        (["algorithm=3"], ["'algorithm'", "3", "string"]),
        (["grad_clip=abc"], ["'grad_clip'", "'abc'", "or null"]),
        (["hidden_size=100000000"], ["'hidden_size'", "at most"]),
        (["lr=-1"], ["'lr'", ">= 0"]),
        (["lr=" + "9" * 5000], ["--option"]),
        (["--strategy", "evolution", "population_size=1.5"], ["'population_size'", "1.5", "integer"]),
    ],
)
def test_bad_option_values_are_one_line_before_the_directory_exists(tmp_path, capsys, options, words):
    flags = options[:-1]
    out = tmp_path / "exp"
    err = _one_line_error(
        capsys, ["search", "--out", str(out), *FAST, "--trials", "3", *flags, "--option", options[-1]]
    )
    for word in words:
        assert word in err, err
    assert not out.exists()


def test_option_types_are_checked_for_python_callers_too():
    with pytest.raises(StrategyError, match=r"'batch_size' must be an integer, got 2\.5"):
        make_strategy("rl", DEFAULT_SPACE, batch_size=2.5)
    assert make_strategy("rl", DEFAULT_SPACE, lr=1).optimizer.param_groups[0]["lr"] == 1.0  # an int is a number
    assert make_strategy("rl", DEFAULT_SPACE, grad_clip=None).grad_clip is None
    for seed in (-1, 2**63, 1.5):
        with pytest.raises(StrategyError, match="seed"):
            make_strategy("random", DEFAULT_SPACE, seed=seed)


# ---- 2. budgets --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "budget",
    [
        ["--hours", "nan"],
        ["--hours", "-1"],
        ["--hours", "inf"],
        ["--hours", "0"],
        ["--trials", "-5"],
        ["--trials", "0"],
    ],
)
def test_bad_budgets_are_refused(tmp_path, capsys, budget):
    out = tmp_path / "exp"
    err = _one_line_error(capsys, ["search", "--out", str(out), *FAST, *budget])
    assert budget[0] in err and budget[1] in err
    assert not out.exists()


def test_bad_budgets_are_refused_on_resume_and_in_python(experiment, capsys, tmp_path):
    err = _one_line_error(capsys, ["search", "--resume", str(experiment), "--hours", "nan", *FAST[-3:]])
    assert "--hours nan" in err
    for kwargs in ({"trials": 0}, {"trials": -5}, {"hours": math.nan}, {"hours": math.inf}, {"hours": -1.0}):
        with pytest.raises(SearchError, match=r"trials|hours"):
            search("random", out=tmp_path / "py", evaluator={"kind": "synthetic"}, **kwargs)
        with pytest.raises(SearchError, match=r"trials|hours"):
            search(out=experiment, resume=True, **kwargs)
    assert not (tmp_path / "py").exists()


# ---- 3. --resume keeps what the experiment fixed -----------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "recorded"),
    [
        (["--strategy", "evolution"], "strategy random"),
        (["--reward", "mnas-soft"], "reward accuracy"),
        (["--seed", "3"], "seed 0"),
        (["--option", "lr=0.1"], "no strategy options"),
        (["--evaluator", "train"], "evaluator synthetic"),
        (["--data", "cifar10"], "evaluator synthetic (no --data)"),
        (["--preset", "smoke"], "(no --preset)"),
        (["--set", "epochs=3"], "(no --set)"),
        (["--val-size", "10"], "(no --val-size)"),
        (["--image-size", "32"], "(no --image-size)"),
        (["--synthetic-noise", "0.1"], "with noise 0.0"),
        (["--synthetic-fail-rate", "0.5"], "with fail_rate 0.0"),
        (["--no-dedup"], "dedup on"),
        (["--cost-target", "5e7"], "reward accuracy (no cost)"),
    ],
)
def test_resume_refuses_what_the_experiment_fixed(experiment, capsys, flag, recorded):
    before = (experiment / DB_FILE).read_bytes()
    err = _one_line_error(capsys, ["search", "--resume", str(experiment), *flag, *FAST[2:]])
    assert flag[0] in err and recorded in err and "cannot change on resume" in err, err
    assert (experiment / DB_FILE).read_bytes() == before


def test_resume_takes_new_budget_and_execution_flags(experiment, capsys):
    argv = ["search", "--resume", str(experiment), "--trials", "5", "--hours", "1", "--device", "cpu"]
    assert main([*argv, "--executor", "inprocess", "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"]["complete"] == 5


def test_new_search_refuses_flags_its_evaluator_or_reward_would_ignore(tmp_path, capsys):
    out = str(tmp_path / "exp")
    assert "applies to --evaluator train" in _one_line_error(
        capsys, ["search", "--out", out, *FAST, "--trials", "2", "--data", "x"]
    )
    err = _one_line_error(capsys, ["search", "--out", out, "--trials", "2", "--data", "x", "--synthetic-delay", "1"])
    assert "applies to --evaluator synthetic" in err
    err = _one_line_error(capsys, ["search", "--out", out, *FAST, "--trials", "2", "--cost-metric", "params"])
    assert "applies to --reward mnas-soft or mnas-hard" in err
    for flag, value in (("--synthetic-delay", "nan"), ("--synthetic-noise", "-1"), ("--synthetic-fail-rate", "2")):
        assert flag in _one_line_error(capsys, ["search", "--out", out, *FAST, "--trials", "2", flag, value])
    err = _one_line_error(
        capsys, ["search", "--out", out, *FAST, "--trials", "2", "--reward", "mnas-soft", "--cost-target", "inf"]
    )
    assert "--cost-target inf" in err
    assert not Path(out).exists()


# ---- 4. execution flags ------------------------------------------------------------------------------------


def test_trials_per_gpu_without_a_gpu_says_to_use_workers(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["search", "--out", str(tmp_path / "exp"), "--evaluator", "synthetic", "--trials", "2", "--no-progress"]
    err = _one_line_error(capsys, [*argv, "--trials-per-gpu", "2"])
    assert "--trials-per-gpu" in err and "--workers" in err and "no CUDA GPU" in err
    err = _one_line_error(capsys, [*argv, "--trials-per-gpu", "2", "--workers", "2"])
    assert "--trials-per-gpu" in err and "--workers" in err
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--device", "banana"], ["--device 'banana'", "not a device"]),
        (["--device", ""], ["--device ''"]),
        (["--device", "cuda:99999999999999999999999"], ["--device"]),
        (["--workers", "2"], ["inprocess executor does not use", "--workers"]),
        (["--max-attempts", "2"], ["--max-attempts"]),
        (["--trial-timeout", "5"], ["--trial-timeout"]),
        (["--address", "auto"], ["--address"]),
        (["--cpus-per-trial", "2"], ["--cpus-per-trial"]),
    ],
)
def test_execution_flags_that_do_not_apply_or_do_not_exist(tmp_path, capsys, flags, words):
    err = _one_line_error(capsys, ["search", "--out", str(tmp_path / "exp"), *FAST, "--trials", "2", *flags])
    for word in words:
        assert word in err, err
    assert not (tmp_path / "exp").exists()


def test_device_cuda_without_cuda(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    err = _one_line_error(
        capsys, ["search", "--out", str(tmp_path / "exp"), *FAST, "--trials", "2", "--device", "cuda"]
    )
    assert "--device 'cuda'" in err and "CUDA is not available" in err


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--workers", "0"], ["--workers", "0"]),
        (["--workers", "99999999"], ["--workers", "99999999"]),
        (["--trial-timeout", "nan"], ["--trial-timeout", "nan"]),
        (["--max-attempts", "0"], ["--max-attempts"]),
        (["--address", "auto"], ["the local executor does not use", "--address"]),
        (["--device", "cpu", "--trials-per-gpu", "2"], ["--trials-per-gpu"]),
    ],
)
def test_local_executor_flags(tmp_path, capsys, flags, words):
    argv = ["search", "--out", str(tmp_path / "exp"), "--evaluator", "synthetic", "--trials", "2", "--no-progress"]
    err = _one_line_error(capsys, [*argv, *flags])
    for word in words:
        assert word in err, err


def test_make_executor_refuses_options_the_executor_does_not_take():
    with pytest.raises(ExecutorError, match=r"inprocess executor does not use workers \(--workers\)"):
        make_executor("inprocess", workers=2)
    with pytest.raises(ExecutorError, match="--device"):
        make_executor("inprocess", device="banana")
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("bogus")
    assert isinstance(make_executor("inprocess", device="cpu"), InProcessExecutor)


# ---- 5. --out that cannot be an experiment directory -------------------------------------------------------


def test_out_that_is_a_file_or_read_only(tmp_path, capsys):
    existing = tmp_path / "a-file"
    existing.write_text("keep me\n")
    for out in (existing, existing / "below"):
        err = _one_line_error(capsys, ["search", "--out", str(out), *FAST, "--trials", "2"])
        assert "not a directory" in err
    assert existing.read_text() == "keep me\n"
    argv = ["search", "--out", "/proc/nasnet-x", *FAST, "--trials", "2"]
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "/proc/nasnet-x" in err
    assert "--out is empty" in _one_line_error(capsys, ["search", "--out", "", *FAST, "--trials", "2"])
    assert "--resume is empty" in _one_line_error(capsys, ["search", "--resume", " ", *FAST[2:]])


# ---- 6. export -o ------------------------------------------------------------------------------------------


def test_export_into_a_directory_and_to_stdout(experiment, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "cells"
    folder.mkdir()
    assert main(["export", str(experiment), "--best", "-o", str(folder)]) == 0
    written = list(folder.iterdir())
    assert [p.name for p in written] == [f"{experiment.name}-trial{written[0].stem.rsplit('trial', 1)[1]}.json"]
    assert str(written[0]) in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(experiment), "--trial", "1", "-o", "-"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["meta"]["trial"] == 1 and "normal" in json.dumps(document)
    assert not (tmp_path / "-").exists() and captured.err == ""
    err = _one_line_error(capsys, ["export", str(experiment), "--trial", str(10**30), "-o", "-"])
    assert "no trial" in err
    assert "-o is empty" in _one_line_error(capsys, ["export", str(experiment), "--best", "-o", ""])


# ---- 7. top -k ---------------------------------------------------------------------------------------------


def test_top_k_huge_is_all_and_zero_or_negative_is_refused(experiment, capsys):
    assert main(["top", str(experiment), "-k", str(10**30), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert main(["top", str(experiment), "-k", str(10**30)]) == 0
    assert "top 3 of" in capsys.readouterr().out
    for k in ("0", "-5"):
        assert "-k must be >= 1" in _one_line_error(capsys, ["top", str(experiment), "-k", k])


# ---- 8. the evaluator's data is checked before the experiment exists ---------------------------------------


@pytest.fixture
def tiny_data(tmp_path):
    from test_data import make_image_folder

    return make_image_folder(tmp_path / "pets", splits=("",), classes=("a", "b", "c", "d"), per_class=10, size=(8, 8))


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--val-size", "100000"], ["val_size 100000", "leaves no training images"]),
        (["--val-size", "-1"], ["val_size"]),
        (["--image-size", "0"], ["--image-size", "0"]),
        (["--image-size", "100000"], ["--image-size", "100000"]),
    ],
)
def test_dataset_errors_come_before_the_experiment_directory(tiny_data, tmp_path, capsys, flags, words):
    out = tmp_path / "exp"
    argv = ["search", "--out", str(out), "--data", str(tiny_data), "--preset", "smoke", "--trials", "1"]
    err = _one_line_error(capsys, [*argv, "--executor", "inprocess", "--no-progress", *flags])
    for word in words:
        assert word in err, err
    assert not out.exists()


# ---- 9. failures are shown ---------------------------------------------------------------------------------


def test_status_and_top_show_failures(tmp_path, capsys):
    directory = _new(tmp_path, "--synthetic-fail-rate", "0.4", "--strategy", "random", trials=12)
    capsys.readouterr()
    with ExperimentStore.open(directory, readonly=True) as store:
        failed = store.counts()["failed"]
    assert 0 < failed < 12
    assert main(["status", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f"{failed} failed; the most recent:" in out
    assert len(re.findall(r"^    trial \d+: synthetic failure$", out, flags=re.M)) == min(3, failed)
    assert main(["status", str(directory), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["failed"] == failed and len(payload["recent_failures"]) == min(3, failed)
    assert payload["recent_failures"][0]["failure"] == "synthetic failure"
    numbers = [f["trial"] for f in payload["recent_failures"]]
    assert numbers == sorted(numbers, reverse=True)  # the most recent first
    assert main(["top", str(directory), "-k", "2"]) == 0
    assert f"{failed} trial(s) failed, most recently trial {numbers[0]}: synthetic failure" in capsys.readouterr().out
    assert main(["top", str(directory), "-k", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["rank"] for row in rows if row["state"] == "complete"] == [1, 2]
    failed_rows = [row for row in rows if row["state"] == "failed"]
    assert failed_rows and all(row["failure"] == "synthetic failure" and row["rank"] is None for row in failed_rows)


# ---- 10. status while a search runs, and its figures -------------------------------------------------------


def test_status_counts_the_running_session_and_formats_its_figures(tmp_path, capsys):
    directory = _new(tmp_path, "--synthetic-noise", "0.0123456789", trials=25)
    capsys.readouterr()
    assert main(["status", str(directory)]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"\d\.\d{5,}", out), out  # no raw floats
    assert re.search(r"best reward \d\.\d{4} \(trial \d+\)", out) and "search time 0:00:0" in out
    assert "running now" not in out
    with ExperimentStore.open(directory):  # what a running search holds: the lock
        started = time.time() - 3725  # as if its session began 1:02:05 ago
        os.utime(directory / LOCK_FILE, (started, started))
        assert main(["status", str(directory)]) == 0
        out = capsys.readouterr().out
        assert re.search(r"search time 1:02:0\d, running now \(this session 1:02:0\d\)", out), out
        assert main(["status", str(directory), "--json"]) == 0
        payload = json.loads(capsys.readouterr().out)
        assert payload["search_running"] and payload["session_seconds"] >= 3725
    assert main(["status", str(directory), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["search_running"] is False


# ---- 11. an unreadable schema-1 snapshot -------------------------------------------------------------------


def test_status_of_an_old_database_whose_snapshot_does_not_load(experiment, capsys):
    db = sqlite3.connect(experiment / DB_FILE, isolation_level=None)
    db.execute("DROP TABLE strategy_state")
    db.execute(
        "CREATE TABLE strategy_state (id INTEGER PRIMARY KEY CHECK (id = 1), strategy TEXT NOT NULL, "
        "event_seq INTEGER NOT NULL, state BLOB NOT NULL, saved_at REAL NOT NULL)"
    )
    db.execute("INSERT INTO strategy_state VALUES (1, 'random', 1, ?, 0.0)", (sqlite3.Binary(b"not a snapshot"),))
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.close()
    assert main(["status", str(experiment)]) == 0
    captured = capsys.readouterr()
    assert "snapshot: unreadable" in captured.out and captured.err == ""
    assert main(["status", str(experiment), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["snapshot"] == "unreadable"


# ---- 12. a snapshot warning is one line --------------------------------------------------------------------


def test_snapshot_warning_is_one_line(experiment, capsys):
    db = sqlite3.connect(experiment / DB_FILE, isolation_level=None)
    db.execute("UPDATE strategy_state SET state = ?", (sqlite3.Binary(b"damaged bytes"),))  # checksums now fail
    db.close()
    assert (
        main(["search", "--resume", str(experiment), "--trials", "4", "--executor", "inprocess", "--no-progress"]) == 0
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nasnet search: warning: ") and "strategy snapshot not used" in err
    assert "Traceback" not in err and "SnapshotWarning" not in err


# ---- 13. a fuzz of the search command line -----------------------------------------------------------------

# Values that a search with the synthetic evaluator in this process takes (runs stay tiny), then hostile ones.
_GOOD = {
    "--strategy": ["rl", "random", "evolution"],
    "--trials": ["1", "2"],
    "--hours": ["0.001", "1e308"],
    "--seed": ["0", "7", str(2**63 - 1)],
    "--option": ["lr=0.01", "batch_size=4", "hidden_size=8", "algorithm=reinforce", "grad_clip=null", "lr=1"],
    "--reward": ["accuracy", "mnas-soft"],
    "--cost-target": ["5e7"],
    "--synthetic-delay": ["0", "0.001"],
    "--synthetic-noise": ["0", "0.1"],
    "--synthetic-fail-rate": ["0", "0.5", "1"],
    "--evaluator": ["synthetic"],
    "--executor": ["inprocess"],
    "--device": ["cpu"],
}
_BAD = {
    "--strategy": ["bayes", ""],
    "--trials": ["0", "-5", "nan", "", "1e3", str(10**19), "9" * 5000],
    "--hours": ["nan", "inf", "-inf", "-1", "0", "", "abc", "1e400"],
    "--seed": ["-1", str(2**63), str(10**25), "x"],
    "--option": [
        "lr=abc",
        "lr=NaN",
        "lr=1e999",
        "lr=-3",
        "lr=" + "9" * 5000,
        "batch_size=2.5",
        "batch_size=0",
        "hidden_size=99999999",
        "ppo_epochs=-1",
        "algorithm=a2c",
        "grad_clip=0",
        "population_size=1.5",
        "population_size=4",
        "sample_size=999",
        "bogus=1",
        "=",
        "lr",
        "",
    ],
    "--reward": ["mnas-hard", "bogus"],
    "--cost-target": ["0", "-1", "nan", "inf", "x", "1e-300"],
    "--cost-metric": ["params", "mult_adds", "flops"],
    "--synthetic-delay": ["-1", "nan", "inf", "1e9"],
    "--synthetic-noise": ["-1", "nan", "inf"],
    "--synthetic-fail-rate": ["2", "-0.1", "nan"],
    "--evaluator": ["train", "bogus"],
    "--data": ["cifar10", "", "/nonexistent/data"],
    "--val-size": ["5000", "-1", "0", str(10**30)],
    "--image-size": ["0", "32", "-3", "100000"],
    "--preset": ["search", "smoke", "bogus"],
    "--set": ["epochs=1", "epochs=abc", "bogus=1", "x"],
    "--executor": ["bogus"],
    "--workers": ["1", "2", "0", "-1", "99999999"],
    "--trials-per-gpu": ["1", "2", "0"],
    "--device": ["cuda", "banana", "", "cuda:99", "meta"],
    "--max-attempts": ["0", "3", "-1"],
    "--trial-timeout": ["nan", "0", "5", "-1"],
    "--address": ["auto", ""],
    "--cpus-per-trial": ["1", "-1", "nan"],
    "--gpus-per-trial": ["0", "-1"],
    "--out": ["", "/proc/nasnet-fuzz"],
    "--resume": ["", "/nonexistent/exp"],
}
_SWITCHES = ["--no-dedup", "--overwrite", "--json", "--bogus", "-x", "positional", "--"]


def _flag_values(table: dict[str, list[str]]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.sampled_from(sorted(table)).flatmap(lambda flag: st.tuples(st.just(flag), st.sampled_from(table[flag])))


_GOOD_ARGUMENT = _flag_values(_GOOD)
_ARGUMENT = st.one_of(  # good values weigh three times as much, so that some runs do start
    _GOOD_ARGUMENT,
    _GOOD_ARGUMENT,
    _GOOD_ARGUMENT,
    _flag_values(_BAD),
    st.sampled_from(_SWITCHES).map(lambda switch: (switch,)),
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(arguments=st.lists(_ARGUMENT, max_size=4), resume=st.booleans())
def test_fuzzed_search_command_lines_end_cleanly(arguments, resume, tmp_path_factory, capsys):
    base = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()))
    if resume:
        assert main(["search", "--out", str(base / "exp"), *FAST, "--trials", "2"]) == 0
        target = ["--resume", str(base / "exp")]
    else:
        target = ["--out", str(base / "exp"), "--evaluator", "synthetic"]
    capsys.readouterr()
    argv = ["search", *target, "--executor", "inprocess", "--no-progress", "--trials", "3"]
    argv += [part for argument in arguments for part in argument]
    started = time.monotonic()
    code = _run(argv)
    seconds = time.monotonic() - started
    err = capsys.readouterr().err
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 1, 2, 130), (argv, code, err)
    assert seconds < 30, (argv, seconds)
    usage_error = err.startswith("usage:")  # argparse's own: a usage line, then the error
    if code != 0 and not usage_error:
        assert err.count("\n") == 1 and len(err) < 2100, (argv, err)
    assert not Path("experiment.db").exists()  # nothing ever lands in the working directory
    if code == 0:  # what the run left is readable by every reader, in one piece
        for reader in (["status"], ["status", "--json"], ["top"], ["top", "--json"]):
            assert main([reader[0], str(base / "exp"), *reader[1:]]) == 0, (argv, reader)
        assert "Traceback" not in capsys.readouterr().err
