"""One training step (forward, loss, backward, clipping, SGD or RMSProp update), eager or replayed from a CUDA graph.

A search child is launch-bound: a NASNet cell pair is hundreds of small
kernels per step, and in eager mode the GPU waits on Python between them.
With ``cuda_graphs`` the whole step is captured once (after a few eager
warm-up steps on a side stream, as the CUDA-graph rules ask) and then
replayed with one launch per step. Capture takes well under a second, unlike
``torch.compile``.

What the graph needs, and how this module provides it:

* static inputs: every batch is copied into the same two buffers;
* a learning rate that changes between replays: the optimizer reads it from a
  device tensor (fused SGD and `TFRMSprop` accept one), updated before each replay;
* ScheduledDropPath progress: already a device buffer of the model;
* random numbers (drop path, dropout): the default CUDA generator, which
  graphs support;
* loss and accuracy totals: accumulated on the device inside the graph.

Anything that cannot be captured falls back to eager steps, and says so once
per process and reason.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasnet.errors import exception_summary
from nasnet.train.config import TrainConfig

EAGER = "eager"
CUDA_GRAPH = "cuda_graph"
WARMUP_STEPS = 3  # eager steps on a side stream before capture (cuDNN autotuning, lazy optimizer state)

LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

_announced: set[str] = set()


def announce_once(message: str) -> None:
    """Warn with ``message`` the first time this process sees it."""
    if message not in _announced:
        _announced.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def is_out_of_memory(err: BaseException) -> bool:
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def autocast_for(device: torch.device, precision: str, cache_enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked (or ``auto`` on CUDA); a no-op otherwise."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache_enabled)
    return contextlib.nullcontext()


class TFRMSprop(torch.optim.Optimizer):
    """RMSProp as TensorFlow 1's ``tf.train.RMSPropOptimizer`` computes it, which the paper's ImageNet
    training used (Appendix A: decay 0.9, momentum 0.9, epsilon 1.0). Per parameter ``p`` with gradient ``g``::

        g   = g + weight_decay * p                 # slim's L2 loss: weight_decay * sum(p**2) / 2
        ms  = decay * ms + (1 - decay) * g**2      # ms starts at 1, not 0
        mom = momentum * mom + lr * g / sqrt(ms + eps)
        p   = p - mom

    ``torch.optim.RMSprop`` differs in three ways that matter here: its epsilon is added outside the
    square root (``sqrt(ms) + eps``; with eps = 1.0 that is a different optimizer, not a rounding
    difference), its ``ms`` starts at 0, and its learning rate multiplies the momentum buffer instead
    of each step's update (the two part at every change of the rate). ``lr`` may be a 0-dim tensor on
    the parameters' device, so that a captured CUDA graph follows the schedule.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 0.01,
        decay: float = 0.9,
        momentum: float = 0.0,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, {"lr": lr, "decay": decay, "momentum": momentum, "eps": eps, "weight_decay": weight_decay}
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            if group["weight_decay"]:
                grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
            ms, mom = [], []
            for p in params:
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
                    state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                ms.append(state["square_avg"])
                mom.append(state["momentum_buffer"])
            decay = group["decay"]
            torch._foreach_mul_(ms, decay)
            torch._foreach_addcmul_(ms, grads, grads, value=1.0 - decay)
            denom = torch._foreach_add(ms, group["eps"])
            torch._foreach_sqrt_(denom)
            update = torch._foreach_div(grads, denom)
            torch._foreach_mul_(update, group["lr"])
            torch._foreach_mul_(mom, group["momentum"])
            torch._foreach_add_(mom, update)
            torch._foreach_sub_(params, mom)
        return loss


