"""Training throughput (forward + backward + SGD step) of NASNet models.

    python bench/model_throughput.py                       # CPU, batch 64
    python bench/model_throughput.py --device cuda --bf16 --channels-last [--compile] --max-batch-large

Models: NASNet-A 6@768 (CIFAR, aux head on, as trained) and a search-size child
(NASNet-A cells at N=2, C=16, no aux head), plus random search-size children.
Writes bench/results/model_throughput_<device>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from common import print_table, write_result
from nasnet.nn import build_model, count_parameters, create_model
from nasnet.space import DEFAULT_SPACE


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _train_step_fn(model, device, bf16: bool, channels_last: bool, compile_model: bool):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device=device, memory_format=fmt).train()
    forward = torch.compile(model) if compile_model else model
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step(x, y):
        with autocast:
            logits, aux = forward(x, with_aux=True)
            loss = torch.nn.functional.cross_entropy(logits, y)
            if aux is not None:
                loss = loss + 0.4 * torch.nn.functional.cross_entropy(aux, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step, fmt


def measure(model, image_size: int, batch: int, steps: int, warmup: int, device, **opts) -> dict:
    step, fmt = _train_step_fn(model, device, **opts)
    x = torch.randn(batch, 3, image_size, image_size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, model.config.num_classes, (batch,), device=device)
    for _ in range(warmup):
        step(x, y)
    _sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(x, y)
        _sync(device)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"batch": batch, "steps": steps, "median_step_s": median, "images_per_s": batch / median}


def largest_batch(device, bf16: bool, channels_last: bool, start: int = 8, limit: int = 4096) -> int:
    """The largest batch of NASNet-A Large (331 px, aux head) whose training step fits."""

    def fits(batch: int) -> bool:
        model = create_model("nasnet_a_large")
        try:
            measure(
                model,
                331,
                batch,
                steps=1,
                warmup=0,
                device=device,
                bf16=bf16,
                channels_last=channels_last,
                compile_model=False,
            )
            return True
        except torch.OutOfMemoryError:
            return False
        finally:
            del model
            torch.cuda.empty_cache()

    low, high = 0, start
    while high <= limit and fits(high):
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--random-children", type=int, default=3, help="random search-size genotypes to time too")
    parser.add_argument("--max-batch-large", action="store_true", help="find NASNet-A Large's largest batch (GPU)")
    args = parser.parse_args()
    device = torch.device(args.device)
    opts = {"bf16": args.bf16, "channels_last": args.channels_last, "compile_model": args.compile}
    torch.manual_seed(0)

    models = {
        "nasnet_a_cifar 6@768": create_model("nasnet_a_cifar"),
        "search child nasnet_a N=2 C=16": create_model(
            "nasnet_a_cifar", cells_per_stack=2, base_filters=16, aux_head=False
        ),
    }
    for seed in range(args.random_children):
        models[f"search child random#{seed} N=2 C=16"] = build_model(
            DEFAULT_SPACE.sample(seed), cells_per_stack=2, base_filters=16, aux_head=False
        )
    results = []
    for name, model in models.items():
        row = measure(model, 32, args.batch, args.steps, args.warmup, device, **opts)
        row.update(model=name, params=count_parameters(model))
        results.append(row)
        print(f"{name}: {row['images_per_s']:.1f} images/s")
    payload = {"device": str(device), "options": opts, "results": results}
    if args.max_batch_large:
        payload["nasnet_a_large_max_batch"] = largest_batch(device, args.bf16, args.channels_last)
    tag = "cpu" if device.type == "cpu" else device.type
    if args.bf16 or args.channels_last or args.compile:
        tag += "_" + "_".join(
            k for k, v in (("bf16", args.bf16), ("cl", args.channels_last), ("compile", args.compile)) if v
        )
    path = write_result(f"model_throughput_{tag}", payload, str(device))
    print_table(
        f"training throughput, batch {args.batch}, {device}",
        ["model", "params", "step s (median)", "images/s"],
        [[r["model"], f"{r['params']:,}", f"{r['median_step_s']:.3f}", r["images_per_s"]] for r in results],
    )
    if args.max_batch_large:
        print(f"NASNet-A Large largest training batch: {payload['nasnet_a_large_max_batch']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
