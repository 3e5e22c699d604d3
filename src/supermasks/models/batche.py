"""BatchE layers and networks: one shared weight per layer, modulated per task by rank-one fast weights r s^T.

BatchEnsemble (Wen, Tran & Ba, ICLR 2020) as the SupSup study (Wortsman, Ramanujan et al.,
NeurIPS 2020) uses it for continual learning: task t's effective weight is `W * (r_t s_t^T)`, with
`r_t` over output units (channels) and `s_t` over inputs; for a convolution the product is
broadcast over the kernel. Every layer is built with task 0's vectors (r = s = 1), so task 0 starts
as a plain dense network. Per-task BatchNorm (non-affine, one set of running statistics per task)
keeps each task's statistics its own.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.layers import PerTaskBatchNorm
from supermasks.models.tasks import norm_layers


def _signs(n: int, generator: torch.Generator, device: torch.device) -> nn.Parameter:
    """n random +-1 values, drawn on the CPU and then moved: the same draws on every device."""
    return nn.Parameter((torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1).to(device))


class BatchELinear(nn.Module):
    """A linear layer with a shared `weight` and per-task vectors `r` (out), `s` (in) and `bias` (out).

    Built with task 0's vectors: r = s = 1 and a bias initialised as in `nn.Linear`, so task 0 is
    a plain dense layer (and, from the same seed, starts from the same weights as `nn.Linear`).
    `forward(x)` uses the active task `task_id` (`set_batche_task`), `forward(x, t)` task t.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's init, same RNG draws
        bound = 1 / math.sqrt(in_features)
        self.r = nn.ParameterList([nn.Parameter(torch.ones(out_features))])
        self.s = nn.ParameterList([nn.Parameter(torch.ones(in_features))])
        self.bias = nn.ParameterList([nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))])
        self.task_id = 0

    @property
    def num_tasks(self) -> int:
        return len(self.r)

    def add_task(self, generator: torch.Generator) -> int:
        """Append a task's r, s (random signs) and bias (zeros); return its index.

        Random ±1 signs follow Wen et al.'s initialisation of the fast weights, which the SupSup
        study's BatchE also uses: each new task starts from a differently signed copy of W with
        the same scale, rather than from task 0's function.
        """
        device = self.weight.device
        self.r.append(_signs(self.out_features, generator, device))
        self.s.append(_signs(self.in_features, generator, device))
        self.bias.append(nn.Parameter(torch.zeros(self.out_features, device=device)))
        return self.num_tasks - 1

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        return [self.r[task_id], self.s[task_id], self.bias[task_id]]

    def forward(self, x: torch.Tensor, task_id: int | None = None) -> torch.Tensor:  # (batch, in) -> (batch, out)
        t = self.task_id if task_id is None else task_id
        # x @ (W * r s^T).T == ((x * s) @ W.T) * r: two vector products instead of a per-task matrix.
        return (x * self.s[t]) @ self.weight.T * self.r[t] + self.bias[t]


class BatchEConv2d(nn.Module):
    """A 2-D convolution without bias: shared `weight` (c_out, c_in, k, k), per-task `r` (c_out) and `s` (c_in).

    Task t's weight is `W * r_t[:, None, None, None] * s_t[None, :, None, None]`; it is never formed:
    scaling the input channels by s_t commutes with the (linear) convolution over them, and r_t
    scales output channels, so the layer computes `conv(x * s_t, W) * r_t` (zero padding stays
    zero under the scaling). No bias, as no convolution of the registered conv nets has one (in
    the ResNets BN follows each, or it is the 1x1 classifier). The weight takes `nn.Conv2d`'s
    default init (the same draws as the dense kit's convolution).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.padding = padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's init, same RNG draws
        self.r = nn.ParameterList([nn.Parameter(torch.ones(out_channels))])
        self.s = nn.ParameterList([nn.Parameter(torch.ones(in_channels))])
        self.task_id = 0

    @property
    def num_tasks(self) -> int:
        return len(self.r)

    def add_task(self, generator: torch.Generator) -> int:
        """Append a task's r and s (random signs, as `BatchELinear.add_task`); return its index."""
        device = self.weight.device
        self.r.append(_signs(self.out_channels, generator, device))
        self.s.append(_signs(self.in_channels, generator, device))
        return self.num_tasks - 1

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        return [self.r[task_id], self.s[task_id]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c_in, h, w) -> (batch, c_out, h', w')
        t = self.task_id
        h = F.conv2d(x * self.s[t][:, None, None], self.weight, stride=self.stride, padding=self.padding)
        return h * self.r[t][:, None, None]


