# One file of over 400 lines on purpose: it re-creates the notebook self-contained, and that
# re-creation runs as this same script (`--child`) in a fresh process, so that it is timed as the
# command line is; benchmarks/ is not a package that a second module could be imported from.
"""The SupSup notebook's own formulation against `supermasks run`, CPU and wall time on the seed setting.

The setting: 10 Permuted Fashion-MNIST tasks (full size: 60,000 training and 10,000 test images
each), 469 steps per task (one epoch at batch 128), SupSup with the task given (GG), FC network
without bias over fixed signed-constant weights, threshold masks, RMSprop lr 1e-4. ACC is the
mean accuracy over the 10 tasks after the last one.

- notebook: the formulation of the SupSup paper's reference notebook (Wortsman et al., 2020,
  "Supermasks in Superposition"), re-created in this file as the notebook writes it:
  - data: a `torch.utils.data.Dataset` whose `__getitem__` decodes one image at a time (a PIL
    image of mode "L" from the uint8 array, ToTensor: float / 255 as 1 x 28 x 28, Normalize with
    Fashion-MNIST's mean 0.2860 and std 0.3530, flatten, index by the task's permutation), read
    by a `DataLoader` (batch 128, shuffle, no workers, the partial last batch of 96 kept: 469
    batches); ToTensor and Normalize are written here with torch ops (torchvision is not used);
  - permutations: task i's is `np.random.seed(i); np.random.permutation(784)`;
  - network: 784-300-300-100 (100 outputs, as the notebook), no bias; each layer's weight is
    `sign(W0) * sqrt(2 / fan_in)` with W0 the default uniform init U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    and each task has its own score tensor per layer, drawn from the same uniform (30 score
    tensors for 10 tasks); the forward pass is `GetSubnet` (mask = scores >= 0, the gradient
    passed straight through), `weight * mask`, `F.linear`, as separate autograd operations;
  - each task: a fresh `torch.optim.RMSprop(lr=1e-4)` over all 30 score tensors (only the current
    task's get gradients), one epoch, then the task's own test set (batch 128, the same
    per-image pipeline); after the last task every task once, task id given.
- supermasks: the command line, `supermasks run configs/supsup.yaml` with overrides for the same
  setting (`data.source=fashion-mnist`, permuted, 10 tasks, `model.output_size=100`, 469 steps,
  scenario task, `run.evaluate=last` and `run.eval_batch_size=128`; overlap, figures, report and
  state checkpoints off; the run directory in a temporary folder), with `--threads N`. Its
  evaluation makes as many test passes as the notebook's (each task once untrained, the `b` of
  FWT, and every task after the last), it draws full batches only (469 x 128 images per task
  against the notebook's 468 x 128 + 96), and it normalises with MNIST's mean and std (0.1307,
  0.3081: `data/transforms.py`, used for every MNIST-family source), not Fashion-MNIST's.
  `--precision float32 bfloat16` runs it once per `training.precision`; where the installed
  library has no such setting, float32 runs without the override (its only precision) and
  bfloat16 is skipped with a note.

Threads: "1" is `OMP_NUM_THREADS=1` for the notebook and `--threads 1` for supermasks; the
notebook's other run leaves torch's default (one thread per core, OpenMP's active waiting), and
supermasks' other run is `--threads 2` (passive waiting). Every run is its own process; CPU
seconds are the user + system time of the child and every process under it (`getrusage(RUSAGE_CHILDREN)`
after waiting for them all; `--threads 2` trains in worker processes that outlive the command, which
this script adopts as Linux's child subreaper), imports and data loading included, and wall seconds are
measured around the command. `--rounds N` repeats every run N times,
interleaved (A B A B), and the table gives medians.

Run: `.venv/bin/python benchmarks/seed_setting.py --precision float32` (one round takes a few
minutes: the notebook takes about 90 CPU s), `--rounds N`; `--quick` is 2 tasks x 50 steps.
Exit code 2 when Fashion-MNIST is not in /usr/share/datasets/fashion-mnist (Debian's
`dataset-fashion-mnist`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
FASHION_MEAN, FASHION_STD = 0.2860, 0.3530  # Fashion-MNIST's pixel mean and std on the 0..1 scale
SIZES = (784, 300, 300, 100)  # the notebook's network: 100 outputs for 10 classes
BATCH = 128
LR = 1e-4
PRECISIONS = ("float32", "bfloat16")
ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "supsup.yaml"
# Variables that decide a child's threads: removed from the inherited environment so only the run's setting counts.
CONTROLLED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "SUPERMASKS_THREADS")


# ---- the notebook's formulation -----------------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """A gzipped IDX file of unsigned bytes as an array of its declared shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def task_permutation(task: int) -> torch.Tensor:
    """Task `task`'s pixel permutation, as the notebook draws it: numpy's global generator seeded with the task."""
    np.random.seed(task)
    return torch.from_numpy(np.random.permutation(784))