def build_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """SGD or TF-form RMSProp (`TFRMSprop`), with L2 on conv and classifier weights only, as the released code does.

    On CUDA SGD is the fused kernel, whose learning rate can live in a device
    tensor: a captured step then follows the schedule without re-capture.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "rmsprop":
        return TFRMSprop(
            groups, lr=config.lr, decay=config.rmsprop_decay, momentum=config.momentum, eps=config.rmsprop_eps
        )
    return torch.optim.SGD(
        groups,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        fused=device.type == "cuda" or None,
    )


def nasnet_loss(model: nn.Module, forward: Callable, config: TrainConfig, device: torch.device, graphs: bool) -> LossFn:
    """Cross-entropy (with label smoothing) plus the weighted auxiliary-head loss, under autocast."""
    from nasnet.nn.network import NASNet

    with_aux = isinstance(model, NASNet)

    def compute(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Autocast's weight-cast cache must be off while capturing: cached casts would be stale on replay.
        with autocast_for(device, config.precision, cache_enabled=not graphs):
            logits, aux = forward(x, with_aux=True) if with_aux else (forward(x), None)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            if aux is not None and config.aux_weight > 0:
                loss = loss + config.aux_weight * F.cross_entropy(
                    aux.float(), y, label_smoothing=config.label_smoothing
                )
        return loss, logits

    return compute


def graphs_blocker(config: TrainConfig, device: torch.device) -> str | None:
    """Why this run cannot use CUDA graphs, or ``None`` if it can (CPU runs simply train eagerly)."""
    if not config.cuda_graphs or device.type != "cuda":
        return "off"
    if config.compile:
        return "compile=True: torch.compile manages its own graphs, so nasnet's CUDA graphs are off"
    if config.recompute_activations:
        return "recompute_activations=True: recomputed activations are not captured, so CUDA graphs are off"
    return None


# A CPU step over chunks of 16 images keeps a search worker under 1 GB (0.87 against 3.0 GB) and is
# no slower than whole batches of 128 (bench/worker_memory.py; docs/training.md, `micro_batch`). BatchNorm then
# normalises over 16 images at a time ("ghost batches").
CPU_MICRO_BATCH = 16


def micro_batch_for(config: TrainConfig, device: torch.device) -> int | None:
    """The chunk size a step accumulates gradients over, or ``None`` for the whole batch at once."""
    chunk = config.micro_batch
    if chunk is None and device.type == "cpu":
        chunk = CPU_MICRO_BATCH
    return chunk if chunk is not None and chunk < config.batch_size else None


class TrainStep:
    """Runs training steps and keeps the epoch's loss sum and correct count on the device.

    Call `set_lr` before each step, then ``step(x, y)``; read `loss_sum` and
    `correct` (device tensors) after the epoch and `reset_totals` before the
    next. ``mode`` says how the steps ran: ``eager`` or ``cuda_graph``.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: LossFn,
        device: torch.device,
        grad_clip: float | None = None,
        use_graph: bool = False,
        micro_batch: int | None = None,
    ) -> None:
        self.model = model
        self.micro_batch = micro_batch
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.device = device
        self.grad_clip = grad_clip
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.use_graph = use_graph and device.type == "cuda"
        self.lr: torch.Tensor | None = None
        if device.type == "cuda":
            self.lr = torch.tensor(float(optimizer.param_groups[0]["lr"]), device=device)
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.fallback: str | None = None

    @classmethod
    def for_model(
        cls, model: nn.Module, config: TrainConfig, device: torch.device, forward: Callable | None = None
    ) -> TrainStep:
        """A step for ``model`` (already on ``device``) with ``config``'s optimizer, loss and graph setting."""
        blocker = graphs_blocker(config, device)
        if blocker not in (None, "off"):
            announce_once(f"nasnet: training in eager mode ({blocker})")
        use_graph = blocker is None
        loss_fn = nasnet_loss(model, forward or model, config, device, use_graph)
        optimizer = build_optimizer(model, config, device)
        return cls(model, optimizer, loss_fn, device, config.grad_clip, use_graph, micro_batch_for(config, device))

    @property
    def mode(self) -> str:
        return CUDA_GRAPH if self.graph is not None else EAGER

    def set_lr(self, lr: float) -> None:
        if self.lr is None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            return
        self.lr.fill_(lr)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr  # re-bound after every optimizer.load_state_dict

    def reset_totals(self) -> None:
        self.loss_sum.zero_()
        self.correct.zero_()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.steps += 1
        if self.graph is not None and self.static_x is not None and self.static_x.shape == x.shape:
            self._replay(x, y)
        elif self.use_graph and self.fallback is None and self.graph is None:
            if self.steps <= WARMUP_STEPS:
                self._side_stream_step(x, y)
            else:
                self._capture_and_run(x, y)
        else:
            self._body(x, y, zero_grad=True)

    # ---- the step itself ------------------------------------------------------------------------

    def _body(self, x: torch.Tensor, y: torch.Tensor, zero_grad: bool) -> None:
        if zero_grad:
            self.optimizer.zero_grad(set_to_none=True)
        batch = y.shape[0]
        chunk = self.micro_batch or batch
        for x_part, y_part in zip(x.split(chunk), y.split(chunk), strict=True):
            loss, logits = self.loss_fn(x_part, y_part)
            # The losses are chunk means; weighting each by its share gives the batch mean's gradient.
            (loss * (y_part.shape[0] / batch) if chunk < batch else loss).backward()
            self.loss_sum += loss.detach() * y_part.shape[0]
            self.correct += (logits.detach().argmax(1) == y_part).sum()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()

    # ---- CUDA graphs --------------------------------------------------------------------------------

    def _side_stream_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        current = torch.cuda.current_stream(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(current)
        with torch.cuda.stream(side):
            self._body(x, y, zero_grad=True)
        current.wait_stream(side)

    def _capture_and_run(self, x: torch.Tensor, y: torch.Tensor) -> None:
        try:
            self.static_x = x.clone()  # clone keeps the channels-last layout
            self.static_y = y.clone()
            self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated in the graph's pool
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body(self.static_x, self.static_y, zero_grad=False)
        except Exception as err:
            if is_out_of_memory(err):
                raise
            self._fall_back(f"CUDA graph capture failed ({exception_summary(err)})")
            self._body(x, y, zero_grad=True)
            return
        self.graph = graph
        graph.replay()

    def _replay(self, x: torch.Tensor, y: torch.Tensor) -> None:
        assert self.graph is not None and self.static_x is not None and self.static_y is not None
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()

    def _fall_back(self, reason: str) -> None:
        self.fallback = reason
        self.graph, self.static_x, self.static_y = None, None, None
        with contextlib.suppress(Exception):
            torch.cuda.synchronize(self.device)
        self.optimizer.zero_grad(set_to_none=True)
        announce_once(f"nasnet: training in eager mode: {reason}")

    def release(self) -> None:
        """Drop the graph and its static buffers, so a long-lived worker gets the memory back."""
        self.graph, self.static_x, self.static_y = None, None, None
        self.optimizer.zero_grad(set_to_none=True)
