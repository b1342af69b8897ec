"""The paper's RNN controller, trained with PPO or REINFORCE (the paper's Section 4 and Appendix A.2-A.3).

A one-layer LSTM (100 units, weights U(-0.1, 0.1)) makes the 2 x 5B decisions
in turn, each with its own softmax classifier; each step's choice is fed back
as an embedding. Rewards are centred by an exponential moving average of past
rewards (decay 0.95). Every ``batch_size`` (20) results the controller takes
an update: PPO's clipped surrogate (lr 3.5e-4, entropy weight 1e-5), or the
REINFORCE gradient of NAS 2017.

The paper does not say how many PPO epochs each batch gets; we use 2 (clip
0.2), which keeps an update near 35 ms on one CPU core. Every value can be
overridden.

Proposals are sampled a batch at a time and keep the log-probability of the
policy that sampled them, so PPO's importance ratio stays correct when many
trials are in flight and results arrive in any order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from nasnet.errors import short_repr
from nasnet.search.strategy import (
    Proposal,
    Strategy,
    StrategyError,
    register_strategy,
    summarize_decision_probabilities,
)
from nasnet.space.encoding import SearchSpace
from nasnet.store.trial import FrozenTrial

ALGORITHMS = ("ppo", "reinforce")
LEARNED_SAMPLES = 32  # sequences averaged over for `RLController.learned`
# Upper bounds that keep a mistyped option from allocating gigabytes or stalling every update.
MAX_BATCH_SIZE = 100_000
MAX_HIDDEN_SIZE = 4096
MAX_PPO_EPOCHS = 1000


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run the controller's small tensor ops on one thread.

    Its tensors are tiny; more threads only add synchronisation, and when
    other processes (workers, training) busy the cores, OpenMP's waiting makes
    each op many times slower.
    """
    previous = torch.get_num_threads()
    if previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class Controller(nn.Module):
    """An LSTM that emits one categorical decision per step.

    Each step has its own classifier and its own embedding table; they are
    stored as slices of one fused matrix each, so that scoring whole
    sequences (the policy update) runs as a handful of batched operations.
    """

    def __init__(
        self,
        choice_counts: Sequence[int],
        hidden_size: int = 100,
        init_range: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.choice_counts = list(choice_counts)
        offsets = [0]
        for count in self.choice_counts:
            offsets.append(offsets[-1] + count)
        self.offsets = offsets
        total = offsets[-1]
        self.start = nn.Parameter(torch.empty(1, hidden_size))
        self.lstm = nn.LSTM(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, total)  # rows offsets[t]:offsets[t+1] are step t's softmax
        self.embedding = nn.Embedding(total, hidden_size)  # likewise, step t's choice embeddings
        widest = max(self.choice_counts)
        columns = torch.arange(widest)[None, :]
        valid = columns < torch.tensor(self.choice_counts)[:, None]
        rows = torch.where(valid, torch.tensor(offsets[:-1])[:, None] + columns, 0)
        self.register_buffer("padded_rows", rows, persistent=False)
        self.register_buffer("padded_valid", valid.float(), persistent=False)
        self.register_buffer("padded_mask", torch.where(valid, 0.0, float("-inf")), persistent=False)
        self.register_buffer("step_offsets", torch.tensor(offsets[:-1]), persistent=False)
        with torch.no_grad():
            for param in self.parameters():
                param.uniform_(-init_range, init_range, generator=generator)

    @torch.no_grad()
    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` decision sequences ``[B, T]`` and their log-probabilities ``[B]``."""
        lstm = self.lstm
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        # Inverse-CDF sampling with all the uniforms drawn at once: one generator call per batch.
        uniforms = torch.rand(len(self.choice_counts), batch, 1, generator=generator)
        x = self.start.expand(batch, -1)
        h = c = torch.zeros(batch, lstm.hidden_size)
        actions, log_prob = [], torch.zeros(batch)
        for step, (lo, hi) in enumerate(zip(self.offsets[:-1], self.offsets[1:], strict=True)):
            h, c = torch.lstm_cell(x, (h, c), *weights)
            logits = nn.functional.linear(h, self.classifier.weight[lo:hi], self.classifier.bias[lo:hi])
            probs = torch.softmax(logits, dim=-1)
            action = torch.searchsorted(probs.cumsum(-1), uniforms[step]).clamp_(max=hi - lo - 1)
            log_prob += probs.gather(1, action).log_().squeeze(1)
            action = action.squeeze(1)
            actions.append(action)
            x = self.embedding(action + lo)
        return torch.stack(actions, dim=1), log_prob

    def _hidden_states(self, actions: torch.Tensor) -> torch.Tensor:
        """The LSTM output ``[T, B, H]`` at every step of ``actions [B, T]``, in one batched call."""
        choice_ids = actions + self.step_offsets[None, :]
        # Inputs: the start vector, then the embedding of each step's choice.
        start = self.start.expand(actions.shape[0], -1)[None]
        out, _ = self.lstm(torch.cat([start, self.embedding(choice_ids[:, :-1]).transpose(0, 1)]))
        return out

    def forward(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability ``[B]`` and entropy ``[B]`` of given sequences ``actions [B, T]``."""
        out = self._hidden_states(actions)
        # Each step's own classifier rows, padded to the widest step: [T, C_max, H].
        weight = self.classifier.weight[self.padded_rows] * self.padded_valid[:, :, None]
        bias = self.classifier.bias[self.padded_rows]
        logits = torch.einsum("tbh,tch->tbc", out, weight) + bias[:, None, :] + self.padded_mask[:, None, :]
        log_probs = torch.log_softmax(logits, dim=-1)
        chosen = log_probs.gather(2, actions.transpose(0, 1)[:, :, None]).squeeze(2)  # [T, B]
        probs = log_probs.exp()
        entropy = -(probs * log_probs.masked_fill(probs == 0, 0.0)).sum(-1)  # [T, B]
        return chosen.sum(0), entropy.sum(0)

    @torch.no_grad()
    def step_probabilities(self, actions: torch.Tensor) -> list[torch.Tensor]:
        """The softmax ``[B, choices]`` at each step along the sequences ``actions [B, T]``."""
        logits = self.classifier(self._hidden_states(actions))  # [T, B, total]
        return [
            torch.softmax(logits[t, :, lo:hi], dim=-1)
            for t, (lo, hi) in enumerate(zip(self.offsets[:-1], self.offsets[1:], strict=True))
        ]

    @torch.no_grad()
    def probabilities(self, actions: torch.Tensor) -> list[torch.Tensor]:
        """The softmax at each step along ``actions [1, T]`` (for inspection and tests)."""
        logits = self.classifier(self._hidden_states(actions)[:, 0])
        return [
            torch.softmax(logits[t, lo:hi], dim=-1)
            for t, (lo, hi) in enumerate(zip(self.offsets[:-1], self.offsets[1:], strict=True))
        ]


@register_strategy
class RLController(Strategy):
    name = "rl"

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        algorithm: str = "ppo",
        lr: float = 3.5e-4,
        entropy_weight: float = 1e-5,
        baseline_decay: float = 0.95,
        batch_size: int = 20,
        hidden_size: int = 100,
        init_range: float = 0.1,
        ppo_clip: float = 0.2,
        ppo_epochs: int = 2,
        grad_clip: float | None = None,
        failed_reward: float = 0.0,
    ) -> None:
        super().__init__(space, seed)
        if algorithm not in ALGORITHMS:
            raise StrategyError(f"rl option 'algorithm' must be one of {ALGORITHMS}, got {algorithm!r}")
        if batch_size < 1 or ppo_epochs < 1 or hidden_size < 1:
            raise StrategyError("rl options 'batch_size', 'ppo_epochs' and 'hidden_size' must be >= 1")
        for key, value, most in (
            ("batch_size", batch_size, MAX_BATCH_SIZE),
            ("hidden_size", hidden_size, MAX_HIDDEN_SIZE),
            ("ppo_epochs", ppo_epochs, MAX_PPO_EPOCHS),
        ):
            if value > most:  # the controller's memory and update time grow with these
                raise StrategyError(f"rl option {key!r} must be at most {most}, got {short_repr(value)}")
        if not 0 <= baseline_decay < 1:
            raise StrategyError(f"rl option 'baseline_decay' must be in [0, 1), got {baseline_decay}")
        for key, value in (("lr", lr), ("init_range", init_range), ("ppo_clip", ppo_clip)):
            if value < 0:
                raise StrategyError(f"rl option {key!r} must be >= 0, got {short_repr(value)}")
        if grad_clip is not None and not grad_clip > 0:
            raise StrategyError(f"rl option 'grad_clip' must be > 0 (or null for none), got {short_repr(grad_clip)}")
        self.algorithm = algorithm
        self.entropy_weight = entropy_weight
        self.baseline_decay = baseline_decay
        self.batch_size = batch_size
        self.ppo_clip = ppo_clip
        self.ppo_epochs = ppo_epochs
        self.grad_clip = grad_clip
        self.failed_reward = failed_reward
        self.generator = torch.Generator().manual_seed(seed)
        self.controller = Controller(space.choice_counts(), hidden_size, init_range, generator=self.generator)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr, fused=True)
        self.baseline: float | None = None
        self.queue: list[tuple[list[int], float]] = []
        self.buffer: list[tuple[list[int], float, float]] = []
        self.updates = 0
        self.last_entropy: float | None = None

    def propose(self) -> Proposal:
        if not self.queue:
            with _one_thread():
                actions, log_prob = self.controller.sample(self.batch_size, self.generator)
            self.queue = [(a, lp) for a, lp in zip(actions.tolist(), log_prob.tolist(), strict=True)]
        decisions, log_prob = self.queue.pop(0)
        return Proposal(tuple(decisions), {"log_prob": log_prob})

    def observe(self, trial: FrozenTrial, reward: float | None) -> None:
        value = self.failed_reward if reward is None else float(reward)
        # The baseline is an average of *earlier* rewards, so it does not depend on this action.
        advantage = 0.0 if self.baseline is None else value - self.baseline
        self.baseline = (
            value if self.baseline is None else self.baseline_decay * self.baseline + (1 - self.baseline_decay) * value
        )
        log_prob = trial.info.get("log_prob")
        if log_prob is None:  # not sampled by this controller (e.g. a seeded trial): score it now
            with torch.no_grad():
                scored, _ = self.controller(torch.tensor([list(trial.decisions)]))
            log_prob = float(scored[0])
        self.buffer.append((list(trial.decisions), float(log_prob), advantage))
        if len(self.buffer) >= self.batch_size:
            with _one_thread():
                self._update()

    def _update(self) -> None:
        actions = torch.tensor([b[0] for b in self.buffer])
        old_log_prob = torch.tensor([b[1] for b in self.buffer])
        advantage = torch.tensor([b[2] for b in self.buffer])
        epochs = self.ppo_epochs if self.algorithm == "ppo" else 1
        for _ in range(epochs):
            log_prob, entropy = self.controller(actions)
            if self.algorithm == "ppo":
                ratio = torch.exp(log_prob - old_log_prob)
                clipped = ratio.clamp(1 - self.ppo_clip, 1 + self.ppo_clip)
                objective = torch.minimum(ratio * advantage, clipped * advantage)
            else:
                objective = log_prob * advantage
            loss = -objective.mean() - self.entropy_weight * entropy.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.controller.parameters(), self.grad_clip)
            self.optimizer.step()
        self.last_entropy = float(entropy.detach().mean())
        self.buffer = []
        self.updates += 1

    def probabilities(self, decisions: Sequence[int]) -> list[torch.Tensor]:
        return self.controller.probabilities(torch.tensor([list(decisions)]))

    def learned(self) -> dict[str, Any]:
        """Each op's, input's and combine's probability under the controller, per cell kind (see `Strategy.learned`).

        The softmax at each step depends on the choices before it, so the probabilities are averaged
        over `LEARNED_SAMPLES` sequences sampled with a generator of its own: the controller's
        generator, and so the search, is untouched.
        """
        with _one_thread():
            actions, _ = self.controller.sample(LEARNED_SAMPLES, torch.Generator().manual_seed(0))
            step_probs = self.controller.step_probabilities(actions)  # per step: [B, choices]
        means = [probs.mean(0).tolist() for probs in step_probs]
        return summarize_decision_probabilities(self.space, means)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "algorithm": self.algorithm,
            "updates": self.updates,
            "baseline": self.baseline,
            "entropy": self.last_entropy,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "baseline": self.baseline,
            "queue": [[d, lp] for d, lp in self.queue],
            "buffer": [[d, lp, adv] for d, lp, adv in self.buffer],
            "updates": self.updates,
            "last_entropy": self.last_entropy,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]
        self.queue = [(list(d), float(lp)) for d, lp in state["queue"]]
        self.buffer = [(list(d), float(lp), float(adv)) for d, lp, adv in state["buffer"]]
        self.updates = int(state["updates"])
        self.last_entropy = state["last_entropy"]
