"""Training and inference images/s of the transferred networks, NASNet-A Mobile (224 px) and Large (331 px).

    python bench/transfer_throughput.py                                  # CPU, batch 32
    python bench/transfer_throughput.py --device cuda --bf16 --channels-last

Training is forward + backward + an RMSProp step with the aux head on, as the ImageNet recipes train;
inference is the model in eval mode under no_grad. From the training rate it projects one ImageNet
epoch (1,281,167 images) on this device. Where timm is importable, its ``nasnetalarge`` is timed
beside nasnet's Large in the same run. The data loader's own rate is not measured yet: the streaming
ImageNet loader does not exist. Writes bench/results/transfer_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import statistics
import time
from typing import Any

import torch

from common import print_table, write_result
from nasnet.nn import count_parameters, create_model

IMAGENET_TRAIN_IMAGES = 1_281_167
MODELS = {"nasnet_a_mobile": 224, "nasnet_a_large": 331}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(step, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model: torch.nn.Module, size: int, batch: int, steps: int, warmup: int, device, bf16: bool, cl: bool):
    fmt = torch.channels_last if cl else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 1000, (batch,), device=device)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.9, momentum=0.9, eps=1.0)

    def train_step() -> None:
        model.train()
        with autocast:
            out = model(x, with_aux=True) if _takes_aux(model) else (model(x), None)
            logits, aux = out
            loss = torch.nn.functional.cross_entropy(logits.float(), y)
            if aux is not None:
                loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def infer_step() -> None:
        model.eval()
        with autocast:
            model(x)

    train_s = _timed(train_step, steps, warmup, device)
    infer_s = _timed(infer_step, steps, warmup, device)
    return {
        "batch": batch,
        "steps": steps,
        "train_step_s": train_s,
        "train_images_per_s": batch / train_s,
        "infer_step_s": infer_s,
        "infer_images_per_s": batch / infer_s,
        "imagenet_epoch_hours": IMAGENET_TRAIN_IMAGES / (batch / train_s) / 3600,
    }


def _takes_aux(model: torch.nn.Module) -> bool:
    return hasattr(model, "config")  # nasnet's NASNet; timm's model has no aux head


def _models(names: list[str], with_timm: bool) -> list[tuple[str, int, Any]]:
    chosen = [(name, MODELS[name], lambda name=name: create_model(name)) for name in names]
    if with_timm and "nasnet_a_large" in names and importlib.util.find_spec("timm") is not None:
        import timm

        chosen.append(("timm nasnetalarge", 331, lambda: timm.create_model("nasnetalarge", pretrained=False)))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--large-batch", type=int, help="batch for Large (default: --batch; batch 32 does not fit 24 GB on a CPU)"
    )
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--no-timm", action="store_true", help="do not time timm's nasnetalarge even where importable")
    args = parser.parse_args()
    device = torch.device(args.device)
    rows, results = [], []
    for name, size, build in _models(args.models, not args.no_timm):
        model = build()
        result = {"model": name, "image_size": size, "params": count_parameters(model)}
        batch = args.large_batch if args.large_batch and size == MODELS["nasnet_a_large"] else args.batch
        result.update(measure(model, size, batch, args.steps, args.warmup, device, args.bf16, args.channels_last))
        results.append(result)
        rows.append(
            [
                name,
                result["batch"],
                size,
                f"{result['params']:,}",
                f"{result['train_images_per_s']:.1f}",
                f"{result['infer_images_per_s']:.1f}",
                f"{result['imagenet_epoch_hours']:.1f}",
            ]
        )
        rates = f"{result['train_images_per_s']:.1f} train, {result['infer_images_per_s']:.1f} inference"
        print(f"{name}: {rates} images/s")
        del model
    precision = "bf16" if args.bf16 else "fp32"
    print_table(
        f"transferred networks on {args.device}, {precision}",
        ["model", "batch", "px", "params (aux head on)", "train img/s", "infer img/s", "ImageNet epoch (h)"],
        rows,
    )
    payload = {
        "batch": args.batch,
        "large_batch": args.large_batch or args.batch,
        "precision": precision,
        "channels_last": args.channels_last,
        "loader_images_per_s": None,  # no streaming ImageNet loader yet
        "results": results,
    }
    write_result(f"transfer_throughput_{device.type}", payload, device=args.device)


if __name__ == "__main__":
    main()
