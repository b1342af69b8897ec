"""Average pooling on a channels-last CUDA tensor: PyTorch's kernel, a depthwise conv, or via NCHW.

    python bench/avg_pool.py            # on the GPU: each way alone, and in a search child's training step
    python bench/avg_pool.py --dry-run  # CPU, toy sizes: checks the benchmark itself
    python bench/avg_pool.py --apply    # also set nasnet.nn.ops.CUDA_CHANNELS_LAST_AVG_POOL to the fastest way

A search child's step (NASNet-A, N=2, C=16, bf16, channels-last, CUDA graphs) is timed with each
way; ``--apply`` rewrites the constant in src/nasnet/nn/ops.py when another way beats it by over 3%.
Writes bench/results/avg_pool.json (a dry run: a temporary folder).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from common import ROOT, print_table, write_result
from nasnet.nn import ops
from nasnet.nn.ops import AVG_POOL_WAYS, AvgPoolExcludingPad

OPS_FILE = ROOT / "src" / "nasnet" / "nn" / "ops.py"
CONSTANT = "CUDA_CHANNELS_LAST_AVG_POOL"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_pool(way: str, shape: tuple[int, ...], stride: int, repeats: int, device: torch.device) -> float:
    """Milliseconds for one forward and backward of a 3x3 average pool, in bf16 channels-last."""
    ops.CUDA_CHANNELS_LAST_AVG_POOL = way
    pool = AvgPoolExcludingPad(3, stride)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    x = torch.randn(shape, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    for _ in range(3):
        pool(x).sum().backward()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        pool(x).sum().backward()
    sync(device)
    return (time.perf_counter() - start) / repeats * 1000


def time_child_step(way: str, batch: int, steps: int, dry_run: bool, device: torch.device) -> dict[str, Any]:
    from gpu_suite import Sizes, _child, _train_config, measure_steps

    ops.CUDA_CHANNELS_LAST_AVG_POOL = way
    sizes = Sizes.toy() if dry_run else Sizes(dry_run=False)
    config = _train_config("bf16" if device.type == "cuda" else "fp32", True, device.type == "cuda", aux=False)
    return measure_steps(lambda: _child(sizes, device), sizes.child_image, batch, steps, config, device)


def apply_fastest(fastest: str) -> bool:
    text = OPS_FILE.read_text()
    new = re.sub(rf'^{CONSTANT} = "\w+"$', f'{CONSTANT} = "{fastest}"', text, count=1, flags=re.M)
    if new == text:
        return False
    OPS_FILE.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes")
    parser.add_argument("--apply", action="store_true", help=f"set {CONSTANT} in ops.py to the fastest way")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.dry_run and args.results_dir is None:
        args.results_dir = Path(tempfile.mkdtemp(prefix="avg_pool_dry_run_"))
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device; use --dry-run on a CPU")
    chosen = ops.CUDA_CHANNELS_LAST_AVG_POOL
    shapes = [(8, 4, 16, 16)] if args.dry_run else [(512, 32, 32, 32), (512, 64, 16, 16), (128, 32, 32, 32)]
    repeats = 2 if args.dry_run else 50
    op_rows, op_results = [], []
    for shape in shapes:
        for stride in (1, 2):
            times = {way: time_pool(way, shape, stride, repeats, device) for way in AVG_POOL_WAYS}
            op_results.append({"shape": list(shape), "stride": stride, "ms": times})
            op_rows.append([str(shape), stride, *(f"{times[w]:.3f}" for w in AVG_POOL_WAYS)])
    print_table("3x3 average pool, forward + backward (ms)", ["N,C,H,W", "stride", *AVG_POOL_WAYS], op_rows)

    batches = (16,) if args.dry_run else (512, 128)
    step_results: dict[str, dict[str, Any]] = {}
    for batch in batches:
        step_results[str(batch)] = {
            way: time_child_step(way, batch, 2 if args.dry_run else 30, args.dry_run, device) for way in AVG_POOL_WAYS
        }
    print_table(
        "search child step, NASNet-A N=2 C=16 (ms)",
        ["batch", *AVG_POOL_WAYS],
        [[b, *(f"{r[w]['step_ms']:.2f}" for w in AVG_POOL_WAYS)] for b, r in step_results.items()],
    )
    total = {way: sum(r[way]["step_ms"] for r in step_results.values()) for way in AVG_POOL_WAYS}
    fastest = min(total, key=total.get)
    keep = total[chosen] <= 1.03 * total[fastest]
    verdict = chosen if keep else fastest
    print(f"{CONSTANT} was {chosen!r}; fastest over the child steps: {fastest!r}; keep {verdict!r}")
    applied = False
    if args.apply and not args.dry_run and verdict != chosen:
        applied = apply_fastest(verdict)
        print(f"set {CONSTANT} = {verdict!r} in src/nasnet/nn/ops.py")
    ops.CUDA_CHANNELS_LAST_AVG_POOL = chosen
    write_result(
        "avg_pool",
        {
            "dry_run": args.dry_run,
            "ops": op_results,
            "child_steps": step_results,
            "was": chosen,
            "fastest": fastest,
            "verdict": verdict,
            "applied": applied,
        },
        device=str(device),
        results_dir=args.results_dir,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