def to_tensor(image: Image.Image) -> torch.Tensor:
    """ToTensor for a grey PIL image: float32 (1, H, W) on the 0..1 scale."""
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True))  # (H, W)
    return pixels.view(image.size[1], image.size[0], 1).permute(2, 0, 1).contiguous().float().div(255)


def normalize(tensor: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Normalize: (x - mean) / std, per channel (one channel here)."""
    return tensor.sub(mean).div(std)


class PermutedImages(torch.utils.data.Dataset):
    """One permuted task's images, decoded one at a time as the notebook's data set does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, permutation: torch.Tensor) -> None:
        self.images = images  # (N, 28, 28) uint8
        self.labels = labels  # (N,) uint8
        self.permutation = permutation  # (784,) int64

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = Image.fromarray(self.images[index], mode="L")
        x = normalize(to_tensor(image), FASHION_MEAN, FASHION_STD)  # (1, 28, 28)
        return x.view(-1)[self.permutation], int(self.labels[index])  # (784,)


class GetSubnet(torch.autograd.Function):
    """The threshold mask: scores >= 0 forward, the gradient passed straight through backward."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor) -> torch.Tensor:
        return (scores >= 0).float()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


class MultitaskMaskLinear(nn.Linear):
    """A bias-free linear layer over a fixed signed-constant weight, with one score tensor per task."""

    def __init__(self, in_features: int, out_features: int, num_tasks: int) -> None:
        super().__init__(in_features, out_features, bias=False)  # W0 ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        self.task = 0
        self.scores = nn.ParameterList([nn.Parameter(self._score_init()) for _ in range(num_tasks)])
        self.weight.data = self.weight.data.sign() * math.sqrt(2.0 / in_features)
        self.weight.requires_grad = False

    def _score_init(self) -> torch.Tensor:
        scores = torch.empty_like(self.weight)
        nn.init.kaiming_uniform_(scores, a=math.sqrt(5))  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        return scores

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, in) -> (batch, out)
        mask = GetSubnet.apply(self.scores[self.task])
        return F.linear(x, self.weight * mask)


def build_network(num_tasks: int) -> nn.Sequential:
    """784-300-300-100 of masked layers with ReLU between them."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(MultitaskMaskLinear(fan_in, fan_out, num_tasks))
    return nn.Sequential(*layers)


def set_task(model: nn.Module, task: int) -> None:
    for module in model.modules():
        if isinstance(module, MultitaskMaskLinear):
            module.task = task


def make_optimizer(model: nn.Module) -> torch.optim.RMSprop:
    """RMSprop over every trainable tensor: all tasks' scores, of which only the current task's get gradients."""
    return torch.optim.RMSprop([p for p in model.parameters() if p.requires_grad], lr=LR)


def train(model: nn.Module, loader: torch.utils.data.DataLoader, optimizer: torch.optim.Optimizer,
          steps: int) -> int:
    """One pass over `loader`, stopped after `steps` batches; the number of steps taken."""
    model.train()
    taken = 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        taken += 1
        if taken == steps:
            break
    return taken


