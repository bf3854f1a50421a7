"""The HTML report in a real browser: headless Chromium opens a lab run's report.html.

pytest-html builds its results table with JavaScript from a JSON blob, so only a browser can say
whether the report a person opens actually renders: the results table has a row per test, the
traffic matrix and the SVG chart are there, and no script error was logged. The faulted run's
report must show, without opening a log, the failing pair, the missing secret, the hint and the
matrix cell where cluster-2 never reached v1. At 8 and 20 clusters the report must still fit a
1400 px window: no horizontal scrolling, every pair matrix, the traffic matrix and the chart inside
it, and each failing cell of a pair matrix a link to the results row that holds its evidence. The
20-cluster layout is proven on a synthetic report (synthetic.py: a real pytest-html run of the
suite's checks by name, fed to the suite's own page) and, once the lab takes 20 clusters, on a lab
run. Screenshots are kept under reports/ (a CI artifact). Without Chromium the test is skipped
locally but FAILS in CI (CI=true), where .ci/run installs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import synthetic
from report_support import PAIR
from support import ROOT, Run, run_suite

from meshconform.lab.options import MAX_CLUSTERS

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


def _open(driver: Any, run: Run | Path, rows: int = 40) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    path = run if isinstance(run, Path) else run.report_dir / "report.html"
    driver.get(path.as_uri())
    count = "return document.querySelectorAll('#results-table tbody.results-table-row').length"
    WebDriverWait(driver, RENDER_SECONDS).until(lambda d: d.execute_script(count) >= rows)


def _script_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _screenshot(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 40, 12000))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), f"no screenshot written to {path}"


def test_lab_report_renders(browser: Any, lab_run: Run) -> None:
    _open(browser, lab_run)
    rows = browser.find_elements("css selector", "#results-table tbody.results-table-row")
    outcomes = [r.get_attribute("class") for r in rows]
    # one network, in-cluster istiods: the three east-west, the three managed control plane and
    # the two primary-remote checks per cluster, and the sidecar's sync per pair, do not apply
    # (skipped, saying so)
    assert sum("passed" in c for c in outcomes) == 46 and sum("skipped" in c for c in outcomes) == 18
    matrix = browser.find_element("css selector", "table.meshconform-matrix")
    assert matrix.is_displayed()
    assert [r.text.split()[:2] for r in matrix.find_elements("css selector", "tr")[1:]] == [
        ["from", "cluster-1"],
        ["from", "cluster-2"],
    ]
    chart = browser.find_element("css selector", "svg.meshconform-chart")
    assert chart.is_displayed() and len(chart.find_elements("css selector", "rect")) >= 4
    assert "All 46 checks passed, 18 skipped" in browser.find_element("css selector", ".mc-verdict").text
    server = matrix.find_elements("css selector", "small.mc-server")
    assert len(server) == 4 and all(s.is_displayed() and "mTLS" in s.text for s in server)
    assert not matrix.find_elements("css selector", ".mc-unconfirmed")  # every answer confirmed
    environment = browser.find_element("id", "environment").text
    assert "gke_meshconform-lab_us-central1-a_cluster-1" in environment and "asm-1285-9" in environment
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / "report-screenshot.png")


VERDICT = ".mc-verdict"


def test_faulted_report_shows_pair_secret_matrix_and_hint(browser: Any, fault_run: Run) -> None:
    _open(browser, fault_run)
    verdict = browser.find_element("css selector", ".mc-verdict").text
    assert f"test_remote_secret_present[{PAIR}]" in verdict and "Hint:" in verdict
    links = _failing_links(browser)
    assert list(links) == [f"test_remote_secret_present[{PAIR}]"], "the pair matrix shows no failing pair"
    assert "NOT FOUND" in _row_behind(browser, links[f"test_remote_secret_present[{PAIR}]"]).text
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
    rows = browser.find_elements("css selector", "#results-table tbody.skipped")
    skipped = next(r.text for r in rows if "does not apply" not in r.text)  # a premise, not the model
    assert "Skipped because of it" not in skipped and f"test_remote_secret_present[{PAIR}] failed" in skipped
    assert "('/" not in skipped and ".py'," not in skipped, f"a skip shows pytest's tuple: {skipped}"
    top = {css: browser.find_element("css selector", css).location["y"] for css in (VERDICT, "#environment")}
    assert top[VERDICT] < top["#environment"], f"the verdict is not the first thing on the page: {top}"
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / "report-screenshot-fault.png")


# -- the report at scale ---------------------------------------------------------------------------

WIDE = ("table.mc-pair-matrix", ".mc-pairs", "table.mc-cluster-grid", "table.meshconform-matrix", "svg")


def _overflow(driver: Any) -> list[str]:
    """What is wider than the window: the page itself, or one of the report's wide elements."""
    width, client = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    out = [f"page scrolls sideways: {width} > {client}"] if width > client else []
    for css in WIDE:
        for element in driver.find_elements("css selector", css):
            right = driver.execute_script("return arguments[0].getBoundingClientRect().right", element)
            if right > client:
                out.append(f"{css} ends at {right:.0f} px of {client}")
    return out


