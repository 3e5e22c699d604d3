"""The library's optimisers: torch.optim's arithmetic bit for bit, its state layout, and no import of torch._dynamo."""

import subprocess
import sys
import textwrap

import pytest
import torch

from supermasks.training import OPTIMIZERS, make_optimizer

REFERENCE = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def _reference(name, params, lr, weight_decay, momentum):
    kwargs = {"lr": lr, "weight_decay": weight_decay, "foreach": False}
    if name != "adam":
        kwargs["momentum"] = momentum
    return REFERENCE[name](params, **kwargs)


def _train(opt, params, steps, seed):
    """`steps` steps on a fixed random quadratic-plus-sine loss; the second parameter gets no gradient every third step."""
    gen = torch.Generator().manual_seed(seed)
    targets = [torch.randn(p.shape, generator=gen) for p in params]
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        used = params if step % 3 else params[:1]
        loss = sum(((p - t) ** 2).sum() + torch.sin(3 * p).sum() for p, t in zip(used, targets))
        loss.backward()
        opt.step()


def _params(seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(7, 5, generator=gen).requires_grad_(), torch.randn(11, generator=gen).requires_grad_()]


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("weight_decay, momentum", [(0.0, 0.0), (0.01, 0.0), (0.0, 0.9), (0.05, 0.5)])
def test_steps_equal_torch_optim_bit_for_bit(name, weight_decay, momentum):
    ours, theirs = _params(0), _params(0)
    opt = make_optimizer(name, ours, lr=0.01, weight_decay=weight_decay, momentum=momentum)
    ref = _reference(name, theirs, 0.01, weight_decay, momentum)
    _train(opt, ours, 25, seed=1)
    _train(ref, theirs, 25, seed=1)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    saved, expected = opt.state_dict(), ref.state_dict()
    for index, state in expected["state"].items():
        for key, value in state.items():
            assert torch.equal(saved["state"][index][key], value), (index, key)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_state_dict_round_trip_continues_identically(name):
    straight = _params(2)
    opt = make_optimizer(name, straight, lr=0.01, momentum=0.9 if name != "adam" else 0.0)
    _train(opt, straight, 10, seed=3)
    saved = opt.state_dict()
    resumed = [p.detach().clone().requires_grad_() for p in straight]
    again = make_optimizer(name, resumed, lr=0.5, momentum=0.9 if name != "adam" else 0.0)  # lr from the state
    again.load_state_dict(saved)
    _train(opt, straight, 10, seed=4)
    _train(again, resumed, 10, seed=4)
    for a, b in zip(straight, resumed):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_loads_a_torch_optim_state(name):
    """A state saved by torch.optim (older runs' checkpoints) continues as torch.optim would."""
    ours, theirs = _params(5), _params(5)
    ref = _reference(name, theirs, 0.02, 0.0, 0.9 if name != "adam" else 0.0)
    _train(ref, theirs, 8, seed=6)
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)
    opt = make_optimizer(name, ours, lr=1.0, momentum=0.9 if name != "adam" else 0.0)
    opt.load_state_dict(ref.state_dict())
    _train(ref, theirs, 8, seed=7)
    _train(opt, ours, 8, seed=7)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_step_runs_torch_global_step_hooks():
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

    calls = []
    handles = [register_optimizer_step_pre_hook(lambda *a: calls.append("pre")),
               register_optimizer_step_post_hook(lambda *a: calls.append("post"))]
    try:
        params = _params(0)
        _train(make_optimizer("adam", params, lr=0.1), params, 2, seed=0)
    finally:
        for handle in handles:
            handle.remove()
    assert calls == ["pre", "post", "pre", "post"]


CLEAN = textwrap.dedent("""
    import sys
    import torch
    from supermasks.training import make_optimizer
    for name in ("rmsprop", "adam", "sgd"):
        p = torch.nn.Parameter(torch.randn(4, 3))
        opt = make_optimizer(name, [p], lr=0.1, momentum=0.5 if name != "adam" else 0.0)
        for _ in range(2):
            opt.zero_grad(set_to_none=True)
            (p ** 2).sum().backward()
            opt.step()
        opt.load_state_dict(opt.state_dict())
    print("torch._dynamo" in sys.modules)
""")


def test_optimizer_steps_do_not_import_dynamo():
    out = subprocess.run([sys.executable, "-c", CLEAN], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "False"


def test_torch_optim_itself_imports_dynamo():
    """The reason the library has its own optimisers; if a torch release drops the import, they can go."""
    code = CLEAN.replace("from supermasks.training import make_optimizer", "").replace(
        "make_optimizer(name, [p], lr=0.1, momentum=0.5 if name != \"adam\" else 0.0)", "torch.optim.SGD([p], lr=0.1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "True"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_a_second_parameter_group_with_its_own_lr_equals_torch_optim(name):
    ours, theirs = _params(8), _params(8)
    opt = make_optimizer(name, ours[:1], lr=0.01)
    opt.add_param_group({"params": ours[1:], "lr": 0.2})
    ref = _reference(name, theirs[:1], 0.01, 0.0, 0.0)
    ref.add_param_group({"params": theirs[1:], "lr": 0.2})
    _train(opt, ours, 12, seed=9)
    _train(ref, theirs, 12, seed=9)
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)
    assert [g["params"] for g in opt.state_dict()["param_groups"]] == [[0], [1]]
    with pytest.raises(ValueError, match="one parameter group"):
        opt.add_param_group({"params": ours[:1]})
