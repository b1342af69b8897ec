"""The training step (eager and CUDA graphs), dense concat gradients, EMA warm-up and GPU-only checks."""

import pytest
import torch

from conftest import random_splits
from nasnet.nn import build_model
from nasnet.nn.ops import cat_channels
from nasnet.space import NASNET_A
from nasnet.train import TrainConfig, get_preset, train
from nasnet.train.schedule import ema_with_warmup
from nasnet.train.step import CUDA_GRAPH, EAGER, TrainStep, graphs_blocker

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def tiny(**overrides):
    base = {"epochs": 2, "batch_size": 32, "train_subset": None, "val_subset": None, "eval_batch_size": 64}
    base.update(overrides)
    return get_preset("smoke", **base)


# ---- concatenation with dense gradients --------------------------------------------------------


def test_cat_channels_matches_cat_and_returns_dense_channels_last_gradients():
    torch.manual_seed(0)
    a = torch.randn(2, 3, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    b = torch.randn(2, 4, 5, 5).contiguous(memory_format=torch.channels_last).requires_grad_()
    out = cat_channels([a, b])
    assert torch.equal(out, torch.cat([a, b], dim=1))
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    assert torch.equal(a.grad, weight[:, :3]) and torch.equal(b.grad, weight[:, 3:])
    # A plain cat would hand each input a strided slice; these are dense channels-last tensors.
    assert a.grad.is_contiguous(memory_format=torch.channels_last)
    assert b.grad.is_contiguous(memory_format=torch.channels_last)


def test_cat_channels_gradcheck_and_mixed_dtypes():
    a = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: cat_channels([x, y]), (a, b))
    low = torch.randn(1, 2, 2, 2, dtype=torch.bfloat16, requires_grad=True)
    high = torch.randn(1, 1, 2, 2, dtype=torch.float32, requires_grad=True)
    out = cat_channels([low, high])
    assert out.dtype == torch.float32  # promoted, as torch.cat promotes
    out.sum().backward()
    assert low.grad.dtype == torch.bfloat16 and high.grad.dtype == torch.float32


def test_cat_channels_without_gradients_is_plain_cat():
    a, b = torch.ones(1, 1, 2, 2), torch.zeros(1, 2, 2, 2)
    assert cat_channels([a]) is a
    with torch.no_grad():
        assert torch.equal(cat_channels([a, b]), torch.cat([a, b], 1))


# ---- the step ------------------------------------------------------------------------------------


def test_cuda_graphs_setting_is_a_no_op_on_the_cpu():
    splits = random_splits(size=16)
    with_graphs = train(NASNET_A, splits, tiny(cuda_graphs=True), device=CPU)
    without = train(NASNET_A, splits, tiny(cuda_graphs=False), device=CPU)
    assert with_graphs.step_mode == without.step_mode == EAGER
    strip = lambda curve: [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")} for r in curve]  # noqa: E731
    assert strip(with_graphs.curve) == strip(without.curve)


def test_graphs_blocker_names_the_reason():
    assert graphs_blocker(TrainConfig(), CPU) == "off"
    assert graphs_blocker(TrainConfig(cuda_graphs=False), torch.device("cuda")) == "off"
    assert graphs_blocker(TrainConfig(), torch.device("cuda")) is None
    assert "compile" in graphs_blocker(TrainConfig(compile=True), torch.device("cuda"))


def test_train_step_follows_the_learning_rate_and_keeps_totals():
    torch.manual_seed(0)
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=4, aux_head=False, image_size=16)
    step = TrainStep.for_model(model, TrainConfig(lr=0.1, momentum=0.0, weight_decay=0.0), CPU)
    x, y = torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    step.set_lr(0.0)
    step(x, y)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))  # lr 0 moves nothing
    step.set_lr(0.1)
    step(x, y)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert step.loss_sum.item() > 0 and 0 <= step.correct.item() <= 16
    step.reset_totals()
    assert step.loss_sum.item() == 0 and step.correct.item() == 0


def test_search_presets_validate_only_at_the_end():
    for preset in ("search", "search-fast"):
        result = train(
            NASNET_A,
            random_splits(size=16),
            preset,
            device=CPU,
            epochs=2,
            batch_size=32,
            cells_per_stack=1,
            base_filters=4,
            warmup_epochs=0,
        )
        assert [r.get("val_accuracy") is not None for r in result.curve] == [False, True]
        assert result.accuracy is not None


# ---- EMA -------------------------------------------------------------------------------------------


def test_ema_decay_warms_up_so_short_runs_are_not_stuck_at_the_init():
    update = ema_with_warmup(0.999)
    ema, param = [torch.zeros(3), torch.tensor([5])], [torch.ones(3), torch.tensor([7])]
    update(ema, param, torch.tensor(0))
    assert torch.allclose(ema[0], torch.full((3,), 0.9))  # decay min(0.999, 1/10) = 0.1
    assert ema[1].item() == 7  # integer buffers (BatchNorm counters) are copied
    update(ema, param, torch.tensor(10**6))
    assert torch.allclose(ema[0], 0.9 + 0.1 * 0.001 * torch.ones(3), atol=1e-6)  # the full 0.999 later


# ---- on a GPU only (the suite's dry run covers the CPU paths) --------------------------------------


