"""`nasnet show`, `nasnet info` and `nasnet models`: genotypes and model sizes."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from nasnet.errors import NasnetError, printable
from nasnet.nn import (
    Architecture,
    count_parameters,
    is_model_name,
    list_models,
    model_config,
    model_info,
    resolve_architecture,
)
from nasnet.nn.counting import meta_model
from nasnet.nn.network import ModelConfig
from nasnet.report.text import genotype_text
from nasnet.space import (
    DEFAULT_SPACE,
    GenotypeError,
    genotype_hash,
    genotype_to_dict,
    list_genotypes,
)
from nasnet.space.genotype import Genotype
from nasnet.space.sizing import CIFAR_SIZE


def register(commands: argparse._SubParsersAction) -> None:
    show = commands.add_parser("show", help="print a genotype's cells as readable text")
    show.add_argument("genotype", help="a genotype JSON path, a zoo genotype name or a model name")
    show.add_argument("--json", action="store_true", help="print the genotype as JSON instead")
    show.add_argument("--decisions", action="store_true", help="also print the controller's decision sequence")
    show.set_defaults(handler=cmd_show)

    info = commands.add_parser("info", help="parameters, multiply-adds and per-stage output shapes")
    info.add_argument("target", metavar="NAME|GENOTYPE", help="a model name, zoo genotype name or genotype JSON path")
    add_model_options(info)
    info.add_argument("--json", action="store_true", help="print JSON (keys: params, mult_adds, ...)")
    info.set_defaults(handler=cmd_info)

    models = commands.add_parser("models", help="list the model zoo and the published genotypes")
    models.add_argument("--json", action="store_true")
    models.set_defaults(handler=cmd_models)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Flags that size a model; each overrides a model name's default when given."""
    group = parser.add_argument_group("model size (override a named model's defaults)")
    group.add_argument("--skeleton", choices=("cifar", "imagenet"), help="network skeleton (default: cifar)")
    group.add_argument("-N", "--cells-per-stack", type=int, help="normal cells per stack (the paper's N)")
    sizing = group.add_mutually_exclusive_group()
    sizing.add_argument("-F", "--filters", type=int, help="penultimate width (the paper's F)")
    sizing.add_argument("-C", "--base-filters", type=int, help="filters of the first stack's cells")
    group.add_argument("--num-classes", type=int)
    group.add_argument("--image-size", type=int)
    group.add_argument(
        "--aux-head", dest="aux_head", action="store_true", default=None, help="build the auxiliary head"
    )
    group.add_argument("--no-aux-head", dest="aux_head", action="store_false")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("skeleton", "cells_per_stack", "filters", "base_filters", "num_classes", "image_size", "aux_head")
    return {key: getattr(args, key) for key in keys if getattr(args, key, None) is not None}


def _model_file_config(path: str) -> ModelConfig:
    """The model config a ``model.pt`` written by ``nasnet train`` records (read as weights only)."""
    from nasnet.train.checkpoint import MODEL_FORMAT, CheckpointError, load_checkpoint

    payload = load_checkpoint(path, MODEL_FORMAT)
    if payload.get("model_config") is None:
        raise CheckpointError(f"{path}: holds weights of a custom module, with no nasnet model config")
    return ModelConfig.from_dict(payload["model_config"], source=f"{path}: model_config")


def _is_model_file(spec: str) -> bool:
    return spec.endswith(".pt") and Path(spec).is_file()


def cli_architecture(spec: str) -> Architecture:
    """What ``spec`` names, in `resolve_architecture`'s order, with a trained ``model.pt`` after model names.

    ``model.pt`` is the command line's addition: reading one needs the trainer's checkpoint format,
    which ``nasnet.nn`` (a lower layer) cannot import.
    """
    if not is_model_name(spec) and _is_model_file(spec):
        config = _model_file_config(spec)
        return Architecture(config.genotype, config=config, label=spec)
    return resolve_architecture(spec)


