"""The walker behind `supermasks.store.state`: values to JSON nodes plus named tensors, and back.

Capture goes over containers, objects, networks, optimisers and generators, naming each tensor
by the path where it was first met (`model::fc1.scores.0`, `fisher_[0]['trunk.1.weight']`).
Restore walks the saved nodes beside the fresh method's own values (the "template") and reuses
them where they fit, so networks, generators and objects are filled in place.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from supermasks.data.task import Task

# nn.Module's own bookkeeping (hooks, registries); `training` is captured separately.
_MODULE_INTERNALS = frozenset(vars(nn.Module()))
# Checkpoints are data: only our own classes and torch's may be named in them and imported back.
_IMPORTABLE = ("supermasks.", "torch.")
_CODE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)


class StateMismatchError(ValueError):
    """Saved state that does not fit the method it is restored into (another method, settings or code).

    The method may be partly restored when this is raised: build a new one before using it.
    """


# -- growers: per-task structures a fresh network must be given before values are copied in ----------
Count = Callable[[nn.Module], int]
Grow = Callable[[nn.Module], object]
_GROWERS: dict[type, tuple[Count, Grow]] = {}


def register_grower(cls: type, count: Count, grow: Grow) -> None:
    """Teach the walker a module type that grows while training: `count(m)` entries, `grow(m)` adds one.

    The values `grow` initialises are overwritten by the saved ones, so it may draw from any
    generator; a throwaway one leaves the method's own streams alone.
    """
    _GROWERS[cls] = (count, grow)


def grower_of(module: nn.Module) -> tuple[Count, Grow] | None:
    return next((_GROWERS[c] for c in type(module).__mro__ if c in _GROWERS), None)


# -- capture ----------------------------------------------------------------------------------------
class Capture:
    """Turns values into JSON nodes, moving tensors into `tensors` under the path where they were met."""

    def __init__(self, tasks: Sequence[Task], copy: bool) -> None:
        self.tasks = {id(t): t for t in tasks}
        self.copy = copy
        self.module_keys: dict[int, str] = {}  # id(network) -> its key (path of first encounter)
        self.owned: dict[int, tuple[str, str]] = {}  # id(parameter or buffer) -> (network key, name)
        self.submodules: dict[int, tuple[str, str]] = {}  # id(submodule) -> (network key, path inside)
        self.dry = False
        self.reset()

    def find_networks(self, values: dict[str, Any]) -> None:
        """A first pass that only notes the networks and their parameters, so references to them resolve."""
        self.dry = True
        for name, value in values.items():
            self.encode(value, name)
        self.reset()

    def reset(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.tensor_keys: dict[int, str] = {}
        self.storages: set[int] = set()
        self.seen: dict[int, str] = {}  # id(container or object) -> path of first encounter
        self.alive: list[object] = []  # keeps temporaries alive, so no id is reused during the walk
        self.dry = False

    def add_tensor(self, key: str, t: torch.Tensor) -> str:
        if self.dry:
            return key
        if key in self.tensors:
            raise ValueError(f"two values would be stored under {key!r}")
        t = t.detach().cpu()
        storage = t.untyped_storage()
        if (self.copy or not t.is_contiguous() or t.nbytes == 0 or storage.nbytes() != t.nbytes
                or storage.data_ptr() in self.storages):
            t = t.clone()  # a view or a shared buffer: safetensors stores only whole, unshared tensors
        self.storages.add(t.untyped_storage().data_ptr())
        self.tensors[key] = t
        return key

    def encode(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, torch.Tensor):
            return self.tensor(value, path)
        if isinstance(value, np.generic):  # a numpy scalar: .item() is exact for every numeric dtype
            return {"$numpy": value.dtype.str, "value": value.item()}
        if isinstance(value, _CODE):  # code, not state: the fresh method must hold the same
            return {"$code": _code_name(value), "bound": isinstance(value, types.MethodType)}
        if id(value) in self.tasks:
            return {"$task": value.task_id, "name": value.name, "train": len(value.y_train)}
        if isinstance(value, (tuple, frozenset)):  # immutable: sharing one is not state worth keeping
            return {f"${type(value).__name__}": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if id(value) in self.seen:
            return {"$alias": self.seen[id(value)]}
        self.seen[id(value)] = path
        self.alive.append(value)
        if isinstance(value, torch.Generator):
            return {"$generator": self.add_tensor(path, value.get_state()), "device": str(value.device)}
        if isinstance(value, np.ndarray):
            return {"$ndarray": self.add_tensor(path, torch.from_numpy(np.ascontiguousarray(value)))}
        if isinstance(value, nn.Module):
            return self.module(value, path)
        if isinstance(value, torch.optim.Optimizer):
            groups = [[self.encode(p, f"{path}.params[{i}][{j}]") for j, p in enumerate(g["params"])]
                      for i, g in enumerate(value.param_groups)]
            # `defaults` is not in the state dict, yet parameter groups added later take their settings from it.
            return {"$optimizer": class_path(type(value)), "groups": groups,
                    "defaults": self.encode(value.defaults, f"{path}.defaults"),
                    "state": self.encode(value.state_dict(), f"{path}.state")}
        if isinstance(value, list):
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, set):
            return {"$set": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            return {"$dict": [[self.encode(k, f"{path}.keys[{i}]"), self.encode(v, f"{path}[{k!r}]")]
                              for i, (k, v) in enumerate(value.items())]}
        if hasattr(value, "__dict__") and class_path(type(value)).startswith(_IMPORTABLE):
            return {"$object": class_path(type(value)),
                    "attrs": {k: self.encode(v, f"{path}.{k}") for k, v in vars(value).items()}}
        raise TypeError(f"cannot capture {path or 'the method'}: a {type(value).__module__}."
                        f"{type(value).__qualname__} is not state the walker knows how to store")

    def tensor(self, t: torch.Tensor, path: str) -> dict[str, Any]:
        if id(t) in self.owned:  # a network's own parameter or buffer, held elsewhere too
            return {"$ref": list(self.owned[id(t)])}
        if id(t) not in self.tensor_keys:
            self.tensor_keys[id(t)] = self.add_tensor(path, t)
            self.alive.append(t)
        node: dict[str, Any] = {"$tensor": self.tensor_keys[id(t)]}
        if isinstance(t, nn.Parameter):
            node["parameter"] = True
        if t.requires_grad:
            node["requires_grad"] = True
        return node

    def module(self, module: nn.Module, path: str) -> dict[str, Any]:
        if self.dry and id(module) not in self.module_keys and id(module) not in self.submodules:
            self.module_keys[id(module)] = path
            for name, t in (*module.named_parameters(), *module.named_buffers()):
                self.owned.setdefault(id(t), (path, name))
            for sub, m in module.named_modules():
                self.submodules.setdefault(id(m), (path, sub))
        if id(module) not in self.module_keys or self.module_keys[id(module)] != path:
            return {"$submodule": list(self.submodules[id(module)])}
        subs = dict(module.named_modules())
        params, buffers = dict(module.named_parameters()), dict(module.named_buffers())
        for name, t in (*params.items(), *buffers.items()):
            self.add_tensor(f"{path}::{name}", t)
        attrs = {sub: {k: self.encode(v, f"{path}::{sub}.{k}") for k, v in vars(m).items()
                       if k not in _MODULE_INTERNALS} for sub, m in subs.items()}
        return {"$module": class_path(type(module)), "key": path,
                "sizes": {sub: grower[0](m) for sub, m in subs.items() if (grower := grower_of(m))},
                "parameters": list(params), "buffers": list(buffers),
                "frozen": [n for n, p in params.items() if not p.requires_grad],
                "eval": [sub for sub, m in subs.items() if not m.training],
                "attrs": {sub: a for sub, a in attrs.items() if a}}


# -- restore ----------------------------------------------------------------------------------------
class Restore:
    """Turns nodes back into values, reusing the fresh method's objects (`template`) where they fit."""

    def __init__(self, tensors: dict[str, torch.Tensor], tasks: Sequence[Task]) -> None:
        self.tensors = tensors
        self.tasks = {t.task_id: t for t in tasks}
        self.modules: dict[str, nn.Module] = {}
        self.objects: dict[str, Any] = {}  # path -> restored container or object, for aliases
        self.restored: dict[str, torch.Tensor] = {}

    def modules_in(self, node: Any, template: Any) -> None:
        """First pass: restore every network, so that references to their parameters resolve later."""
        if isinstance(node, list):
            for i, child in enumerate(node):
                self.modules_in(child, _item(template, i))
        elif isinstance(node, dict) and "$module" in node:
            self.module(node, template)
        elif isinstance(node, dict) and "$object" in node:
            for name, child in node["attrs"].items():
                self.modules_in(child, getattr(template, name, None))
        elif isinstance(node, dict) and "$dict" in node:
            for key, child in node["$dict"]:
                self.modules_in(child, template.get(_plain_key(key)) if isinstance(template, dict) else None)
        elif isinstance(node, dict):
            for kind in ("$tuple", "$set", "$frozenset"):
                for i, child in enumerate(node.get(kind, ())):
                    self.modules_in(child, _item(template, i))

    def module(self, node: dict[str, Any], module: Any) -> None:
        key = node["key"]
        if key in self.modules:
            return
        if not isinstance(module, nn.Module) or class_path(type(module)) != node["$module"]:
            raise StateMismatchError(f"{key}: the checkpoint holds a {node['$module']}, the method "
                                     f"{'has none' if module is None else 'a ' + class_path(type(module))}")
        for sub, count in node["sizes"].items():
            _grow(module, sub, count, key)
        params, buffers = dict(module.named_parameters()), dict(module.named_buffers())
        if list(params) != node["parameters"] or list(buffers) != node["buffers"]:
            extra = sorted({*params, *buffers} - {*node["parameters"], *node["buffers"]})
            lacking = sorted({*node["parameters"], *node["buffers"]} - {*params, *buffers})
            raise StateMismatchError(f"{key}: the network differs from the checkpoint's (only here: {extra}; only "
                                     f"in the checkpoint: {lacking}); a module type that grows needs a grower")
        with torch.no_grad():
            for name, target in (*params.items(), *buffers.items()):
                saved = self.tensors[f"{key}::{name}"]
                if saved.shape != target.shape or saved.dtype != target.dtype:
                    raise StateMismatchError(f"{key}::{name}: {saved.dtype} {tuple(saved.shape)} in the checkpoint, "
                                             f"{target.dtype} {tuple(target.shape)} here")
                target.copy_(saved)
        for name, p in params.items():
            p.requires_grad_(name not in node["frozen"])
        self.modules[key] = self.objects[key] = module
        subs = dict(module.named_modules())
        for sub, m in subs.items():
            m.training = sub not in node["eval"]
        for sub, attrs in node["attrs"].items():
            for name, child in attrs.items():
                setattr(subs[sub], name, self.decode(child, getattr(subs[sub], name, None), f"{key}::{sub}.{name}"))

    def decode(self, node: Any, template: Any, path: str) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            out: list[Any] = []
            self.objects[path] = out
            out.extend(self.decode(child, _item(template, i), f"{path}[{i}]") for i, child in enumerate(node))
            return out
        kind = next(k for k in node if k.startswith("$"))
        if kind in ("$tuple", "$set", "$frozenset"):
            items = [self.decode(child, _item(template, i), f"{path}[{i}]") for i, child in enumerate(node[kind])]
            value = {"$tuple": tuple, "$set": set, "$frozenset": frozenset}[kind](items)
            if kind == "$set":
                self.objects[path] = value
            return value
        if kind == "$dict":
            out_dict: dict[Any, Any] = {}
            self.objects[path] = out_dict
            for i, (key_node, child) in enumerate(node["$dict"]):
                key = self.decode(key_node, None, f"{path}.keys[{i}]")
                out_dict[key] = self.decode(child, template.get(key) if isinstance(template, dict) else None,
                                            f"{path}[{key!r}]")
            return out_dict
        if kind == "$tensor":
            return self.tensor(node, template)
        if kind == "$ndarray":
            self.objects[path] = self.tensors[node["$ndarray"]].clone().numpy()
            return self.objects[path]
        if kind == "$numpy":
            return np.dtype(node["$numpy"]).type(node["value"])
        if kind == "$ref":
            key, name = node["$ref"]
            owned = {**dict(self.modules[key].named_parameters()), **dict(self.modules[key].named_buffers())}
            if name not in owned:
                raise StateMismatchError(f"{path}: {key} has no parameter or buffer {name!r}")
            return owned[name]
        if kind == "$submodule":
            key, sub = node["$submodule"]
            self.objects[path] = self.modules[key].get_submodule(sub)
            return self.objects[path]
        if kind == "$module":
            return self.modules[node["key"]]
        if kind == "$alias":
            if node["$alias"] not in self.objects:
                raise StateMismatchError(f"{path}: refers to {node['$alias']}, which is restored later; keep such "
                                         "shared values on the method rather than inside a network")
            return self.objects[node["$alias"]]
        if kind == "$generator":
            generator = template if isinstance(template, torch.Generator) else torch.Generator(node["device"])
            generator.set_state(self.tensors[node["$generator"]])
            self.objects[path] = generator
            return generator
        if kind == "$code":
            if isinstance(template, _CODE) and _code_name(template) == node["$code"]:
                return template
            if node["bound"]:
                raise StateMismatchError(f"{path}: the checkpoint holds the method {node['$code']}, this one "
                                         f"{_code_name(template) if template is not None else 'nothing'}")
            return _import(node["$code"], path)
        if kind == "$task":
            return self.task(node, path)
        if kind == "$optimizer":
            return self.optimizer(node, template, path)
        if kind == "$object":
            cls = _import(node["$object"], path)
            obj = template if type(template) is cls else cls.__new__(cls)
            self.objects[path] = obj
            for name, child in node["attrs"].items():
                # object.__setattr__ also fills frozen dataclasses such as Task.
                object.__setattr__(obj, name, self.decode(child, getattr(obj, name, None), f"{path}.{name}"))
            return obj
        raise StateMismatchError(f"{path}: unknown node {kind!r} (a checkpoint from a newer version?)")

    def tensor(self, node: dict[str, Any], template: Any) -> torch.Tensor:
        key = node["$tensor"]
        if key not in self.restored:
            # A copy: the state may be a live capture whose tensors another method still updates.
            t = self.tensors[key].clone()
            if isinstance(template, torch.Tensor):
                t = t.to(template.device)
            requires_grad = node.get("requires_grad", False)
            t = nn.Parameter(t, requires_grad=requires_grad) if node.get("parameter") else t.requires_grad_(requires_grad)
            self.restored[key] = t
        return self.restored[key]

    def task(self, node: dict[str, Any], path: str) -> Task:
        task = self.tasks.get(node["$task"])
        if task is None:
            raise StateMismatchError(f"{path}: the state refers to task {node['$task']} ({node['name']}); "
                                     "pass the run's tasks to restore it")
        if task.name != node["name"] or len(task.y_train) != node["train"]:
            raise StateMismatchError(f"{path}: the checkpoint's task {node['$task']} is {node['name']} with "
                                     f"{node['train']} training samples, the given one {task.name} with {len(task.y_train)}")
        return task

    def optimizer(self, node: dict[str, Any], template: Any, path: str) -> torch.optim.Optimizer:
        cls = _import(node["$optimizer"], path)
        groups = [[self.decode(p, None, f"{path}.params[{i}][{j}]") for j, p in enumerate(group)]
                  for i, group in enumerate(node["groups"])]
        ours = [[id(p) for p in g["params"]] for g in template.param_groups] if type(template) is cls else None
        if ours != [[id(p) for p in group] for group in groups]:
            # The fresh method has no such optimiser yet: build one; load_state_dict sets its settings.
            template = cls([{"params": group} for group in groups])
        template.defaults.update(self.decode(node["defaults"], None, f"{path}.defaults"))
        template.load_state_dict(self.decode(node["state"], None, f"{path}.state"))
        self.objects[path] = template
        return template


