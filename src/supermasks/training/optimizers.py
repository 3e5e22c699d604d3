"""RMSprop, Adam and SGD as plain eager updates, equal to `torch.optim`'s single-tensor code path.

Why not `torch.optim` itself: in torch 2.13 every `torch.optim.Optimizer` imports `torch._dynamo`
(the compiler front end) on first use - `add_param_group`, `zero_grad` and `state_dict` are wrapped
in `torch._disable_dynamo`, and `step` in `_use_grad_for_differentiable`, which imports it
unconditionally - whatever the `foreach`/`fused`/`capturable`/`differentiable` flags say. That
import costs about a second per process, more than a short run trains. These classes do the same
arithmetic, operation for operation, as `torch.optim.{RMSprop,Adam,SGD}` with `foreach=False`
(tests compare parameters and state bit for bit), keep the same `state_dict` layout (so saved
optimiser states load either way), and run the hooks registered with
`torch.optim.optimizer.register_optimizer_step_{pre,post}_hook`: `step` is wrapped by
`torch.optim.Optimizer.profile_hook_step`, the wrapper torch.optim puts around its own steps.

Update rules (g: gradient plus weight decay times the parameter, t: step count):
- RMSprop (Hinton's lecture 6e): v = alpha v + (1 - alpha) g^2;  p -= lr g / (sqrt(v) + eps), or with
  momentum b = momentum b + g / (sqrt(v) + eps);  p -= lr b.
- Adam (Kingma & Ba 2015, Algorithm 1): m = lerp(m, g, 1 - beta1); v = beta2 v + (1 - beta2) g^2;
  p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
- SGD: with momentum b = g at the first step, then b = momentum b + g;  p -= lr b (or lr g).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import torch
from torch.optim import Optimizer

from supermasks.training.settings import OPTIMIZERS

State = dict[str, Any]
# A state entry that is scratch space, not state: left out of `state_dict()`.
_SCRATCH = "_denominator"
# update(param, grad, state, hyper, step): one in-place update of `param`; `step` counts from 1.
Update = Callable[[torch.Tensor, torch.Tensor, State, dict[str, float], int], None]


class StepOptimizer(Protocol):
    """What the training loop needs of an optimiser; a schedule sets each group's "lr" before a step."""

    param_groups: list[dict[str, Any]]

    def zero_grad(self, set_to_none: bool = True) -> None: ...

    def step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


