"""The benchmark tables of the docs, rendered from a benchmark's printed section (`output.md`) and the machine that
measured it (`version.json`); every table ends with one line naming that machine and commit."""

from __future__ import annotations

import re
from pathlib import Path

from supermasks.results.bench import OUTPUT_FILE, Section, Table, parse_section
from supermasks.results.machine import thread_settings
from supermasks.results.tables._format import markdown
from supermasks.results.version import read_version


def read_section(result_dir: Path) -> Section:
    """The parsed section a benchmark result keeps."""
    path = result_dir / OUTPUT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: `supermasks results update {result_dir.name}` makes it")
    return parse_section(path.read_text())


def machine_note(result_dir: Path) -> str:
    """One line: the command, commit and machine that measured a benchmark result, and that timings vary."""
    version = read_version(result_dir)
    machine = version.get("machine", {})
    commit = version.get("git_commit")
    at = f"at commit `{commit[:7]}`" if commit else "at an unrecorded commit"
    if version.get("uncommitted_changes"):
        at += " with uncommitted changes"
    memory = f", {machine['memory_gib']:g} GiB" if machine.get("memory_gib") else ""
    if "bfloat16_flags" in machine:  # recorded since bfloat16 products exist
        memory += f", bfloat16 units: {', '.join(machine['bfloat16_flags']) or 'none'}"
    load = machine.get("load_average")
    busy = f", load average {load[0]:g} when it started" if load else ""
    return (f"*Measured by `{version.get('command', '?')}` {at} on {machine.get('date', 'an unrecorded date')}: "
            f"{machine.get('cpu', 'unknown CPU')}, {machine.get('logical_cores', '?')} logical cores{memory}, "
            f"torch {machine.get('torch', '?')}, thread variables {thread_settings(machine)}{busy}. "
            "Timings vary with the machine and its load.*")


def table_markdown(table: Table) -> str:
    """A parsed table written back as printed (alignment row included)."""
    lines = ["| " + " | ".join(table.header) + " |", "|" + "|".join(table.align) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in table.rows])


def _align(table: Table, names: list[str]) -> list[str]:
    return ["r" if table.align[table.header.index(n)].endswith(":") else "l" for n in names]


def _with_note(body: str, result_dir: Path) -> str:
    return f"{body}\n\n{machine_note(result_dir)}"


def inference_table(result_dir: Path) -> str:
    """benchmarks/inference.py --binary: time of one-shot and binary inference per number of stored masks, the bytes
    of the masks, the peak memory of one inference and of binary search's first re-packed half."""
    table = read_section(result_dir).table("tasks")
    rows = [[row[0],
             f"{table.cell(row[0], 'one-shot 1 image ms')} ms", f"{table.cell(row[0], 'one-shot 128 ms')} ms",
             f"{table.cell(row[0], 'binary 128 ms')} ms", f"{table.cell(row[0], 'masks MB')} MB",
             table.cell(row[0], "bits/weight/task"), f"{table.cell(row[0], 'infer peak MiB')} MiB",
             f"{table.cell(row[0], 'binary subset MB')} MB"] for row in table.rows]
    header = ["learned tasks", "one-shot, 1 image", "one-shot, batch of 128", "binary, batch of 128", "stored masks",
              "bits per weight per task", "peak extra memory, one-shot on 128", "binary's first re-packed half"]
    return _with_note(markdown(header, ["r"] * len(header), rows), result_dir)


STATE_WAYS = {"packed": "packed (default)", "float": "float scores kept"}


