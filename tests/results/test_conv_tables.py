"""The LeNet-5 table of docs/conv.md rendered from a hand-made result."""

from supermasks.results.tables import lenet5_table
from tests.results.test_inference_tables import _run


def test_lenet5_gives_each_task_its_rotation_and_both_accuracies_then_acc_bwt_and_bytes(tmp_path):
    config = {"name": "lenet5", "method": ["supsup"], "data": {"benchmark": ["rotated"], "num_tasks": 3}}
    metrics = {"ACC": 0.78, "BWT": 0.0, "memory_per_task_bytes": 7684, "memory_total_bytes": 284300}
    r = [[0.792, None, None], [0.792, 0.7731, None], [0.792, 0.7731, 0.7882]]
    _run(tmp_path, config, {"rotated": (metrics, r)})
    table, summary = lenet5_table(tmp_path).split("\n\n")
    assert table.splitlines()[2:] == [
        "| 0 | 0 | 79.20% | 79.20% |",
        "| 1 | 120 | 77.31% | 77.31% |",  # 360 // 3 degrees per task
        "| 2 | 240 | 78.82% | 78.82% |",
    ]
    assert summary == "ACC 78.00%, BWT +0.00 points; 7.5 KiB per task, 277.6 KiB for the whole model with its 3 masks."
