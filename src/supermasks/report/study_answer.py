"""Which question a study's page opens with, read from its `study.csv`: Experiment 3 (runs that infer the task),
the forgetting study (one task pair), the replay study (runs of `replay`); Experiment 1 has its own
(`report.answer`). A study none of these fits opens with its methods' ACC (`report.answer.acc_figure`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.report.model import Figure


def study_answer(directory: Path, *, figure: bool = True) -> tuple[str, list[str], Figure | None]:
    """(question, answer sentences, figure) of the study in `directory`; ("", [], None) where none fits. Without
    `figure` the figure is not drawn (None): what the terminal prints."""
    from supermasks.report import baseline_studies as baselines
    from supermasks.report import inference_study

    frame = pd.read_csv(Path(directory) / "study.csv")
    if inference_study.has_task_inference(frame):
        return (inference_study.QUESTION, inference_study.inference_answer(frame),
                inference_study.inference_figure(frame) if figure else None)
    if baselines.is_forgetting_study(frame):
        rows = baselines.forgetting_rows(directory, frame)
        return (baselines.FORGETTING_QUESTION, baselines.forgetting_answer(rows),
                baselines.forgetting_figure(rows) if figure else None)
    if baselines.is_replay_study(frame):
        return (baselines.REPLAY_QUESTION, baselines.replay_answer(frame),
                baselines.replay_figure(frame) if figure else None)
    return "", [], None


__all__ = ["study_answer"]
