"""Size and build time of the HTML report (`supermasks report`) of a small run, and where the time goes.

A run of naive and SupSup on rotated synthetic tasks is made in a temporary directory (figures
off, overlap on), then its report is built several times, with and without the runs' figures;
each build is timed by the CPU time of this thread (`time.thread_time`, so other load on the machine
does not count) and the page's size is printed, split into embedded images and the rest.
Run: `.venv/bin/python benchmarks/report.py` (about a minute on 2 CPU cores), `--quick` for a short one.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from supermasks.config import load_config
from supermasks.report import build_report, render
from supermasks.runner import run


def timed(paths: list[Path], figures: bool) -> tuple[float, float, str]:
    """(thread seconds to build, to render, the page)."""
    start = time.thread_time()
    report = build_report(paths, figures=figures)
    built = time.thread_time()
    page = render(report)
    return built - start, time.thread_time() - built, page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 tasks, 2 repeats (default: 6 tasks, 5 repeats)")
    args = parser.parse_args()
    tasks, repeats = (3, 2) if args.quick else (6, 5)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, ["method=[naive,supsup]", "data.benchmark=rotated", "data.source=synthetic",
                                    f"data.num_tasks={tasks}", "data.rotation_step=15", "training.steps_per_task=20",
                                    "run.eval_every=10", "run.figures=false", f"run.out_dir={tmp}"])
        directory = run(config, progress=False).directory
        rows = []
        for figures in (True, False):
            times = [timed([directory], figures) for _ in range(repeats)]
            page = times[-1][2]
            images = sum(len(m) for m in re.findall(r'data:image/png;base64,[A-Za-z0-9+/=]+', page))
            rows.append((figures, statistics.median(t[0] for t in times), statistics.median(t[1] for t in times),
                         len(page.encode()), images, page.count("<img")))
    print("## HTML report of a small run\n")
    print(f"naive and SupSup (fc-300-300) on {tasks} rotated synthetic tasks; medians of {repeats} builds, "
          "CPU seconds of this thread\n")
    print("| figures | build s | render s | page MB | of it images MB | images |")
    print("|---|---:|---:|---:|---:|---:|")
    for figures, build, rendered, size, images, count in rows:
        print(f"| {'drawn' if figures else 'left out'} | {build:.2f} | {rendered:.3f} | {size / 1e6:.2f} | "
              f"{images / 1e6:.2f} | {count} |")


if __name__ == "__main__":
    main()
