"""Your own network and data with SupSup: a small conv net with BatchNorm, three synthetic tasks, one run.

    python examples/own_network.py [--steps 200] [--out runs]

Prints the accuracy matrix (row: after training task t; column: task) and the run directory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import supermasks
from supermasks.runner import RunResult, run

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the data of examples/own_package, as PYTHONPATH=examples
from own_package.data import tasks as synthetic_tasks  # noqa: E402  three tasks of 8x8 noise images


class SmallNet(nn.Module):
    """conv 3x3 (1 -> 8) + BN + ReLU, then a linear layer to 2 classes; no biases (masked layers have none)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 8 * 8, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 8, 8) -> (batch, 2)
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def main(argv: list[str] | None = None) -> RunResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per task")
    parser.add_argument("--out", default="runs", help="where the run directory goes")
    args = parser.parse_args(argv)
    network = supermasks.masked(SmallNet(), seed=0)  # fixed signed-constant weights; one mask per task is learned
    config = supermasks.load_config(None, [f"training.steps_per_task={args.steps}", "training.batch_size=32",
                                           "training.lr=0.01", f"run.out_dir={args.out}", "run.figures=false",
                                           "run.report=false"])
    result = run(config, model=network, tasks=synthetic_tasks(), progress=False)
    accuracy = result.results[0].accuracy
    print("accuracy (row: after task, column: task):")
    for row in accuracy:
        print("  " + "  ".join(f"{value:.2f}" for value in row))
    print(f"run directory: {result.directory}")
    return result


if __name__ == "__main__":
    main()
