"""A long run's report grows with its task count T, not T**2: the task-inference table of a run evaluated only after
its last task (`run.evaluate: last`, as configs/permuted2500.yaml) has one row, not T rows of which T - 1 are empty
(at 2,500 tasks those were 6.25 million cells, a 160 MB page and gigabytes to build it, the run's peak memory)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.config import load_config
from supermasks.report import build_report, render
from supermasks.report.model import Table
from supermasks.report.sections import inference_section
from supermasks.report.source import RunData
from supermasks.runner import run
from supermasks.runner.tables import MethodResult, task_matrix
from supermasks.store.files import write_csv

from ..report.pageparse import parse


class _Task:
    def __init__(self, task_id: int) -> None:
        self.task_id = task_id


def _inference_table(directory: Path, inference: np.ndarray) -> Table:
    """The report's task-inference table of a run whose task_inference.csv holds `inference`, as the runner writes it."""
    n = len(inference)
    write_csv(directory / "task_inference.csv", task_matrix(inference, [_Task(t) for t in range(n)]))
    result = MethodResult("permuted", "supsup", directory, np.full((n, n), np.nan), np.full(n, np.nan), {})
    (table,) = inference_section([RunData(directory, None, "", {}, [result])], figures=False).blocks
    assert isinstance(table, Table)
    return table


def _shown(cell) -> float:
    return math.nan if cell.value is None else cell.value


@pytest.mark.parametrize("num_tasks", [2, 30, 400])
def test_a_run_evaluated_after_its_last_task_shows_one_row_whatever_its_task_count(tmp_path, num_tasks):
    inference = np.full((num_tasks, num_tasks), np.nan)
    inference[-1] = np.linspace(0.5, 1.0, num_tasks)  # run.evaluate=last: only the last row is measured
    table = _inference_table(tmp_path, inference)
    assert len(table.rows) == 1  # not num_tasks: the page and the cells built for it grow as T, not T**2
    (row,) = table.rows
    assert row[0].text == f"task_{num_tasks - 1}" and len(row) == num_tasks + 1
    np.testing.assert_array_equal([_shown(c) for c in row[1:]], inference[-1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_the_table_shows_exactly_the_measured_rows_with_their_numbers(tmp_path_factory, measured, rng):
    n = len(measured)
    inference = np.full((n, n), np.nan)
    for i, filled in enumerate(measured):
        if filled:  # a measured row: at least one number, maybe some blanks (tasks not learned yet)
            columns = sorted(rng.sample(range(n), rng.randint(1, n)))
            inference[i, columns] = [rng.choice([0.0, 0.25, 1.0, rng.random()]) for _ in columns]
    table = _inference_table(tmp_path_factory.mktemp("run"), inference)
    rows = [i for i, filled in enumerate(measured) if filled]
    assert [row[0].text for row in table.rows] == [f"task_{i}" for i in rows]
    shown = np.array([[_shown(c) for c in row[1:]] for row in table.rows]).reshape(len(rows), n)
    np.testing.assert_array_equal(shown, inference[rows])


def test_a_gnu_run_evaluated_last_reports_one_row_of_task_inference(tmp_path):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3",
                                "training.steps_per_task=5", "training.batch_size=32", "scenario.name=gnu",
                                "run.evaluate=last", "run.overlap=false", "run.figures=false",
                                "scenario.inference_batch_size=50", f"run.out_dir={tmp_path}"])
    finished = run(config, progress=False)
    page = parse(render(build_report([finished.directory])))
    (table,) = page.tables["inference"]
    assert table["header"] == ["after", "task_0", "task_1", "task_2"]
    assert [row[0][1] for row in table["rows"]] == ["task_2"]
