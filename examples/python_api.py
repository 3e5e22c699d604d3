"""The Python API end to end: load a shipped config, run it, read R, numbers and masks, load the trained model back
and predict with a given task id and with the task inferred from the inputs.

Run: `python examples/python_api.py [OUT_DIR]` (a few seconds: the synthetic source, three tasks, few steps).
"""

import sys

import supermasks
from supermasks.runner.build import build_tasks, load_data

out_dir = sys.argv[1] if len(sys.argv) > 1 else "runs"
config = supermasks.load_config("supsup", ["data.source=mnist-5k", "data.benchmark=[permuted]", "data.num_tasks=3",
                                           "training.steps_per_task=30", "run.figures=false",
                                           f"run.out_dir={out_dir}"])
result = supermasks.run(config, progress=False)
print(result.accuracy())                        # R: row "after task i", column "task j"
print({k: round(v, 4) for k, v in result.numbers().items() if k in ("ACC", "BWT")})
print({layer: round(float(mask.mean()), 3) for layer, mask in result.masks(0).items()})  # fraction kept per layer

model = supermasks.load(result.directory)
tasks = build_tasks(config, "permuted", load_data(config))
for task in tasks:
    x, y = task.x_test[:256], task.y_test[:256]
    given = (model.predict(x, task_id=task.task_id) == y).float().mean().item()
    inferred = model.infer_task(x)
    print(f"task {task.task_id}: accuracy {given:.1%} with its id; inferred task {inferred}")
