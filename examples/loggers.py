"""Send a tiny run's numbers to TensorBoard, MLflow or Weights & Biases while it trains.

    python examples/loggers.py                      # TensorBoard (pip install 'supermasks[tensorboard]')
    python examples/loggers.py mlflow wandb         # any of tensorboard, mlflow, wandb
    python examples/loggers.py tensorboard --out-dir /tmp/runs

Two permuted tasks of the synthetic source, 20 steps each: a few seconds on a laptop. The same is
`supermasks run CONFIG run.loggers=[tensorboard,mlflow]` on the command line.
"""

from __future__ import annotations

import argparse

from supermasks.config import load_config
from supermasks.runner import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loggers", nargs="*", default=["tensorboard"], help="tensorboard, mlflow, wandb")
    parser.add_argument("--out-dir", default="runs", help="where the run directory goes (default: runs)")
    args = parser.parse_args(argv)
    config = load_config(None, [
        "name=loggers-example", "data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=20",
        "run.figures=false", "run.overlap=false", f"run.out_dir={args.out_dir}",
        f"run.loggers=[{','.join(args.loggers)}]",
    ])
    result = run(config, force=True, progress=False)  # force: a second call logs again instead of reading back
    print(result.comparison().to_string(index=False))
    where = {"tensorboard": f"tensorboard --logdir {result.directory / 'tensorboard'}",
             "mlflow": f"mlflow ui --backend-store-uri {result.directory / 'mlruns'} (unless MLFLOW_TRACKING_URI is set)",
             "wandb": f"{result.directory / 'wandb'} (offline unless WANDB_MODE says otherwise: wandb sync uploads it)"}
    for name in config.run.loggers:
        print(f"{name}: {where[name]}")


if __name__ == "__main__":
    main()
