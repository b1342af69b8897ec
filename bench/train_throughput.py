"""Trainer benchmarks: throughput, child-evaluation time, proxy ranking agreement, a CPU time budget.

    python bench/train_throughput.py throughput [--device cuda]
    python bench/train_throughput.py child-time [--scale 0.05]     # one child per proxy preset
    python bench/train_throughput.py ranking --cells 12 [--scale 0.1 --base-filters 8 --cells-per-stack 1]
    python bench/train_throughput.py budget --minutes 10             # fast proxy, NASNet-A N=2, on this machine
    python bench/train_throughput.py final --preset cifar10-short    # NASNet-A 6@768, test accuracy

All read the CIFAR-10 copy given by --data (default: ../shared/data/cifar10-jpeg.tar.gz)
and write bench/results/train_<command>_<device>.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from common import ROOT, print_table, spearman, write_result
from nasnet.data import load_splits
from nasnet.space import DEFAULT_SPACE, NASNET_A
from nasnet.train import DeviceData, get_preset, train

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def load_data(args) -> tuple[DeviceData, torch.device]:
    device = torch.device(args.device)
    splits = load_splits(args.data)
    return DeviceData.from_splits(splits, device, include_test=getattr(args, "with_test", False)), device


def cmd_throughput(args) -> None:
    data, device = load_data(args)
    rows, results = [], []
    cases = [
        ("search child nasnet_a N=2 C=16", NASNET_A, {"cells_per_stack": 2, "base_filters": 16}),
        ("nasnet_a_cifar 6@768 (aux, drop path)", "nasnet_a_cifar", {"aux_weight": 0.4, "drop_path_keep_prob": 0.6}),
    ]
    for name, arch, extra in cases:
        config = get_preset(
            "search", epochs=1, batch_size=args.batch, train_subset=args.images, val_subset=None, eval_every=0, **extra
        )
        train(arch, data, config.replace(train_subset=args.batch * 2), device=device)  # warm-up
        result = train(arch, data, config, device=device)
        results.append(
            {"model": name, "batch": args.batch, "images": args.images, "images_per_second": result.images_per_second}
        )
        rows.append([name, args.batch, result.images_per_second])
    write_result(f"train_throughput_{device.type}", {"results": results}, str(device))
    print_table(f"trainer throughput ({device})", ["model", "batch", "images/s"], rows)


def _scaled(preset: str, scale: float, args) -> dict:
    config = get_preset(preset)
    overrides = {"train_subset": max(config.batch_size, int(45_000 * scale)) if scale < 1 else None}
    if args.base_filters:
        overrides["base_filters"] = args.base_filters
    if args.cells_per_stack:
        overrides["cells_per_stack"] = args.cells_per_stack
    if args.epochs_scale != 1:
        overrides["epochs"] = max(1, round(config.epochs * args.epochs_scale))
        overrides["warmup_epochs"] = config.warmup_epochs * args.epochs_scale
    if args.batch_scale != 1:  # keep the number of SGD steps sensible on a reduced data set (linear lr scaling)
        overrides["batch_size"] = max(8, round(config.batch_size * args.batch_scale))
        overrides["lr"] = config.lr * overrides["batch_size"] / config.batch_size
    if args.val_images:
        overrides["val_subset"] = args.val_images
    overrides["eval_every"] = 0
    return overrides


def cmd_child_time(args) -> None:
    data, device = load_data(args)
    rows, results = [], []
    for preset in ("search", "search-fast"):
        overrides = _scaled(preset, args.scale, args)
        result = train(NASNET_A, data, preset, device=device, **overrides)
        config = get_preset(preset, **overrides)
        full = result.seconds / args.scale if args.scale < 1 else result.seconds
        results.append(
            {
                "preset": preset,
                "scale": args.scale,
                "epochs": config.epochs,
                "train_images": config.train_subset,
                "measured_seconds": result.seconds,
                "full_size_seconds_extrapolated": full if args.scale < 1 else None,
                "val_accuracy": result.accuracy,
            }
        )
        rows.append(
            [preset, config.epochs, config.train_subset or 45000, result.seconds, full, f"{result.accuracy:.4f}"]
        )
    write_result(f"train_child_time_{device.type}", {"results": results}, str(device))
    print_table(
        f"one NASNet-A child (N=2) per proxy preset ({device}, data scale {args.scale})",
        ["preset", "epochs", "train images", "measured s", "full-size s (extrapolated)", "val acc"],
        rows,
    )


def cmd_ranking(args) -> None:
    data, device = load_data(args)
    cells = [DEFAULT_SPACE.sample(1000 + i) for i in range(args.cells)]
    scores: dict[str, list[float]] = {"search": [], "search-fast": []}
    timings: dict[str, float] = {"search": 0.0, "search-fast": 0.0}
    for index, genotype in enumerate(cells):
        for preset in scores:
            start = time.perf_counter()
            result = train(genotype, data, preset, device=device, **_scaled(preset, args.scale, args))
            timings[preset] += time.perf_counter() - start
            scores[preset].append(result.accuracy if result.ok else 0.0)
        print(f"cell {index}: search {scores['search'][-1]:.4f}  search-fast {scores['search-fast'][-1]:.4f}")
    rho = spearman(scores["search"], scores["search-fast"])
    payload = {
        "cells": args.cells,
        "scale": args.scale,
        "overrides": {p: _scaled(p, args.scale, args) for p in scores},
        "val_accuracy": scores,
        "seconds": timings,
        "spearman": rho,
    }
    write_result(f"train_ranking_{device.type}", payload, str(device))
    print_table(
        f"proxy ranking agreement over {args.cells} random cells ({device}, data scale {args.scale})",
        ["preset", "mean val acc", "total s"],
        [[p, f"{np.mean(s):.4f}", timings[p]] for p, s in scores.items()],
    )
    print(f"Spearman rank correlation (search vs search-fast): {rho:.3f}")


def cmd_budget(args) -> None:
    data, device = load_data(args)
    budget = args.minutes * 60
    probe = {"epochs": 2, "warmup_epochs": 0, "train_subset": 2048, "val_subset": None, "eval_every": 0}
    # Two short epochs; the second one's rate is free of start-up costs.
    rate = train(NASNET_A, data, "search-fast", device=device, **probe).curve[-1]["images_per_second"]
    start = time.perf_counter()
    config = get_preset("search-fast")
    eval_seconds = len(data.val) / (3 * rate)  # evaluation runs about 3x faster than training
    images = int((budget - eval_seconds) * rate * 0.9 / config.epochs)
    images = max(config.batch_size, min(images, len(data.train)))
    result = train(NASNET_A, data, config, device=device, train_subset=images, val_subset=None, eval_every=0)
    wall = time.perf_counter() - start
    payload = {
        "preset": "search-fast",
        "model": "NASNet-A N=2 C=16",
        "budget_minutes": args.minutes,
        "train_images_per_epoch": images,
        "epochs": config.epochs,
        "val_images": len(data.val),
        "wall_seconds": wall,
        "val_accuracy": result.accuracy,
        "curve": result.curve,
    }
    write_result(f"train_budget_{device.type}", payload, str(device))
    print_table(
        f"search-fast within {args.minutes} min ({device})",
        ["train images/epoch", "epochs", "wall s", "val accuracy"],
        [[images, config.epochs, wall, f"{result.accuracy:.4f}"]],
    )


def cmd_final(args) -> None:
    args.with_test = True
    data, device = load_data(args)
    overrides = {}
    if args.epochs:
        overrides["epochs"] = args.epochs
    result = train(
        "nasnet_a_cifar", data, args.preset, device=device, evaluate_test=True, compile=args.compile, **overrides
    )
    payload = {"preset": args.preset, "overrides": overrides, "result": result.to_dict()}
    write_result(f"train_final_{args.preset}_{device.type}", payload, str(device))
    print_table(
        f"NASNet-A 6@768, {args.preset} ({device})",
        ["epochs", "wall s", "val acc", "test acc"],
        [[result.epochs_completed, result.seconds, f"{result.accuracy:.4f}", f"{result.test_accuracy:.4f}"]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--images", type=int, default=1024)
    for name in ("child-time", "ranking"):
        p = sub.add_parser(name)
        p.add_argument("--scale", type=float, default=1.0, help="fraction of the 45k training images")
        p.add_argument("--epochs-scale", type=float, default=1.0, help="fraction of each preset's epochs")
        p.add_argument("--batch-scale", type=float, default=1.0, help="fraction of each preset's batch (lr scaled)")
        p.add_argument("--base-filters", type=int)
        p.add_argument("--cells-per-stack", type=int)
        p.add_argument("--val-images", type=int)
        if name == "ranking":
            p.add_argument("--cells", type=int, default=12)
    b = sub.add_parser("budget")
    b.add_argument("--minutes", type=float, default=10)
    f = sub.add_parser("final")
    f.add_argument("--preset", default="cifar10-short")
    f.add_argument("--epochs", type=int)
    f.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data}: not found; pass --data")
    {
        "throughput": cmd_throughput,
        "child-time": cmd_child_time,
        "ranking": cmd_ranking,
        "budget": cmd_budget,
        "final": cmd_final,
    }[args.command](args)


if __name__ == "__main__":
    main()
