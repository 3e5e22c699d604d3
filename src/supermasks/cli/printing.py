"""What `supermasks run` and `compare` print when they finish: each run's summary, the comparison, the seeds' tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supermasks.aggregate.seeded import SeedRuns
    from supermasks.runner import RunResult


def print_summary(result: RunResult) -> None:
    """Per (benchmark, method): ACC, BWT and what else the run measured, then the accuracy of each task."""
    for res in result.results:
        final = res.accuracy[-1]
        shown = 20  # long sequences: the first tasks here, every task in accuracy.csv
        per_task = "  ".join(f"{i}:{a:.1%}" for i, a in enumerate(final[:shown]))
        more = f"  ... ({len(final) - shown} more in accuracy.csv)" if len(final) > shown else ""
        bwt = res.metrics["BWT"]
        line = f"\n{res.benchmark}/{res.method}: ACC {res.metrics['ACC']:.2%}"
        # NaN (null in metrics.json) when R has only its last row
        line += f", BWT {bwt:+.2%}" if bwt is not None and bwt == bwt else ", BWT n/a"
        if "task_inference_accuracy" in res.metrics:
            line += f", task inference {res.metrics['task_inference_accuracy']:.2%}"
        if res.metrics.get("eval_sample") is not None:  # run.eval_sample: not every test image
            line += f" (on a sample of {res.metrics['eval_sample']} test images per task)"
        if "num_tasks_found" in res.metrics:  # NNs: the learner found the tasks itself
            line += (f", {res.metrics['num_tasks_found']} task(s) found for {res.metrics['num_true_tasks']} "
                     f"({res.metrics['false_alarms']} false alarm(s), {res.metrics['boundaries_missed']} missed)")
        print(line)
        print(f"  accuracy per task after the last task: {per_task}{more}")
        if res.overlap_summary is not None:
            for row in res.overlap_summary.itertuples():
                print(f"  mean overlap {row.layer}: {row.mean_jaccard_pct:.2f}% "
                      f"(chance {row.mean_chance_pct:.2f}%, {row.mean_relative_to_chance:.3f}x chance)")


def print_seeds(seed_runs: SeedRuns) -> None:
    """The tables over seeds of a `seeds:` run, what was skipped, and where the runs and tables are."""
    from supermasks.aggregate.report import format_aggregate

    result = seed_runs.aggregate
    print()
    print(format_aggregate(result.summary, result.comparisons, result.settings))
    _print_definitions()
    for item in result.skipped:
        print(f"skipped {item.directory}: {item.reason}")
    print("run directories:")
    for directory in seed_runs.directories:
        print(f"  {directory}")
    print(f"aggregate directory: {seed_runs.directory}")


def print_comparison(result: RunResult) -> None:
    """The methods of a run side by side, with the metrics' definitions."""
    from supermasks.report.text import format_comparison

    print()
    print(format_comparison(result.comparison()))
    _print_definitions()


def _print_definitions() -> None:
    from supermasks.analysis.metrics import DEFINITIONS

    print("\nACC, BWT, FWT and forgetting in percentage points of accuracy; definitions:")
    for name, text in DEFINITIONS.items():
        print(f"  {name}: {text}")
    print("  memory/task: bytes the method's state grows by per task after the first (masks, heads, buffer, Fisher)")
    print("  peak training: the most bytes of state the method held while learning one task (its state for the task"
          " plus all it kept from earlier tasks, when the task began or when its learning ended, whichever is larger)")
    print("  memory total: bytes of state kept after the last task (no replay samples or Fisher terms are stored"
          " for the last task: no task follows it)")
    print("  time/task: wall time of learning one task (evaluation excluded)")
    print("  task inf.: GNs/GNu only: fraction of test batches whose task was inferred correctly, after the last task")
