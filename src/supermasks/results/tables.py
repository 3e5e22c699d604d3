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
                     f"{human_bytes(metrics['hopfield_bytes'])} against {human_bytes(metrics['direct_bytes'])}",
                     f"{tasks} of {metrics['hopfield_capacity_tasks']:.0f} ({metrics['hopfield_load']:.0%})"])
    return _markdown(["benchmark", "GNu accuracy right after learning a task (`R[t, t]`, lowest-highest)",
                      "probe batches recovered to the right task", "GNu ACC", "test batches sent to the right task",
                      "Hopfield matrices against the gates stored directly",
                      "tasks stored of the narrowest layer's Storkey capacity"], ["l"] * 7, rows)


# Experiment 1 (`configs/experiment1*.yaml`): the rows of its study's overlap_study.csv.
_VARIANTS = {"threshold-independent": "threshold, independent init (SupSup)", "threshold-shared": "threshold, shared init",
             "topk10-independent": "top-k 10%, independent init", "topk10-shared": "top-k 10%, shared init",
             "topk50-independent": "top-k 50%, independent init", "topk50-shared": "top-k 50%, shared init"}
_RELATEDNESS = {"angle difference (degrees)": "angle difference, degrees",
                "fraction of pixels both leave in place": "pixels both leave in place",
                "shared classes": "shared classes"}
_SLOPE_UNITS = {"0.1 of the pixels both leave in place": "0.1 of pixels in place"}
_SOURCES = {"mnist-5k": "the embedded MNIST subset (`mnist-5k`)", "fashion-mnist": "full-size Fashion-MNIST"}


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _estimate(row: dict, column: str, spec: str = ".3f", interval_spec: str = ".2f") -> str:
    """`2.663 [2.57, 2.75]`: a mean over seeds with its 95% interval over seeds; the mean alone without one."""
    value, low, high = row.get(column), row.get(f"{column}_low"), row.get(f"{column}_high")
    if not _finite(value):
        return "n/a"
    if _finite(low) and _finite(high):
        return f"{value:{spec}} [{low:{interval_spec}}, {high:{interval_spec}}]"
    return f"{value:{spec}}"


def _holm_p(row: dict) -> str:
    """The Holm-adjusted p in three significant digits, `<= x` where a p at the permutation floor makes it a bound."""
    if not _finite(row["mantel_r"]):
        return "not tested"
    return f"{'<= ' if bool(row['mantel_p_holm_at_floor']) else ''}{row['mantel_p_holm']:.3g}"


def _mantel_r(row: dict, *, interval: bool) -> str:
    if not _finite(row["mantel_r"]):
        return "undefined"
    return _estimate(row, "mantel_r", "+.2f", "+.2f") if interval else f"{row['mantel_r']:+.2f}"


def _related_bin(row: dict, which: str) -> str:
    """`2.663 [2.57, 2.75] at 15`: a bin's ratio to chance with its interval, then the bin's mean relatedness."""
    if not _finite(row[f"ratio_{which}_related"]):
        return "n/a"
    return f"{_estimate(row, f'ratio_{which}_related')} at {row[f'relatedness_{which}']:.2g}"


def _slope(row: dict) -> str:
    """`-0.035 [-0.047, -0.023] per 10 degrees`."""
    if not _finite(row["slope"]):
        return "n/a"
    return f"{_estimate(row, 'slope', '+.3f', '+.3f')} per {_SLOPE_UNITS.get(row['slope_unit'], row['slope_unit'])}"


def _benchmark_cell(row: dict) -> str:
    return f"{row['benchmark']} ({_RELATEDNESS.get(row['relatedness'], row['relatedness'])})"


def _variant(part: str) -> str:
    return _VARIANTS.get(part, part)