def test(model: nn.Module, loader: torch.utils.data.DataLoader) -> float:
    """Accuracy in percent over `loader`."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += len(y)
    return 100.0 * correct / total


def run_notebook(num_tasks: int, steps: int, seed: int, data_dir: Path = FASHION_DIR) -> dict[str, Any]:
    """Train and evaluate the notebook's formulation; ACC, the final accuracy per task and torch's thread count."""
    torch.manual_seed(seed)
    train_x, train_y, test_x, test_y = (read_idx(data_dir / name) for name in FASHION_FILES)
    model = build_network(num_tasks)
    perms = [task_permutation(task) for task in range(num_tasks)]

    def loader(images: np.ndarray, labels: np.ndarray, task: int, shuffle: bool) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(PermutedImages(images, labels, perms[task]), batch_size=BATCH,
                                           shuffle=shuffle, num_workers=0)

    for task in range(num_tasks):
        set_task(model, task)
        optimizer = make_optimizer(model)
        taken = train(model, loader(train_x, train_y, task, shuffle=True), optimizer, steps)
        acc = test(model, loader(test_x, test_y, task, shuffle=False))
        print(f"notebook task {task}: {taken} steps, accuracy {acc:.2f}%", file=sys.stderr, flush=True)
    final = []
    for task in range(num_tasks):
        set_task(model, task)
        final.append(test(model, loader(test_x, test_y, task, shuffle=False)))
    return {"acc": statistics.fmean(final), "accuracies": final, "threads": torch.get_num_threads()}


# ---- this library, through its command line -----------------------------------------------------------------------

def ours_overrides(num_tasks: int, steps: int, seed: int, out_dir: Path, precision: str | None) -> list[str]:
    """`configs/supsup.yaml` overrides for the seed setting (`precision` None: the library's default)."""
    overrides = [
        "data.benchmark=[permuted]", "data.source=fashion-mnist", f"data.num_tasks={num_tasks}",
        "model.arch=fc-300-300", f"model.output_size={SIZES[-1]}", "model.mask_rule=threshold",
        "training.optimizer=rmsprop", f"training.lr={LR}", f"training.batch_size={BATCH}",
        f"training.steps_per_task={steps}", "scenario.name=task", f"seed={seed}",
        "run.evaluate=last", f"run.eval_batch_size={BATCH}", "run.overlap=false", "run.figures=false",
        "run.report=false", "run.checkpoint_state=false", f"run.out_dir={out_dir}",
    ]
    return overrides + ([f"training.precision={precision}"] if precision is not None else [])


def precision_support(precision: str) -> tuple[bool, str | None, str]:
    """Whether to run `precision`, the override value to pass (None: none) and a note for the report."""
    from supermasks.config import load_config
    from supermasks.errors import ConfigError

    try:
        load_config(CONFIG, [f"training.precision={precision}"])
    except ConfigError as exc:
        if "unknown config key 'training.precision'" not in str(exc):
            return False, None, f"supermasks {precision} skipped: {str(exc).splitlines()[0]}"
        if precision == "float32":
            return True, None, ("the installed supermasks has no `training.precision` setting: supermasks float32 "
                                "ran without the override (float32 is its only precision)")
        return False, None, (f"the installed supermasks has no `training.precision` setting: supermasks {precision} "
                             "skipped")
    return True, precision, ""


# ---- measuring --------------------------------------------------------------------------------------------------

@dataclass
class Variant:
    """One row of the table: a command and the environment it runs in."""

    name: str
    threads: str
    command: list[str]
    env: dict[str, str]
    metrics_dir: Path | None = None  # supermasks: where its run directory goes
    measures: list[dict[str, float]] = field(default_factory=list)
    torch_threads: int | None = None  # the notebook: the thread count torch chose

    @property
    def label(self) -> str:
        return f"torch default ({self.torch_threads})" if self.threads == "default" else self.threads


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CONTROLLED}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_helpers():
    """benchmarks/parallel_tasks.py's `adopt_descendants` and `reap` (this script's folder is not a package)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import parallel_tasks
    finally:
        sys.path.pop(0)
    return parallel_tasks


def _reap_descendants() -> None:
    _tree_helpers().reap()


def _measure(variant: Variant) -> dict[str, float]:
    if variant.metrics_dir is not None:  # the previous round's run directory
        for old in variant.metrics_dir.glob("*"):
            shutil.rmtree(old)
    cpu, start = _children_cpu(), time.perf_counter()
    out = subprocess.run(variant.command, env=variant.env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    _reap_descendants()  # worker processes of `--threads 2` outlive the command: their CPU time counts too
    cpu = _children_cpu() - cpu
    if out.returncode != 0:
        raise RuntimeError(f"{variant.name} (threads {variant.label}) failed with exit code {out.returncode}:\n"
                           f"{out.stderr[-4000:]}")
    if variant.metrics_dir is None:
        result = json.loads(out.stdout.strip().splitlines()[-1])
        acc, variant.torch_threads = result["acc"], result["threads"]
    else:
        (metrics,) = variant.metrics_dir.glob("*/permuted/supsup/metrics.json")
        acc = 100.0 * json.loads(metrics.read_text())["ACC"]
    return {"cpu": cpu, "wall": wall, "acc": acc}


def _variants(num_tasks: int, steps: int, seed: int, precisions: list[str], work: Path) -> tuple[list[Variant],
                                                                                                   list[str]]:
    notebook = [sys.executable, str(Path(__file__).resolve()), "--child", "--tasks", str(num_tasks),
                "--steps", str(steps), "--seed", str(seed)]
    variants = [Variant("notebook", "1", notebook, _base_env() | {"OMP_NUM_THREADS": "1"}),
                Variant("notebook", "default", notebook, _base_env())]
    notes = []
    cli = [sys.executable, "-c", "import sys; from supermasks.cli import main; sys.exit(main())", "run"]
    for precision in precisions:
        run, value, note = precision_support(precision)
        if note:
            notes.append(note)
        if not run:
            continue
        for threads in ("1", "2"):
            out_dir = work / f"{precision}-{threads}"
            out_dir.mkdir()
            command = cli + ["--force", "--no-progress", "--threads", threads, str(CONFIG),
                             *ours_overrides(num_tasks, steps, seed, out_dir, value)]
            variants.append(Variant(f"supermasks {precision}", threads, command, _base_env(), out_dir))
    return variants, notes


def _machine_line() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")),
                     []))
    bf16 = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in ("amx_bf16", "avx512_bf16"))
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"- machine: {model}, {os.cpu_count()} logical cores; {bf16}; torch {torch.__version__}; "
            f"load average (1 / 5 / 15 min) {load}")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 tasks x 50 steps, a smoke test")
    parser.add_argument("--rounds", type=int, default=1, help="repetitions of every run, interleaved (default 1)")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        help="supermasks' training.precision values to run (default: both)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_notebook(args.tasks, args.steps, args.seed)))
        return
    missing = [name for name in FASHION_FILES if not (FASHION_DIR / name).is_file()]
    if missing:
        print(f"seed_setting.py: Fashion-MNIST not found: {', '.join(missing)} missing from {FASHION_DIR} "
              "(install the Debian package dataset-fashion-mnist)", file=sys.stderr)
        sys.exit(2)
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    num_tasks, steps = (2, 50) if args.quick else (10, 469)
    machine_before = _machine_line()
    _tree_helpers().adopt_descendants()  # so that `_measure` can wait for (and count) every process a run starts
    with tempfile.TemporaryDirectory(prefix="seed-setting-") as work:
        variants, notes = _variants(num_tasks, steps, args.seed, list(dict.fromkeys(args.precision)), Path(work))
        for _ in range(args.rounds):
            for variant in variants:
                variant.measures.append(_measure(variant))
    med = [{k: statistics.median(m[k] for m in v.measures) for k in ("cpu", "wall", "acc")} for v in variants]

    print("## The SupSup notebook's formulation against supermasks on the seed setting\n")
    print(f"Permuted Fashion-MNIST (full size), {num_tasks} tasks x {steps} steps (batch 128), SupSup with the task "
          f"given, FC 784-300-300-100 without bias, threshold masks, RMSprop lr 1e-4. Each run a fresh process; CPU s "
          f"is its user + system time, imports and data loading included; median of {args.rounds} round(s), "
          "interleaved.\n")
    print("| run | threads | CPU s | wall s | ACC % |")
    print("|---|---|---:|---:|---:|")
    for variant, m in zip(variants, med):
        print(f"| {variant.name} | {variant.label} | {m['cpu']:.1f} | {m['wall']:.1f} | {m['acc']:.3f} |")
    print()
    by_key = {(v.name, v.threads): m for v, m in zip(variants, med)}
    one, default = by_key[("notebook", "1")], by_key[("notebook", "default")]
    for name in dict.fromkeys(v.name for v in variants if v.name != "notebook"):
        ours1, ours2 = by_key[(name, "1")], by_key[(name, "2")]
        print(f"- notebook / {name}: CPU s on one thread {_ratio(one['cpu'], ours1['cpu'])}; wall s, torch's default "
              f"against --threads 2: {_ratio(default['wall'], ours2['wall'])}")
    for note in notes:
        print(f"- {note}")
    print(machine_before + f" at the start, {' / '.join(f'{x:.2f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
