"""MLflow: one MLflow run per start of a run, in the experiment named after the config, on a local file store.

The store is `<run_dir>/mlruns` unless MLFLOW_TRACKING_URI names another (a server, a database). MLflow 3
refuses a file store unless MLFLOW_ALLOW_FILE_STORE is true: for the run's own store this logger sets it while
it is open (and puts it back when it closes), unless it is set already. See it with
`mlflow ui --backend-store-uri <run_dir>/mlruns`. Params are the settings as dotted keys; metrics the loss
per step, R's rows per task and the final numbers, all as `Logger` tags.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supermasks.loggers.base import accuracy_tag, finite_cells, flat_settings, loss_tag, metric_tag

FOLDER = "mlruns"
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
PARAMS_PER_CALL = 100  # MLflow's limits on one log_batch
METRICS_PER_CALL = 1000


def _param_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class MlflowLogger:
    """A `Logger` sending to one MLflow run (`run_id`) through `client` (an `mlflow.tracking.MlflowClient`)."""

    def __init__(self, client: Any, run_id: str, restore: dict[str, str | None]) -> None:
        self.client = client
        self.run_id = run_id
        self._restore = restore  # environment variables to put back on close

    def start(self, settings: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        params = [Param(key, _param_value(value)) for key, value in flat_settings(settings).items()]
        for i in range(0, len(params), PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=params[i:i + PARAMS_PER_CALL])

    def _metrics(self, values: list[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value, step in values]
        for i in range(0, len(metrics), METRICS_PER_CALL):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + METRICS_PER_CALL])

    def log_losses(self, label: str, first_step: int, losses: Sequence[float]) -> None:
        tag = loss_tag(label)
        self._metrics([(tag, float(value), first_step + i) for i, value in enumerate(losses)])

    def log_accuracy(self, label: str, task_id: int, row: Sequence[float]) -> None:
        self._metrics([(accuracy_tag(label, j), value, task_id) for j, value in finite_cells(row)])

    def log_metrics(self, label: str, metrics: Mapping[str, float]) -> None:
        self._metrics([(metric_tag(label, key), value, 0) for key, value in metrics.items()])

    def close(self) -> None:
        try:
            self.client.set_terminated(self.run_id)
        finally:
            _put_back(self._restore)


def _put_back(restore: dict[str, str | None]) -> None:
    """The environment variables in `restore` as they were (None: not set)."""
    for key, value in restore.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def open_logger(directory: Path, *, name: str) -> MlflowLogger:
    """A new MLflow run named after the run directory, in the experiment `name` (created where missing)."""
    from mlflow.tracking import MlflowClient

    restore: dict[str, str | None] = {}
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        uri = (directory / FOLDER).absolute().as_uri()
        if ALLOW_FILE_STORE not in os.environ:
            restore[ALLOW_FILE_STORE] = None
            os.environ[ALLOW_FILE_STORE] = "true"
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        run = client.create_run(experiment_id, run_name=directory.name,
                                tags={"supermasks.run_dir": str(directory.absolute())})
    except BaseException:
        _put_back(restore)
        raise
    return MlflowLogger(client, run.info.run_id, restore)
