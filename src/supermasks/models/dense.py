"""Dense networks with one output head per task (or one shared head), for the baselines.

`MultiHeadNet`'s trunk is an ordinary trainable twin of a registered architecture: a ReLU MLP, or
a conv net's layers up to its last hidden features (LeNet-5's fc2, a ResNet's pooled features)
built from `DenseKit` (PyTorch's default init; the ResNets with ordinary affine BatchNorm shared by
all tasks, not SupSup's per-task statistics). `SharedHeadNet` wraps a module that has no separable
head (a user's network, `models.user_dense`): its output is the one head every task shares.
`DenseNetwork` is either: what the dense baselines train.
"""

from __future__ import annotations

import torch
from torch import nn

from supermasks.models.kits import DenseKit
from supermasks.models.networks import INPUT_SIZE, architecture


class _MLPTrunk(nn.Sequential):
    """flatten, then hidden ReLU layers (the dense MLP's trunk)."""

    def __init__(self, hidden: tuple[int, ...]) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip((INPUT_SIZE, *hidden[:-1]), hidden):
            layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
        super().__init__(*layers)
        self.feature_size = hidden[-1]


class MultiHeadNet(nn.Module):
    """`trunk` (images to `feature_size` features) followed by `heads[h]`, a linear layer per head.

    Task-incremental baselines use one head per task (selected by the task id); domain- and
    class-incremental ones use a single shared head.
    """

    def __init__(self, trunk: nn.Module, feature_size: int, output_size: int, num_heads: int = 1) -> None:
        super().__init__()
        if num_heads < 1 or output_size < 1:
            raise ValueError(f"need at least one head and one output, got {num_heads} heads of {output_size}")
        self.trunk = trunk
        self.heads = nn.ModuleList(nn.Linear(feature_size, output_size) for _ in range(num_heads))

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

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c, h, w) -> (batch, feature_size)
        return self.trunk(x)

    def forward(self, x: torch.Tensor, head: int = 0) -> torch.Tensor:  # -> (batch, output_size)
        return self.heads[head](self.trunk(x))

    def forward_heads(self, x: torch.Tensor, head_ids: torch.Tensor) -> torch.Tensor:  # -> (batch, output_size)
        """Each sample through its own head (`head_ids`: (batch,) long), the trunk run once for the batch."""
        heads = head_ids.unique()
        if len(heads) == 1:
            return self(x, int(heads[0]))
        feats = self.features(x)  # (batch, feature_size)
        out = feats.new_empty(len(x), self.heads[0].out_features)
        for h in heads.tolist():
            sel = head_ids == h
            out[sel] = self.heads[h](feats[sel])
        return out


MultiHeadMLP = MultiHeadNet  # the name the dense baselines type their networks with


class SharedHeadNet(nn.Module):
    """`body`, a module without a separable head, whose output is one head shared by every task.

    It counts heads as `MultiHeadNet` does (the task scenario adds one per task), so the baselines
    treat both alike, but every head is the same: `body`'s output, whose unit c is class c of
    every task. A head is a number here; it holds no tensors of its own.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self._heads = 1

    @property
    def num_heads(self) -> int:
        return self._heads

    def add_head(self, seed: int) -> int:
        """Count one more head (the seed draws nothing: the head is `body`'s output); return its index."""
        self._heads += 1
        return self._heads - 1

    def grow_heads(self, count: int) -> None:
        """Count `count` heads, as `MultiHeadNet.grow_heads` grows its own."""
        if self._heads > count:
            raise ValueError(f"the network has {self._heads} heads already, the state {count}")
        self._heads = count

    def forward(self, x: torch.Tensor, head: int = 0) -> torch.Tensor:  # -> (batch, outputs of body)
        if not 0 <= head < self._heads:
            raise IndexError(f"head {head} does not exist; the network has {self._heads}")
        return self.body(x)

    def forward_heads(self, x: torch.Tensor, head_ids: torch.Tensor) -> torch.Tensor:  # -> (batch, outputs of body)
        """Every sample through the one shared head, whatever its head id."""
        return self.body(x)


DenseNetwork = MultiHeadNet | SharedHeadNet  # what the dense baselines train


def mlp_multihead(hidden: tuple[int, ...], output_size: int, num_heads: int = 1) -> MultiHeadNet:
    """A dense ReLU MLP of any hidden sizes (784 inputs) with heads, in the caller's RNG state."""
    return MultiHeadNet(_MLPTrunk(hidden), hidden[-1], output_size, num_heads)


def build_trunk(name: str, *, batch_norm: bool = False) -> tuple[nn.Module, int]:
    """A dense trunk of architecture `name` and its number of output features (the caller seeds the RNG)."""
    arch = architecture(name)
    if arch.hidden is not None:
        trunk = _MLPTrunk(arch.hidden)
        return trunk, trunk.feature_size
    assert arch.build is not None
    net = arch.build(DenseKit(), None, batch_norm or arch.always_norm)
    return net, int(net.feature_size)


def build_multihead(name: str, *, output_size: int, num_heads: int = 1, seed: int = 0,
                    batch_norm: bool = False) -> MultiHeadNet:
    """A dense network of architecture `name` (see `ARCHITECTURES`), initialised from `seed`.

    `batch_norm` adds BN to LeNet-5's trunk (the ResNets always have it; the MLP trunks never).
    """
    architecture(name)  # an unknown name fails before any RNG is touched
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # PyTorch's default init, made reproducible without touching the caller's RNG
        trunk, features = build_trunk(name, batch_norm=batch_norm)
        return MultiHeadNet(trunk, features, output_size, num_heads)


def parameter_bytes(module: nn.Module) -> int:
    """Bytes of all parameters and buffers of `module`."""
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
