"""Reports in a real browser (a run, Experiments 2 and 3): Debian's chromium, headless, driven by selenium (no
browser download).

Every section and figure is present and visible (folded figures once opened), clicking a header re-sorts its
table, the page logs no console error, a screenshot of the whole page is saved (its path printed); at 1280 px the
page does not scroll sideways, every figure fits the window, no title or cell is cut off, and the page opens
(every image decoded) within a generous bound.
Skips, saying what is missing, where chromium, chromedriver or selenium are not installed
(`.ci/run` installs Debian's chromium and chromium-driver where apt-get works).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .pageparse import parse

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'supermasks[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.is_file() and shutil.which(path.name) is None:
            return f"{path} is missing (apt-get install {package})"
    return None


@pytest.fixture(scope="module")
def browser():
    why = _missing()
    if why is not None:
        pytest.skip(f"no browser test: {why}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium"))
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER if CHROMEDRIVER.is_file()
                                                  else shutil.which("chromedriver"))), options=options)
    yield driver
    driver.quit()


def _values(table, index):
    return [row.find_elements("css selector", "td")[index].get_attribute("data-value")
            for row in table.find_elements("css selector", "tbody tr")]


def _every_section_and_figure_visible(browser, path):
    """Open `path`; every section and its contents link are shown, every image is decoded and visible."""
    from selenium.webdriver.common.by import By

    page = parse(path.read_text(encoding="utf-8"))
    browser.get(path.as_uri())
    for section in page.sections:
        element = browser.find_element(By.ID, section)
        assert element.is_displayed(), section
        link = browser.find_element(By.CSS_SELECTOR, f'nav a[href="#{section}"]')
        assert link.is_displayed()
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == len(page.images) > 0
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true);")  # folded figures
    for image in images:
        browser.execute_script("arguments[0].scrollIntoView();", image)
        assert image.is_displayed()
        # decoded: a broken data URI has no natural size
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0
    return page


WIDTH = 1280
TIMING = ("const n = performance.getEntriesByType('navigation')[0];"  # as benchmarks/report_open.py reads it
          "return [n.domContentLoadedEventEnd - n.startTime, n.loadEventEnd - n.startTime];")
OPENS_WITHIN_MS = 3000  # a generous bound on a page that opens in about 0.2 s (benchmarks/report_open.py)

# Every element that overflows its box sideways (its text cut off or spilling out), and the page's own width.
OVERFLOW = """
const out = [];
for (const e of document.querySelectorAll('h1, h2, h3, figcaption, caption, summary, dt, dd, p, li, th, td')) {
  if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
    out.push(e.tagName + ': ' + e.textContent.slice(0, 60));
}
for (const e of document.querySelectorAll('.table-wrap')) {
  if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1) out.push('table: ' + e.textContent.slice(0, 60));
}
const wide = [...document.querySelectorAll('img, figure, h1, h2, h3, p, table')].filter(
  e => e.offsetParent !== null && e.getBoundingClientRect().right > window.innerWidth + 1).map(
  e => e.tagName + ' ' + (e.alt || e.textContent.slice(0, 60)) + ' ends at ' + e.getBoundingClientRect().right);
return [document.documentElement.scrollWidth, window.innerWidth, out, wide];
"""


def _fits_the_width(browser, path):
    """At 1280 px: the page does not scroll sideways, every figure (folded ones opened) ends within the window,
    no heading, caption or cell is cut off, and no table needs its own scroll bar."""
    browser.set_window_size(WIDTH, 1000)
    browser.get(path.as_uri())
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true);")
    page_width, window_width, clipped, wide = browser.execute_script(OVERFLOW)
    assert page_width <= window_width, f"the page is {page_width} px wide in a {window_width} px window"
    assert clipped == [] and wide == []


def _opening_ms(browser, path, repeats=3):
    """The fastest of `repeats` loads of `path`: milliseconds from navigation start to the load event (every
    embedded image decoded), from the page's Navigation Timing entry."""
    times = []
    for _ in range(repeats):
        browser.get("about:blank")
        browser.get(path.as_uri())
        times.append(browser.execute_script(TIMING)[1])
    return min(times)


def _console_errors(browser):
    try:
        log = browser.get_log("browser")
    except Exception:  # noqa: BLE001 (a driver without the log endpoint: nothing to check)
        log = []
    return [entry for entry in log if entry.get("level") == "SEVERE"]


def _screenshot(browser, path):
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height), 16000))
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 0
    print(f"screenshot of the report: {path}")


def test_the_report_in_headless_chromium(browser, run_page, tmp_path):
    from selenium.webdriver.common.by import By

    _every_section_and_figure_visible(browser, run_page)
    # Sorting: the cost table by its "memory total" column, ascending then descending.
    table = browser.find_element(By.CSS_SELECTOR, "#cost table")
    headers = [th.text.strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    index = headers.index("memory total")
    header = table.find_elements(By.CSS_SELECTOR, "thead th")[index]
    before = _values(table, index)
    assert len(set(before)) > 1  # naive and supsup keep different amounts: the order is visible
    header.click()
    ascending = _values(table, index)
    assert [float(v) for v in ascending] == sorted(float(v) for v in before)
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    descending = _values(table, index)
    assert descending == ascending[::-1] and header.get_attribute("aria-sort") == "descending"
    methods = [row.find_elements(By.CSS_SELECTOR, "td")[headers.index("method")].text
               for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert sorted(methods) == ["naive", "supsup"]  # rows move whole
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path / "report.png")
    _fits_the_width(browser, run_page)
    opening = _opening_ms(browser, run_page)
    print(f"the run's report opens in {opening:.0f} ms")
    assert 0 < opening < OPENS_WITHIN_MS


def test_a_report_over_seeds_fits_the_window(browser, tiny_runs, tmp_path):
    from supermasks.report import write_report

    page = write_report(tiny_runs["runs"], tmp_path / "report.html")
    _every_section_and_figure_visible(browser, page)
    _fits_the_width(browser, page)
    assert 0 < _opening_ms(browser, page) < OPENS_WITHIN_MS


def test_the_experiment2_report_in_headless_chromium(browser, transfer_study, tmp_path):
    from selenium.webdriver.common.by import By

    page = _every_section_and_figure_visible(browser, transfer_study[0] / "report.html")
    assert {"transfer", "similarity", "signature-inference"} <= set(page.sections)
    # Sorting: the table of every budget by its budget column (listed mode by mode before)
    table = browser.find_elements(By.CSS_SELECTOR, "#transfer table")[1]
    headers = [th.text.strip() for th in table.find_elements(By.CSS_SELECTOR, "thead th")]
    index = headers.index("budget")
    before = [float(v) for v in _values(table, index)]
    assert before != sorted(before)
    table.find_elements(By.CSS_SELECTOR, "thead th")[index].click()
    assert [float(v) for v in _values(table, index)] == sorted(before)
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path / "experiment2.png")
    _fits_the_width(browser, transfer_study[0] / "report.html")


def test_the_experiment3_report_in_headless_chromium(browser, inference_study, tmp_path):
    from selenium.webdriver.common.by import By

    from supermasks.report import write_report

    page_path = write_report([inference_study[0]], tmp_path / "report.html")  # with the figures
    page = _every_section_and_figure_visible(browser, page_path)
    assert "experiment3" in page.sections
    confusions = browser.find_elements(By.CSS_SELECTOR, "#experiment3 figure img")
    assert len(confusions) == 2 and all(image.is_displayed() for image in confusions)
    assert _console_errors(browser) == []
    _screenshot(browser, tmp_path / "experiment3.png")