def state_bits_table(result_dir: Path) -> str:
    """benchmarks/state_bits.py at its largest task count: bytes held per task, `state/` bits per weight per task
    (and per added task), peak RSS growth per task (and after `malloc_trim`), packed masks against float scores."""
    table = read_section(result_dir).table("tasks")
    last = table.rows[-1][0]
    rows = []
    for row in (r for r in table.rows if r[0] == last):
        cell = dict(zip(table.header, row))
        marginal = f" ({cell['marginal bits/weight/task']})" if cell["marginal bits/weight/task"] else ""
        rows.append([cell["tasks"], STATE_WAYS.get(cell["way"], cell["way"]), cell["resident bytes/task"],
                     f"{cell['state bits/weight/task']}{marginal}",
                     f"{cell['peak RSS growth/task']} ({cell['RSS growth/task after trim']} after `malloc_trim`)"])
    header = ["tasks", "way", "resident bytes/task", "`state/` bits/weight/task (per added task)",
              "peak RSS growth/task"]
    return _with_note(markdown(header, ["r", "l", "r", "r", "r"], rows), result_dir)


THREAD_SETTINGS = {"default": "torch default (active waiting)", "passive": "`OMP_WAIT_POLICY=PASSIVE`",
                   "one": "`OMP_NUM_THREADS=1`", "one+passive": "both (the command's default)"}


def threads_table(result_dir: Path) -> str:
    """benchmarks/threads.py: wall time of the same steps per thread setting, idle and beside a busy process, as
    ratios to one thread on the idle machine (whose seconds the header gives); the busy range where the script
    measured more than one round."""
    section = read_section(result_dir)
    table = section.table("setting")
    base = table.cell("one", "idle s")
    ranges = table.column("busy range s")
    several = any(low != high for low, high in (r.split("-", 1) for r in ranges))
    rows = [[THREAD_SETTINGS.get(r[0], r[0]), table.cell(r[0], "torch threads"),
             f"{table.cell(r[0], 'idle / one-idle')}x", f"{table.cell(r[0], 'busy / one-idle')}x"]
            + ([f"{table.cell(r[0], 'busy range s')} s"] if several else []) for r in table.rows]
    header = ["setting", "threads", f"idle (1.00x = {base} s)", "one core kept busy by another process"]
    header += ["busy range"] if several else []
    return _with_note(f"{section.title}:\n\n" + markdown(header, ["l", "r", "r", "r", "l"][:len(header)], rows),
                      result_dir)


REFERENCE_SIDES = {"reference": "reference", "ours": "supermasks", "floor": "matrix products alone"}


def _ratio(line: str, name: str) -> str:
    """The `N.NNx` printed after `name` in a line of a script's notes."""
    match = re.search(re.escape(name) + r"\W*([\d.]+)x", line)
    if match is None:
        raise ValueError(f"no ratio after {name!r} in {line!r}")
    return match.group(1)


def reference_table(result_dir: Path) -> str:
    """benchmarks/reference.py: wall and CPU seconds, peak RSS and ACC of the reference formulation, this library and
    the matrix products alone; then the ratios the docs discuss, as the script printed them (from unrounded times)."""
    section = read_section(result_dir)
    table = section.table("side")
    rows = [[REFERENCE_SIDES.get(r[0], r[0]), *r[1:]] for r in table.rows]
    cpu = _ratio(section.line_starting("- CPU time reference / ours"), "reference / ours")
    rss = _ratio(section.line_starting("- peak RSS ours / reference"), "ours / reference")
    floor = _ratio(section.line_starting("- floor "), "reference / floor")
    ratios = (f"CPU time, reference / supermasks: {cpu}x; peak RSS, supermasks / reference: {rss}x; the reference's "
              f"CPU time over the matrix products' alone: {floor}x.")
    body = markdown(table.header, _align(table, table.header), rows)
    return _with_note(f"{body}\n\n{ratios}", result_dir)


def fixed_costs_table(result_dir: Path) -> str:
    """benchmarks/fixed_costs.py: the first optimiser step's CPU time, torch's against the library's, and a tiny
    run's CPU time without figures, with PNG and with PNG+SVG."""
    section = read_section(result_dir)
    step = section.table("first optimiser step (after `import torch`)")
    run = section.table("tiny run (2 tasks x 50 steps, synthetic)")
    return _with_note(f"{section.prose[0]}\n\n{table_markdown(step)}\n\n{table_markdown(run)}", result_dir)


