"""Reading back the JSON files the project writes (meta.json, manifests, metrics, sweep and study files,
locks), bounded in size and nesting.

A file past a bound is a ValueError, as a truncated or garbled file is, so every reader's existing
path for a damaged file takes it; a file of a million nested brackets never reaches the parser's
recursion (a RecursionError) nor a caller's recursive walk over the value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The project's JSON files nest a few levels and weigh kilobytes (a manifest of thousands of tasks: megabytes).
MAX_JSON_BYTES = 64 * 2**20
MAX_JSON_DEPTH = 100


def loads_json(data: str | bytes | bytearray) -> Any:
    """`json.loads(data)`, or ValueError when `data` is not JSON, is larger than MAX_JSON_BYTES or nests
    deeper than MAX_JSON_DEPTH."""
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES // 2**20} MiB, the limit of a JSON file read back")
    try:
        value = json.loads(data)
    except RecursionError:  # the C parser stops at the interpreter's recursion limit, far past ours
        raise ValueError(_too_deep()) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ValueError(_too_deep())
    return value


def read_json(path: Path | str) -> Any:
    """The JSON document in the file `path`: OSError when it cannot be read (FileNotFoundError when there is
    none), ValueError as `loads_json` when it is damaged. At most one byte past the size limit is read."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_JSON_BYTES + 1)
    return loads_json(data)


def _too_deep() -> str:
    return f"JSON nested more than {MAX_JSON_DEPTH} levels deep"


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and dicts in `value` nest more than `limit` levels (a walk with its own stack)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False
