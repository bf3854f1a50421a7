"""The HTML report in a real browser: headless Chromium opens a lab run's report.html.

pytest-html builds its results table with JavaScript from a JSON blob, so only a browser can say
whether the report a person opens actually renders: the results table has a row per test, the
traffic matrix and the SVG chart are there, and no script error was logged. The faulted run's
report must show, without opening a log, the failing pair, the missing secret, the hint and the
matrix cell where cluster-2 never reached v1. Screenshots are kept under reports/ (a CI
artifact). Without Chromium the test is skipped locally but FAILS in CI (CI=true), where
.ci/run installs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_support import PAIR
from support import ROOT, Run

pytestmark = pytest.mark.selftest_slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1800",
)
SHOTS = ROOT / "reports"
RENDER_SECONDS = 20


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}; CI must run the browser test (.ci/run installs chromium and chromium-driver)")
    pytest.skip(f"{why}; install Debian's chromium and chromium-driver to run it")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium through chromedriver, with a fresh profile and console logging."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(DRIVER, os.X_OK)):
        _unavailable(f"no chromium at {CHROMIUM} or no chromedriver at {DRIVER}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="meshconform-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver: Any, run: Run) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get((run.report_dir / "report.html").as_uri())
    rows = "return document.querySelectorAll('#results-table tbody.results-table-row').length"
    WebDriverWait(driver, RENDER_SECONDS).until(lambda d: d.execute_script(rows) >= 36)


def _script_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _screenshot(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 12000))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"


def _texts(driver: Any, css: str) -> list[str]:
    return [e.text for e in driver.find_elements("css selector", css)]


def test_lab_report_renders(browser: Any, lab_run: Run) -> None:
    _open(browser, lab_run)
    rows = browser.find_elements("css selector", "#results-table tbody.results-table-row")
    assert len(rows) == 36 and all("passed" in r.get_attribute("class") for r in rows)
    matrix = browser.find_element("css selector", "table.meshconform-matrix")
    assert matrix.is_displayed()
    assert [r.text.split()[:2] for r in matrix.find_elements("css selector", "tr")[1:]] == [
        ["from", "cluster-1"],
        ["from", "cluster-2"],
    ]
    chart = browser.find_element("css selector", "svg.meshconform-chart")
    assert chart.is_displayed() and len(chart.find_elements("css selector", "rect")) >= 4
    assert "All 36 checks passed" in browser.find_element("css selector", ".mc-verdict").text
    environment = browser.find_element("id", "environment").text
    assert "gke_meshconform-lab_us-central1-a_cluster-1" in environment and "asm-1285-9" in environment
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / "report-screenshot.png")


VERDICT = ".mc-verdict"


def test_faulted_report_shows_pair_secret_matrix_and_hint(browser: Any, fault_run: Run) -> None:
    _open(browser, fault_run)
    verdict = browser.find_element("css selector", ".mc-verdict").text
    assert f"test_remote_secret_present[{PAIR}]" in verdict and "Hint:" in verdict
    failing_cells = _texts(browser, "table td.failed")
    assert any("FAIL" in t for t in failing_cells), "the pair grid shows no failing pair"
    matrix_rows = {
        r.find_element("css selector", "th").text: r.text
        for r in browser.find_elements("css selector", "table.meshconform-matrix tr")[1:]
    }
    assert "never reached" in matrix_rows["from cluster-2"]
    assert "never reached" not in matrix_rows["from cluster-1"]
    failed = browser.find_element("css selector", "#results-table tbody.failed")
    text = failed.text
    assert "NOT FOUND" in text and "istio-remote-secret-cluster-1" in text, "the missing secret is not shown"
    assert "Hint:" in text and failed.find_element("css selector", "a[href^='https://istio.io/']")
    skipped = browser.find_element("css selector", "#results-table tbody.skipped").text
    assert "Skipped because of it" not in skipped and f"test_remote_secret_present[{PAIR}] failed" in skipped
    assert "('/" not in skipped and ".py'," not in skipped, f"a skip shows pytest's tuple: {skipped}"
    top = {css: browser.find_element("css selector", css).location["y"] for css in (VERDICT, "#environment")}
    assert top[VERDICT] < top["#environment"], f"the verdict is not the first thing on the page: {top}"
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / "report-screenshot-fault.png")
