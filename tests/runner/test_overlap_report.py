"""The overlap files a run of a masked method writes: the tests named for what they test, pairs ranked by overlap."""

import numpy as np
import pandas as pd

from supermasks.analysis import STAT_COLUMNS
from supermasks.runner.overlap import overlap_report


def test_overlap_report_writes_tables_named_for_their_tests(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random((6, 8)) < 0.5
    masks = {0: {"fc1": base}, 1: {"fc1": base ^ (rng.random((6, 8)) < 0.1)}, 2: {"fc1": rng.random((6, 8)) < 0.5}}
    summary = overlap_report(masks, tmp_path, figures=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlap.csv", "overlap_ranked.csv", "overlap_summary.csv"]
    table = pd.read_csv(tmp_path / "overlap.csv")
    assert set(STAT_COLUMNS) <= set(table.columns)
    renamed = {"equal_density_t", "equal_density_p", "equal_density_p_holm", "equal_density_mcnemar_p"}
    assert renamed <= set(table.columns)
    assert not {"t_stat", "p_value", "p_holm", "mcnemar_p"} & set(table.columns)
    ranked = pd.read_csv(tmp_path / "overlap_ranked.csv")
    assert list(ranked["rank"]) == [1, 2, 3]
    assert [(r.task_i, r.task_j) for r in ranked.itertuples()][0] == (0, 1)  # the pair sharing most
    assert np.all(np.diff(ranked["relative_to_chance"].to_numpy()) <= 0)
    assert list(summary["layer"]) == ["fc1"]
