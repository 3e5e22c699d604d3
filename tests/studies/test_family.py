"""The Holm family a study file declares: the same whatever `--part` selects, counted from the file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from supermasks.models.networks import layer_shapes
from supermasks.studies.family import family_key, declared_tests
from supermasks.studies.grid import load_study
from supermasks.studies.family import MEASURES

ROOT = Path(__file__).resolve().parents[2]


def expected_size(path: Path) -> int:
    """parts x grid points x benchmarks (all three define a relatedness) x masked layers x measures, from the YAML."""
    loaded = yaml.safe_load(path.read_text())
    layers = len(layer_shapes(loaded["model"]["arch"], loaded["model"]["output_size"]))
    total = 0
    for settings in loaded["parts"].values():
        settings = settings or {}
        points = len(list(itertools.product(*(settings.get("grid") or {}).values())))
        benchmarks = (settings.get("data") or {}).get("benchmark", loaded["data"]["benchmark"])
        total += points * len(benchmarks)
    return total * layers * len(MEASURES)


@pytest.mark.parametrize("name", ["experiment1.yaml", "experiment1-quick.yaml"])
def test_every_part_of_a_shipped_study_corrects_over_the_whole_file(name):
    path = ROOT / "configs" / name
    whole = declared_tests(load_study(path).declared)
    assert len(whole) == len(set(whole)) == expected_size(path)
    for part in yaml.safe_load(path.read_text())["parts"]:
        study = load_study(path, only=part)
        assert {r.part for r in study.runs} == {part}  # only that part runs ...
        assert declared_tests(study.declared) == whole  # ... and the family is the file's
    # A subset of benchmarks on the command line leaves the family as the file declares it.
    assert declared_tests(load_study(path, ["data.benchmark=[rotated]"]).declared) == whole


STUDY = """
name: fam
method: [supsup, naive]
data:
  benchmark: [rotated]
  source: synthetic
  num_tasks: 3
model:
  arch: lenet-300-100
run:
  overlap: true
parts:
  a: {}
  few:
    data: {benchmark: [permuted, pair], num_tasks: 2}
  cifar:
    data: {benchmark: [splitcifar100], source: synthetic-cifar}
    model: {arch: resnet18, batch_norm: true}
  quiet:
    run: {overlap: false}
  grid:
    data: {benchmark: [permuted]}
    grid: {data.permute_fraction: [0.25, 1.0]}
"""


def test_only_masked_methods_on_benchmarks_with_relatedness_and_three_tasks_are_tested(tmp_path):
    path = tmp_path / "fam.yaml"
    path.write_text(STUDY)
    keys = declared_tests(load_study(path, only="quiet").declared)
    # naive learns no masks, pair and splitcifar100 define no relatedness, 2 tasks give no Mantel test, quiet
    # writes no overlap
    assert {k[0] for k in keys} == {"a", "grid"} and {k[3] for k in keys} == {"supsup"}
    assert {k[2] for k in keys if k[0] == "a"} == {"rotated"}
    assert len(keys) == (1 + 2) * 3 * 2  # (part a + two grid points) x fc1..fc3 x overlap and learned changes
    assert family_key("grid", {"data.permute_fraction": 1.0}, "permuted", "supsup", "fc1", "overlap") in keys
    # A grid value read back from a table (1 for 1.0, a float for an int) names the same test.
    assert family_key("grid", {"data.permute_fraction": 1}, "permuted", "supsup", "fc1", "overlap") in keys
    assert family_key("p", {"steps": 5.0, "seed": 3}, "b", "m", "l", "x") == family_key("p", {"steps": 5}, "b", "m",
                                                                                       "l", "x")
