"""Corrections of how numbers are computed that a run's identity records, for the runs whose numbers they change."""

from __future__ import annotations


def protocol_marks(*, scenario: str, inference_batch_size: int | None, overlap: bool | None,
                   shared_initial_scores: bool) -> dict[str, str]:
    """How this version computes numbers that an earlier version computed differently, for the runs it concerns.

    A finished run is found again by its hash and never recomputed, so a run stored before a
    correction would go on serving the old numbers. Each mark enters the identity only of runs
    whose numbers the correction changes, and so moves them to a new directory; every other run
    keeps its hash and directory. `shared_initial_scores`: a method of the run starts every task from one
    shared initial score (SupSup's `score_init: shared`, `MethodSpec.shared_initial_scores`).
    - `test_order: shuffled`: the run infers a task per test batch (GNs/GNu with
      `scenario.inference_batch_size` > 1, or NNs), so what a batch holds decides its numbers, and
      test images are now read in a fixed shuffled order (the embedded mnist-5k stores them sorted
      by class, which gave class-homogeneous batches).
    - `learned_change_chance: stratified`: the run writes learned-change tables (`run.overlap` with
      a shared initial score), whose chance level is now computed within strata of the shared
      initial scores instead of over the whole layer.
    """
    marks = {}
    batched = inference_batch_size is not None and inference_batch_size > 1  # None: a scenario that infers nothing
    if scenario == "nns" or (scenario in ("gns", "gnu") and batched):
        marks["test_order"] = "shuffled"
    if overlap and shared_initial_scores:
        marks["learned_change_chance"] = "stratified"
    return marks


__all__ = ["protocol_marks"]
