import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from nasnet.cli import main
from nasnet.evaluate import (
    EvalResult,
    EvaluatorError,
    MnasReward,
    RewardError,
    make_evaluator,
    make_reward,
    reward_spec,
    synthetic_objective,
)
from nasnet.execution import InProcessExecutor
from nasnet.search import StrategyError, frozen_trial, make_strategy, search
from nasnet.space import DEFAULT_SPACE, genotype_hash, load_genotype
from nasnet.store import ExperimentStore, StoreError

ROOT = Path(__file__).resolve().parents[1]


def run_strategy(strategy, reward_fn, count):
    for n in range(count):
        proposal = strategy.ask()
        strategy.tell(frozen_trial(DEFAULT_SPACE, n, proposal, reward_fn(proposal.decisions)))


# ---- the RL controller learns --------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ppo", "reinforce"])
def test_controller_moves_towards_a_rewarded_choice(algorithm):
    step, wanted = 27, 10  # reduction.block0.op_1 = sep_conv_3x3
    strategy = make_strategy("rl", DEFAULT_SPACE, seed=1, algorithm=algorithm, lr=0.01)
    prior = float(strategy.probabilities(strategy.ask().decisions)[step][wanted])
    assert prior == pytest.approx(1 / 13, abs=0.02)
    run_strategy(strategy, lambda d: 1.0 if d[step] == wanted else 0.0, 400)
    after = float(strategy.probabilities(strategy.ask().decisions)[step][wanted])
    assert after > 0.5, (prior, after)
    assert strategy.updates == 20


def test_controller_hyper_parameters_and_init():
    strategy = make_strategy("rl", DEFAULT_SPACE)
    assert strategy.controller.lstm.hidden_size == 100
    assert strategy.optimizer.param_groups[0]["lr"] == 3.5e-4
    assert (strategy.entropy_weight, strategy.baseline_decay, strategy.batch_size) == (1e-5, 0.95, 20)
    for param in strategy.controller.parameters():
        assert param.abs().max() <= 0.1
    with pytest.raises(StrategyError, match=r"unknown option\(s\) \['learning_rate'\]"):
        make_strategy("rl", DEFAULT_SPACE, learning_rate=0.1)
    with pytest.raises(StrategyError, match="'algorithm' must be one of"):
        make_strategy("rl", DEFAULT_SPACE, algorithm="a2c")
    with pytest.raises(StrategyError, match="unknown strategy 'bayes'"):
        make_strategy("bayes", DEFAULT_SPACE)


def test_sampled_log_probabilities_match_scoring():
    strategy = make_strategy("rl", DEFAULT_SPACE, seed=3)
    proposals = [strategy.ask() for _ in range(20)]
    actions = torch.tensor([p.decisions for p in proposals])
    scored, entropy = strategy.controller(actions)
    assert torch.allclose(scored, torch.tensor([p.info["log_prob"] for p in proposals]), atol=1e-4)
    assert (entropy > 0).all()


def test_baseline_is_an_exponential_moving_average():
    strategy = make_strategy("rl", DEFAULT_SPACE, batch_size=1000)
    rewards = [0.5, 0.7, 0.2]
    for n, r in enumerate(rewards):
        p = strategy.ask()
        strategy.tell(frozen_trial(DEFAULT_SPACE, n, p, r))
    expected = 0.5
    for r in rewards[1:]:
        expected = 0.95 * expected + 0.05 * r
    assert strategy.baseline == pytest.approx(expected)
    assert [b[2] for b in strategy.buffer] == pytest.approx([0.0, 0.2, 0.2 - (0.95 * 0.5 + 0.05 * 0.7)])


# ---- random search and evolution ------------------------------------------------------------


def test_random_search_is_uniform():
    strategy = make_strategy("random", DEFAULT_SPACE, seed=0)
    samples = np.array([strategy.ask().decisions for _ in range(6000)])
    counts = DEFAULT_SPACE.choice_counts()
    p_values = [chisquare(np.bincount(samples[:, s], minlength=c)).pvalue for s, c in enumerate(counts)]
    assert min(p_values) > 0.001 / len(counts)  # Bonferroni over the 50 steps
    assert all(np.bincount(samples[:, s], minlength=c).min() > 0 for s, c in enumerate(counts))


