"""What the reliability tests share: a tiny config file, the overrides of a short run, and the CLI run that must end
in one error line."""

from __future__ import annotations

from pathlib import Path

from supermasks.cli import main

TINY = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=5", "run.figures=false",
        "run.overlap=false", "--no-progress"]


def tiny_config(tmp_path: Path, text: str = "name: tiny\n") -> Path:
    """`text` written as tmp_path/tiny.yaml."""
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def one_line_error(capsys, *argv: object, code: int = 2) -> str:
    """Run the CLI; assert the exit code and a one-line stderr without a traceback; return that line."""
    got = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]
