"""`nasnet train` and `nasnet eval`."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from nasnet.errors import Interrupted, NasnetError, short_repr


def data_help(what: str = "dataset") -> str:
    """``--data`` help naming the registered datasets, so a dataset added by a module shows up by itself."""
    from nasnet.data import list_datasets

    return f"{what}: {', '.join(list_datasets())} (or one a --plugin module registers), or a CIFAR/ImageFolder path"


def register(commands: argparse._SubParsersAction) -> None:
    from nasnet.train.config import list_presets

    train = commands.add_parser(
        "train",
        help="train a genotype or a named model with a recipe preset",
        description="Train a model and write metrics.jsonl, model.pt and result.json to --out. "
        "An interrupted run continues with --resume; an earlier run in --out is replaced only with --overwrite.",
    )
    train.add_argument("--arch", required=True, help="genotype JSON path, zoo genotype name or model name")
    train.add_argument("--data", required=True, help=data_help())
    train.add_argument("--preset", default="search", choices=list_presets(), help="training recipe (default: search)")
    train.add_argument("--out", required=True, help="output folder")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any training field, e.g. --set cutout=16 --set ema_decay=0.999 (values are JSON)",
    )
    train.add_argument("--val-size", type=int, default=5000, help="training images held out for validation")
    train.add_argument(
        "--image-size", type=int, help="resize ImageFolder images to this size (default: the preset's image_size)"
    )
    sizing = train.add_argument_group(
        "genotype size (as `nasnet info`; a named model keeps its own size)",
        "e.g. --arch best.json --skeleton imagenet -N 4 -F 1056 --preset imagenet-mobile: the searched cell at "
        "NASNet-A Mobile's size",
    )
    sizing.add_argument(
        "--skeleton", choices=("auto", "cifar", "imagenet"), help="network skeleton (default: the preset's)"
    )
    sizing.add_argument("-N", "--cells-per-stack", type=int, help="normal cells per stack (the paper's N)")
    width = sizing.add_mutually_exclusive_group()
    width.add_argument("-F", "--filters", type=int, help="penultimate width (the paper's F)")
    width.add_argument("-C", "--base-filters", type=int, help="filters of the first stack's cells")
    train.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    earlier_run = train.add_mutually_exclusive_group()
    earlier_run.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    earlier_run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier run's model.pt, result.json and checkpoint in --out",
    )
    train.add_argument("--test", action="store_true", help="also report test accuracy at the end")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--tensorboard", metavar="DIR", help="also write each epoch's numbers as TensorBoard scalars")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("eval", help="accuracy of a trained model.pt on a dataset's test split")
    evaluate.add_argument("checkpoint", help="a model.pt written by `nasnet train` (or its folder)")
    evaluate.add_argument("--data", required=True, help=data_help("dataset whose split to evaluate on"))
    evaluate.add_argument("--split", choices=("test", "val"), default="test")
    evaluate.add_argument("--val-size", type=int, default=5000)
    evaluate.add_argument("--image-size", type=int)
    evaluate.add_argument("--tta", action="store_true", help="average with the mirrored image")
    evaluate.add_argument("--device")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=cmd_eval)


def parse_assignments(pairs: list[str], flag: str = "--set") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise NasnetError(f"{flag} {short_repr(pair)}: expected FIELD=VALUE")
        key, raw = pair.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        except (ValueError, RecursionError):  # e.g. an integer of more digits than Python converts
            raise NasnetError(f"{flag} {short_repr(pair)}: not a usable value") from None
        out[key.strip().replace("-", "_")] = value
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = parse_assignments(args.set)
    flags = (
        "epochs",
        "batch_size",
        "lr",
        "seed",
        "image_size",
        "skeleton",
        "cells_per_stack",
        "filters",
        "base_filters",
    )
    for key in flags:
        if getattr(args, key, None) is not None:
            overrides[key] = getattr(args, key)
    return overrides


class _ProgressBar:
    """A rich progress bar: epoch, loss, accuracy, images/s and ETA."""

    def __init__(self, total_epochs: int, batch_size: int) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.total_epochs = total_epochs
        self.batch_size = batch_size
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[metrics]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.task = None
        self.started = time.perf_counter()
        self.first_step = 0

    def on_start(self, step: int, total: int) -> None:
        self.progress.start()
        self.first_step = step
        self.started = time.perf_counter()
        self.task = self.progress.add_task("epoch", total=total, completed=step, metrics="", speed="")

    def on_step(self, step: int, total: int) -> None:
        elapsed = time.perf_counter() - self.started
        rate = (step - self.first_step) * self.batch_size / elapsed if elapsed > 0 else 0.0
        epoch = min(self.total_epochs, step * self.total_epochs // max(1, total) + 1)
        self.progress.update(
            self.task, completed=step, description=f"epoch {epoch}/{self.total_epochs}", speed=f"{rate:,.0f} img/s"
        )

    def on_epoch(self, record: dict[str, Any]) -> None:
        val = record.get("val_accuracy")
        metrics = f"loss {record['train_loss']:.3f} train {record['train_accuracy']:.3f}"
        if val is not None:
            metrics += f" val {val:.4f}"
        self.progress.update(self.task, metrics=metrics)

    def on_phase(self, name: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=f"{name}...")

    def close(self) -> None:
        self.progress.stop()


def _earlier_run_file(out: Path, resume: bool) -> Path | None:
    """The file of an earlier run in ``out`` that this run would overwrite, if any."""
    from nasnet.train import MODEL_FILE, RESULT_FILE, STATE_FILE

    if resume and ((out / STATE_FILE).is_file() or (out / RESULT_FILE).is_file()):
        return None  # --resume continues the checkpoint, or reports the finished run without writing
    return next((out / name for name in (MODEL_FILE, RESULT_FILE, STATE_FILE) if (out / name).exists()), None)


def _refuse_to_replace_earlier_run(out: Path, resume: bool) -> None:
    """Raise unless training into ``out`` keeps every earlier run's model, result and checkpoint."""
    from nasnet.train import STATE_FILE

    existing = _earlier_run_file(out, resume)
    if existing is None:
        return
    resumable = not resume and (out / STATE_FILE).is_file()
    advice = "continue it with --resume, choose" if resumable else "choose"
    raise NasnetError(
        f"{existing} exists: --out {out} holds an earlier run; {advice} a new --out, or pass --overwrite to replace it"
    )