def _overlap_study(result_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's overlap_study.csv (in its own order: variant, benchmark, layer, measure) and its study.csv."""
    directory = study_directory(result_dir)
    return pd.read_csv(directory / "overlap_study.csv"), pd.read_csv(directory / "study.csv")


def _seeds(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"


def _experiment1_setting(result_dir: Path, table: pd.DataFrame, runs: pd.DataFrame) -> str:
    """What the study ran (data, tasks, steps, seeds: from its first run's config and its runs) and how p was taken
    (relabellings, Holm family: from its table)."""
    config = yaml.safe_load((result_dir / Path(runs["run_directory"].iloc[0]).name / "config.yaml").read_text())
    data, first = config["data"], table.iloc[0]
    seeds = _seeds(sorted(int(s) for s in runs["seed"].unique()))
    return (f"{_SOURCES.get(data['source'], '`' + data['source'] + '`')}, {data['num_tasks']} tasks per benchmark, "
            f"{config['training']['steps_per_task']} steps per task, {seeds}; "
            f"p from {int(first['permutations']):,} relabellings stratified by seed, Holm-adjusted over the "
            f"{int(first['holm_family'])} tests the study file declares")


def experiment1_table(result_dir: Path, layer: str = "fc1") -> str:
    """README's Experiment 1, one layer: per variant and benchmark, the Mantel test of the masks' overlap / chance
    against relatedness, how large the trend is (most and least related pairs, slope), and the ratios of the overlap
    and of the learned changes to the baseline. A caption rendered from the files precedes the table."""
    table, runs = _overlap_study(result_dir)
    table = table[table["layer"] == layer]
    changes = {(r["part"], r["benchmark"]): r for r in table[table["measure"] == "learned changes"].to_dict("records")}
    rows = []
    for row in table[table["measure"] == "overlap"].to_dict("records"):
        changed = changes.get((row["part"], row["benchmark"]), {})
        rows.append([_variant(row["part"]), _benchmark_cell(row), _mantel_r(row, interval=False), _holm_p(row),
                     _related_bin(row, "most"), _related_bin(row, "least"), _slope(row),
                     _estimate(row, "mean_ratio_to_baseline"), _estimate(changed, "mean_ratio_to_baseline")])
    caption = (f"Short study, layer {layer}: {_experiment1_setting(result_dir, table, runs)}; `<=` marks a bound set "
               f"by the permutation floor. Most and least related pairs: their overlap / chance, and where their "
               f"relatedness sits; x baseline: the pairs' mean Jaccard over that of unrelated tasks (fully permuted) "
               f"from the same start; each a mean over the seeds [95% interval over seeds].")
    return caption + "\n\n" + _markdown(
        ["variant", "benchmark (relatedness)", "Mantel r", "Holm p", "most related pairs", "least related pairs",
         "slope", "overlap x baseline", "learned changes x baseline"], ["l", "l", "r", "l", "l", "l", "l", "l", "l"],
        rows)


def experiment1_study_table(result_dir: Path, layer: str = "fc1") -> str:
    """docs/experiment1.md's short study, one layer: for the masks' overlap and the learned changes, the ratios to
    chance and to the baseline, the Mantel test, the most and least related pairs and the slope."""
    table, runs = _overlap_study(result_dir)
    table = table[table["layer"] == layer]
    rows = [[_variant(row["part"]), _benchmark_cell(row), row["measure"], _estimate(row, "mean_ratio"),
             _estimate(row, "mean_ratio_to_baseline"), _mantel_r(row, interval=True), _holm_p(row),
             _related_bin(row, "most"), _related_bin(row, "least"), _slope(row)] for row in table.to_dict("records")]
    caption = (f"Layer {layer}: {_experiment1_setting(result_dir, table, runs)}; `<=` marks a bound set by the "
               f"permutation floor. x chance: the pairs' mean ratio to chance (for learned changes under shared "
               f"init, chance within strata of the initial scores); x baseline: their mean Jaccard over that of "
               f"unrelated tasks from the same start; "
               f"most / least related pairs: their ratio to chance, and where their relatedness sits; each a mean "
               f"over the seeds [95% interval over seeds].")
    return caption + "\n\n" + _markdown(
        ["variant", "benchmark (relatedness)", "measure", "x chance", "x baseline", "Mantel r", "Holm p",
         "most related pairs", "least related pairs", "slope"], ["l"] * 10, rows)


def experiment1_layers_table(result_dir: Path) -> str:
    """docs/experiment1.md's short study in every layer: per variant, benchmark and measure, `r (Holm p), ratio x`
    (the ratio to the baseline)."""
    table, _ = _overlap_study(result_dir)
    layers = list(dict.fromkeys(table["layer"]))
    rows = []
    for (part, benchmark, measure), group in table.groupby(["part", "benchmark", "measure"], sort=False):
        by_layer = {row["layer"]: row for row in group.to_dict("records")}
        cells = [_variant(part), benchmark, measure]
        for layer in layers:
            row = by_layer.get(layer)
            ratio = "" if row is None or not _finite(row.get("mean_ratio_to_baseline")) else \
                f", {row['mean_ratio_to_baseline']:.3f}x"
            cells.append("n/a" if row is None else f"{_mantel_r(row, interval=False)} ({_holm_p(row)}){ratio}")
        rows.append(cells)
    return _markdown(["variant", "benchmark", "measure", *layers], ["l"] * (3 + len(layers)), rows)


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


def long_sequence_table(result_dir: Path) -> str:
    """A long permuted sequence evaluated once after its last task: ACC and single images sent to the right task."""
    rows = []
    for benchmark, config, metrics, _ in _benchmark_runs(result_dir):
        data, training = config["data"], config["training"]
        sample = config["run"].get("eval_sample")
        tested = f"a sample of {sample} per task" if sample else "all"
        rows.append([f"{data['num_tasks']:,} {benchmark} tasks", config["model"]["arch"],
                     f"{config['model']['output_size']}", f"{training['steps_per_task']:,}", f"`{data['source']}`",
                     tested, f"{_percent(metrics['ACC'])}%", f"{_percent(metrics['task_inference_accuracy'])}%"])
    return _markdown(["sequence", "network", "outputs (s)", "steps per task", "data", "test images",
                      "ACC", "single images assigned to the right task"], ["l"] * 8, rows)


__all__ = ["compare_printout", "compare_table", "experiment1_layers_table", "experiment1_study_table",
           "experiment1_table", "experiment2_budgets_table", "experiment2_guided_table", "experiment2_table",
           "experiment3_table", "forgetting_memory_table", "forgetting_table", "hopsupsup_table", "long_sequence_table", "nns_table",
           "run_directories", "study_directory", "transfer_study_directory"]
