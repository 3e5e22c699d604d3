"""A user's own network as a dense one, for the baselines: the masked network's fixed weights made trainable, its
output one head shared by every task.

The dense copy starts from exactly the weights SupSup masks (`user.own_template`): signed constants drawn from the
run's weight seed for a module given plain, the module's own weights for one masked with `init="keep"`. So the
run's fingerprint of the network (`user.own_fingerprint`) says what the baselines train too.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import skip_init

from supermasks.models.dense import SharedHeadNet
from supermasks.models.layers import MaskedConv2d, MaskedLinear, PerTaskBatchNorm
from supermasks.models.tasks import num_tasks
from supermasks.models.user import own_template


def dense_twin(network: nn.Module) -> nn.Module:
    """A copy of the masked `network` (holding no task) in which every masked layer is an ordinary trainable
    `nn.Linear` / `nn.Conv2d` without bias starting from the masked layer's fixed weight, and every per-task
    BatchNorm is one ordinary affine BatchNorm shared by all tasks (PyTorch's defaults, as `kits.DenseKit` builds);
    everything else is copied as it is. `network` is left as it is; no random number is drawn."""
    if num_tasks(network):
        raise ValueError(f"the masked network holds {num_tasks(network)} task(s); its dense twin starts from one "
                         "that holds none")
    out = copy.deepcopy(network)
    root = _dense_layer(out)
    if root is not None:
        return root
    for name, layer in list(out.named_modules()):
        replaced = _dense_layer(layer) if name else None
        if replaced is not None:
            parent, _, leaf = name.rpartition(".")
            out.get_submodule(parent)._modules[leaf] = replaced
    return out


def _dense_layer(layer: nn.Module) -> nn.Module | None:
    """The dense layer standing for a masked or per-task one, or None where `layer` stays."""
    if isinstance(layer, PerTaskBatchNorm):
        norm = nn.BatchNorm1d if layer.dims == 1 else nn.BatchNorm2d
        return norm(layer.num_features, device=layer._anchor.device)
    if isinstance(layer, MaskedLinear):
        out_features, in_features = layer.weight.shape
        dense: nn.Linear | nn.Conv2d = skip_init(nn.Linear, in_features, out_features, bias=False,
                                                 device=layer.weight.device)
    elif isinstance(layer, MaskedConv2d):
        c_out, c_in, kernel, _ = layer.weight.shape
        dense = skip_init(nn.Conv2d, c_in, c_out, kernel, stride=layer.stride, padding=layer.padding, bias=False,
                          device=layer.weight.device)
    else:
        return None
    with torch.no_grad():  # skip_init drew nothing: the weight is the masked layer's, made trainable
        dense.weight.copy_(layer.weight)
    return dense


def build_own_dense(name: str, *, output_size: int, seed: int) -> SharedHeadNet:
    """The dense network the baselines train on the user's network `name` (`user.own_template` under the run's
    output size and weight seed): its dense twin, whose output is one head shared by every task."""
    return SharedHeadNet(dense_twin(own_template(name, output_size, seed)))


__all__ = ["build_own_dense", "dense_twin"]
