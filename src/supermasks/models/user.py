"""A user's own network as a masked one: `masked` swaps its Linear and Conv2d layers for masked layers and its
BatchNorm for per-task BatchNorm; a config names such a network by an import path or as given in memory.

A network is named in `model.arch` in one of two ways besides the registered architectures:
- an import path `package.module:function`: the function (imported once) returns an `nn.Module`, given
  `output_size` where it takes that argument; a plain module is masked with the run's weight seed
  (signed-constant weights), one already masked is taken as it is;
- `<given network FINGERPRINT>`: a network handed to `runner.run(config, model=...)`, held in this process
  by its fingerprint (`give_network`), which is what the run's hash sees.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import re

import torch
from torch import nn

from supermasks.errors import ConfigError, DataError
from supermasks.imports import is_import_path, load_target
from supermasks.models.layers import MaskedConv2d, MaskedLinear, PerTaskBatchNorm, _MaskedBase
from supermasks.models.masks import layer_density
from supermasks.models.tasks import add_task, masked_layers, num_tasks, set_task

INITS = ("signed_constant", "keep")
_GIVEN_NAME = re.compile(r"<given network ([0-9a-f]{16})>")
_GIVEN: dict[str, nn.Module] = {}  # `<given network FP>` -> the masked network, for the runs of this process
_BUILT: dict[tuple[str, int, int], nn.Module] = {}  # (import path, output_size, seed) -> the masked network built


def masked(module: nn.Module, *, init: str = "signed_constant", seed: int = 0) -> nn.Module:
    """A copy of `module` whose `nn.Linear` and `nn.Conv2d` layers are masked layers and whose `nn.BatchNorm1d`/
    `nn.BatchNorm2d` are per-task (non-affine) BatchNorm, holding no task yet; `module` itself is left as it is.

    The masked layers' fixed weights are the module's own (`init="keep"`) or signed constants drawn from `seed`
    in module order (`"signed_constant"`, SupSup's). ConfigError naming the layer (its qualified name and type) for
    one that cannot be masked: a Linear or Conv2d with a bias, a convolution other than a square, ungrouped,
    undilated, zero-padded one, or any other layer with parameters of its own (an LSTM, a LayerNorm, ...).
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"masked() takes a torch.nn.Module, got {type(module).__name__}")
    if init not in INITS:
        raise ConfigError(f"init: unknown value {init!r}; choose one of {', '.join(INITS)}")
    for name, child in module.named_modules():
        _check_layer(name or "(the module itself)", child)
    if not any(isinstance(m, (nn.Linear, nn.Conv2d, _MaskedBase)) for m in module.modules()):
        raise ConfigError(f"{type(module).__name__} has no nn.Linear or nn.Conv2d layer to mask")
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)):
        raise ConfigError(f"masked() takes a network holding layers, got a single {type(module).__name__}: wrap it "
                          "in nn.Sequential")
    out = copy.deepcopy(module)
    generator = torch.Generator().manual_seed(seed)
    for name, layer in list(out.named_modules()):  # module order: the order the weights are drawn in
        replaced = _replacement(layer, init, generator) if name else None
        if replaced is not None:
            parent, _, leaf = name.rpartition(".")
            out.get_submodule(parent)._modules[leaf] = replaced
    return out


def _check_layer(name: str, layer: nn.Module) -> None:
    """ConfigError naming `name` where `layer` cannot be masked or made per-task."""
    kind = type(layer).__name__
    if isinstance(layer, (nn.Linear, nn.Conv2d)) and layer.bias is not None:
        raise ConfigError(f"layer {name} ({kind}) has a bias, which masked layers do not have: build it with "
                          "bias=False (a following BatchNorm centres its outputs)")
    if isinstance(layer, nn.Conv2d):
        problem = _conv_problem(layer)
        if problem:
            raise ConfigError(f"layer {name} ({kind}) {problem}, which a masked convolution does not support")
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)) and not layer.track_running_stats:
        raise ConfigError(f"layer {name} ({kind}) keeps no running statistics (track_running_stats=False): "
                          "per-task BatchNorm keeps them per task; build it with track_running_stats=True")
    elif not isinstance(layer, (nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, _MaskedBase, PerTaskBatchNorm)):
        own = [n for n, _ in layer.named_parameters(recurse=False)]
        if own:
            raise ConfigError(f"layer {name} ({kind}) has parameters of its own ({', '.join(own)}) that a supermask "
                              "cannot mask: only nn.Linear, nn.Conv2d and nn.BatchNorm1d/2d can be made masked or "
                              "per-task; build the network from those")


def _conv_problem(conv: nn.Conv2d) -> str | None:
    kernel, stride, padding = conv.kernel_size, conv.stride, conv.padding
    if kernel[0] != kernel[1]:
        return f"has a non-square kernel {kernel}"
    if stride[0] != stride[1]:
        return f"has unequal strides {stride}"
    if isinstance(padding, str) and padding != "valid":
        return f"has padding={padding!r}"
    if not isinstance(padding, str) and padding[0] != padding[1]:
        return f"has unequal padding {padding}"
    if conv.groups != 1:
        return f"has groups={conv.groups}"
    if tuple(conv.dilation) != (1, 1):
        return f"has dilation {conv.dilation}"
    if conv.padding_mode != "zeros":
        return f"has padding_mode={conv.padding_mode!r}"
    return None


