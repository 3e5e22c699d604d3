"""Markdown tables of README and docs, each rendered from one result's committed files under results/NAME/."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import yaml

from supermasks.units import human_bytes


def run_directories(result_dir: Path) -> list[Path]:
    """The run directories a result keeps (those holding `config.yaml`), sorted by name."""
    return sorted(p for p in result_dir.iterdir() if (p / "config.yaml").is_file())


def study_directory(result_dir: Path) -> Path:
    """The one study directory (holding `study.csv`) of a result."""
    found = sorted(p for p in result_dir.iterdir() if (p / "study.csv").is_file())
    if len(found) != 1:
        raise FileNotFoundError(f"{result_dir}: expected one study directory with study.csv, found {len(found)}")
    return found[0]


def _one_run(result_dir: Path) -> Path:
    runs = run_directories(result_dir)
    if len(runs) != 1:
        raise FileNotFoundError(f"{result_dir}: expected one run directory with config.yaml, found {len(runs)}")
    return runs[0]


def _percent(value: float, *, signed: bool = False, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{100 * value:{'+' if signed else ''}.{digits}f}"


def _markdown(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A pipe table; `align` holds `l` or `r` per column."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def compare_table(result_dir: Path) -> str:
    """README's method comparison: ACC (%), BWT (points) and the bytes kept, one row per method."""
    frame = pd.read_csv(_one_run(result_dir) / "comparison.csv")
    rows = [[row["method"], _percent(row["ACC"]), _percent(row["BWT"], signed=True), human_bytes(row["memory_total_bytes"])]
            for row in frame.to_dict("records")]
    return _markdown(["method", "ACC %", "BWT", "memory total"], ["l", "r", "r", "r"], rows)


def compare_printout(result_dir: Path) -> str:
    """The table `supermasks compare` printed for the committed run (its times are that run's), as a code block."""
    from supermasks.report.text import format_comparison

    frame = pd.read_csv(_one_run(result_dir) / "comparison.csv")
    return "```\n" + format_comparison(frame) + "\n```"


