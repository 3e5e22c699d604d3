"""Dense ReLU MLPs with one output head per task (or one shared head), for the baselines."""

from __future__ import annotations

import torch
from torch import nn

from supermasks.models.networks import ARCHITECTURES, INPUT_SIZE


class MultiHeadMLP(nn.Module):
    """`trunk` (flatten, hidden ReLU layers) followed by `heads[h]`, a linear layer per head.

    Task-incremental baselines use one head per task (selected by the task id); domain- and
    class-incremental ones use a single shared head.
    """

    def __init__(self, hidden: tuple[int, ...], output_size: int, num_heads: int = 1) -> None:
        super().__init__()
        if num_heads < 1 or output_size < 1:
            raise ValueError(f"need at least one head and one output, got {num_heads} heads of {output_size}")
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip((INPUT_SIZE, *hidden[:-1]), hidden):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.heads = nn.ModuleList(nn.Linear(hidden[-1], output_size) for _ in range(num_heads))

    def add_head(self, seed: int) -> int:
        """Append a freshly initialised head (PyTorch's default init from `seed`); return its index."""
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            head = nn.Linear(self.heads[0].in_features, self.heads[0].out_features)  # drawn on the CPU
        self.heads.append(head.to(self.heads[0].weight.device))
        return len(self.heads) - 1

    def grow_heads(self, count: int) -> None:
        """Add heads until there are `count` (their init is meant to be overwritten by saved values)."""
        if len(self.heads) > count:
            raise ValueError(f"the network has {len(self.heads)} heads already, the state {count}")
        while len(self.heads) < count:
            self.add_head(0)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, hidden[-1])
        return self.trunk(x)

    def forward(self, x: torch.Tensor, head: int = 0) -> torch.Tensor:  # -> (batch, output_size)
        return self.heads[head](self.trunk(x))


def build_multihead(name: str, *, output_size: int, num_heads: int = 1, seed: int = 0) -> MultiHeadMLP:
    """A dense MLP of architecture `name` (see `ARCHITECTURES`), initialised from `seed`."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # PyTorch's default init, made reproducible without touching the caller's RNG
        return MultiHeadMLP(ARCHITECTURES[name], output_size, num_heads)


def parameter_bytes(module: nn.Module) -> int:
    """Bytes of all parameters and buffers of `module`."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
