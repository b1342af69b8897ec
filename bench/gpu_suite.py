"""Every GPU measurement of nasnet in one command.

    python bench/gpu_suite.py                                   # all sections, on the GPU
    python bench/gpu_suite.py --sections throughput,child-time  # some of them
    python bench/gpu_suite.py --dry-run                         # CPU, toy sizes: checks the suite itself

Sections (each writes gpu_<section>.json to bench/results, or to --results-dir):

  sanity      a CUDA-graph step and an eager step from the same weights agree; bf16 vs fp32 loss
  throughput  training images/s: NASNet-A 6@768, a search child (batch 128 and 512) and NASNet-A
              Large at its largest batch; fp32 and bf16 + channels_last; eager and CUDA graphs
  profile     one search child's steps under the profiler: kernel time against launch gaps, top kernels
  child-time  search-fast and search children (NASNet-A, N=2, C=16), K at a time on one GPU
              through the local worker pool (--trials-per-gpu K), K = 1, 2, 4, 8
  ranking     Spearman correlation between search-fast and search over random cells at full size
  final       NASNet-A 6@768 with cifar10-short for --final-minutes, and its test accuracy
  search      a real rl search with the local pool on one GPU for --search-minutes: children per hour

The data is CIFAR-10 (--data; by default .data/cifar10-jpeg.tar.gz, else the shared copy).
A dry run makes a tiny image dataset of its own and writes to a temporary folder unless
--results-dir is given.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import ROOT, print_table, relative_to_root, spearman, write_result
from nasnet.execution.base import TrialTask
from nasnet.execution.local import LocalExecutor
from nasnet.nn import build_model, count_parameters, create_model
from nasnet.space import DEFAULT_SPACE, NASNET_A
from nasnet.space.serialization import genotype_to_dict
from nasnet.train import TrainConfig, default_device, get_preset, train
from nasnet.train.step import TrainStep, is_out_of_memory

SECTIONS = ("sanity", "throughput", "profile", "child-time", "ranking", "final", "search")
TARGET_SECONDS = {"search-fast": 10.0, "search": 30.0}
PAPER_GPU_DAYS = 2000  # 500 P100s for 4 days (the paper, Section 4)
PAPER_CHILDREN = 20_000
FINAL_GOAL = 0.95


# ---- sizes: the real ones, and the toy ones of a dry run ----------------------------------------


@dataclass
class Sizes:
    """Everything that differs between a real GPU run and a CPU dry run."""

    dry_run: bool
    child: dict[str, Any] = field(default_factory=lambda: {"cells_per_stack": 2, "base_filters": 16})
    child_image: int = 32
    child_batches: tuple[int, ...] = (128, 512)
    cifar_model: dict[str, Any] = field(default_factory=lambda: {"cells_per_stack": 6, "base_filters": 32})
    cifar_batch: int = 256
    large_overrides: dict[str, Any] = field(default_factory=dict)
    large_image: int = 331
    large_fixed_batch: int | None = None
    steps: dict[str, int] = field(default_factory=lambda: {"child": 30, "cifar": 12, "large": 6})
    preset_overrides: dict[str, Any] = field(default_factory=dict)
    final_overrides: dict[str, Any] = field(default_factory=dict)
    val_size: int = 5000
    profile_steps: int = 10

    @classmethod
    def toy(cls) -> Sizes:
        small = {"cells_per_stack": 1, "base_filters": 4}
        return cls(
            dry_run=True,
            child=small,
            child_image=16,
            child_batches=(8,),
            cifar_model={"cells_per_stack": 1, "base_filters": 8},
            cifar_batch=8,
            large_overrides={"cells_per_stack": 1, "base_filters": 8, "image_size": 96},
            large_image=96,
            large_fixed_batch=2,
            steps={"child": 2, "cifar": 2, "large": 1},
            preset_overrides={"epochs": 1, "batch_size": 16, "warmup_epochs": 0, **small},
            final_overrides={"cells_per_stack": 1, "base_filters": 4, "batch_size": 16},
            val_size=32,
            profile_steps=2,
        )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---- sanity --------------------------------------------------------------------------------------


def _child(sizes: Sizes, device: torch.device, seed: int = 0, **extra: Any):
    torch.manual_seed(seed)
    with torch.device(device):
        model = build_model(NASNET_A, aux_head=False, image_size=sizes.child_image, **sizes.child, **extra)
    return model


def _train_step(model, config: TrainConfig, device: torch.device) -> tuple[TrainStep, torch.memory_format]:
    """``model`` on ``device`` in training mode, its `TrainStep`, and the memory format its inputs need."""
    fmt = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=fmt).train()
    return TrainStep.for_model(model, config, device), fmt


def _random_batch(batch: int, image: int, classes: int, device: torch.device, fmt: torch.memory_format):
    x = torch.randn(batch, 3, image, image, device=device).contiguous(memory_format=fmt)
    return x, torch.randint(0, classes, (batch,), device=device)


def _run_steps(model, config: TrainConfig, device: torch.device, x, y, steps: int) -> tuple[TrainStep, list[float]]:
    step, fmt = _train_step(model, config, device)
    losses = []
    for _ in range(steps):
        step.reset_totals()
        step.set_lr(config.lr)
        step(x.contiguous(memory_format=fmt), y)
        losses.append(step.loss_sum.item() / len(y))
    return step, losses


def section_sanity(args, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    """Graph replay computes what eager steps compute; bf16 training tracks fp32."""
    batch = sizes.child_batches[0]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, sizes.child_image, sizes.child_image, generator=generator).to(device)
    y = torch.randint(0, 10, (batch,), generator=generator).to(device)
    steps = 8 if not sizes.dry_run else 5
    runs: dict[str, Any] = {}
    params: dict[str, torch.Tensor] = {}
    for name, precision, graphs in (
        ("eager_fp32", "fp32", False),
        ("graph_fp32", "fp32", True),
        ("graph_bf16", "bf16", True),
    ):
        config = TrainConfig(
            lr=0.05, momentum=0.9, nesterov=True, precision=precision, cuda_graphs=graphs, grad_clip=5.0
        )
        model = _child(sizes, device)
        step, losses = _run_steps(model, config, device, x, y, steps)
        runs[name] = {"mode": step.mode, "losses": losses, "fallback": step.fallback}
        params[name] = torch.cat([p.detach().float().flatten() for p in model.parameters()])
        step.release()
    reference = params["eager_fp32"]

    def rel(name: str) -> float:
        return float((params[name] - reference).norm() / reference.norm())

    payload = {
        "steps": steps,
        "batch": batch,
        "runs": runs,
        "relative_param_difference": {
            "graph_fp32_vs_eager_fp32": rel("graph_fp32"),
            "graph_bf16_vs_eager_fp32": rel("graph_bf16"),
        },
    }
    payload["graph_mode_used"] = runs["graph_fp32"]["mode"]
    print_table(
        f"sanity ({device}): {steps} SGD steps from the same weights",
        ["run", "mode", "first loss", "last loss", "param diff vs eager fp32"],
        [
            [
                name,
                r["mode"],
                f"{r['losses'][0]:.4f}",
                f"{r['losses'][-1]:.4f}",
                "-" if name == "eager_fp32" else f"{rel(name):.2e}",
            ]
            for name, r in runs.items()
        ],
    )
    return payload


# ---- throughput ----------------------------------------------------------------------------------

VARIANTS = (
    ("fp32", "fp32", False, False),
    ("fp32+graphs", "fp32", False, True),
    ("bf16+cl", "bf16", True, False),
    ("bf16+cl+graphs", "bf16", True, True),
)


def _train_config(precision: str, channels_last: bool, graphs: bool, aux: bool) -> TrainConfig:
    return TrainConfig(
        lr=0.01,
        momentum=0.9,
        precision=precision,
        channels_last=channels_last,
        cuda_graphs=graphs,
        aux_weight=0.4 if aux else 0.0,
        drop_path_keep_prob=0.8 if aux else 1.0,
    )


def measure_steps(
    build: Callable[[], Any], image: int, batch: int, steps: int, config: TrainConfig, device: torch.device
) -> dict[str, Any]:
    """The mean wall-clock time of ``steps`` training steps after warm-up (and capture), and the rate."""
    model = build()
    step, fmt = _train_step(model, config, device)
    x, y = _random_batch(batch, image, model.config.num_classes, device, fmt)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        for _ in range(5 if step.use_graph else 2):  # with graphs: three warm-up steps, the capture, one replay
            step.set_lr(config.lr)
            model.set_drop_path_progress(0.5)
            step(x, y)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step.set_lr(config.lr)
            model.set_drop_path_progress(0.5)
            step(x, y)
        sync(device)
        seconds = (time.perf_counter() - start) / steps
        return {
            "batch": batch,
            "steps": steps,
            "step_ms": seconds * 1000,
            "images_per_s": batch / seconds,
            "mode": step.mode,
            "fallback": step.fallback,
            "peak_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
            "params": count_parameters(model),
        }
    finally:
        step.release()
        del step, model, x, y
        free_memory(device)


def try_measure(
    build: Callable[[], Any], image: int, batch: int, steps: int, config: TrainConfig, device: torch.device
) -> dict[str, Any] | None:
    """`measure_steps`, or ``None`` when the batch does not fit in memory."""
    try:
        return measure_steps(build, image, batch, steps, config, device)
    except Exception as err:
        if not is_out_of_memory(err):
            raise
    free_memory(device)  # outside the handler, so that the traceback's tensors are gone first
    return None


def largest_batch(build: Callable[[], Any], image: int, config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """A large batch whose training step fits, from a linear fit of peak memory at batches 8 and 16.

    Aims at 85% of the device's memory, then backs off by 15% until a step fits.
    """
    small, large = (try_measure(build, image, b, 1, config, device) for b in (8, 16))
    if small is None or large is None:
        raise RuntimeError("NASNet-A Large does not fit at batch 16")
    total = torch.cuda.get_device_properties(device).total_memory / 2**30
    per_image = (large["peak_gib"] - small["peak_gib"]) / 8
    fixed = small["peak_gib"] - 8 * per_image
    batch = max(16, int((0.85 * total - fixed) / per_image) // 8 * 8)
    tries = [batch]
    while try_measure(build, image, batch, 1, config, device) is None and batch > 16:
        batch = max(16, int(batch * 0.85) // 8 * 8)
        tries.append(batch)
    return {"batch": batch, "fit_gib_per_image": per_image, "fit_fixed_gib": fixed, "tried": tries}


def section_throughput(args, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    rows, results = [], []

    def child_builder():
        return _child(sizes, device)

    def cifar_builder():
        torch.manual_seed(0)
        with torch.device(device):
            return create_model("nasnet_a_cifar", image_size=sizes.child_image, **sizes.cifar_model)

    def large_builder():
        torch.manual_seed(0)
        with torch.device(device):
            return create_model("nasnet_a_large", **sizes.large_overrides)

    cases: list[tuple[str, Callable, int, bool, list[int], int]] = []
    for batch in sizes.child_batches:
        cases.append(
            (
                f"search child N=2 C=16, batch {batch}",
                child_builder,
                sizes.child_image,
                False,
                [batch],
                sizes.steps["child"],
            )
        )
    cases.append(
        (
            "NASNet-A 6@768 (aux, drop path)",
            cifar_builder,
            sizes.child_image,
            True,
            [sizes.cifar_batch],
            sizes.steps["cifar"],
        )
    )
    largest: dict[str, Any] = {}
    for variant, precision, channels_last, graphs in VARIANTS:
        for name, builder, image, aux, batches, steps in cases:
            config = _train_config(precision, channels_last, graphs, aux)
            row = measure_steps(builder, image, batches[0], steps, config, device)
            row.update(model=name, variant=variant)
            results.append(row)
            rows.append([name, variant, row["batch"], row["mode"], f"{row['step_ms']:.2f}", row["images_per_s"]])
            args.save_partial({"results": results, "partial": True})
        if args.no_large:
            continue
        # NASNet-A Large at the largest batch that fits with this precision (found once per precision, eagerly).
        config = _train_config(precision, channels_last, graphs, True)
        if sizes.large_fixed_batch is not None or device.type != "cuda":
            largest.setdefault(precision, {"batch": sizes.large_fixed_batch or 2, "tried": []})
        elif precision not in largest:
            largest[precision] = largest_batch(
                large_builder, sizes.large_image, _train_config(precision, channels_last, False, True), device
            )
        batch = largest[precision]["batch"]
        row = try_measure(large_builder, sizes.large_image, batch, sizes.steps["large"], config, device)
        while row is None and batch > 8:  # a graph's private pool can need a little more than eager steps
            batch = max(8, int(batch * 0.85) // 8 * 8)
            row = try_measure(large_builder, sizes.large_image, batch, sizes.steps["large"], config, device)
        if row is None:
            raise RuntimeError(f"NASNet-A Large ({variant}) does not fit at batch 8")
        name = f"NASNet-A Large {sizes.large_image}px (aux), largest batch"
        row.update(model=name, variant=variant)
        results.append(row)
        rows.append([name, variant, row["batch"], row["mode"], f"{row['step_ms']:.2f}", row["images_per_s"]])
    print_table(f"training throughput ({device})", ["model", "variant", "batch", "mode", "step ms", "images/s"], rows)
    return {"results": results, "large_largest_batch": largest}


# ---- profile ---------------------------------------------------------------------------------------

GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")


def kernel_timeline(trace_path: Path) -> dict[str, Any]:
    """Busy share, launch gaps and top kernels from a Chrome trace written by torch.profiler."""
    events = json.loads(trace_path.read_text()).get("traceEvents", [])
    spans = sorted(
        (float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0)), e.get("name", "?"))
        for e in events
        if e.get("ph") == "X" and e.get("cat") in GPU_CATEGORIES
    )
    if not spans:
        return {"kernels": 0}
    busy, end = 0.0, spans[0][0]
    for start, stop, _ in spans:
        if stop > end:
            busy += stop - max(start, end)
            end = stop
    window = max(s[1] for s in spans) - spans[0][0]
    by_name: dict[str, list[float]] = {}
    for start, stop, name in spans:
        by_name.setdefault(name, []).append(stop - start)
    top = sorted(by_name.items(), key=lambda item: -sum(item[1]))[:10]
    return {
        "kernels": len(spans),
        "window_us": window,
        "busy_us": busy,
        "busy_share": busy / window if window > 0 else None,
        "gap_share": 1 - busy / window if window > 0 else None,
        "mean_kernel_us": statistics.mean(s[1] - s[0] for s in spans),
        "top_kernels": [
            {"name": name[:120], "count": len(d), "total_us": sum(d), "share_of_busy": sum(d) / busy if busy else None}
            for name, d in top
        ],
    }


def profile_steps(model, config: TrainConfig, batch: int, image: int, steps: int, device: torch.device, scratch: Path):
    from torch.profiler import ProfilerActivity, profile

    step, fmt = _train_step(model, config, device)
    x, y = _random_batch(batch, image, 10, device, fmt)
    for _ in range(6):
        step.set_lr(config.lr)
        step(x, y)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step.set_lr(config.lr)
            step(x, y)
        sync(device)
    wall = time.perf_counter() - start
    trace = scratch / f"trace_{batch}_{step.mode}.json"
    prof.export_chrome_trace(str(trace))
    timeline = kernel_timeline(trace)
    if device.type != "cuda":  # no device kernels: the CPU operators with the most self time instead
        averages = sorted(prof.key_averages(), key=lambda a: -a.self_cpu_time_total)[:10]
        timeline["top_cpu_ops"] = [
            {"name": a.key, "count": a.count, "self_us": a.self_cpu_time_total} for a in averages
        ]
    mode = step.mode
    step.release()
    return {
        "batch": batch,
        "mode": mode,
        "steps": steps,
        "wall_ms_per_step": wall * 1000 / steps,
        "kernels_per_step": timeline.get("kernels", 0) / steps,
        **timeline,
    }


def section_profile(args, sizes: Sizes, device: torch.device, scratch: Path) -> dict[str, Any]:
    results, rows = [], []
    for preset in ("search", "search-fast"):
        batch = get_preset(preset).batch_size if not sizes.dry_run else sizes.child_batches[0]
        for graphs in (False, True):
            config = TrainConfig(lr=0.05, momentum=0.9, precision="auto", channels_last=True, cuda_graphs=graphs)
            row = profile_steps(
                _child(sizes, device), config, batch, sizes.child_image, sizes.profile_steps, device, scratch
            )
            row.update(preset=preset)
            results.append(row)
            share = row.get("busy_share")
            top = (row.get("top_kernels") or [{}])[0].get("name", "-")
            rows.append(
                [
                    preset,
                    batch,
                    row["mode"],
                    f"{row['wall_ms_per_step']:.2f}",
                    f"{row['kernels_per_step']:.0f}",
                    "-" if share is None else f"{share:.1%}",
                    top[:60],
                ]
            )
            free_memory(device)
    print_table(
        f"search child steps under the profiler ({device})",
        ["preset", "batch", "mode", "ms/step", "kernels/step", "GPU busy", "top kernel"],
        rows,
    )
    return {"results": results}


# ---- children through the local worker pool -------------------------------------------------------


class UtilizationSampler:
    """Samples the GPU's utilisation (NVML: share of time a kernel was running) in a thread."""

    def __init__(self, device: torch.device, interval: float = 0.2) -> None:
        self.samples: list[float] = []
        self.error: str | None = None
        self.interval = interval
        self._stop = threading.Event()
        self._read = self._reader(device)
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _reader(self, device: torch.device) -> Callable[[], float] | None:
        if device.type != "cuda":
            self.error = "no GPU"
            return None
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception as err:
            self.error = f"NVML unavailable: {err}"
            return None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append(self._read())
            except Exception as err:
                self.error = str(err)
                return

    def __enter__(self) -> UtilizationSampler:
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def summary(self) -> dict[str, Any]:
        if not self.samples:
            return {"mean_percent": None, "error": self.error}
        return {"mean_percent": statistics.mean(self.samples), "samples": len(self.samples)}