def _grow(module: nn.Module, sub: str, count: int, key: str) -> None:
    target = module.get_submodule(sub)
    grower = grower_of(target)
    if grower is None:
        raise StateMismatchError(f"{key}::{sub}: a {type(target).__name__} has no grower")
    size, grow = grower
    if size(target) > count:
        raise StateMismatchError(f"{key}::{sub}: has {size(target)} entries already, the checkpoint {count}")
    while size(target) < count:
        grow(target)


def _item(template: Any, i: int) -> Any:
    return template[i] if isinstance(template, (list, tuple)) and i < len(template) else None


def _plain_key(node: Any) -> Any:
    if isinstance(node, dict) and "$tuple" in node:
        return tuple(_plain_key(n) for n in node["$tuple"])
    return node


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _code_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def _import(dotted: str, path: str) -> Any:
    """The class or function `dotted` names, only within our package and torch (a checkpoint is data)."""
    if not dotted.startswith(_IMPORTABLE) or "<" in dotted:
        raise StateMismatchError(f"{path}: cannot rebuild {dotted}; the method here has no such value")
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module prefix, then attributes
        try:
            value: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for part in parts[split:]:
                value = getattr(value, part)
        except AttributeError:
            break
        return value
    raise StateMismatchError(f"{path}: {dotted} no longer exists in this version of the code")
