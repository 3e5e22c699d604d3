"""Benchmark tables on hand-made printed sections: which printed cell lands where, and the machine line under each."""

import json
from pathlib import Path

import pytest

from supermasks.results.bench import parse_section, unknown_columns
from supermasks.results.registry import RESULTS, Result, benchmark
from supermasks.results.tables import (colour_data_table, conv_resnet18_table, conv_resnet50_table,
                                      data_pipeline_table, fixed_costs_table, inference_table, reference_table,
                                      splitimagenet_cost_table, state_bits_table, threads_table)

ROOT = Path(__file__).resolve().parents[2]
MACHINE = {"date": "2030-01-02 03:04 UTC", "cpu": "Test CPU", "logical_cores": 2, "usable_cores": 2,
           "memory_gib": 23.5, "torch": "2.13.0+cpu", "thread_variables": {"OMP_NUM_THREADS": "1"},
           "load_average": [3.5, 2.0, 1.0]}
NOTE = ("*Measured by `python benchmarks/x.py` at commit `abcdef0` on 2030-01-02 03:04 UTC: Test CPU, 2 logical "
        "cores, 23.5 GiB, torch 2.13.0+cpu, thread variables OMP_NUM_THREADS=1, load average 3.5 when it started. "
        "Timings vary with the machine and its load.*")


def _result(root: Path, output: str, **version) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "output.md").write_text(output)
    (root / "version.json").write_text(json.dumps({"command": "python benchmarks/x.py", "git_commit": "abcdef0123",
                                                   "uncommitted_changes": [], "machine": MACHINE, **version}))
    return root


def _body(rendered: str) -> list[str]:
    *body, note = rendered.split("\n\n")
    assert note == NOTE
    return "\n\n".join(body).splitlines()


def test_the_machine_line_names_command_commit_cpu_threads_and_load_and_says_timings_vary(tmp_path):
    out = "## T\n\n| task | bytes per task, per batch |\n|---|---:|\n| permuted | 6,272 |\n\n- 250 tasks: 1.5 MiB\n"
    assert data_pipeline_table(_result(tmp_path, out)).splitlines()[-1] == NOTE
    dirty = _result(tmp_path / "dirty", out, uncommitted_changes=["src/x.py"])
    assert "at commit `abcdef0` with uncommitted changes on" in data_pipeline_table(dirty)


INFERENCE = """## Task inference over many stored masks (LeNet-300-100, 500 outputs)

315,200 masked weights, random masks (density 0.5); torch 2.13.0+cpu, 1 threads; one-shot H.

| tasks | build s | one-shot 1 image ms | one-shot 128 ms | infer peak MiB | RSS MiB | masks MB | bits/weight/task | counts MB | binary 1 image ms | binary 128 ms | binary / one-shot | binary subset MB |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| 10 | 0.1 | 6.5 | 7.4 | 21.0 | 240 | 0.39 | 1.0000 | 1.26 | 20.1 | 24.0 | 3.24 | 0.86 |
| 2,500 | 9.0 | 63.2 | 64.6 | 29.5 | 350 | 98.50 | 1.0000 | 1.26 | 300.0 | 349.0 | 5.40 | 50.51 |
"""


def test_inference_table_picks_times_sizes_and_peaks_per_task_count(tmp_path):
    assert _body(inference_table(_result(tmp_path, INFERENCE)))[2:] == [
        "| 10 | 6.5 ms | 7.4 ms | 24.0 ms | 0.39 MB | 1.0000 | 21.0 MiB | 0.86 MB |",
        "| 2,500 | 63.2 ms | 64.6 ms | 349.0 ms | 98.50 MB | 1.0000 | 29.5 MiB | 50.51 MB |",
    ]


STATE_BITS = """## SupSup state per task

266,200 masked weights.

| tasks | way | resident bytes/task | state bits/weight/task | marginal bits/weight/task | peak RSS growth/task | RSS growth/task after trim |
|---:|---|---:|---:|---:|---:|---:|
| 10 | packed | 33,275 | 2.100 |  | 900 KiB | 50 KiB |
| 10 | float | 1,064,800 | 33.000 |  | 1,100 KiB | 1,040 KiB |
| 250 | packed | 33,275 | 1.150 | 1.021 | 249 KiB | 48 KiB |
| 250 | float | 1,064,800 | 32.160 | 32.025 | 1,038 KiB | 1,030 KiB |
"""