def _conv_part(result_dir: Path, index: int) -> str:
    """The `index`-th network of benchmarks/conv_step.py: its heading, table and mask-ops line."""
    section = read_section(result_dir)
    parts: list[list] = []
    for block in section.blocks:
        if isinstance(block, str) and block.startswith("### "):
            parts.append([block[4:]])
        elif parts:
            parts[-1].append(block)
    if index >= len(parts):
        raise FileNotFoundError(f"{result_dir / OUTPUT_FILE} measures {len(parts)} networks, not {index + 1}")
    heading, *blocks = parts[index]
    text = [f"{heading}; " + " ".join(b for b in blocks if isinstance(b, str) and not b.startswith("mask ops"))]
    for block in blocks:
        if isinstance(block, Table):
            table = block
            text.append(table_markdown(table))
    batch = int(heading.split("batch ", 1)[1].split()[0])
    per_image = float(table.cell("masked top-k 0.1, ER budget", "ms per step")) / batch / 1e3
    mask_line = next(b for b in blocks if isinstance(b, str) and b.startswith("mask ops"))
    seconds = f"{per_image:.2f} s" if per_image >= 0.1 else f"{per_image * 1e3:.1f} ms"
    text.append(f"{mask_line} A masked top-k ER step takes {seconds} per image trained.")
    return _with_note("\n\n".join(text), result_dir)


def conv_resnet18_table(result_dir: Path) -> str:
    """benchmarks/conv_step.py, ResNet-18: ms per training step, masked against dense, and the mask ops' share."""
    return _conv_part(result_dir, 0)


def conv_resnet50_table(result_dir: Path) -> str:
    """benchmarks/conv_step.py, ResNet-50 (printed without `--quick`): as for ResNet-18."""
    return _conv_part(result_dir, 1)


IMAGES_PER_TASK = 12_800 * 100  # SplitImageNet: about 12,800 training images per task, 100 epochs
SPLITIMAGENET_TASKS = 100
WORKERS = 8