def test_evolution_population_ages_out():
    strategy = make_strategy("evolution", DEFAULT_SPACE, seed=0, population_size=10, sample_size=3)
    for n in range(25):
        p = strategy.ask()
        assert p.info["origin"] == ("random" if n < 10 else "mutation")
        strategy.tell(frozen_trial(DEFAULT_SPACE, n, p, None if n == 20 else float(n % 7)))
    assert [m["trial"] for m in strategy.population] == [14, 15, 16, 17, 18, 19, 21, 22, 23, 24]


def test_evolution_mutates_one_decision_of_the_tournament_winner():
    strategy = make_strategy("evolution", DEFAULT_SPACE, seed=4, population_size=5, sample_size=5)
    proposals = {}
    for n in range(5):
        p = strategy.ask()
        proposals[n] = p.decisions
        strategy.tell(frozen_trial(DEFAULT_SPACE, n, p, float(n)))
    for _ in range(20):
        child = strategy.ask()
        assert child.info["parent"] == 4  # sample_size == population: the best always wins
        changed = [i for i, (a, b) in enumerate(zip(child.decisions, proposals[4], strict=True)) if a != b]
        assert changed == [child.info["mutated_step"]]


@pytest.mark.parametrize("name", ["rl", "random", "evolution"])
def test_many_in_flight_and_out_of_order(name):
    options = {"population_size": 20, "sample_size": 5} if name == "evolution" else {}
    strategy = make_strategy(name, DEFAULT_SPACE, seed=0, **options)
    pending = []
    told = 0
    rng = random.Random(0)
    for n in range(200):
        p = strategy.ask()
        reward = synthetic_objective(DEFAULT_SPACE.from_decisions(p.decisions))
        pending.append(frozen_trial(DEFAULT_SPACE, n, p, reward))
        if len(pending) > 30:
            rng.shuffle(pending)
            for trial in pending[:10]:
                strategy.tell(trial)
                told += 1
            pending = pending[10:]
    assert strategy.told == told and strategy.asked == 200


@pytest.mark.parametrize("name", ["rl", "random", "evolution"])
def test_state_round_trip_continues_identically(name):
    options = {"population_size": 8, "sample_size": 3} if name == "evolution" else {}
    a = make_strategy(name, DEFAULT_SPACE, seed=5, **options)
    reward = lambda d: synthetic_objective(DEFAULT_SPACE.from_decisions(d))  # noqa: E731
    run_strategy(a, reward, 37)
    b = make_strategy(name, DEFAULT_SPACE, seed=99, **options)
    b.load_bytes(a.to_bytes())
    for n in range(37, 80):
        pa, pb = a.ask(), b.ask()
        assert pa.decisions == pb.decisions
        a.tell(frozen_trial(DEFAULT_SPACE, n, pa, reward(pa.decisions)))
        b.tell(frozen_trial(DEFAULT_SPACE, n, pb, reward(pb.decisions)))


# ---- rewards ----------------------------------------------------------------------------------


def test_mnas_reward_matches_hand_computed_values():
    soft = MnasReward.soft(target=400e6)
    assert soft(0.8, {"mult_adds": 800e6}) == pytest.approx(0.8 * 2**-0.07)
    assert soft(0.8, {"mult_adds": 200e6}) == pytest.approx(0.8 * 0.5**-0.07)
    hard = MnasReward.hard(target=3e6, metric="params")
    assert hard(0.9, {"params": 2e6}) == pytest.approx(0.9)
    assert hard(0.9, {"params": 6e6}) == pytest.approx(0.45)
    assert make_reward({"kind": "mnas", "target": 400e6})(0.5, {"mult_adds": 400e6}) == pytest.approx(0.5)
    with pytest.raises(RewardError, match="no 'params' metric"):
        hard(0.9, {})
    with pytest.raises(RewardError, match="field 'metric'"):
        MnasReward(1.0, metric="latency")
    assert make_reward(None)(0.7, {}) == 0.7