def test_state_bits_shows_both_ways_at_the_largest_task_count_only(tmp_path):
    assert _body(state_bits_table(_result(tmp_path, STATE_BITS)))[2:] == [
        "| 250 | packed (default) | 33,275 | 1.150 (1.021) | 249 KiB (48 KiB after `malloc_trim`) |",
        "| 250 | float scores kept | 1,064,800 | 32.160 (32.025) | 1,038 KiB (1,030 KiB after `malloc_trim`) |",
    ]


THREADS = """## Thread settings: 100 masked training steps, FC 784-300-300-10, batch 128

Wall time of the steps. Ratios to `one`/idle (0.81 s).

| setting | torch threads | idle s | busy s | idle / one-idle | busy / one-idle | busy range s |
|---|---:|---:|---:|---:|---:|---|
| default | 2 | 0.67 | 12.80 | 0.83 | 15.80 | 2.50-23.97 |
| one | 1 | 0.81 | 2.10 | 1.00 | 2.59 | 0.84-4.13 |
"""


def test_threads_table_gives_ratios_to_one_idle_thread_whose_seconds_head_the_column(tmp_path):
    lines = _body(threads_table(_result(tmp_path, THREADS)))
    assert lines[0] == "Thread settings: 100 masked training steps, FC 784-300-300-10, batch 128:"
    assert lines[2] == ("| setting | threads | idle (1.00x = 0.81 s) | one core kept busy by another process "
                        "| busy range |")
    assert lines[4:] == ["| torch default (active waiting) | 2 | 0.83x | 15.80x | 2.50-23.97 s |",
                         "| `OMP_NUM_THREADS=1` | 1 | 1.00x | 2.59x | 0.84-4.13 s |"]


def test_threads_table_leaves_out_the_busy_range_of_a_single_round(tmp_path):
    one_round = THREADS.replace("2.50-23.97", "12.80-12.80").replace("0.84-4.13", "2.10-2.10")
    lines = _body(threads_table(_result(tmp_path, one_round)))
    assert lines[2] == "| setting | threads | idle (1.00x = 0.81 s) | one core kept busy by another process |"
    assert lines[4] == "| torch default (active waiting) | 2 | 0.83x | 15.80x |"


REFERENCE = """## This library against the reference SupSup formulation

Permuted Fashion-MNIST, 10 tasks x 469 steps.

| side | wall s | CPU s | peak RSS MB | ACC % |
|---|---:|---:|---:|---:|
| reference | 95.1 | 69.9 | 800 | 82.68 |
| ours | 54.4 | 50.8 | 420 | 83.10 |
| floor | 41.8 | 29.1 | 249 | - |

- CPU time reference / ours: **1.38x** (target >= 6x)
- wall time reference / ours: 1.75x
- peak RSS ours / reference: **0.52x** (target <= 1)
- floor (the matrix products alone, random data, no optimiser or data): 29.1 CPU s; reference / floor 2.40x, ours / floor 1.75x: no implementation of these products is more than reference / floor faster than the reference
"""


def test_reference_table_names_the_sides_and_gives_the_ratios_the_script_printed(tmp_path):
    lines = _body(reference_table(_result(tmp_path, REFERENCE)))
    assert lines[2:5] == ["| reference | 95.1 | 69.9 | 800 | 82.68 |", "| supermasks | 54.4 | 50.8 | 420 | 83.10 |",
                          "| matrix products alone | 41.8 | 29.1 | 249 | - |"]
    # As printed (from unrounded times): 0.52x, where the rounded cells would give 420 / 800 = 0.525.
    assert lines[6] == ("CPU time, reference / supermasks: 1.38x; peak RSS, supermasks / reference: 0.52x; the "
                        "reference's CPU time over the matrix products' alone: 2.40x.")


