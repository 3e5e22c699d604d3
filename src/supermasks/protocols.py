"""Corrections of how numbers are computed that a run's identity records, for the runs whose numbers they change."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig


def protocol_marks(config: ExperimentConfig) -> dict[str, str]:
    """How this version computes numbers that an earlier version computed differently, for the runs it concerns.

    A finished run is found again by its hash and never recomputed, so a run stored before a
    correction would go on serving the old numbers. Each mark enters the identity only of runs
    whose numbers the correction changes, and so moves them to a new directory; every other run
    keeps its hash and directory.
    - `test_order: shuffled`: the run infers a task per test batch (GNs/GNu with
      `scenario.inference_batch_size` > 1, or NNs), so what a batch holds decides its numbers, and
      test images are now read in a fixed shuffled order (the embedded mnist-5k stores them sorted
      by class, which gave class-homogeneous batches).
    - `learned_change_chance: stratified`: the run writes learned-change tables (`run.overlap` with
      SupSup's shared score init), whose chance level is now computed within strata of the shared
      initial scores instead of over the whole layer.
    """
    marks = {}
    scenario = config.scenario
    if scenario.name == "nns" or (scenario.name in ("gns", "gnu") and scenario.inference_batch_size > 1):
        marks["test_order"] = "shuffled"
    if config.run.overlap and "supsup" in config.method_settings and config.settings("supsup").score_init == "shared":
        marks["learned_change_chance"] = "stratified"
    return marks


__all__ = ["protocol_marks"]