def _remove_earlier_run(out: Path) -> None:
    """For --overwrite: no old model.pt or result.json may outlive the start of the run that replaces it."""
    from nasnet.train import METRICS_FILE, MODEL_FILE, RESULT_FILE, STATE_FILE

    for name in (MODEL_FILE, RESULT_FILE, STATE_FILE, METRICS_FILE):
        (out / name).unlink(missing_ok=True)


def cmd_train(args: argparse.Namespace) -> int:
    from nasnet.data.sources import load_splits
    from nasnet.train import Callbacks, default_device, prepare_data, resolve_config, train

    out = Path(args.out)
    _check_device_flag(args.device)
    if not args.overwrite:
        _refuse_to_replace_earlier_run(out, args.resume)  # before the data load, which can take minutes
    scalars = _tensorboard(args.tensorboard)  # likewise: a missing TensorBoard is said at once
    config = resolve_config(args.preset, **_overrides(args))
    splits = load_splits(args.data, val_size=args.val_size, seed=config.seed, image_size=config.image_size)
    device = default_device(args.device)
    data = prepare_data(splits, device, config, include_test=args.test)
    if args.overwrite:
        _remove_earlier_run(out)  # only now that the data loaded: a failed start keeps the earlier run
    bar = None if args.no_progress else _ProgressBar(config.epochs, config.batch_size)
    callbacks = Callbacks()
    if bar is not None:
        callbacks = Callbacks(on_step=bar.on_step, on_epoch=bar.on_epoch, on_start=bar.on_start, on_phase=bar.on_phase)
    _chain_epoch(callbacks, scalars)
    started = time.perf_counter()
    try:
        result = train(
            args.arch,
            data,
            config,
            device=device,
            out_dir=out,
            resume=args.resume,
            evaluate_test=args.test,
            callbacks=callbacks,
        )
    except KeyboardInterrupt:
        raise Interrupted(_resume_hint(out)) from None
    finally:
        if bar is not None:
            bar.close()
        if scalars is not None:
            scalars.close()
    if not result.ok:
        print(f"training failed: {result.failure}")
        return 1
    line = f"validation accuracy {result.accuracy:.4f}" if result.accuracy is not None else "no validation set"
    top5 = next((r["val_top5_accuracy"] for r in reversed(result.curve) if "val_top5_accuracy" in r), None)
    if top5 is not None and result.accuracy is not None:
        line += f" (top-5 {top5:.4f})"
    if result.test_accuracy is not None:
        line += f", test accuracy {result.test_accuracy:.4f}"
    wall = time.perf_counter() - started
    print(
        f"{line}; {wall:.1f} s in all ({result.seconds:.1f} s training, {result.images_per_second:,.0f} images/s); "
        f"wrote {out}"
    )
    return 0