def _failing_links(driver: Any) -> dict[str, str]:
    """check id -> link of every failing cell of the pair matrices (the id opens its tooltip)."""
    cells = driver.find_elements("css selector", "table.mc-pair-matrix td.failed")
    return {
        c.get_attribute("title").split(": ", 1)[0]: c.find_element("css selector", "a").get_attribute("href")
        for c in cells
    }


def _row_behind(driver: Any, href: str) -> Any:
    """The element a fragment link points at: pytest-html's results row for that test."""
    element = driver.execute_script(
        "return document.getElementById(arguments[0])", unquote(href.split("#", 1)[1])
    )
    assert element is not None, f"{href} points at nothing"
    return element


def _assert_fits_and_links(driver: Any, failed: set[str], n: int) -> None:
    assert _overflow(driver) == []
    matrices = driver.find_elements("css selector", "table.mc-pair-matrix")
    assert len(matrices) == 6 and all(len(m.find_elements("css selector", "td")) == n * n for m in matrices)
    links = _failing_links(driver)
    assert set(links) == failed
    for check_id, href in links.items():
        row = _row_behind(driver, href)
        assert row.tag_name == "tbody" and "failed" in row.get_attribute("class"), check_id
        assert check_id in row.text
    cell = driver.find_element("css selector", "table.mc-pair-matrix td.failed a")
    driver.execute_script("window.scrollTo(0, 0)")
    cell.click()
    top = driver.execute_script(
        "return document.getElementById(decodeURIComponent(location.hash.slice(1)))"
        ".getBoundingClientRect().top"
    )
    assert 0 <= top < 50, f"the failing cell's link did not bring its row into view (top at {top})"


def test_synthetic_report_fits_1400_px_at_20_clusters(browser: Any, tmp_path: Path) -> None:
    n = 20
    others = [b for b in synthetic.names(n) if b != "cluster-3"]
    failing = {
        "test_remote_secret_present": {"cluster-1->cluster-2", "cluster-1->cluster-5"},
        "test_remote_secret_credentials": {f"cluster-3->{b}" for b in others},
        "test_calls_reach_every_cluster": {"cluster-2", "cluster-5"},
    }
    missed = [("cluster-2", "v1"), ("cluster-5", "v1")]
    report = synthetic.run_project(synthetic.write_project(tmp_path, n, failing, missed))
    _open(browser, report, rows=4 * n * (n - 1))
    pairs = {f"{c}[{t}]" for c, targets in failing.items() for t in targets if "->" in t}
    _assert_fits_and_links(browser, pairs, n)
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / "report-screenshot-20-synthetic.png")


SCALE_FAULTS = ("--lab-fault", f"no-secret:{PAIR}", "--lab-fault", "reader-rbac-missing:cluster-3")
TOO_MANY = pytest.mark.skipif(MAX_CLUSTERS < 20, reason=f"the lab takes at most {MAX_CLUSTERS} clusters")


@pytest.mark.parametrize("n", [8, pytest.param(20, marks=TOO_MANY)])
def test_lab_report_fits_1400_px(browser: Any, tmp_path: Path, n: int) -> None:
    run = run_suite(
        tmp_path, "--lab", "--lab-clusters", str(n), *SCALE_FAULTS, "--join", "verify", quiet=False
    )
    assert run.returncode == 1, run.tail()
    checks = run.summary["checks"]
    failed = {cid for cid, c in checks.items() if c["outcome"] == "failed" and "->" in (c["target"] or "")}
    assert f"test_remote_secret_present[{PAIR}]" in failed and len(failed) >= n
    _open(browser, run, rows=len(checks))
    _assert_fits_and_links(browser, failed, n)
    row = _row_behind(browser, _failing_links(browser)[f"test_remote_secret_present[{PAIR}]"])
    assert "Diagnostics gathered at failure" in row.text and "NOT FOUND" in row.text
    assert "failed: test_remote_secret_credentials: cluster-3->* (" in run.stdout
    assert _script_errors(browser) == []
    _screenshot(browser, SHOTS / f"report-screenshot-{n}.png")
