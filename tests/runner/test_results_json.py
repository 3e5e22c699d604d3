"""Results as saved with every state checkpoint: only filled rows and nonzero counts, read back exactly."""

from __future__ import annotations

import json

import numpy as np

from supermasks.runner.evaluate import Results


def test_results_round_trip_through_compact_json_and_read_the_full_lists_too():
    results = Results.empty(4)
    results.r[3] = [0.5, np.nan, 0.25, 1.0]
    results.r[1, :2] = [0.75, 0.5]
    results.b[:] = [0.1, 0.2, np.nan, 0.4]
    results.inference[3] = [1.0, 0.0, 0.5, 1.0]
    results.confusion[3, 1], results.confusion[0, 0] = 7, 2
    results.seconds, results.inferences = 1.5, 12
    saved = json.loads(json.dumps(results.to_json()))
    assert saved["r"]["rows"] == [1, 3] and saved["inference"]["rows"] == [3]  # all-NaN rows are not written
    assert sorted(saved["confusion"]["nonzero"]) == [[0, 0, 2], [3, 1, 7]]
    full = {"r": results.r.tolist(), "b": results.b.tolist(), "inference": results.inference.tolist(),
            "confusion": results.confusion.tolist(), "seconds": 1.5, "inferences": 12}  # the earlier format
    for back in (Results.from_json(saved), Results.from_json(json.loads(json.dumps(full)))):
        for name in ("r", "b", "inference", "confusion"):
            np.testing.assert_array_equal(getattr(back, name), getattr(results, name))
        assert back.confusion.dtype == np.int64 and (back.seconds, back.inferences) == (1.5, 12)
    empty = Results.from_json(json.loads(json.dumps(Results.empty(3).to_json())))
    assert np.isnan(empty.r).all() and empty.r.shape == (3, 3) and not empty.confusion.any()
