"""The task-inference tables: Experiment 3, NNs, HopSupSup and the long permuted sequences (README, docs/task-inference.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.results.tables._format import (BENCHMARK_LABELS, benchmark_label, benchmark_metrics, benchmark_runs,
                                               markdown, percent,
                                               study_directory)
from supermasks.results.version import read_version
from supermasks.units import human_bytes
from supermasks.config.yaml_files import read_yaml_file


_EXPERIMENT3_PARTS = {"given": "task given", "oneshot_H": "one-shot H", "binary_H": "binary H",
                      "oneshot_G": "one-shot G", "signature": "signature (BN)"}


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
            config = read_yaml_file(result_dir / Path(run).name / "config.yaml")
            label += f" (s = {config['model']['output_size']})"
        header.append(label)
    rows = []
    for benchmark in dict.fromkeys(study["benchmark"]):
        cells = [BENCHMARK_LABELS.get(benchmark, benchmark)]
        for part in parts:
            row = study[(study["part"] == part) & (study["benchmark"] == benchmark)].iloc[0]
            cell = f"{percent(row['ACC'], digits=1)}%"
            if not pd.isna(row["task_inference_accuracy"]):
                cell += f" ({percent(row['task_inference_accuracy'], digits=1)}%)"
            cells.append(cell)
        rows.append(cells)
    return markdown(header, ["l"] * len(header), rows)


def nns_table(result_dir: Path) -> str:
    """NNs: the masks it allocated, the true boundaries it found, its false alarms, ACC and batch-level inference."""
    rows = []
    for benchmark, config, metrics, _ in benchmark_runs(result_dir):
        found, true = int(metrics["num_tasks_found"]), int(metrics["num_true_tasks"])
        rows.append([benchmark_label(benchmark, config), f"{found} for {true} tasks",
                     f"{int(metrics['boundaries_detected'])} of {true}", str(int(metrics["false_alarms"])),
                     f"{percent(metrics['ACC'], digits=1)}%", f"{percent(metrics['task_inference_accuracy'], digits=1)}%"])
    return markdown(["benchmark", "masks found", "boundaries found", "false alarms", "ACC",
                      "test batches sent to the right mask"], ["l"] * 6, rows)


def hopsupsup_table(result_dir: Path) -> str:
    """HopSupSup: accuracy right after learning each task, recovery of the stored gates, GNu ACC, bytes kept."""
    rows = []
    for benchmark, config, metrics, accuracy in benchmark_runs(result_dir):
        matrix = accuracy.drop(columns=["after"]).to_numpy(dtype=float)
        diagonal = matrix.diagonal()
        tasks = len(diagonal)
        recovered = round(metrics["recovery_accuracy"] * tasks)
        rows.append([f"{benchmark}, {tasks} tasks",
                     f"{percent(diagonal.min(), digits=1)}-{percent(diagonal.max(), digits=1)}%",
                     f"{recovered} of {tasks} ({percent(metrics['mean_bit_accuracy'], digits=0)}% of bits)",
                     f"{percent(metrics['ACC'], digits=1)}%", f"{percent(metrics['task_inference_accuracy'], digits=1)}%",
                     f"{human_bytes(metrics['hopfield_bytes'])} against {human_bytes(metrics['direct_bytes'])}",
                     f"{tasks} of {metrics['hopfield_capacity_tasks']:.0f} ({metrics['hopfield_load']:.0%})"])
    return markdown(["benchmark", "GNu accuracy right after learning a task (`R[t, t]`, lowest-highest)",
                      "probe batches recovered to the right task", "GNu ACC", "test batches sent to the right task",
                      "Hopfield matrices against the gates stored directly",
                      "tasks stored of the narrowest layer's Storkey capacity"], ["l"] * 7, rows)


def long_sequence_table(result_dir: Path) -> str:
    """A long permuted sequence evaluated once after its last task: ACC and single images sent to the right task."""
    rows = []
    for benchmark, config, metrics in benchmark_metrics(result_dir):
        data, training = config["data"], config["training"]
        sample = config["run"].get("eval_sample")
        tested = f"a sample of {sample} per task" if sample else "all"
        rows.append([f"{data['num_tasks']:,} {benchmark} tasks", config["model"]["arch"],
                     f"{config['model']['output_size']}", f"{training['steps_per_task']:,}", f"`{data['source']}`",
                     tested, f"{percent(metrics['ACC'])}%", f"{percent(metrics['task_inference_accuracy'])}%"])
    return markdown(["sequence", "network", "outputs (s)", "steps per task", "data", "test images",
                      "ACC", "single images assigned to the right task"], ["l"] * 8, rows)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{seconds / 60:.1f} min"


def long_sequence_cost_table(result_dir: Path) -> str:
    """What the committed run of a long sequence cost: learning one task (mean over tasks), inferring the task of
    and classifying one test image (mean over the final evaluation), and the whole command's wall clock, CPU time
    (user + system) and peak resident set, with its thread count, from version.json. Timings are of one run on the
    machine that made it and vary with what else ran beside it; the reproduce diff never compares them."""
    version = read_version(result_dir)
    cpu, rss = version.get("cpu_seconds"), version.get("peak_rss_mib")
    rows = []
    for benchmark, config, metrics in benchmark_metrics(result_dir):
        rows.append([f"{config['data']['num_tasks']:,} {benchmark} tasks", f"{metrics['seconds_per_task']:.2f} s",
                     f"{metrics['inference_ms']:.1f} ms",
                     _duration(version["seconds"]) if "seconds" in version else "not recorded",
                     _duration(cpu) if cpu is not None else "not recorded",
                     f"{rss / 1024:.2f} GiB" if rss is not None else "not recorded",
                     str(version.get("threads", "not recorded"))])
    return markdown(["sequence", "learning one task (mean)", "one test image (mean)", "whole command, wall clock",
                     "CPU time", "peak resident set", "threads"], ["l"] * 7, rows)
