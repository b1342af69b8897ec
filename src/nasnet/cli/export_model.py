"""`nasnet export-model`: a trained model.pt as ONNX, TorchScript or a torch.export program."""

from __future__ import annotations

import argparse
import contextlib
import sys

from nasnet.errors import NasnetError


def register(commands: argparse._SubParsersAction) -> None:
    from nasnet.train.export import DEFAULT_TOLERANCE, FORMATS, ONNX_OPSET

    export = commands.add_parser(
        "export-model",
        help="export a trained model.pt to ONNX, TorchScript or a torch.export program",
        description="Export a model.pt written by `nasnet train` for inference: input 'images' (float32 NCHW, "
        "normalised with the model's mean and std, any batch size), output 'logits', no auxiliary head. The "
        "file carries the genotype, normalisation, classes, accuracy and seed as metadata. It is compared with "
        "the PyTorch model on random inputs before it is written; a larger difference than --tolerance is an "
        "error and writes nothing.",
    )
    export.add_argument("model", metavar="MODEL", help="a model.pt written by `nasnet train` (or its folder)")
    export.add_argument(
        "--format",
        required=True,
        metavar="{" + ",".join(FORMATS) + "}",
        help="onnx (needs pip install 'nasnet[export]'), torchscript (torch.jit) or exported (torch.export, .pt2)",
    )
    export.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="output file, or a folder to put it in (default: beside MODEL, as model.onnx, model.torchscript.pt "
        "or model.pt2)",
    )
    export.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest |logit difference| from PyTorch accepted (default: {DEFAULT_TOLERANCE:g})",
    )
    export.add_argument("--no-check", action="store_true", help="write without comparing with PyTorch")
    export.add_argument("--opset", type=int, default=ONNX_OPSET, help=f"ONNX opset (default: {ONNX_OPSET})")
    export.set_defaults(handler=cmd_export_model)


def _status(message: str) -> contextlib.AbstractContextManager:
    """A spinner on stderr while the export runs (a minute for large models); none when stderr is no terminal."""
    if not sys.stderr.isatty():
        return contextlib.nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def cmd_export_model(args: argparse.Namespace) -> int:
    from nasnet.train.export import check_format, export_model

    fmt = check_format(args.format)
    if args.opset < 1:
        raise NasnetError(f"--opset {args.opset}: must be a positive integer")
    with _status(f"exporting {args.model} as {fmt}"):
        result = export_model(
            args.model, args.output, fmt, check=not args.no_check, tolerance=args.tolerance, opset=args.opset
        )
    checked = "not checked" if result.max_abs_diff is None else f"{result.max_abs_diff:.2g}"
    print(f"wrote {result.path} ({result.format}, max |diff| vs PyTorch: {checked})")
    return 0
