"""The machine a benchmark result names: its bfloat16 units, where they were recorded."""

from __future__ import annotations

import json
from pathlib import Path

from supermasks.results.machine import bfloat16_flags, describe_machine
from supermasks.results.tables.bench import machine_note


def _result(tmp_path: Path, machine: dict) -> Path:
    (tmp_path / "version.json").write_text(json.dumps({"command": "python benchmarks/x.py", "git_commit": "abc1234def",
                                                        "machine": machine}))
    return tmp_path


def test_the_note_names_the_bfloat16_units_where_they_were_recorded(tmp_path: Path) -> None:
    base = {"cpu": "Some Xeon", "logical_cores": 2, "date": "2026-12-07 01:00 UTC"}
    assert "bfloat16 units: amx_bf16, avx512_bf16" in machine_note(
        _result(tmp_path, base | {"bfloat16_flags": ["amx_bf16", "avx512_bf16"]}))
    assert "bfloat16 units: none" in machine_note(_result(tmp_path, base | {"bfloat16_flags": []}))
    assert "bfloat16" not in machine_note(_result(tmp_path, base))  # recorded before the field existed: no claim


def test_the_machine_record_holds_the_flags_this_cpu_lists() -> None:
    flags = bfloat16_flags()
    assert set(flags) <= {"amx_bf16", "avx512_bf16"}
    assert describe_machine({})["bfloat16_flags"] == flags