FIXED = """## Fixed costs of a short run

CPU seconds of fresh processes (one thread), median of 1.

| import | CPU s | heavy modules loaded |
|---|---:|---|
| `torch` | 1.50 | torch |

| first optimiser step (after `import torch`) | CPU s | imports torch._dynamo |
|---|---:|---|
| `torch.optim` RMSprop | 1.95 | True |
| `make_optimizer` RMSprop | 0.00 | False |

| tiny run (2 tasks x 50 steps, synthetic) | imports CPU s | run CPU s | figures CPU s (run - off) |
|---|---:|---:|---:|
| figures off | 2.00 | 3.00 | - |
| PNG (default) | 2.00 | 7.30 | 4.30 |
"""


def test_fixed_costs_shows_the_optimiser_and_figure_tables_not_the_imports(tmp_path):
    lines = _body(fixed_costs_table(_result(tmp_path, FIXED)))
    assert lines[0] == "CPU seconds of fresh processes (one thread), median of 1."
    assert "| `make_optimizer` RMSprop | 0.00 | False |" in lines and "| PNG (default) | 2.00 | 7.30 | 4.30 |" in lines
    assert not any("`torch` | 1.50" in line for line in lines)


CONV = """## Conv training step: masked ResNet against the same dense network

### resnet18, batch 128 of 3x32x32, Adam, 1 thread

torch 2.13.0+cpu; medians of 9 interleaved steps, thread CPU time

| variant | ms per step | images / s | ratio to dense |
|---|---:|---:|---:|
| dense (conv weights trained) | 1596 | 80.2 | 1.00x |
| masked top-k 0.1, ER budget | 1696 | 75.5 | 1.06x |

mask ops (top-k selection, W * M) take 5.5% of a masked top-k ER step's CPU time (autograd profiler, self time).

### resnet50, batch 8 of 3x224x224, Adam, 1 thread

torch 2.13.0+cpu; medians of 3 interleaved steps, thread CPU time

| variant | ms per step | images / s | ratio to dense |
|---|---:|---:|---:|
| dense (conv weights trained) | 5716 | 1.4 | 1.00x |
| masked top-k 0.1, ER budget | 6286 | 1.3 | 1.10x |

mask ops (top-k selection, W * M) take 7.3% of a masked top-k ER step's CPU time (autograd profiler, self time).
"""


def test_conv_tables_split_the_section_by_network_and_give_seconds_per_image(tmp_path):
    result = _result(tmp_path, CONV)
    r18, r50 = _body(conv_resnet18_table(result)), _body(conv_resnet50_table(result))
    assert r18[0] == ("resnet18, batch 128 of 3x32x32, Adam, 1 thread; torch 2.13.0+cpu; medians of 9 interleaved "
                      "steps, thread CPU time")
    assert r18[5] == "| masked top-k 0.1, ER budget | 1696 | 75.5 | 1.06x |"
    assert r18[-1].startswith("mask ops (top-k selection, W * M) take 5.5%")
    assert r18[-1].endswith("A masked top-k ER step takes 13.2 ms per image trained.")  # 1.696 s / 128
    assert r50[5] == "| masked top-k 0.1, ER budget | 6286 | 1.3 | 1.10x |"
    assert r50[-1].endswith("takes 0.79 s per image trained.")  # 6.286 s / 8


def test_a_conv_section_without_resnet50_says_so(tmp_path):
    quick = CONV[:CONV.index("### resnet50")]
    with pytest.raises(FileNotFoundError, match="measures 1 networks, not 2"):
        conv_resnet50_table(_result(tmp_path, quick))


def test_splitimagenet_cost_extrapolates_the_resnet50_step_and_the_decoding_of_the_colour_result(tmp_path):
    conv = _result(tmp_path / "bench-conv-step", CONV)
    _result(tmp_path / "bench-colour-data", COLOUR)
    table, note_conv, note_colour = splitimagenet_cost_table(conv).split("\n\n")
    assert note_conv == note_colour == NOTE
    assert table.splitlines()[2:] == [
        # 6.286 s / 8 = 0.786 s per image; x 1.28 M images = 279 h; x 100 tasks = 3.2 years
        "| masked ResNet-50 training step on one CPU core (6.3 s per step of 8, above) | 0.79 s | about 279 h "
        "| about 3.2 years |",
        # 438.7 ms / 32 = 13.71 ms; x 1.28 M = 4.87 h; x 100 = 487 h
        "| decoding a training crop, one thread (73 per second, [data](data.md#cost-benchmarkscolour_datapy)) "
        "| 13.7 ms | about 5 h | about 487 h |",
        "| decoding with `data.workers=8` (an upper bound on a GPU's speed) | 1.7 ms | about 37 min | about 61 h |",
    ]


