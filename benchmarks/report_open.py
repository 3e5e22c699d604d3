"""How fast a report opens: headless Chromium loads the page several times; the navigation timing, and its size.

Takes a report (`--report PATH`, e.g. the `make demo` study's report.html) or, without one, builds
the report of a small run (naive and SupSup on rotated synthetic tasks, figures drawn) in a
temporary directory. Debian's chromium, driven by selenium (`/usr/bin/chromium`,
`/usr/bin/chromedriver`), opens the file `--repeats` times, each time from about:blank; the page's
own Navigation Timing entry gives the milliseconds from the start of navigation to
DOMContentLoaded (HTML parsed, images still decoding) and to the load event (every embedded image
decoded). Medians with the range are printed, with the file's size and its share of embedded images.
Run: `.venv/bin/python benchmarks/report_open.py [--report runs/.../report.html]`, `--quick` for 3 loads.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
from pathlib import Path

TIMING = ("const n = performance.getEntriesByType('navigation')[0];"
          "return [n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime];")


def small_report(directory: Path) -> Path:
    """The report (figures drawn) of a small run made in `directory`."""
    from supermasks.config import load_config
    from supermasks.report import write_report
    from supermasks.runner import run

    config = load_config(None, ["method=[naive,supsup]", "data.benchmark=rotated", "data.source=synthetic",
                                "data.num_tasks=4", "data.rotation_step=15", "training.steps_per_task=20",
                                "run.eval_every=10", "run.figures=false", "run.report=false",
                                f"run.out_dir={directory}"])
    finished = run(config, progress=False)
    return write_report([finished.directory], directory / "report.html")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def load_times(path: Path, repeats: int) -> list[tuple[float, float]]:
    """(ms to DOMContentLoaded, ms to load) of each of `repeats` loads of `path`, after one warm-up load."""
    driver = browser()
    try:
        times = []
        for index in range(repeats + 1):
            driver.get("about:blank")
            driver.get(path.resolve().as_uri())  # returns once the load event has fired
            if index:  # the first load warms up the browser process
                times.append(tuple(float(v) for v in driver.execute_script(TIMING)))
        return times
    finally:
        driver.quit()


def missing() -> str | None:
    """What is not installed for a browser (selenium, chromium, chromedriver), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    for name, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(name) is None and not Path(f"/usr/bin/{name}").is_file():
            return f"{name} is missing (apt-get install {package})"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="the report to open (default: build one of a small run)")
    parser.add_argument("--repeats", type=int, default=None, help="loads timed (default 10; 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="3 loads")
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 10)
    why = missing()
    if why is not None:
        print(f"## Opening a report in headless Chromium\n\n- not measured: {why}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.report if args.report is not None else small_report(Path(tmp))
        html = path.read_text(encoding="utf-8")
        times = load_times(path, repeats)
    images = sum(len(m) for m in re.findall(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", html))
    ready, loaded = ([t[i] for t in times] for i in (0, 1))
    print("## Opening a report in headless Chromium\n")
    what = str(args.report) if args.report is not None else "the report of a small run (naive, SupSup; 4 tasks)"
    print(f"- page: {what}")
    print(f"- size: {len(html.encode()) / 1e6:.2f} MB, of it embedded images {images / 1e6:.2f} MB "
          f"({html.count('<img')} images)")
    print(f"- DOMContentLoaded: median {statistics.median(ready):.0f} ms (range {min(ready):.0f}-{max(ready):.0f}) "
          f"over {repeats} loads")
    print(f"- load (every image decoded): median {statistics.median(loaded):.0f} ms "
          f"(range {min(loaded):.0f}-{max(loaded):.0f})")


if __name__ == "__main__":
    main()