def _rmsprop(param: torch.Tensor, grad: torch.Tensor, state: State, hyper: dict[str, float], step: int) -> None:
    if not state:
        state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if hyper["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    if hyper["weight_decay"] != 0:
        grad = grad.add(param, alpha=hyper["weight_decay"])
    square_avg = state["square_avg"]
    square_avg.mul_(hyper["alpha"]).addcmul_(grad, grad, value=1 - hyper["alpha"])
    avg = state.get(_SCRATCH)  # sqrt(v) + eps, in a buffer reused from step to step (same kernels, same bits)
    if avg is None:
        avg = state[_SCRATCH] = torch.empty_like(param, memory_format=torch.preserve_format)
    torch.sqrt(square_avg, out=avg).add_(hyper["eps"])
    if hyper["momentum"] > 0:
        buf = state["momentum_buffer"]
        buf.mul_(hyper["momentum"]).addcdiv_(grad, avg)
        param.add_(buf, alpha=-hyper["lr"])
    else:
        param.addcdiv_(grad, avg, value=-hyper["lr"])


def _adam(param: torch.Tensor, grad: torch.Tensor, state: State, hyper: dict[str, float], step: int) -> None:
    if not state:
        state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
    if hyper["weight_decay"] != 0:
        grad = grad.add(param, alpha=hyper["weight_decay"])
    beta1, beta2 = hyper["beta1"], hyper["beta2"]
    state["exp_avg"].lerp_(grad, 1 - beta1)
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step_size = hyper["lr"] / (1 - beta1 ** float(step))
    bias_correction2_sqrt = (1 - beta2 ** float(step)) ** 0.5
    denom = (state["exp_avg_sq"].sqrt() / bias_correction2_sqrt).add_(hyper["eps"])
    param.addcdiv_(state["exp_avg"], denom, value=-step_size)


def _sgd(param: torch.Tensor, grad: torch.Tensor, state: State, hyper: dict[str, float], step: int) -> None:
    if hyper["weight_decay"] != 0:
        grad = grad.add(param, alpha=hyper["weight_decay"])
    if hyper["momentum"] != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            state["momentum_buffer"] = buf = torch.clone(grad).detach()
        else:
            buf.mul_(hyper["momentum"]).add_(grad)
        grad = buf
    param.add_(grad, alpha=-hyper["lr"])


class EagerOptimizer:
    """Parameter groups (parameters and their hyperparameters) and per-parameter state, updated by one rule.

    `update` is `_rmsprop`, `_adam` or `_sgd`. `state_dict()` has `torch.optim`'s layout: `state` by
    parameter index, counted across groups (with the step count as a float32 scalar tensor under
    "step", where torch keeps one), and `param_groups` holding each group's hyperparameters and indices.
    """

    def __init__(self, params: Iterable[torch.Tensor], update: Update, hyper: dict[str, float], *,
                 counts_steps: bool) -> None:
        self.update = update
        self.defaults = dict(hyper)
        self.counts_steps = counts_steps  # SGD keeps no step count, RMSprop and Adam do
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[torch.Tensor, State] = {}
        self.steps: dict[torch.Tensor, int] = {}
        # Hooks of this optimiser alone, which torch's step wrapper runs beside the global ones: none are registered.
        self._optimizer_step_pre_hooks: dict[int, Callable[..., Any]] = OrderedDict()
        self._optimizer_step_post_hooks: dict[int, Callable[..., Any]] = OrderedDict()
        self.add_param_group({"params": params})

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Another group of parameters; hyperparameters it does not give are the optimiser's defaults."""
        params = list(group["params"])
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if any(p in self.steps for p in params) or len(set(params)) != len(params):
            raise ValueError("a parameter may appear in one parameter group only, once")
        unknown = set(group) - {"params", *self.defaults}
        if unknown:
            raise ValueError(f"unknown optimizer setting(s): {', '.join(sorted(unknown))}")
        self.param_groups.append({**self.defaults, **group, "params": params})
        for p in params:
            self.state[p], self.steps[p] = {}, 0

    def _params(self) -> list[torch.Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad.detach_()
                else:
                    p.grad.requires_grad_(False)
                p.grad.zero_()

    @Optimizer.profile_hook_step  # runs the step hooks registered with torch, as torch.optim's steps do
    def step(self) -> None:
        with torch.no_grad():
            self._step()

    def _optimizer_step_code(self) -> None:
        """What torch's step wrapper calls after each step (a profiler entry point in torch.optim): nothing."""

    def _step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:  # not used by this loss: no state, no step (as torch.optim)
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("sparse gradients are not supported")
                self.steps[p] += 1
                self.update(p, p.grad, self.state[p], group, self.steps[p])

    def state_dict(self) -> dict[str, Any]:
        state: dict[int, State] = {}
        groups = []
        index = 0
        for group in self.param_groups:
            indices = []
            for p in group["params"]:
                if self.steps[p]:
                    entry = {k: v for k, v in self.state[p].items() if k != _SCRATCH}
                    if self.counts_steps:
                        entry["step"] = torch.tensor(float(self.steps[p]), dtype=torch.float32)
                    state[index] = entry
                indices.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": indices})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take hyperparameters and state (copied, on each parameter's device) from a `state_dict`.

        Also reads `torch.optim`'s own state dicts (Adam's `betas` included).
        """
        saved_groups = state_dict["param_groups"]
        if [len(g["params"]) for g in saved_groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("saved optimizer state has other parameter groups than this optimizer")
        saved = state_dict["state"]
        for group, saved_group in zip(self.param_groups, saved_groups):
            group.update({k: saved_group[k] for k in self.defaults if k in saved_group})
            if "betas" in saved_group:
                group["beta1"], group["beta2"] = saved_group["betas"]
            for p, index in zip(group["params"], saved_group["params"]):
                self.state[p], self.steps[p] = {}, 0
                if index not in saved:
                    continue
                entry = saved[index]
                self.state[p] = {k: v.detach().to(device=p.device, dtype=p.dtype, copy=True)
                                 if isinstance(v, torch.Tensor) else v for k, v in entry.items() if k != "step"}
                step = entry.get("step")
                self.steps[p] = 1 if step is None else int(step.item() if isinstance(step, torch.Tensor) else step)


def rmsprop(params: Iterable[torch.Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
            weight_decay: float = 0.0, momentum: float = 0.0) -> EagerOptimizer:
    """RMSprop with torch.optim.RMSprop's defaults (not centred)."""
    return EagerOptimizer(params, _rmsprop, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                                             "momentum": momentum}, counts_steps=True)


def adam(params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
         eps: float = 1e-8, weight_decay: float = 0.0) -> EagerOptimizer:
    """Adam with torch.optim.Adam's defaults (L2 weight decay added to the gradient, no AMSGrad)."""
    return EagerOptimizer(params, _adam, {"lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps,
                                          "weight_decay": weight_decay}, counts_steps=True)


def sgd(params: Iterable[torch.Tensor], lr: float = 1e-3, weight_decay: float = 0.0,
        momentum: float = 0.0) -> EagerOptimizer:
    """SGD with optional heavy-ball momentum (no dampening, no Nesterov), as torch.optim.SGD."""
    return EagerOptimizer(params, _sgd, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum},
                          counts_steps=False)


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.0) -> StepOptimizer:
    """An optimiser by name; SupSup on MNIST uses RMSprop lr 1e-4 without momentum or decay.

    The optimisers of `supermasks.training.optimizers`: torch.optim's arithmetic without its import of the
    compiler (`torch._dynamo`, about a second per process).
    """
    params = list(params)
    if name == "rmsprop":
        return rmsprop(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    if name == "adam":
        return adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return sgd(params, lr=lr, weight_decay=weight_decay, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
