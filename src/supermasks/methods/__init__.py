"""Continual-learning methods: one module each, one registry, one small Protocol."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supermasks.methods.base import Method
from supermasks.methods.supsup import SupSup

# name -> (factory, one-line description). A method is one file plus one entry here.
_REGISTRY: dict[str, tuple[Callable[..., Method], str]] = {
    "supsup": (SupSup, "SupSup, task given (GG): one learned binary mask per task over fixed random weights"),
}


def list_methods() -> dict[str, str]:
    """Method names and one-line descriptions."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def get_method(name: str, **kwargs: Any) -> Method:
    """Build the method `name` with keyword arguments for its constructor."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name][0](**kwargs)


__all__ = ["Method", "SupSup", "get_method", "list_methods"]