def _replacement(layer: nn.Module, init: str, generator: torch.Generator) -> nn.Module | None:
    """The masked or per-task layer standing for `layer`, or None where `layer` stays."""
    if isinstance(layer, nn.Linear):
        out: _MaskedBase = MaskedLinear(layer.in_features, layer.out_features, generator=generator)
    elif isinstance(layer, nn.Conv2d):
        padding = 0 if isinstance(layer.padding, str) else layer.padding[0]
        out = MaskedConv2d(layer.in_channels, layer.out_channels, layer.kernel_size[0], stride=layer.stride[0],
                           padding=padding, generator=generator)
    elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return PerTaskBatchNorm(layer.num_features, dims=1 if isinstance(layer, nn.BatchNorm1d) else 2)
    else:
        return None
    if init == "keep":
        out.weight.data.copy_(layer.weight.detach().to(out.weight.dtype))
    return out.to(layer.weight.device)


def network_fingerprint(network: nn.Module) -> str:
    """16 hex digits of SHA-256 over `network`'s structure (each module's name, class and settings, each class's
    forward) and its tensors (names, shapes, dtypes, values): two networks that compute differently differ."""
    digest = hashlib.sha256()
    classes = []
    for name, module in network.named_modules():
        cls = type(module)
        digest.update(f"{name}|{cls.__module__}.{cls.__qualname__}|{module.extra_repr()}\n".encode())
        if cls not in classes:
            classes.append(cls)
    for cls in classes:
        digest.update(_code(cls.forward).encode())
    for key, tensor in network.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}\n".encode())
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


def _code(function: object) -> str:
    """The source of `function`, or its bytecode where the source is not at hand (a class typed in a REPL)."""
    try:
        return inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        return "" if code is None else code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)


def is_own_arch(name: str) -> bool:
    """Whether `model.arch` names a user's network: an import path, or one given in memory."""
    return is_import_path(name) or _GIVEN_NAME.fullmatch(name) is not None


def is_given_arch(name: str) -> bool:
    """Whether `model.arch` names a network given in memory to `runner.run` (`give_network`)."""
    return _GIVEN_NAME.fullmatch(name) is not None


def give_network(network: nn.Module, seed: int) -> str:
    """Hold `network` for this process's runs and return the `model.arch` that names it (with its fingerprint).

    A plain module is masked here (signed-constant weights drawn from `seed`); a masked one must hold no task yet.
    """
    network = _as_masked(network, seed, "model")
    name = f"<given network {network_fingerprint(network)}>"
    _GIVEN.setdefault(name, network)
    return name


def _as_masked(network: object, seed: int, what: str) -> nn.Module:
    if not isinstance(network, nn.Module):
        raise ConfigError(f"{what} must be a torch.nn.Module, got {type(network).__name__}")
    if not masked_layers(network):
        return masked(network, seed=seed)
    if num_tasks(network):
        raise ConfigError(f"{what}: the masked network holds {num_tasks(network)} task(s) already; give one fresh "
                          "from supermasks.masked()")
    return network


def own_template(name: str, output_size: int, seed: int) -> nn.Module:
    """The masked network `name` names (not a copy: `build_own` copies it); ConfigError where it cannot be had."""
    if is_given_arch(name):
        if name not in _GIVEN:
            raise ConfigError(f"model.arch {name} is a network given to runner.run(config, model=...) in another "
                              "process: pass the network again, or name it by an import path package.module:function")
        return _GIVEN[name]
    key = (name, output_size, seed)
    if key not in _BUILT:
        function = load_target(name, "model.arch")
        takes_size = "output_size" in _parameters(function)
        try:
            module = function(output_size=output_size) if takes_size else function()
        except Exception as error:
            raise ConfigError(f"model.arch {name}: calling it failed: {type(error).__name__}: {error}") from None
        _BUILT[key] = _as_masked(module, seed, f"model.arch {name} (what it returned)")
    return _BUILT[key]


def _parameters(function: object) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []


def own_fingerprint(name: str, output_size: int, seed: int) -> str:
    """The fingerprint of the network `name` names under the run's output size and weight seed."""
    return network_fingerprint(own_template(name, output_size, seed))


def build_own(name: str, *, output_size: int, rule: str, density: float, seed: int,
              density_budget: str = "global") -> nn.Module:
    """A fresh copy of the masked network `name`, its masked layers under `rule` and `density` (per layer under
    the er budget, as `networks.build_model` does)."""
    network = copy.deepcopy(own_template(name, output_size, seed))
    for layer in masked_layers(network).values():
        layer.rule = rule
        layer.density = density if density_budget == "global" else layer_density(density, density_budget,
                                                                                  tuple(layer.weight.shape))
    return network


def own_weight_count(name: str, output_size: int) -> int:
    """Maskable weights of the network `name` names."""
    return sum(m.weight.numel() for m in masked_layers(own_template(name, output_size, 0)).values())


def check_fits(network: nn.Module, x: torch.Tensor, num_classes: int, what: str) -> None:
    """DataError unless `network` takes the inputs `x` (a few of them) and gives at least `num_classes` logits each."""
    probe = copy.deepcopy(network).cpu()
    add_task(probe, torch.Generator().manual_seed(0))
    set_task(probe, 0)
    probe.eval()
    try:
        with torch.no_grad():
            out = probe(x.cpu())
    except Exception as error:  # shapes that do not fit: torch says which
        raise DataError(f"{what} cannot take the tasks' inputs of shape {tuple(x.shape[1:])}: "
                        f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != len(x):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise DataError(f"{what} must return logits of shape (batch, classes); for {len(x)} inputs it returned "
                        f"{shape}")
    if out.shape[1] < num_classes:
        raise DataError(f"{what} gives {out.shape[1]} logits, fewer than the tasks' {num_classes} classes: widen its "
                        "output layer")


__all__ = ["INITS", "build_own", "check_fits", "give_network", "is_given_arch", "is_own_arch", "masked",
           "network_fingerprint", "own_fingerprint", "own_template", "own_weight_count"]
