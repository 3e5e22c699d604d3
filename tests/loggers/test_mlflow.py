"""The mlflow logger: the run's own file store holds the settings as params and every number as metrics."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from supermasks.loggers import flat_settings

from .helpers import LABEL, accuracy_cells, final_metrics, installed, tiny_run

pytestmark = pytest.mark.skipif(not installed("mlflow"), reason="needs mlflow: pip install 'supermasks[mlflow]'")


def _client(uri: str, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading a file store, as the logger's writing did
    return MlflowClient(tracking_uri=uri)


def test_the_file_store_holds_params_every_step_every_row_and_the_final_metrics(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    run_dir, losses = tiny_run(tmp_path / "runs", ["mlflow"], monkeypatch)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set only while the logger was open
    client = _client((run_dir / "mlruns").as_uri(), monkeypatch)
    experiment = client.get_experiment_by_name("experiment")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == run_dir.name and run.info.status == "FINISHED"
    assert run.data.tags["supermasks.run_dir"] == str(run_dir.absolute())
    settings = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert run.data.params == {k: v if isinstance(v, str) else json.dumps(v)
                               for k, v in flat_settings(settings).items()}
    run_id = run.info.run_id
    history = client.get_metric_history(run_id, f"{LABEL}/loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == list(enumerate(losses))
    cells = {}
    for key in run.data.metrics:
        if "/accuracy/" in key:
            cells |= {(key, m.step): m.value for m in client.get_metric_history(run_id, key)}
    assert cells == accuracy_cells(run_dir)
    assert {k: v for k, v in run.data.metrics.items() if "/metrics/" in k} == final_metrics(run_dir)


def test_mlflow_tracking_uri_sends_the_run_elsewhere(tmp_path, monkeypatch):
    store = tmp_path / "store"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    run_dir, losses = tiny_run(tmp_path / "runs", ["mlflow"], monkeypatch)
    assert not (run_dir / "mlruns").exists()
    client = _client(store.as_uri(), monkeypatch)
    (run,) = client.search_runs([client.get_experiment_by_name("experiment").experiment_id])
    assert run.data.metrics[f"{LABEL}/loss"] == losses[-1]
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"  # the user's own setting is left as it was