def _tensorboard(logdir: str | None) -> Any:
    """With ``--tensorboard DIR``: the epoch scalars' writer (None without the flag)."""
    if logdir is None:
        return None
    from nasnet.report.tensorboard import TrainScalars, summary_writer

    return TrainScalars(summary_writer(logdir))


def _chain_epoch(callbacks: Any, scalars: Any) -> None:
    """Make ``callbacks.on_epoch`` also write the epoch's scalars, after the progress bar's own."""
    if scalars is None:
        return
    bar_epoch = callbacks.on_epoch

    def on_epoch(record: dict[str, Any]) -> None:
        if bar_epoch is not None:
            bar_epoch(record)
        scalars.on_epoch(record)

    callbacks.on_epoch = on_epoch


def _check_device_flag(device: str | None) -> None:
    if device is not None:
        from nasnet.execution import check_device

        check_device(device)


def _resume_hint(out: Path) -> str:
    from nasnet.train import STATE_FILE

    if (out / STATE_FILE).is_file():
        return f"interrupted; {out / STATE_FILE} holds the last checkpoint: run the same command with --resume"
    return "interrupted before the first checkpoint (see the checkpoint_every field); nothing to resume"


def _status(message: str, quiet: bool) -> contextlib.AbstractContextManager:
    """A spinner on stderr while a long step runs (none with --json, whose stdout is for machines)."""
    if quiet:
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def cmd_eval(args: argparse.Namespace) -> int:
    from nasnet.data.arrays import DataError
    from nasnet.data.sources import load_splits
    from nasnet.train import MODEL_FILE, DeviceArray, DeviceData, default_device, load_model
    from nasnet.train.evaluation import evaluate_accuracy

    _check_device_flag(args.device)
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / MODEL_FILE
    device = default_device(args.device)
    loaded = load_model(path, device)
    image_size = args.image_size or loaded.model.config.image_size  # the size the model was trained at
    with _status(f"loading {args.data}", args.json):
        splits = load_splits(args.data, val_size=args.val_size if args.split == "val" else 0, image_size=image_size)
    array = splits.val if args.split == "val" else splits.test
    if array is None:
        raise DataError(f"{args.data}: has no {args.split} split")
    info = splits.info
    if info.image_size != loaded.model.config.image_size or info.num_classes != len(loaded.classes):
        raise DataError(
            f"{args.data}: {info.image_size} px images in {info.num_classes} classes, but {path} was "
            f"trained on {loaded.model.config.image_size} px in {len(loaded.classes)} classes"
        )
    target = DeviceArray.from_array(array, device)
    # The model's class names and normalization, not this split's: it must see images as it did in training.
    info = dataclasses.replace(info, classes=tuple(loaded.classes), mean=tuple(loaded.mean), std=tuple(loaded.std))
    data = DeviceData(train=target, val=None, test=None, info=info)
    with _status(f"evaluating {len(array):,} {args.split} images on {device}", args.json):
        accuracy = evaluate_accuracy(loaded.model, target, data, tta=args.tta)
    if args.json:
        payload = {"checkpoint": str(path), "split": args.split, "images": len(array), "accuracy": accuracy.top1}
        payload["top5_accuracy"] = accuracy.top5  # null with fewer than 5 classes
        print(json.dumps(payload))
    else:
        top5 = f" (top-5 {accuracy.top5:.4f})" if accuracy.top5 is not None else ""
        print(f"{args.split} accuracy {accuracy.top1:.4f}{top5} on {len(array):,} images ({path})")
    return 0