def batche_layers(model: nn.Module) -> dict[str, BatchELinear | BatchEConv2d]:
    """The BatchE layers of `model` by module name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (BatchELinear, BatchEConv2d))}


def set_batche_task(model: nn.Module, task_id: int) -> None:
    """Make `task_id` the active task of every BatchE and per-task BatchNorm layer of `model`."""
    for m in model.modules():
        if isinstance(m, (BatchELinear, BatchEConv2d, PerTaskBatchNorm)):
            m.task_id = task_id


class BatchENetwork(Protocol):
    """What BatchE asks of its network (an `nn.Module`), MLP or conv net alike.

    Task t's state is its vectors (`task_parameters(t)`) and, where the network has per-task
    BatchNorm, its running statistics; the shared weights are `shared_parameters()`.
    """

    @property
    def num_tasks(self) -> int: ...

    def add_task(self, generator: torch.Generator) -> int: ...

    def grow_tasks(self, count: int) -> None: ...

    def shared_parameters(self) -> list[nn.Parameter]: ...

    def task_parameters(self, task_id: int) -> list[nn.Parameter]: ...

    def __call__(self, x: torch.Tensor, task_id: int) -> torch.Tensor: ...


class BatchEMLP(nn.Module):
    """A ReLU MLP of `BatchELinear` layers of sizes `sizes` (input, hidden..., output logits)."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BatchELinear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))

    @property
    def num_tasks(self) -> int:
        return self.layers[0].num_tasks

    def add_task(self, generator: torch.Generator) -> int:
        return [layer.add_task(generator) for layer in self.layers][-1]

    def grow_tasks(self, count: int) -> None:
        """Add tasks until there are `count` (their vectors are meant to be overwritten by saved ones)."""
        _grow(self, count)

    def shared_parameters(self) -> list[nn.Parameter]:
        return [layer.weight for layer in self.layers]

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in layer.task_parameters(task_id)]

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, out)
        _check_task(self, task_id)
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            h = layer(h, task_id)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return h


class BatchENet(nn.Module):
    """A conv net (`body`, built from `kits.BatchEKit`) whose BatchE and per-task BN layers follow the task given.

    `body` is a registered architecture's network (`networks.ARCHITECTURES[name].build`) with task 0
    in every layer; `forward(x, t)` makes t the active task of every layer, then runs it.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        if not batche_layers(body):
            raise ValueError(f"{type(body).__name__} has no BatchE layers: build it with BatchEKit")

    @property
    def num_tasks(self) -> int:
        """Tasks held (the same in every BatchE and per-task BN layer)."""
        counts = {m.num_tasks for m in batche_layers(self.body).values()}
        counts |= {len(bn.norms) for bn in norm_layers(self.body).values()}
        if len(counts) != 1:
            raise ValueError(f"BatchE and BN layers disagree on the number of tasks: {sorted(counts)}")
        return counts.pop()

    def add_task(self, generator: torch.Generator) -> int:
        """Give every layer a new task: r, s (and a linear layer's bias) as `BatchELinear.add_task`, in module
        order, and fresh BN statistics; return its id."""
        ids = {m.add_task(generator) for m in batche_layers(self.body).values()}
        ids |= {bn.add_task() for bn in norm_layers(self.body).values()}  # on the network's device
        if len(ids) != 1:
            raise ValueError(f"layers disagree on the new task id: {sorted(ids)}")
        return ids.pop()

    def grow_tasks(self, count: int) -> None:
        """Add tasks until there are `count` (their vectors are meant to be overwritten by saved ones)."""
        _grow(self, count)

    def shared_parameters(self) -> list[nn.Parameter]:
        return [m.weight for m in batche_layers(self.body).values()]

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        """Task `task_id`'s r, s and (linear layers) biases; its BN statistics are buffers, not trained."""
        return [p for m in batche_layers(self.body).values() for p in m.task_parameters(task_id)]

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:  # (batch, c, h, w) -> (batch, out)
        _check_task(self, task_id)
        set_batche_task(self.body, task_id)
        return self.body(x)


def _check_task(model: BatchENetwork, task_id: int) -> None:
    if not 0 <= task_id < model.num_tasks:
        raise IndexError(f"task {task_id} has no fast weights; the network has {model.num_tasks}")


def _grow(model: BatchENetwork, count: int) -> None:
    if model.num_tasks > count:
        raise ValueError(f"the network has {model.num_tasks} tasks already, the state {count}")
    while model.num_tasks < count:
        model.add_task(torch.Generator())  # throwaway draws: the method's sign stream stays untouched


def task_bytes(model: nn.Module) -> int:
    """Bytes one task adds to a BatchE network (float32): its r, s and biases, plus 2 floats (running mean
    and variance) per feature of each per-task BN layer.

    Every task has the same layout, so task 0's vectors stand for any. For an MLP: the sum over
    layers of in + out + out floats.
    """
    vectors = sum(4 * p.numel() for m in batche_layers(model).values() for p in m.task_parameters(0))
    statistics = sum(2 * 4 * bn.num_features for bn in norm_layers(model).values())
    return vectors + statistics


__all__ = ["BatchEConv2d", "BatchELinear", "BatchEMLP", "BatchENet", "BatchENetwork", "batche_layers",
           "set_batche_task", "task_bytes"]
