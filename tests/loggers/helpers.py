"""A tiny run with loggers, the losses its training loop returned, and what its result files hold."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

# Two tasks of five steps on the synthetic source, in this process, nothing else written.
TINY = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=5", "run.figures=false",
        "run.overlap=false", "run.report=false", "run.checkpoint_state=false", "run.parallel_tasks=false"]
LABEL = "permuted/supsup"


def tiny_run(out_dir: Path, loggers: list[str], monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[Path, list[float]]:
    """Run the tiny config with `loggers`; the run directory and every training step's loss, as `fit` returned them."""
    import supermasks.runner.loop as loop
    from supermasks.config import load_config
    from supermasks.runner import run

    losses: list[float] = []
    from supermasks.runner.parallel import sequential  # the original, also when an earlier call patched the loop

    def recording(method):  # the learner the loop calls: record each task's FitResult.losses
        learn = sequential(method)

        def learn_and_record(task, progress, probe):
            fitted = learn(task, progress, probe)
            losses.extend(fitted.losses)
            return fitted
        return learn_and_record

    monkeypatch.setattr(loop, "sequential", recording)
    names = ",".join(loggers)
    config = load_config(None, [*TINY, *extra, f"run.loggers=[{names}]", f"run.out_dir={out_dir}"])
    return run(config, progress=False).directory, losses


def accuracy_cells(run_dir: Path, label: str = LABEL) -> dict[tuple[str, int], float]:
    """accuracy.csv's evaluated cells as {(tag, task trained last): value}, tagged as the loggers tag them."""
    frame = pd.read_csv(run_dir / label / "accuracy.csv")
    cells = {}
    for after, row in enumerate(frame.drop(columns="after").to_numpy(dtype=float)):  # row t: after task t
        for j, value in enumerate(row):
            if math.isfinite(value):
                cells[(f"{label}/accuracy/task_{j}", after)] = float(value)
    return cells


def final_metrics(run_dir: Path, label: str = LABEL) -> dict[str, float]:
    """metrics.json's numbers (null, words and booleans left out), tagged as the loggers tag them."""
    summary = json.loads((run_dir / label / "metrics.json").read_text())
    return {f"{label}/metrics/{k}": float(v) for k, v in summary.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_tfevents(folder: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, str]]:
    """Every scalar (tag -> [(step, value)]) and text summary (tag -> text) in the event files under `folder`.

    Reads the TFRecord framing itself (length, its CRC, the record, its CRC) and decodes each record as an
    `Event` with the protobuf classes that tensorboardX (or tensorboard) ships.
    """
    try:
        from tensorboardX.proto.event_pb2 import Event
    except ImportError:
        from tensorboard.compat.proto.event_pb2 import Event
    scalars: dict[str, list[tuple[int, float]]] = {}
    texts: dict[str, str] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            record = data[at + 12:at + 12 + length]
            at += 12 + length + 4
            event = Event.FromString(record)
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
                elif value.HasField("tensor") and value.tensor.string_val:
                    texts[value.tag] = value.tensor.string_val[0].decode()
                elif value.HasField("tensor") and value.tensor.float_val:  # a scalar as a tensor (new style)
                    scalars.setdefault(value.tag, []).append((event.step, value.tensor.float_val[0]))
    return scalars, texts


def installed(*packages: str) -> bool:
    import importlib.util

    return any(importlib.util.find_spec(p) is not None for p in packages)


def plain(values: Any) -> Any:
    return json.loads(json.dumps(values))