def test_specs_recorded_in_experiments_keep_their_exact_form():
    # Experiments store these specs and rebuild from them on resume: a change here strands old experiments.
    def dumps(spec):
        return json.dumps(spec, separators=(",", ":"))

    assert (
        dumps(make_evaluator({"kind": "synthetic"}).spec())
        == '{"kind":"synthetic","noise":0.0,"delay":0.0,"fail_rate":0.0}'
    )
    noisy = make_evaluator(
        {"kind": "synthetic", "noise": 0.05, "delay": 0.1, "fail_rate": 0.2, "noise_per_trial": True}
    )
    assert dumps(noisy.spec()) == (
        '{"kind":"synthetic","noise":0.05,"delay":0.1,"fail_rate":0.2,"noise_per_trial":true}'
    )
    train = make_evaluator({"kind": "train", "data": "cifar10", "preset": "smoke", "overrides": {"epochs": 1}})
    assert dumps(train.spec()) == (
        '{"kind":"train","data":"cifar10","preset":"smoke","overrides":{"epochs":1},"val_size":5000,"image_size":null}'
    )
    assert dumps(reward_spec("accuracy")) == '{"kind":"accuracy"}'
    assert dumps(reward_spec(MnasReward.hard(3e6, "params"))) == (
        '{"kind":"mnas","target":3000000.0,"metric":"params","alpha":0.0,"beta":-1.0}'
    )
    assert dumps(reward_spec(_test_objective)) == '{"kind":"custom","name":"test_search._test_objective"}'


# ---- beating random on a cheap objective ------------------------------------------------------


def _test_objective(genotype):
    ops = [op for block in genotype.normal.blocks for op in block.ops]
    score = sum(op in ("sep_conv_3x3", "max_pool_3x3") for op in ops) / len(ops)
    score += 0.5 * sum(1 in block.inputs for block in genotype.reduction.blocks) / len(genotype.reduction.blocks)
    return score / 1.5


@pytest.mark.slow
def test_rl_and_evolution_beat_random(tmp_path):
    means = {}
    for name in ("random", "rl", "evolution"):
        search(name, out=tmp_path / name, evaluator=_test_objective, trials=2000, seed=0)
        with ExperimentStore.open(tmp_path / name, readonly=True) as store:
            rewards = [t.reward for t in store.trials()]
        assert len(rewards) == 2000
        means[name] = float(np.mean(rewards[-500:]))
    assert means["rl"] > means["random"] + 0.1, means
    assert means["evolution"] > means["random"] + 0.1, means


# ---- the search loop, store and dedup ----------------------------------------------------------


class CountingEvaluator:
    def __init__(self):
        self.calls = 0

    def __call__(self, genotype):
        self.calls += 1
        return synthetic_objective(genotype)


def test_identical_genotypes_are_trained_once(tmp_path, monkeypatch):
    from nasnet.search.random_search import RandomSearch
    from nasnet.search.strategy import Proposal

    fixed = DEFAULT_SPACE.sample_decisions(3)
    monkeypatch.setattr(RandomSearch, "ask", lambda self: Proposal(tuple(fixed)))
    evaluator = CountingEvaluator()
    summary = search("random", out=tmp_path / "exp", evaluator=evaluator, trials=5)
    assert evaluator.calls == 1
    assert summary.counts["complete"] == 5 and summary.counts["cached"] == 4
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        trials = store.trials()
    assert [t.cached_from for t in trials] == [None, 1, 1, 1, 1]
    assert len({t.reward for t in trials}) == 1
    evaluator = CountingEvaluator()
    search("random", out=tmp_path / "again", evaluator=evaluator, trials=3, dedup=False)
    assert evaluator.calls == 3


def test_failed_trials_are_recorded_with_the_reason(tmp_path):
    def flaky(genotype):
        if int(genotype_hash(genotype), 16) % 3 == 0:
            return EvalResult.failed("out of memory on cuda: simulated")
        if int(genotype_hash(genotype), 16) % 3 == 1:
            raise RuntimeError("boom")
        return 0.5

    summary = search("rl", out=tmp_path / "exp", evaluator=flaky, trials=30)
    assert summary.counts["complete"] + summary.counts["failed"] == 30 and summary.counts["failed"] > 0
    with ExperimentStore.open(tmp_path / "exp", readonly=True) as store:
        failures = {t.failure for t in store.trials("failed")}
    assert {"out of memory on cuda: simulated", "error: RuntimeError: boom"} <= failures


def test_split_run_continues_exactly_like_one_run(tmp_path):
    for name in ("rl", "random", "evolution"):
        options = {"population_size": 30, "sample_size": 5} if name == "evolution" else {}
        whole = tmp_path / f"{name}-whole"
        split = tmp_path / f"{name}-split"
        search(
            name,
            out=whole,
            evaluator={"kind": "synthetic"},
            executor=InProcessExecutor(),
            trials=150,
            strategy_options=options,
            seed=2,
        )
        search(
            name,
            out=split,
            evaluator={"kind": "synthetic"},
            executor=InProcessExecutor(),
            trials=70,
            strategy_options=options,
            seed=2,
            snapshot_every=25,
        )
        summary = search(out=split, resume=True, trials=150, executor=InProcessExecutor())
        assert summary.replay_divergences == 0
        with ExperimentStore.open(whole, readonly=True) as a, ExperimentStore.open(split, readonly=True) as b:
            assert [t.decisions for t in a.trials()] == [t.decisions for t in b.trials()], name


