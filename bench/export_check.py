"""Export time, file size and agreement with PyTorch of `nasnet export-model`, per format.

    python bench/export_check.py                                   # NASNet-A Mobile, all three formats
    python bench/export_check.py --models nasnet_a_mobile nasnet_a_cifar
    python bench/export_check.py --dry-run                         # a tiny model: checks the benchmark itself

Each model gets random weights with BN statistics set from one batch (as training leaves them: the
initial ones let activations grow to logits near 1e4, where fp32 rounding alone exceeds 1e-4), is
written as `nasnet train` writes model.pt, and exported in each format twice: once without the check
(the export alone) and once with it (the written bytes loaded back in onnxruntime or torch and run
on batches of 1 and 3 random images). Writes bench/results/export_check.json (a dry run: a
temporary folder).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from common import print_table, write_result
from nasnet.data import DataSplits, ImageArray
from nasnet.nn import NASNet, build_model, create_model
from nasnet.train import DeviceData, get_preset
from nasnet.train.export import CHECK_BATCHES, DEFAULT_TOLERANCE, FORMATS, ONNX_OPSET, export_model
from nasnet.train.model_file import save_model


def calibrated(model: NASNet, seed: int = 0) -> NASNet:
    """``model`` with BN running statistics of one random batch, as a trained model has them."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    size = model.config.image_size
    model.train()
    with torch.no_grad():
        model(torch.randn(4, model.config.in_channels, size, size))
    return model.eval()


def write_model_file(model: NASNet, folder: Path) -> Path:
    config = model.config
    rng = np.random.default_rng(0)
    images = ImageArray(rng.integers(0, 256, (4, config.image_size, config.image_size, 3), dtype=np.uint8), np.zeros(4))
    classes = [str(c) for c in range(config.num_classes)]
    splits = DataSplits(images, None, None, classes, "random", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    path = folder / "model.pt"
    save_model(path, model, config, DeviceData.from_splits(splits, "cpu"), get_preset("smoke"))
    return path


def build(name: str) -> NASNet:
    if name == "tiny":
        return build_model("nasnet_a", cells_per_stack=1, base_filters=8, num_classes=10, image_size=16)
    return create_model(name)


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("onnx", "onnxruntime", "onnxscript"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["nasnet_a_mobile"], help="registered model names")
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--dry-run", action="store_true", help="a tiny NASNet-A instead of --models")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.dry_run and args.results_dir is None:
        args.results_dir = Path(tempfile.mkdtemp(prefix="export_check_dry_run_"))
    models = ["tiny"] if args.dry_run else args.models
    installed = versions()
    formats = [f for f in args.formats if f != "onnx" or all(installed.values())]
    if len(formats) < len(args.formats):
        print("onnx skipped: pip install 'nasnet[export]'", file=sys.stderr)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="export_check_") as tmp:
        for name in models:
            folder = Path(tmp) / name
            folder.mkdir()
            model = calibrated(build(name))
            # What the export holds: the auxiliary head is left out.
            params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("aux_head."))
            model_file = write_model_file(model, folder)
            for fmt in formats:
                started = time.perf_counter()
                export_model(model_file, folder / f"unchecked-{fmt}", fmt, check=False)
                export_s = time.perf_counter() - started
                checked = export_model(model_file, folder, fmt)
                results.append(
                    {
                        "model": name,
                        "params": params,
                        "format": fmt,
                        "export_s": round(export_s, 2),
                        "export_and_check_s": round(checked.seconds, 2),
                        "size_mb": round(checked.size_bytes / 1e6, 2),
                        "max_abs_diff": checked.max_abs_diff,
                        "within_tolerance": checked.max_abs_diff is not None
                        and checked.max_abs_diff <= DEFAULT_TOLERANCE,
                    }
                )
    print_table(
        f"nasnet export-model on {torch.get_num_threads()} CPU threads (tolerance {DEFAULT_TOLERANCE:g})",
        ["model", "format", "export (s)", "export + check (s)", "size (MB)", "max |diff|"],
        [
            [r["model"], r["format"], r["export_s"], r["export_and_check_s"], r["size_mb"], f"{r['max_abs_diff']:.2g}"]
            for r in results
        ],
    )
    path = write_result(
        "export_check",
        {
            "dry_run": args.dry_run,
            "tolerance": DEFAULT_TOLERANCE,
            "onnx_opset": ONNX_OPSET,
            "check_batches": list(CHECK_BATCHES),
            "versions": installed,
            "results": results,
        },
        results_dir=args.results_dir,
    )
    print(f"wrote {path}")
    return 0 if all(r["within_tolerance"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