def evaluator_spec(args, sizes: Sizes, preset: str) -> dict[str, Any]:
    return {
        "kind": "train",
        "data": str(args.data),
        "preset": preset,
        "overrides": dict(sizes.preset_overrides),
        "val_size": sizes.val_size,
        "image_size": None,
    }


@contextlib.contextmanager
def worker_pool(args, sizes: Sizes, preset: str, workers: int, device: torch.device):
    """``workers`` long-lived workers on one GPU (``--trials-per-gpu``), ready before the clock starts."""
    from nasnet.evaluate import make_evaluator

    devices = [f"cuda:{device.index or 0}"] * workers if device.type == "cuda" else ["cpu"] * workers
    executor = LocalExecutor(devices=devices, trial_timeout=args.trial_timeout)
    start = time.perf_counter()
    evaluator = make_evaluator(evaluator_spec(args, sizes, preset))
    evaluator.prepare()  # decode (and cache) the dataset once here, not in every worker at once
    executor.start(evaluator)
    try:
        if not executor.wait_ready(timeout=600):
            raise RuntimeError(f"{workers} workers did not start within 600 s")
        executor.startup_seconds = time.perf_counter() - start  # type: ignore[attr-defined]
        yield executor
    finally:
        executor.shutdown()


def run_wave(executor: LocalExecutor, genotypes: list, device: torch.device, first_number: int = 0) -> dict[str, Any]:
    """Submit every genotype at once and wait for all of them; wall time and per-child figures."""
    results = []
    with UtilizationSampler(device) as sampler:
        start = time.perf_counter()
        for offset, genotype in enumerate(genotypes):
            executor.submit(TrialTask(first_number + offset, genotype_to_dict(genotype)))
        while len(results) < len(genotypes):
            results.extend(executor.wait(timeout=1.0))
        wall = time.perf_counter() - start
    results.sort(key=lambda r: r.number)
    return {
        "children": len(genotypes),
        "wall_seconds": wall,
        "amortised_seconds_per_child": wall / len(genotypes),
        "child_seconds": [r.seconds for r in results],
        "accuracy": [r.accuracy for r in results],
        "failures": [r.failure for r in results if not r.ok],
        "step_modes": sorted({r.metrics.get("step_mode", "?") for r in results if r.ok}),
        "cuda_peak_mib": max((r.metrics.get("cuda_peak_mib") or 0 for r in results), default=None),
        "cuda_allocated_after_mib": [r.metrics.get("cuda_allocated_after_mib") for r in results],
        "gpu_utilisation": sampler.summary(),
    }