def test_store_lock_and_readers(tmp_path):
    search("random", out=tmp_path / "exp", evaluator={"kind": "synthetic"}, trials=3)
    with ExperimentStore.open(tmp_path / "exp") as writer:
        with pytest.raises(StoreError, match="being run by another process"):
            ExperimentStore.open(tmp_path / "exp")
        with ExperimentStore.open(tmp_path / "exp", readonly=True) as reader:
            assert reader.counts()["complete"] == 3
        assert writer.config.strategy == "random"
    with pytest.raises(StoreError, match="already holds an experiment"):
        search("random", out=tmp_path / "exp", evaluator={"kind": "synthetic"}, trials=3)
    with pytest.raises(StoreError, match="no experiment here"):
        search(out=tmp_path / "nothing", resume=True)


def test_custom_evaluators_and_rewards_must_be_passed_again_to_resume(tmp_path):
    search("random", out=tmp_path / "exp", evaluator=_test_objective, trials=2)
    with pytest.raises(EvaluatorError, match="pass it again as evaluator="):
        search(out=tmp_path / "exp", resume=True, trials=3)
    assert search(out=tmp_path / "exp", resume=True, trials=3, evaluator=_test_objective).counts["complete"] == 3


def test_time_budget_stops_proposing(tmp_path):
    evaluator = {"kind": "synthetic", "delay": 0.05}
    summary = search(
        "random", out=tmp_path / "exp", evaluator=evaluator, hours=0.5 / 3600, executor=InProcessExecutor()
    )
    assert summary.stopped == "time"
    assert 3 <= summary.counts["complete"] <= 15


# ---- kill -9 and Ctrl-C ---------------------------------------------------------------------------


def _search_process(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "nasnet", "search", *args, "--no-progress"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A background shell starts the tests with SIGINT ignored; the search must see Ctrl-C as a user would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _completed(directory):
    if not (directory / "experiment.db").exists():
        return 0
    with ExperimentStore.open(directory, readonly=True) as store:
        return store.counts()["complete"]


@pytest.mark.slow
def test_resume_after_repeated_sigkill(tmp_path):
    directory = tmp_path / "exp"
    budget = 300
    rng = random.Random(7)
    args = ["--strategy", "rl", "--evaluator", "synthetic", "--synthetic-delay", "0.01", "--trials", str(budget)]
    process = _search_process(*args, "--out", str(directory))
    deadline = time.time() + 60
    while _completed(directory) == 0 and time.time() < deadline:  # let it create the experiment first
        time.sleep(0.1)
    kills = 0
    while kills < 4:
        time.sleep(rng.uniform(0.5, 2.5))
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        process = _search_process("--resume", str(directory))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert kills >= 2
    with ExperimentStore.open(directory, readonly=True) as store:
        trials = store.trials()
        snapshot = store.load_snapshot()
        counts = store.counts()
    assert counts["complete"] == budget and counts["running"] == 0 and counts["waiting"] == 0
    assert len(trials) == budget and [t.number for t in trials] == list(range(1, budget + 1))
    trained = [t.genotype_hash for t in trials if t.cached_from is None]
    assert len(trained) == len(set(trained))  # nothing trained twice
    strategy = make_strategy("rl", DEFAULT_SPACE)
    strategy.load_bytes(snapshot.state)
    assert strategy.told == budget and strategy.updates == budget // 20  # continued, never restarted


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path):
    directory = tmp_path / "exp"
    args = ["--strategy", "evolution", "--evaluator", "synthetic", "--synthetic-delay", "0.02", "--trials", "400"]
    process = _search_process(*args, "--out", str(directory))
    deadline = time.time() + 60
    while _completed(directory) < 20 and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"nasnet search --resume {directory}" in err and "Traceback" not in err
    with ExperimentStore.open(directory, readonly=True) as store:
        assert store.load_snapshot() is not None
        partial = store.counts()["complete"]
    assert 20 <= partial < 400
    assert main(["search", "--resume", str(directory), "--trials", str(partial + 5), "--no-progress"]) == 0
    assert _completed(directory) == partial + 5


# ---- the CLI ------------------------------------------------------------------------------------