def _duration(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"about {seconds / 60:.0f} min"
    if hours < 2000:
        return f"about {hours:,.0f} h"
    return f"about {hours / (24 * 365):.1f} years"


def splitimagenet_cost_table(result_dir: Path) -> str:
    """SplitImageNet's cost extrapolated from two benchmarks: the masked ResNet-50 step (this result) and decoding a
    training crop with one thread (the `bench-colour-data` result beside it), per image, per task, for 100 tasks;
    decoding with 8 workers assumes perfect scaling, an upper bound on a GPU run's speed."""
    (_, resnet50) = read_section(result_dir).tables
    step_ms = float(resnet50.cell("masked top-k 0.1, ER budget", "ms per step"))
    colour = result_dir.parent / "bench-colour-data"
    decoding = read_section(colour).table(next(t.label for t in read_section(colour).tables
                                               if t.label.startswith("ImageNet batch of")))
    batch = int(decoding.label.split("batch of ", 1)[1].split()[0])
    decode_ms = float(decoding.cell("train, 1 thread", "wall time per batch").removesuffix(" ms"))
    per_image = {"step": step_ms / 8 / 1e3, "decode": decode_ms / batch / 1e3}
    per_image["workers"] = per_image["decode"] / WORKERS
    labels = {
        "step": f"masked ResNet-50 training step on one CPU core ({step_ms / 1e3:.1f} s per step of 8, above)",
        "decode": f"decoding a training crop, one thread ({decoding.cell('train, 1 thread', 'images/s')} per second, "
                  "[data](data.md#cost-benchmarkscolour_datapy))",
        "workers": f"decoding with `data.workers={WORKERS}` (an upper bound on a GPU's speed)",
    }
    rows = [[labels[k], f"{v:.2f} s" if v >= 0.1 else f"{v * 1e3:.1f} ms", _duration(v * IMAGES_PER_TASK),
             _duration(v * IMAGES_PER_TASK * SPLITIMAGENET_TASKS)] for k, v in per_image.items()]
    header = ["", "per image", "one task (about 12,800 training images x 100 epochs = 1.28 M)",
              f"{SPLITIMAGENET_TASKS} tasks"]
    table = markdown(header, ["l", "r", "r", "r"], rows)
    return f"{table}\n\n{machine_note(result_dir)}\n\n{machine_note(colour)}"


COLOUR_ROWS = {"plain": "plain `x[idx]`", "batched": "crop-and-flip on the batch",
               "per-image": "crop-and-flip image by image"}


def colour_data_table(result_dir: Path) -> str:
    """benchmarks/colour_data.py: CPU time of a SplitCIFAR100 batch, plain and augmented two ways, and the wall time
    of decoding generated JPEGs into ImageNet training crops with one and two threads."""
    section = read_section(result_dir)
    cifar, imagenet = section.tables
    rows = [[COLOUR_ROWS.get(r[0], r[0]), *r[1:]] for r in cifar.rows]
    cifar_md = markdown(cifar.header, _align(cifar, cifar.header), rows)
    return _with_note(f"{cifar_md}\n\n{table_markdown(imagenet)}", result_dir)


def data_pipeline_table(result_dir: Path) -> str:
    """benchmarks/data_pipeline.py: the bytes a task holds of its own, computed per batch against materialised,
    and what 250 permuted tasks hold in all."""
    section = read_section(result_dir)
    table = section.table("task")
    many = section.line_starting("- ")
    return _with_note(f"{table_markdown(table)}\n\n{many[2:]}", result_dir)


__all__ = ["colour_data_table", "conv_resnet18_table", "conv_resnet50_table", "data_pipeline_table",
           "fixed_costs_table", "inference_table", "machine_note", "read_section", "reference_table",
           "splitimagenet_cost_table",
           "state_bits_table", "table_markdown", "threads_table"]


def precision_step_table(result_dir: Path) -> str:
    """benchmarks/precision_step.py: ms per training step in float32 and bfloat16 (FC, masked and dense; ResNet-18),
    as the script printed them."""
    section = read_section(result_dir)
    fc, resnet = section.tables
    speedup = section.line_starting("bfloat16 fused against float32")
    floor = [line for line in section.prose if line.startswith("floor: ")]  # results made before it have none
    floor_text = f"{floor[0].removeprefix('floor: ')[0].upper()}{floor[0].removeprefix('floor: ')[1:]}\n\n" if floor else ""
    (compiled,) = [line for line in section.prose if "C loop compiled" in line]
    return _with_note(f"FC 784-300-300-10, batch 128, RMSprop, one thread ({compiled}):\n\n{table_markdown(fc)}\n\n"
                      f"{speedup}\n\n{floor_text}ResNet-18 of SplitCIFAR100, batch 128, Adam, one thread:\n\n"
                      f"{table_markdown(resnet)}", result_dir)


def seed_setting_table(result_dir: Path) -> str:
    """benchmarks/seed_setting.py: CPU and wall seconds and ACC of the notebook's formulation and of `supermasks run`
    on the seed setting, per thread count and precision, and the ratios the script printed."""
    section = read_section(result_dir)
    table = section.table("run")
    ratios = [line for line in section.prose if line.startswith("- notebook / ")]
    return _with_note("\n".join([table_markdown(table), "", *ratios]), result_dir)


def parallel_tasks_table(result_dir: Path) -> str:
    """benchmarks/parallel_tasks.py: wall and CPU seconds of the seed setting on one thread, two OpenMP threads and
    two worker processes, and whether their masks equal one thread's."""
    section = read_section(result_dir)
    return _with_note(f"{section.prose[0]}\n\n{table_markdown(section.table('setting'))}", result_dir)