def section_child_time(args, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    results, rows = [], []
    for preset in args.child_presets:
        with worker_pool(args, sizes, preset, max(args.ks), device) as executor:
            number = 0
            for k in args.ks:
                wave = run_wave(executor, [NASNET_A] * k, device, number)
                number += k
                wave.update(preset=preset, k=k, worker_startup_seconds=executor.startup_seconds)
                results.append(wave)
                util = wave["gpu_utilisation"]["mean_percent"]
                rows.append(
                    [
                        preset,
                        k,
                        f"{wave['wall_seconds']:.1f}",
                        f"{wave['amortised_seconds_per_child']:.2f}",
                        f"{statistics.mean(wave['child_seconds']):.1f}",
                        "-" if util is None else f"{util:.0f}%",
                        f"{np.mean([a or 0 for a in wave['accuracy']]):.4f}",
                        len(wave["failures"]),
                    ]
                )
                print(f"child-time {preset} K={k}: {wave['amortised_seconds_per_child']:.2f} s per child", flush=True)
                args.save_partial({"results": results, "partial": True})
    best = {}
    for preset in args.child_presets:
        waves = [r for r in results if r["preset"] == preset and not r["failures"]]
        if waves:
            fastest = min(waves, key=lambda r: r["amortised_seconds_per_child"])
            best[preset] = {
                "k": fastest["k"],
                "seconds": fastest["amortised_seconds_per_child"],
                "target_seconds": TARGET_SECONDS.get(preset),
                "meets_target": fastest["amortised_seconds_per_child"] <= TARGET_SECONDS.get(preset, math.inf),
            }
    print_table(
        f"NASNet-A N=2 C=16 children, K at a time on one device ({device})",
        ["preset", "K", "wall s", "s/child (amortised)", "mean child s", "GPU util", "mean val acc", "failed"],
        rows,
    )
    return {"results": results, "best": best, "targets": TARGET_SECONDS}


def section_ranking(args, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    cells = [DEFAULT_SPACE.sample(1000 + i) for i in range(args.ranking_cells)]
    scores: dict[str, list[float]] = {}
    waves: dict[str, Any] = {}
    for preset in ("search-fast", "search"):
        with worker_pool(args, sizes, preset, args.ranking_k, device) as executor:
            wave = run_wave(executor, cells, device)
        waves[preset] = wave
        scores[preset] = [a if a is not None else 0.0 for a in wave["accuracy"]]
        args.save_partial({"waves": waves, "val_accuracy": scores, "partial": True})
        print(f"ranking {preset}: {len(cells)} cells in {wave['wall_seconds']:.0f} s", flush=True)
    rho = spearman(scores["search"], scores["search-fast"])
    print_table(
        f"proxy ranking over {len(cells)} random cells, {args.ranking_k} at a time ({device})",
        ["preset", "mean val acc", "best", "wall s", "s/child (amortised)"],
        [
            [
                p,
                f"{np.mean(s):.4f}",
                f"{max(s):.4f}",
                f"{waves[p]['wall_seconds']:.0f}",
                f"{waves[p]['amortised_seconds_per_child']:.2f}",
            ]
            for p, s in scores.items()
        ],
    )
    print(f"Spearman (search vs search-fast): {rho:.3f}")
    return {
        "cells": len(cells),
        "k": args.ranking_k,
        "genotypes": [genotype_to_dict(c) for c in cells],
        "val_accuracy": scores,
        "waves": waves,
        "spearman": rho,
    }


# ---- the final recipe -------------------------------------------------------------------------------


def section_final(args, sizes: Sizes, device: torch.device) -> dict[str, Any]:
    from nasnet.data import load_splits
    from nasnet.train import DeviceData

    budget = args.final_minutes * 60
    splits = load_splits(args.data, val_size=0)  # the final model trains on all 50,000 training images
    data = DeviceData.from_splits(splits, device, include_test=True)
    preset = get_preset("cifar10-short", **sizes.final_overrides)
    # Rate probe: two short epochs on a slice of the data; the second is free of start-up costs.
    probe_steps = 30 if not sizes.dry_run else 2
    probe = train(
        "nasnet_a_cifar",
        data,
        preset,
        device=device,
        epochs=2,
        warmup_epochs=0,
        eval_every=0,
        train_subset=preset.batch_size * probe_steps,
        checkpoint_every=0,
    )
    rate = probe.curve[-1]["images_per_second"]
    per_epoch = len(data.train) // preset.batch_size * preset.batch_size
    eval_seconds = 2 * len(data.test) / (2 * rate)  # test with flip TTA at about twice the training rate
    epochs = int(0.95 * (budget - eval_seconds) * rate / per_epoch)
    epochs = max(1, min(preset.epochs, epochs))
    warmup = min(preset.warmup_epochs, max(0.25, epochs / 30))
    start = time.perf_counter()
    result = train(
        "nasnet_a_cifar",
        data,
        preset,
        device=device,
        epochs=epochs,
        warmup_epochs=warmup,
        eval_every=0,
        checkpoint_every=0,
        evaluate_test=True,
    )
    wall = time.perf_counter() - start
    payload = {
        "model": "NASNet-A 6@768" if not sizes.dry_run else "NASNet-A (toy size)",
        "preset": "cifar10-short",
        "budget_minutes": args.final_minutes,
        "probe_images_per_second": rate,
        "epochs": epochs,
        "warmup_epochs": warmup,
        "train_images": len(data.train),
        "wall_seconds": wall,
        "train_seconds": result.seconds,
        "test_accuracy": result.test_accuracy,
        "goal": FINAL_GOAL,
        "step_mode": result.step_mode,
        "state": result.state.value,
        "failure": result.failure,
        "curve": result.curve,
    }
    print_table(
        f"NASNet-A 6@768, cifar10-short in {args.final_minutes:g} min ({device})",
        ["epochs", "train images/s", "wall s", "test acc", "goal"],
        [
            [
                epochs,
                f"{result.images_per_second:,.0f}",
                f"{wall:.0f}",
                "-" if result.test_accuracy is None else f"{result.test_accuracy:.4f}",
                f"{FINAL_GOAL:.2f}",
            ]
        ],
    )
    del data
    free_memory(device)
    return payload


# ---- a real search ----------------------------------------------------------------------------------


def section_search(args, sizes: Sizes, device: torch.device, scratch: Path) -> dict[str, Any]:
    from nasnet.search import search

    k = args.search_k
    devices = [f"cuda:{device.index or 0}"] * k if device.type == "cuda" else ["cpu"] * k
    executor = LocalExecutor(devices=devices, trial_timeout=args.trial_timeout)
    out = scratch / "search"
    summary = search(
        "rl",
        out=out,
        evaluator=evaluator_spec(args, sizes, "search-fast"),
        trials=10**6,
        hours=args.search_minutes / 60,
        executor=executor,
    )
    from nasnet.store import ExperimentStore, TrialState

    with ExperimentStore.open(out, readonly=True) as store:
        complete = [t for t in store.trials(TrialState.COMPLETE) if t.cached_from is None]
    seconds = summary.session_seconds
    per_hour = summary.session_trials / seconds * 3600 if seconds > 0 else 0.0
    payload = {
        "strategy": "rl",
        "preset": "search-fast",
        "k": k,
        "minutes": args.search_minutes,
        "session_seconds": seconds,
        "children": summary.session_trials,
        "complete": len(complete),
        "counts": summary.counts,
        "children_per_gpu_hour": per_hour,
        "gpu_days_for_20000_children": PAPER_CHILDREN / per_hour / 24 if per_hour > 0 else None,
        "paper_gpu_days": PAPER_GPU_DAYS,
        "best_reward": summary.best.reward if summary.best else None,
        "mean_child_seconds": statistics.mean(t.seconds or 0.0 for t in complete) if complete else None,
    }
    print_table(
        f"rl search, search-fast children, {k} per GPU, {args.search_minutes:g} min ({device})",
        ["children", "children/GPU-hour", "GPU-days for 20k", "paper", "best reward"],
        [
            [
                summary.session_trials,
                f"{per_hour:,.0f}",
                "-"
                if payload["gpu_days_for_20000_children"] is None
                else f"{payload['gpu_days_for_20000_children']:.2f}",
                f"≈{PAPER_GPU_DAYS:,}",
                "-" if payload["best_reward"] is None else f"{payload['best_reward']:.4f}",
            ]
        ],
    )
    return payload


# ---- the driver ----------------------------------------------------------------------------------------


def make_toy_dataset(root: Path) -> Path:
    """A tiny 4-class ImageFolder (16 px) with learnable colours, for dry runs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 48), ("test", 8)):
        for c in range(4):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 64, (16, 16, 3), dtype=np.uint8)
                pixels[..., c % 3] += np.uint8(120 + 40 * (c // 3))
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def default_data() -> Path:
    for candidate in (ROOT / ".data" / "cifar10-jpeg.tar.gz", ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"):
        if candidate.is_file():
            return candidate
    return Path("cifar10")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks that the suite runs")
    parser.add_argument("--device", help="default: cuda, or cpu in a dry run")
    parser.add_argument("--data", type=Path, help="CIFAR-10 (default: .data/cifar10-jpeg.tar.gz or the shared copy)")
    parser.add_argument("--results-dir", type=Path, help="default: bench/results (a temporary folder in a dry run)")
    parser.add_argument("--ks", default="1,2,4,8", help="children per GPU to time")
    parser.add_argument("--child-presets", default="search-fast,search")
    parser.add_argument("--ranking-cells", type=int, default=20)
    parser.add_argument("--ranking-k", type=int, default=8, help="children per GPU while ranking")
    parser.add_argument("--final-minutes", type=float, default=10.0)
    parser.add_argument("--search-minutes", type=float, default=10.0)
    parser.add_argument("--search-k", type=int, default=4, help="children per GPU in the search")
    parser.add_argument("--trial-timeout", type=float, default=900.0)
    parser.add_argument("--no-large", action="store_true", help="throughput: leave NASNet-A Large out")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.sections.split(",")) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    args.sections = list(dict.fromkeys(args.sections.split(",")))  # in the order given
    args.ks = [int(k) for k in args.ks.split(",")]
    args.child_presets = args.child_presets.split(",")
    if args.dry_run:
        args.ks = [k for k in args.ks if k <= 2] or [1]
        args.ranking_cells = min(args.ranking_cells, 3)
        args.ranking_k = min(args.ranking_k, 2)
        args.search_k = min(args.search_k, 2)
        args.final_minutes = min(args.final_minutes, 0.05)
        args.search_minutes = min(args.search_minutes, 0.15)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device or ("cpu" if args.dry_run else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_suite: no CUDA device here; use --dry-run for the CPU check")
    device = default_device(device)
    sizes = Sizes.toy() if args.dry_run else Sizes(dry_run=False)
    scratch = Path(tempfile.mkdtemp(prefix="nasnet-gpu-suite-"))
    if args.dry_run:
        args.data = args.data or make_toy_dataset(scratch / "toy")
        args.results_dir = args.results_dir or scratch / "results"
    else:
        args.data = args.data or default_data()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "sanity": lambda: section_sanity(args, sizes, device),
        "throughput": lambda: section_throughput(args, sizes, device),
        "profile": lambda: section_profile(args, sizes, device, scratch),
        "child-time": lambda: section_child_time(args, sizes, device),
        "ranking": lambda: section_ranking(args, sizes, device),
        "final": lambda: section_final(args, sizes, device),
        "search": lambda: section_search(args, sizes, device, scratch),
    }
    failed = []
    data_label = "toy dataset" if args.dry_run else relative_to_root(args.data)
    for section in args.sections:
        print(f"== {section}", flush=True)
        start = time.perf_counter()
        name = f"gpu_{section.replace('-', '_')}"
        partial: dict[str, Any] = {}

        def save_partial(payload: dict[str, Any], name: str = name, partial: dict[str, Any] = partial) -> None:
            partial.clear()
            partial.update(payload)
            meta = {"section": name[4:].replace("_", "-"), "dry_run": args.dry_run, "data": data_label}
            write_result(name, {**payload, **meta}, str(device), args.results_dir)

        args.save_partial = save_partial
        try:
            payload = runners[section]()
        except Exception:
            failed.append(section)
            payload = {**partial, "error": traceback.format_exc()}  # keep what was measured before the error
            print(payload["error"], file=sys.stderr, flush=True)
        payload.update(
            section=section,
            dry_run=args.dry_run,
            section_seconds=time.perf_counter() - start,
            data=data_label,
        )
        path = write_result(name, payload, str(device), args.results_dir)
        print(f"wrote {path} ({payload['section_seconds']:.0f} s)", flush=True)
        free_memory(device)
    if failed:
        print(f"gpu_suite: sections failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
