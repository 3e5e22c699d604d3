"""The fused score step (`models.fused`): compiled loop and torch ops give the same bits, and a network
trained with it equals one trained with the unfused bfloat16 path and the same update written out."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from supermasks.models import add_task, build_model, fused_score_layers, set_precision, set_task, task_scores
from supermasks.compute import kernels
from supermasks.models.bfloat16 import unit_and_scale
from supermasks.models.fused import FusedScoreRMSprop, deferring, fused_update

needs_compiler = pytest.mark.skipif(not kernels.compiled_available(),
                                    reason=f"the fused loop cannot be built here: {kernels.KERNELS.reason}")


def _state(seed: int, low: bool, shape: tuple[int, int] = (37, 53)):
    g = torch.Generator().manual_seed(seed)
    c = 0.07
    unit = torch.sign(torch.rand(shape, generator=g) - 0.5)
    weight = unit * c
    grad_weight = torch.randn(shape, generator=g) * 10.0 ** float(torch.randint(-6, 1, (1,), generator=g))
    v = torch.rand(shape, generator=g) * 1e-6
    v[0, :5] = 0.0  # a first step: v = 0
    s = torch.randn(shape, generator=g) * 0.03
    s[1, :3] = 0.0  # scores exactly at the threshold
    if low:
        grad_weight = grad_weight.bfloat16()
    mask = torch.empty(shape, dtype=torch.bfloat16 if low else torch.float32)
    return (grad_weight, weight, unit.bfloat16(), c, v, s, mask) if low else (grad_weight, weight, weight, 1.0, v, s,
                                                                               mask)


def reference_update(grad_weight, weight, unit, scale, v, s, mask, alpha, eps, lr) -> None:
    """The fused step's arithmetic written out in float64 with float32 rounding after each operation, from the
    gradient `grad_weight * weight` (the compiled loop reads `(grad_weight * scale) * unit`, equal where
    `weight = scale * unit` with unit +-1)."""
    f = lambda t: t.to(torch.float32)  # noqa: E731
    g = f(grad_weight.double() * weight.double())
    v.copy_(f(f(v.double() * f(torch.tensor(alpha, dtype=torch.float64)).double()).double()
              + f(f(g.double() * f(torch.tensor(1 - alpha, dtype=torch.float64)).double()).double() * g.double())
              .double()))
    d = f(f(v.double().sqrt()).double() + f(torch.tensor(eps, dtype=torch.float64)).double())
    step = f(f(g.double() * f(torch.tensor(-lr, dtype=torch.float64)).double()).double() / d.double())
    s.copy_(f(s.double() + step.double()))
    mask.copy_(((s >= 0).to(torch.float32) * unit.to(torch.float32)).to(mask.dtype))


@pytest.mark.parametrize("low", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_torch_ops_follow_the_written_out_arithmetic(low: bool, seed: int) -> None:
    a = _state(seed, low)
    b = [t.clone() if isinstance(t, torch.Tensor) else t for t in a]
    for _ in range(3):
        fused_update(a[0], *a[2:], 0.99, 1e-8, 1e-4, compiled=False)
        reference_update(*b, 0.99, 1e-8, 1e-4)
    for x, y in zip(a[4:], b[4:]):
        assert torch.equal(x, y)


@needs_compiler
@pytest.mark.parametrize("low", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_compiled_loop_equals_torch_ops_bit_for_bit(low: bool, seed: int) -> None:
    a = _state(seed, low)
    b = [t.clone() if isinstance(t, torch.Tensor) else t for t in a]
    for lr in (1e-4, 3e-3, 0.1):
        fused_update(a[0], *a[2:], 0.99, 1e-8, lr, compiled=True)
        fused_update(b[0], *b[2:], 0.99, 1e-8, lr, compiled=False)
        for x, y in zip(a[4:], b[4:]):
            assert torch.equal(x.view(torch.int16) if x.dtype == torch.bfloat16 else x.view(torch.int32),
                               y.view(torch.int16) if y.dtype == torch.bfloat16 else y.view(torch.int32))


def test_mismatched_dtypes_are_refused() -> None:
    grad_weight, weight, unit, scale, v, s, mask = _state(0, low=True)
    with pytest.raises(ValueError, match="must all be float32 or all bfloat16"):
        fused_update(grad_weight, unit, scale, v, s, mask.float(), 0.99, 1e-8, 1e-4)


def _network():
    model = build_model("fc-300-300", output_size=10, rule="threshold", density=0.5, batch_norm=False, seed=0)
    add_task(model, torch.Generator().manual_seed(1))
    set_task(model, 0)
    set_precision(model, "bfloat16")
    return model


def test_fused_training_equals_the_unfused_bfloat16_path_with_the_same_update() -> None:
    fused_model = _network()
    plain = copy.deepcopy(fused_model)
    layers = fused_score_layers(fused_model, 0)
    assert len(layers) == 3
    optimizer = FusedScoreRMSprop(task_scores(fused_model, 0), layers, lr=1e-3)
    params = task_scores(plain, 0)
    states = [torch.zeros_like(p) for p in params]
    g = torch.Generator().manual_seed(3)
    batches = [(torch.randn(32, 1, 28, 28, generator=g), torch.randint(0, 10, (32,), generator=g)) for _ in range(4)]
    with deferring(layers):
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(fused_model(x), y).backward()
            assert all(p.grad is None for p in task_scores(fused_model, 0))  # the step took dL/dW_eff itself
            optimizer.step()
            for p in params:
                p.grad = None
            F.cross_entropy(plain(x), y).backward()
            with torch.no_grad():
                for p, v, layer in zip(params, states, plain.children()):
                    # p.grad is already (dL/dW_eff) * W, the gradient the fused step forms: times 1 here.
                    unit, _ = unit_and_scale(layer.weight)
                    reference_update(p.grad, torch.ones_like(p), unit, 1.0, v, p, torch.empty_like(p), 0.99, 1e-8, 1e-3)
            for a, b in zip(task_scores(fused_model, 0), params):
                assert torch.equal(a, b)
    # The forward reads the mask the step wrote: the same outputs as a layer that fills it afresh.
    x = batches[0][0]
    with torch.no_grad():
        assert torch.equal(fused_model(x), plain(x))
    assert all(layer.deferred is None for layer in layers.values())
    assert optimizer.state_dict()["state"][0]["square_avg"].shape == (300, 784)


def test_float32_layers_are_not_fused() -> None:
    model = _network()
    set_precision(model, "float32")
    assert fused_score_layers(model, 0) == {}


def test_without_a_compiler_the_torch_ops_run(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path))
    monkeypatch.setattr(kernels.shutil, "which", lambda name: None)
    built = kernels._Kernels()
    assert built.load() is None
    assert "no C compiler" in built.reason
    monkeypatch.setenv(kernels.ENV_KERNELS, "off")
    off = kernels._Kernels()
    assert off.load() is None and off.reason == "SUPERMASKS_KERNELS=off"
    assert not list(tmp_path.rglob("*.so"))


@needs_compiler
def test_a_damaged_cached_library_is_built_again(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path / "a"))
    assert kernels._Kernels().load() is not None
    (built,) = list((tmp_path / "a" / "kernels").glob("*.so"))
    damaged = tmp_path / "b" / "kernels" / built.name  # another path: dlopen would reuse a loaded one
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a shared library")
    monkeypatch.setenv("SUPERMASKS_CACHE", str(tmp_path / "b"))
    assert kernels._Kernels().load() is not None
    assert damaged.read_bytes()[:4] == b"\x7fELF"
