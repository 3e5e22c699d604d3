"""The fused masked step (workspace-reusing masked linear, in-place RMSprop) against plain autograd.

The reference keeps the straightforward implementation: the mask from `compute_mask`, a
straight-through `M + (a - a.detach())` (a = s for threshold, |s| for top-k), `F.linear` with
`W * M`, and `torch.optim.RMSprop`. Both run the same steps from the same state on the same batches.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from supermasks.training.optimizers import EagerOptimizer, rmsprop
from supermasks.training import TrainingSettings, make_optimizer
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, masked_layers, task_scores
from supermasks.models.layers import MaskedLinear
from supermasks.models.masks import MaskWorkspace, compute_mask, masked_linear
from supermasks.training import iterate_batches
from supermasks.seeds import streams


def reference_linear(x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str,
                     density: float) -> torch.Tensor:
    """Plain autograd: scores -> mask -> W * M -> linear, with a straight-through mask."""
    a = scores if rule == "threshold" else scores.abs()
    mask = compute_mask(scores.detach(), rule, density).to(scores.dtype)
    return F.linear(x, weight * (mask + (a - a.detach())))


def reference_forward(layers: list[MaskedLinear], scores: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    h = x.flatten(1)
    for i, (layer, s) in enumerate(zip(layers, scores)):
        h = reference_linear(h, s, layer.weight, layer.rule, layer.density)
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_masked_linear_with_workspace_equals_plain_autograd(rule):
    g = torch.Generator().manual_seed(0)
    layer = MaskedLinear(40, 30, rule=rule, density=0.3, generator=g)
    layer.add_scores(g)
    scores = layer.scores[0]
    ref = scores.detach().clone().requires_grad_()
    for step in range(3):  # the workspace is reused across calls
        x = torch.randn(8, 40, generator=g, requires_grad=True)
        y, y_ref = layer(x), reference_linear(x, ref, layer.weight, rule, 0.3)
        assert torch.equal(y, y_ref)
        grad_out = torch.randn(y.shape, generator=g)
        fused = torch.autograd.grad(y, [x, scores], grad_out)
        plain = torch.autograd.grad(y_ref, [x, ref], grad_out)
        assert torch.equal(fused[0], plain[0]) and torch.equal(fused[1], plain[1])
        with torch.no_grad():  # move the scores so the mask changes between calls
            scores.add_(0.05 * torch.randn(scores.shape, generator=g))
            ref.copy_(scores)


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_a_second_forward_before_backward_does_not_reuse_saved_tensors(rule):
    g = torch.Generator().manual_seed(1)
    weight = torch.randn(6, 5, generator=g).sign()
    s = torch.randn(6, 5, generator=g, requires_grad=True)
    workspace = MaskWorkspace()
    x1, x2 = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    y1 = masked_linear(x1, s, weight, rule, 0.5, workspace)
    with torch.no_grad():
        flipped = -s
    y2 = masked_linear(x2, flipped.requires_grad_(), weight, rule, 0.5, workspace)  # another mask
    y3 = masked_linear(x2, s, weight, rule, 0.5, workspace)  # a third graph, backpropagated first
    torch.autograd.grad(y2.sum() + y3.sum(), [s])
    y4 = masked_linear(x2, flipped, weight, rule, 0.5, workspace)  # y1's graph still needs its tensors
    (grad1,) = torch.autograd.grad(y1.sum(), [s])
    ref = s.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(reference_linear(x1, ref, weight, rule, 0.5).sum(), [ref])
    assert torch.equal(grad1, expected)
    assert torch.equal(y2, reference_linear(x2, -s.detach(), weight, rule, 0.5)) and torch.equal(y2, y4)


def test_workspace_is_not_copied_or_pickled():
    g = torch.Generator().manual_seed(2)
    layer = MaskedLinear(5, 4, generator=g)
    layer.add_scores(g)
    layer(torch.randn(3, 5)).sum().backward()
    assert layer.workspace.w_eff is not None
    assert pickle.loads(pickle.dumps(layer)).workspace.w_eff is None
    assert copy.deepcopy(layer).workspace.w_eff is None


def test_rmsprop_reuses_its_denominator_buffer_and_equals_torch_bitwise():
    g = torch.Generator().manual_seed(3)
    p1 = torch.randn(50, 20, generator=g, requires_grad=True)
    p2 = p1.detach().clone().requires_grad_()
    ours, theirs = rmsprop([p1], lr=1e-3), torch.optim.RMSprop([p2], lr=1e-3)
    buffers = set()
    for _ in range(20):
        grad = torch.randn(50, 20, generator=g) * torch.rand(1, generator=g)
        for opt, p in ((ours, p1), (theirs, p2)):
            opt.zero_grad(set_to_none=True)
            p.grad = grad.clone()
            opt.step()
        assert torch.equal(p1, p2)
        buffers.add(ours.state[p1]["_denominator"].data_ptr())
    assert len(buffers) == 1  # one buffer for sqrt(v) + eps, not a temporary per step
    assert torch.equal(ours.state[p1]["square_avg"], theirs.state[p2]["square_avg"])
    assert set(ours.state_dict()["state"][0]) == set(theirs.state_dict()["state"][0])  # scratch is not state


def test_the_score_optimizer_is_the_librarys_own():
    p = [torch.zeros(3, requires_grad=True)]
    assert all(isinstance(make_optimizer(name, p, 1e-3), EagerOptimizer) for name in ("rmsprop", "adam", "sgd"))
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adamw", p, 1e-3)


@pytest.mark.parametrize("optimizer", ["rmsprop", "adam", "sgd"])
@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_supsup_training_equals_the_straightforward_loop(tiny_tasks, rule, optimizer):
    """SupSup.learn (fused path) against plain autograd + torch's optimiser, step by step."""
    task, steps, lr, batch = tiny_tasks[0], 25, 1e-2, 32
    model = build_model("fc-300-300", output_size=4, rule=rule, density=0.3, seed=0)
    training = TrainingSettings(optimizer=optimizer, lr=lr, batch_size=batch, steps_per_task=steps)
    method = SupSup(model, training=training, seed=0, keep_scores=True)  # the finished task's scores are compared below
    method.begin_task(task)
    layers = list(masked_layers(model).values())
    assert len(layers) == 3 and all(isinstance(layer, MaskedLinear) for layer in layers)
    scores = [s.detach().clone().requires_grad_() for s in task_scores(model, 0)]
    torch_optimizer = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer]
    opt = torch_optimizer(scores, lr=lr)
    batches = iterate_batches(task.x_train, task.y_train, batch, steps,
                              torch.Generator().manual_seed(streams(0).batches))
    losses = []
    for xb, yb in batches:
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(reference_forward(layers, scores, xb), yb)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    result = method.learn(task, progress=False)
    # The same kernels in the same order: bitwise equal, not merely close.
    assert result.losses == losses
    assert result.losses[-1] < result.losses[0]  # it did train
    for fused, plain in zip(task_scores(model, 0), scores):
        assert torch.equal(fused.detach(), plain.detach())
        assert torch.equal(compute_mask(fused.detach(), rule, 0.3), compute_mask(plain.detach(), rule, 0.3))
    for layer, plain in zip(masked_layers(model).values(), scores):  # the mask the finished task keeps
        assert torch.equal(layer.mask(0), compute_mask(plain.detach(), rule, 0.3))