def config_from_args(target: str, args: argparse.Namespace) -> tuple[ModelConfig, str]:
    """A model config for a model name, a ``model.pt``, or a genotype sized by the flags."""
    # A bare genotype is shown at the size it would be published at, NASNet-A's CIFAR-10 size,
    # unless the flags size it; a named model or a model.pt keeps its own size.
    return cli_architecture(target).configure(default_size=CIFAR_SIZE, **_overrides(args)), target


def _load_for_show(spec: str) -> tuple[Genotype, str, dict[str, Any]]:
    architecture = cli_architecture(spec)
    return architecture.genotype, architecture.label or spec, dict(architecture.meta)


def cmd_show(args: argparse.Namespace) -> int:
    genotype, name, meta = _load_for_show(args.genotype)
    if args.json:
        print(json.dumps(genotype_to_dict(genotype, name=name, meta=meta or None), indent=2))
        return 0
    print(genotype_text(genotype, name))
    for key, value in meta.items():
        print(printable(f"meta.{key} = {value}"))
    if args.decisions:
        try:
            print("decisions =", DEFAULT_SPACE.to_decisions(genotype))
        except GenotypeError as err:
            print(f"decisions: not expressible ({err})")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    config, label = config_from_args(args.target, args)
    info = model_info(dataclasses.replace(config, aux_head=False))
    aux_params = 0
    if config.aux_head:
        aux_params = count_parameters(meta_model(config)) - info.params
    payload = info.to_dict()
    payload.update(
        name=label,
        aux_head_params=aux_params,
        genotype_hash=genotype_hash(config.genotype),
        config={k: v for k, v in config.to_dict().items() if k != "genotype"},
    )
    if args.json:
        print(json.dumps(payload, indent=2))
        return 0
    console = Console()
    summary = Table(
        title=f"{label}: {config.cells_per_stack}@{config.filters}, {config.skeleton} skeleton", show_header=False
    )
    summary.add_row("parameters (no aux head)", f"{info.params:,}")
    if config.aux_head:
        summary.add_row("aux head parameters", f"{aux_params:,}")
    summary.add_row("multiply-adds", f"{info.mult_adds:,} ({info.mult_adds / 1e9:.3g} B)")
    summary.add_row("input (C x H x W)", f"{config.in_channels}x{config.image_size}x{config.image_size}")
    summary.add_row("base filters C / penultimate F", f"{config.base_filters} / {config.filters}")
    console.print(summary)
    shapes = Table(title="per-stage output shapes (C x H x W, as --json gives them)")
    shapes.add_column("stage")
    shapes.add_column("shape", justify="right")
    for stage, (c, h, w) in info.shapes.items():
        shapes.add_row(stage, f"{c}x{h}x{w}")
    console.print(shapes)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    rows = []
    for name in list_models():
        config = model_config(name)
        rows.append(
            {
                "name": name,
                "size": f"{config.cells_per_stack}@{config.filters}",
                "skeleton": config.skeleton,
                "image_size": config.image_size,
                "num_classes": config.num_classes,
                "params": count_parameters(meta_model(dataclasses.replace(config, aux_head=False))),
            }
        )
    if args.json:
        print(json.dumps({"models": rows, "genotypes": list_genotypes()}, indent=2))
        return 0
    table = Table(title="model zoo (parameters without the aux head)")
    for column in ("name", "N@F", "skeleton", "input", "classes", "params"):
        table.add_column(column, justify="right" if column in ("params", "classes", "input") else "left")
    for row in rows:
        table.add_row(
            row["name"],
            row["size"],
            row["skeleton"],
            f"{row['image_size']}px",
            str(row["num_classes"]),
            f"{row['params']:,}",
        )
    console = Console()
    console.print(table)
    console.print(f"genotypes: {', '.join(list_genotypes())}  (see `nasnet show NAME`)")
    return 0


__all__ = ["NasnetError", "add_model_options", "config_from_args", "register"]
