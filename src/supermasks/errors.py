"""Errors every layer may raise: the configuration error lives here so that no module needs config.py for it."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


__all__ = ["ConfigError"]
