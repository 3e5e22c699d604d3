import json
import os

import pytest

from supermasks.config import load_config
from supermasks.store.files import atomic_write_bytes, write_json
from supermasks.store.rundir import config_hash, run_directory


def test_hash_ignores_output_location_only():
    a = load_config(None, ["run.out_dir=/tmp/a"])
    assert config_hash(a) == config_hash(load_config(None, ["run.out_dir=/tmp/b"]))
    assert config_hash(a) != config_hash(load_config(None, ["seed=1"]))
    assert run_directory(a).name == f"experiment-{config_hash(a)}"


def test_atomic_write_replaces_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "x.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(path.parent) == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.txt"
    atomic_write_bytes(path, b"old")

    with pytest.raises(TypeError):
        atomic_write_bytes(path, object())  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["x.txt"]