@needs_cuda
def test_graph_replay_trains_like_eager_steps():
    device = torch.device("cuda")
    x = torch.randn(32, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (32,), device=device)
    weights = {}
    for graphs in (False, True):
        torch.manual_seed(0)
        with torch.device(device):
            model = build_model(NASNET_A, cells_per_stack=1, base_filters=8, aux_head=False)
        model.train()
        step = TrainStep.for_model(model, TrainConfig(lr=0.05, precision="fp32", cuda_graphs=graphs), device)
        for _ in range(6):
            step.set_lr(0.05)
            step(x, y)
        assert step.mode == (CUDA_GRAPH if graphs else EAGER)
        weights[graphs] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert ((weights[True] - weights[False]).norm() / weights[False].norm()).item() < 2e-2


@needs_cuda
def test_children_train_with_cuda_graphs_and_free_their_memory():
    splits = random_splits(count=512, size=32)
    torch.cuda.synchronize()
    first = train(NASNET_A, splits, "search-fast", device="cuda", epochs=2, batch_size=64, warmup_epochs=0)
    after_first = torch.cuda.memory_allocated()
    second = train(NASNET_A, splits, "search-fast", device="cuda", epochs=2, batch_size=64, warmup_epochs=0)
    assert first.ok and second.ok and first.step_mode == second.step_mode == CUDA_GRAPH
    assert torch.cuda.memory_allocated() <= after_first + 2**20  # nothing left behind by the second child


# ---- activation recomputation ----------------------------------------------------------------------


def test_recomputed_cells_train_exactly_like_kept_activations():
    import copy

    torch.manual_seed(0)
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=8, aux_head=True, drop_path_keep_prob=0.7)
    model.train()
    model.set_drop_path_progress(0.5)
    twin = copy.deepcopy(model)
    twin.set_recompute_activations(True)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    results = []
    for net in (model, twin):
        torch.manual_seed(1)  # the same drop-path masks in the forward pass
        logits, aux = net(x, with_aux=True)
        (torch.nn.functional.cross_entropy(logits, y) + 0.4 * torch.nn.functional.cross_entropy(aux, y)).backward()
        results.append(([p.grad for p in net.parameters()], list(net.buffers())))
    (grads, buffers), (twin_grads, twin_buffers) = results
    assert all(torch.equal(a, b) for a, b in zip(grads, twin_grads, strict=True))  # masks replayed in recompute
    assert all(torch.equal(a, b) for a, b in zip(buffers, twin_buffers, strict=True))  # BN statistics updated once


@pytest.mark.parametrize(("asked", "recomputed"), [(None, False), (False, False), (True, True)])
def test_recomputation_is_off_unless_asked(asked, recomputed):
    torch.manual_seed(0)
    model = build_model(NASNET_A, cells_per_stack=1, base_filters=4, aux_head=False, image_size=16, num_classes=4)
    result = train(model, random_splits(count=64), tiny(epochs=1, recompute_activations=asked), device="cpu")
    assert result.ok and model.recompute_cells is recomputed


def test_recomputation_config_is_checked():
    from nasnet.train.config import TrainConfigError

    assert "recompute" in graphs_blocker(TrainConfig(recompute_activations=True), torch.device("cuda"))
    with pytest.raises(TrainConfigError, match="recompute_activations"):
        TrainConfig(recompute_activations="yes")


# ---- micro-batches -------------------------------------------------------------------------------


def test_micro_batches_on_the_cpu_by_default_and_as_asked():
    from nasnet.train.config import TrainConfigError
    from nasnet.train.step import CPU_MICRO_BATCH, micro_batch_for

    assert micro_batch_for(TrainConfig(batch_size=128), CPU) == CPU_MICRO_BATCH
    assert micro_batch_for(TrainConfig(batch_size=128), torch.device("cuda")) is None
    assert micro_batch_for(TrainConfig(batch_size=CPU_MICRO_BATCH), CPU) is None  # nothing to split
    assert micro_batch_for(TrainConfig(batch_size=128, micro_batch=32), torch.device("cuda")) == 32
    assert micro_batch_for(TrainConfig(batch_size=128, micro_batch=500), CPU) is None
    for bad in (0, -4, 2.5, True, "16"):
        with pytest.raises(TrainConfigError, match="micro_batch"):
            TrainConfig(micro_batch=bad)


def _linear_step(micro_batch):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def loss_fn(x, y):
        logits = model(x)
        return torch.nn.functional.cross_entropy(logits, y), logits

    return model, TrainStep(model, optimizer, loss_fn, CPU, grad_clip=1.0, micro_batch=micro_batch)


@pytest.mark.parametrize("micro_batch", [1, 3, 4, 10])
def test_micro_batches_give_the_whole_batch_gradient_loss_and_accuracy(micro_batch):
    # Without BatchNorm, accumulating chunk gradients weighted by their share is the batch-mean gradient,
    # uneven last chunks included.
    generator = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(10, 6, generator=generator), torch.randint(0, 3, (10,), generator=generator)) for _ in range(3)
    ]
    whole_model, whole = _linear_step(None)
    split_model, split = _linear_step(micro_batch)
    for x, y in batches:
        for step in (whole, split):
            step.set_lr(0.1)
            step(x, y)
    for a, b in zip(whole_model.parameters(), split_model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(whole.loss_sum, split.loss_sum, rtol=1e-5, atol=1e-5)
    assert whole.correct.item() == split.correct.item()