def _short_float(x: float) -> str:
    """`0.0001` -> `1e-4`, `0.0015` -> `1.5e-3`."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}


def _forgetting_label(method: str, config: dict) -> str:
    """A row's name, with the settings that distinguish it read from the run's own config."""
    if method == "naive":
        return "naive, shared head"
    if method == "ewc":
        return f"EWC, lambda {config['ewc']['lambda']:g}"
    if method == "replay":
        return f"replay, {config['replay']['fraction']:.0%} of MNIST mixed into every batch"
    if method == "supsup":
        training = config["training"]
        return f"SupSup (task id given, {_OPTIMIZERS.get(training['optimizer'], training['optimizer'])} " \
               f"{_short_float(training['lr'])})"
    return method


def _forgetting_rows(result_dir: Path, *, memory: bool) -> list[list[str]]:
    study = pd.read_csv(study_directory(result_dir) / "study.csv")
    rows = []
    for row in study.to_dict("records"):
        run = result_dir / Path(row["run_directory"]).name  # kept under its own name; the path is the rerun's
        config = yaml.safe_load((run / "config.yaml").read_text())
        accuracy = pd.read_csv(run / row["benchmark"] / row["method"] / "accuracy.csv")
        first, second = accuracy.iloc[-1]["task_0"], accuracy.iloc[-1]["task_1"]
        cells = [_forgetting_label(row["method"], config), f"{_percent(first, digits=1)}%", f"{_percent(second, digits=1)}%"]
        if memory:
            cells += [human_bytes(row["memory_peak_training_bytes"]), human_bytes(row["memory_total_bytes"])]
        rows.append(cells)
    return rows


_FORGETTING_HEADER = ["method", "MNIST after both, `R[1, 0]`", "Fashion-MNIST, `R[1, 1]`"]


def forgetting_table(result_dir: Path) -> str:
    """README's forgetting study: each method's accuracy on MNIST and on Fashion-MNIST after both."""
    return _markdown(_FORGETTING_HEADER, ["l", "l", "l"], _forgetting_rows(result_dir, memory=False))


def forgetting_memory_table(result_dir: Path) -> str:
    """docs/baselines.md's forgetting study: README's columns plus the bytes held while training and kept."""
    return _markdown([*_FORGETTING_HEADER, "peak training", "kept"], ["l"] * 5, _forgetting_rows(result_dir, memory=True))


_EXPERIMENT3_PARTS = {"given": "task given", "oneshot_H": "one-shot H", "binary_H": "binary H",
                      "oneshot_G": "one-shot G", "signature": "signature (BN)"}
_BENCHMARK_LABELS = {"split": "split (pairs, labels remapped)"}


def experiment3_table(result_dir: Path) -> str:
    """Experiment 3: ACC with the task given, and ACC (task-inference accuracy) with it inferred per test batch.

    The one-shot G header carries the output size its run used (the s-neurons), read from that run's config.
    """
    study = pd.read_csv(study_directory(result_dir) / "study.csv")
    parts = [p for p in _EXPERIMENT3_PARTS if p in set(study["part"])]
    header = ["benchmark"]
    for part in parts:
        label = _EXPERIMENT3_PARTS[part]
        if part == "oneshot_G":
            run = study[study["part"] == part]["run_directory"].iloc[0]
            config = yaml.safe_load((result_dir / Path(run).name / "config.yaml").read_text())
            label += f" (s = {config['model']['output_size']})"
        header.append(label)
    rows = []
    for benchmark in dict.fromkeys(study["benchmark"]):
        cells = [_BENCHMARK_LABELS.get(benchmark, benchmark)]
        for part in parts:
            row = study[(study["part"] == part) & (study["benchmark"] == benchmark)].iloc[0]
            cell = f"{_percent(row['ACC'], digits=1)}%"
            if not pd.isna(row["task_inference_accuracy"]):
                cell += f" ({_percent(row['task_inference_accuracy'], digits=1)}%)"
            cells.append(cell)
        rows.append(cells)
    return _markdown(header, ["l"] * len(header), rows)


def _benchmark_runs(result_dir: Path) -> list[tuple[str, dict, dict, pd.DataFrame]]:
    """(benchmark, the run's config, metrics.json, accuracy.csv) of every benchmark of a result's one run, in config order."""
    run = _one_run(result_dir)
    config = yaml.safe_load((run / "config.yaml").read_text())
    (method,) = config["method"]
    out = []
    for benchmark in config["data"]["benchmark"]:
        folder = run / benchmark / method
        out.append((benchmark, config, json.loads((folder / "metrics.json").read_text()),
                    pd.read_csv(folder / "accuracy.csv")))
    return out


def _benchmark_label(benchmark: str, config: dict) -> str:
    if benchmark == "rotated":
        step = config["data"].get("rotation_step") or 360 // config["data"]["num_tasks"]
        return f"rotated ({step:g} degree steps)"
    return _BENCHMARK_LABELS.get(benchmark, benchmark)


def nns_table(result_dir: Path) -> str:
    """NNs: the masks it allocated, the true boundaries it found, its false alarms, ACC and batch-level inference."""
    rows = []
    for benchmark, config, metrics, _ in _benchmark_runs(result_dir):
        found, true = int(metrics["num_tasks_found"]), int(metrics["num_true_tasks"])
        rows.append([_benchmark_label(benchmark, config), f"{found} for {true} tasks",
                     f"{int(metrics['boundaries_detected'])} of {true}", str(int(metrics["false_alarms"])),
                     f"{_percent(metrics['ACC'], digits=1)}%", f"{_percent(metrics['task_inference_accuracy'], digits=1)}%"])
    return _markdown(["benchmark", "masks found", "boundaries found", "false alarms", "ACC",
                      "test batches sent to the right mask"], ["l"] * 6, rows)


def hopsupsup_table(result_dir: Path) -> str:
    """HopSupSup: accuracy right after learning each task, recovery of the stored gates, GNu ACC, bytes kept."""
    rows = []
    for benchmark, config, metrics, accuracy in _benchmark_runs(result_dir):
        matrix = accuracy.drop(columns=["after"]).to_numpy(dtype=float)
        diagonal = matrix.diagonal()
        tasks = len(diagonal)
        recovered = round(metrics["recovery_accuracy"] * tasks)
        rows.append([f"{benchmark}, {tasks} tasks",
                     f"{_percent(diagonal.min(), digits=1)}-{_percent(diagonal.max(), digits=1)}%",
                     f"{recovered} of {tasks} ({_percent(metrics['mean_bit_accuracy'], digits=0)}% of bits)",
                     f"{_percent(metrics['ACC'], digits=1)}%", f"{_percent(metrics['task_inference_accuracy'], digits=1)}%",
                     f"{human_bytes(metrics['hopfield_bytes'])} against {human_bytes(metrics['direct_bytes'])}"])
    return _markdown(["benchmark", "accuracy right after learning a task (`R[t, t]`)",
                      "probe batches recovered to the right task", "GNu ACC", "test batches sent to the right task",
                      "Hopfield matrices against the gates stored directly"], ["l"] * 6, rows)


def transfer_study_directory(result_dir: Path) -> Path:
    """The one transfer-study directory (holding `summary.csv`) of a result."""
    found = sorted(p for p in result_dir.iterdir() if (p / "summary.csv").is_file())
    if len(found) != 1:
        raise FileNotFoundError(f"{result_dir}: expected one study directory with summary.csv, found {len(found)}")
    return found[0]


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
    return f"{_percent(row['mean_difference'], signed=True, digits=1)} ({_p_cell(row['p_holm'])})"


def _transfer_benchmark_labels(study: Path, names: list[str]) -> dict[str, str]:
    """Each study benchmark's data benchmark (`rotated`, `permuted`), read from the study's resolved file; its
    study name where two share one."""
    source = json.loads((study / "study.json").read_text())["benchmarks"]
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
            row.append(f"{_percent(cells[bench, baseline, budget]['mean'], digits=1)}%")
            row += [_difference_cell(cells[bench, mode, budget]) for mode in modes[1:]]
        rows.append(row)
    return _transfer_caption(study, summary, baseline, modes[1:]) + "\n\n" + _markdown(header, ["l"] * len(header), rows)


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
    return caption + "\n\n" + _markdown(header, ["l"] * len(header), rows)


__all__ = ["compare_printout", "compare_table", "experiment2_budgets_table", "experiment2_guided_table",
           "experiment2_table", "experiment3_table", "forgetting_memory_table", "forgetting_table",
           "hopsupsup_table", "nns_table", "run_directories", "study_directory", "transfer_study_directory"]