COLOUR = """## Colour data

| SplitCIFAR100 batch of 128 (3x32x32), one thread | CPU time per batch | ratio to plain |
|---|---|---|
| plain | 0.720 ms | 1.00x |
| per-image | 11.751 ms | 16.32x |

- per-image crop-and-flip against the batched one: 4.5x the CPU time

| ImageNet batch of 32 generated 500x375 JPEGs | wall time per batch | images/s | ratio to 1 thread |
|---|---|---|---|
| train, 1 thread | 438.7 ms | 73 | 1.00x |
"""


def test_colour_data_names_the_augmentations_and_keeps_the_decoding_table(tmp_path):
    lines = _body(colour_data_table(_result(tmp_path, COLOUR)))
    assert lines[2:4] == ["| plain `x[idx]` | 0.720 ms | 1.00x |", "| crop-and-flip image by image | 11.751 ms | 16.32x |"]
    assert lines[-1] == "| train, 1 thread | 438.7 ms | 73 | 1.00x |"


def test_data_pipeline_gives_the_bytes_table_and_the_many_tasks_line(tmp_path):
    out = ("## Data\n\n| task | bytes per task, per batch |\n|---|---:|\n| permuted | 6,272 |\n\n"
           "| batch of 128 | per batch |\n|---|---:|\n| permuted | 30 us |\n\n- 250 permuted tasks: 1.50 MiB held\n")
    assert _body(data_pipeline_table(_result(tmp_path, out))) == [
        "| task | bytes per task, per batch |", "|---|---:|", "| permuted | 6,272 |", "", "250 permuted tasks: 1.50 MiB held"]


def test_a_missing_output_names_the_update_command(tmp_path):
    (tmp_path / "bench-x").mkdir()
    with pytest.raises(FileNotFoundError, match="`supermasks results update bench-x` makes it"):
        threads_table(tmp_path / "bench-x")


BENCHMARKS = [r for r in RESULTS.values() if r.kind == "benchmark"]


@pytest.mark.parametrize("result", BENCHMARKS, ids=[r.name for r in BENCHMARKS])
def test_each_benchmark_runs_a_script_of_this_checkout_and_its_measured_columns_exist(result: Result):
    assert (ROOT / result.command[0]).is_file() and result.files == ("output.md",) and result.measured
    output = ROOT / "results" / result.name / "output.md"
    assert output.is_file(), f"results/{result.name} is not committed"
    assert unknown_columns(output.read_text(), result.measured) == []
    section = parse_section(output.read_text())
    assert section.tables and all(len(row) == len(t.header) for t in section.tables for row in t.rows)


def test_registry_refuses_incoherent_benchmarks():
    with pytest.raises(ValueError, match="not a benchmarks/\\*.py script"):
        Result(name="b", command=("run", "configs/x.yaml"), minutes=1, tables={"b": threads_table}, kind="benchmark",
               files=("output.md",))
    with pytest.raises(ValueError, match="only a benchmark's tables have measured columns"):
        Result(name="b", command=("run", "configs/x.yaml"), minutes=1, tables={"b": threads_table}, measured=("s",))
    with pytest.raises(ValueError, match="kind 'script' is not one of supermasks, benchmark"):
        Result(name="b", command=("x",), minutes=1, tables={"b": threads_table}, kind="script")  # type: ignore[arg-type]
    made = benchmark("b", "threads.py", "--quick", minutes=1, tables={"b": threads_table}, measured=("idle s",))
    assert made.command == ("benchmarks/threads.py", "--quick") and made.kind == "benchmark"


def test_results_list_shows_a_benchmark_as_the_script_it_runs(capsys):
    from supermasks.cli import main

    assert main(["results", "list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("bench-inference "))
    assert "python benchmarks/inference.py --binary" in line and "timings not reproduced" in line