def test_cli_status_top_export(tmp_path, capsys):
    directory = tmp_path / "exp"
    code = main(
        [
            "search",
            "--strategy",
            "random",
            "--evaluator",
            "synthetic",
            "--trials",
            "12",
            "--out",
            str(directory),
            "--no-progress",
            "--reward",
            "mnas-soft",
            "--cost-target",
            "5e7",
        ]
    )
    assert code == 0
    capsys.readouterr()
    assert main(["status", str(directory), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["completed"], status["failed"], status["running"]) == (12, 0, 0)
    assert status["reward"]["kind"] == "mnas" and status["strategy_state"]["told"] == 12
    assert main(["top", str(directory), "-k", "3", "--json"]) == 0
    top = json.loads(capsys.readouterr().out)
    assert [row["rank"] for row in top] == [1, 2, 3] and top[0]["reward"] == status["best_reward"]
    assert top[0]["reward"] == pytest.approx(
        MnasReward.soft(5e7)(top[0]["accuracy"], {"mult_adds": top[0]["mult_adds"]})
    )
    out = tmp_path / "cell.json"
    assert main(["export", str(directory), "--trial", str(top[0]["trial"]), "-o", str(out)]) == 0
    genotype = load_genotype(out)
    assert genotype_hash(genotype) == top[0]["hash"]
    assert json.loads(out.read_text())["meta"]["reward"] == top[0]["reward"]


def test_cli_search_errors(tmp_path, capsys):
    assert main(["search", "--out", str(tmp_path / "x"), "--trials", "3"]) == 2
    assert "--data is required" in capsys.readouterr().err
    assert main(["search", "--out", str(tmp_path / "x"), "--evaluator", "synthetic"]) == 2
    assert "give a budget" in capsys.readouterr().err
    assert (
        main(
            [
                "search",
                "--out",
                str(tmp_path / "y"),
                "--evaluator",
                "synthetic",
                "--trials",
                "2",
                "--reward",
                "mnas-hard",
            ]
        )
        == 2
    )
    assert "needs --cost-target" in capsys.readouterr().err
    assert main(["status", str(tmp_path / "none")]) == 2
    assert "no experiment here" in capsys.readouterr().err
    with pytest.raises(EvaluatorError, match="unknown evaluator kind"):
        make_evaluator({"kind": "bogus"})


# ---- end to end on real data ------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.slow
def test_real_search_on_the_shared_cifar_copy(shared_cifar_path, tmp_path, capsys):
    directory = tmp_path / "exp"
    args = [
        "search",
        "--strategy",
        "rl",
        "--data",
        str(shared_cifar_path),
        "--preset",
        "smoke",
        "--trials",
        "2",
        "--out",
        str(directory),
        "--no-progress",
        "--device",
        "cpu",
        "--val-size",
        "500",
        "--set",
        "train_subset=256",
        "--set",
        "val_subset=200",
    ]
    assert main(args) == 0
    assert main(["search", "--resume", str(directory), "--trials", "3", "--no-progress", "--device", "cpu"]) == 0
    with ExperimentStore.open(directory, readonly=True) as store:
        trials = store.trials()
    assert [t.state for t in trials] == ["complete"] * 3
    for trial in trials:
        assert 0 <= trial.accuracy <= 1 and trial.metrics["params"] > 0 and trial.metrics["mult_adds"] > 0
        assert len(trial.metrics["curve"]) == 1 and trial.seconds > 0
        assert not math.isnan(trial.reward)


def test_live_view_shows_missing_strategy_figures_as_a_dash():
    from types import SimpleNamespace

    from rich.console import Console

    from nasnet.execution.base import WorkerStatus
    from nasnet.search.progress import render_state

    state = SimpleNamespace(
        strategy="rl",
        directory="runs/x",
        counts={"complete": 3, "failed": 1},
        finished=4,
        budget=10,
        best_reward=0.5,
        best_trial=2,
        trials_per_second=0.25,
        session_seconds=16.0,
        eta_seconds=24.0,
        strategy_info={"updates": 0, "entropy": None, "baseline": 0.25021},
        workers=[WorkerStatus(name="w0 (cpu)", busy=True, trial=5, since=None)],
    )
    console = Console(width=200, record=True)
    console.print(render_state(state))
    text = console.export_text()
    assert "strategy: updates 0, entropy -, baseline 0.2502" in text
    assert "4/10 trials" in text and "best reward 0.5000 (trial 2)" in text and "ETA 0:00:24" in text
    assert "w0 (cpu)" in text and "busy" in text
