"""The Experiment 2 tables (README, docs/experiment2.md): similarity-guided transfer against random init."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.results.tables._format import directory_holding, markdown, percent
from supermasks.store.json_files import read_json


def transfer_study_directory(result_dir: Path) -> Path:
    """The one transfer-study directory (holding `summary.csv`) of a result."""
    return directory_holding(result_dir, "summary.csv")


def _p_cell(p: float) -> str:
    """`p<0.001`, `p=0.004` below 0.01, else two decimals (`p=0.10`)."""
    if pd.isna(p):
        return "p n/a"
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.3f}" if p < 0.01 else f"p={p:.2f}"


def _difference_cell(row: dict) -> str:
    if pd.isna(row["mean_difference"]):
        return "n/a"
    return f"{percent(row['mean_difference'], signed=True, digits=1)} ({_p_cell(row['p_holm'])})"


def _transfer_benchmark_labels(study: Path, names: list[str]) -> dict[str, str]:
    """Each study benchmark's data benchmark (`rotated`, `permuted`), read from the study's resolved file; its
    study name where two share one."""
    source = read_json(study / "study.json")["benchmarks"]
    kinds = {name: next(iter(source[name].values()))["data"]["benchmark"][0] for name in names}
    return {name: kind if list(kinds.values()).count(kind) == 1 else name for name, kind in kinds.items()}


def _transfer_caption(study: Path, summary: pd.DataFrame, baseline: str, compared: list[str]) -> str:
    """What the cells are: the tasks averaged and the seeds (read from the study's files), the test, the Holm family."""
    evaluation = pd.read_csv(study / "evaluation.csv")
    last = set(evaluation.groupby("benchmark")["task"].max())
    tasks = f"tasks 1-{last.pop()}" if len(last) == 1 else "every task but the first"
    seeds = sorted(set(summary["n_seeds"]))
    seeds_text = (f"{seeds[0]} seed{'s' if seeds[0] != 1 else ''}" if len(seeds) == 1
                  else f"{seeds[0]}-{seeds[-1]} seeds")
    family = len(compared)
    return (f"Mean accuracy of {tasks} (task 0 has no earlier task and always starts random) over {seeds_text}; "
            f"beside each mode its difference from `{baseline}` in points and the two-sided paired t-test over "
            f"seeds, p Holm-adjusted over the {family} mode{'s' if family != 1 else ''} compared with `{baseline}` "
            f"at one benchmark and budget:")


def _experiment2(result_dir: Path, *, every_budget: bool) -> str:
    study = transfer_study_directory(result_dir)
    summary = pd.read_csv(study / "summary.csv")
    benchmarks = list(dict.fromkeys(summary["benchmark"]))
    labels = _transfer_benchmark_labels(study, benchmarks)
    baseline = "random"  # the study compares every mode with random (it refuses a study file without it)
    modes = [baseline, *[m for m in dict.fromkeys(summary["transfer"]) if m != baseline]]
    budgets = sorted(set(summary["budget"]))
    if not every_budget:
        budgets = [budgets[0], budgets[-1]]
    header = ["budget"]
    for bench in benchmarks:
        header += [f"{labels[bench]}: {modes[0]}", *modes[1:]]
    cells = {(r["benchmark"], r["transfer"], r["budget"]): r for r in summary.to_dict("records")}
    rows = []
    for budget in budgets:
        row = [f"{budget:,}"]
        for bench in benchmarks:
            row.append(f"{percent(cells[bench, baseline, budget]['mean'], digits=1)}%")
            row += [_difference_cell(cells[bench, mode, budget]) for mode in modes[1:]]
        rows.append(row)
    return _transfer_caption(study, summary, baseline, modes[1:]) + "\n\n" + markdown(header, ["l"] * len(header), rows)


def experiment2_table(result_dir: Path) -> str:
    """README's Experiment 2: `random`'s mean accuracy and each mode's difference from it, at the smallest and the
    largest budget."""
    return _experiment2(result_dir, every_budget=False)


def experiment2_budgets_table(result_dir: Path) -> str:
    """docs/experiment2.md's Experiment 2: README's table at every budget."""
    return _experiment2(result_dir, every_budget=True)


def experiment2_guided_table(result_dir: Path) -> str:
    """docs/experiment2.md: the similarity-guided modes against SupSup's `mean` transfer, tested on the per-seed
    scores of the study's `evaluation.csv` as the study tests every mode against `random`."""
    from supermasks.analysis.efficiency import budget_summary

    study = transfer_study_directory(result_dir)
    evaluation = pd.read_csv(study / "evaluation.csv")
    guided = [m for m in dict.fromkeys(evaluation["transfer"]) if m in ("similar", "soft")]
    summary = budget_summary(evaluation[evaluation["transfer"].isin(["mean", *guided])], baseline="mean")
    benchmarks = list(dict.fromkeys(summary["benchmark"]))
    labels = _transfer_benchmark_labels(study, benchmarks)
    header = ["budget"] + [f"{labels[b]}: {m} - mean" if i == 0 else f"{m} - mean"
                           for b in benchmarks for i, m in enumerate(guided)]
    cells = {(r["benchmark"], r["transfer"], r["budget"]): r for r in summary.to_dict("records")}
    rows = [[f"{budget:,}", *[_difference_cell(cells[b, m, budget]) for b in benchmarks for m in guided]]
            for budget in sorted(set(summary["budget"]))]
    caption = (f"`{'` and `'.join(guided)}` against `mean`: difference in points of the mean accuracy of the same "
               f"tasks, two-sided paired t-test over seeds, p Holm-adjusted over the {len(guided)} comparisons with "
               f"`mean` at one benchmark and budget:")
    return caption + "\n\n" + markdown(header, ["l"] * len(header), rows)
