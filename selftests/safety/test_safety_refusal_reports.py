"""A run refused before any test is still a result: junit.xml, summary.json and report.html say why.

A nightly CI job reads a missing junit.xml as "no test results", not as a red gate. Each refusal
below is one a nightly job meets (an unknown context, credentials that expired, an API server
that moved, a kubeconfig that was rewritten, a bad option value): the run still ends with one
line and exit 4 (test_safety_bad_input.py holds that), and leaves a junit.xml that junitparser (a
JUnit reader CI tools build on) reads as one errored testcase whose message is exactly that line,
a summary.json that validates against docs/summary.schema.json with `"verdict": "refused"`, and a
report.html that shows the line. No file holds a traceback or a credential.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from junitparser import Error, JUnitXml
from safety_support import REFUSAL_SECONDS, run_suite
from support import ROOT, LabEnv
from test_safety_bad_input import _closed_port, assert_refused, kubeconfig_doc, write_doc

SCHEMA = json.loads((ROOT / "docs" / "summary.schema.json").read_text())


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabEnv]:
    with LabEnv.start(tmp_path_factory.mktemp("refusal-reports")) as target:
        yield target


def _unknown_context(lab: LabEnv, tmp: Path) -> list[str]:
    return lab.args(lab.contexts[0], "gke_nope_us-central1-a_cluster-9")


def _expired_token(lab: LabEnv, tmp: Path) -> list[str]:
    doc = kubeconfig_doc(lab)
    doc["users"][1]["user"]["token"] = "expired-" + doc["users"][1]["user"]["token"][::-1]
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]]


def _closed(lab: LabEnv, tmp: Path) -> list[str]:
    doc = kubeconfig_doc(lab)
    doc["clusters"][1]["cluster"]["server"] = f"https://127.0.0.1:{_closed_port()}"
    return [f"--kubeconfig={write_doc(tmp / 'kubeconfig', doc)}", *lab.args()[1:]]


def _malformed(lab: LabEnv, tmp: Path) -> list[str]:
    path = tmp / "kubeconfig"
    path.write_text("apiVersion: v1\nclusters: [this is: not, a kubeconfig\n")
    return [f"--kubeconfig={path}", *lab.args()[1:]]


def _bad_option(lab: LabEnv, tmp: Path) -> list[str]:
    return [*lab.args(), "--requests=-5"]


def _no_value(lab: LabEnv, tmp: Path) -> list[str]:
    return [*lab.args(), "--ctx1"]  # argparse: expected one argument


def _unknown_option(lab: LabEnv, tmp: Path) -> list[str]:
    return [*lab.args(), "--no-such-option"]


def _xdist_refuses(lab: LabEnv, tmp: Path) -> list[str]:
    return [*lab.args(), "-n", "many"]  # another plugin's type= refuses the value


def _path_in_another_project(lab: LabEnv, tmp: Path) -> list[str]:
    """`--samples-dir DIR` under another pytest project: pytest took that project's config file."""
    other = tmp / "other"
    for name in ("helloworld", "sleep"):
        (other / "samples" / name).mkdir(parents=True)
        shutil.copy(ROOT / "manifests" / f"{name}.yaml", other / "samples" / name / f"{name}.yaml")
    (other / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "-q"\n')
    return [*lab.args(), "--samples-dir", str(other / "samples")]


CASES: dict[str, tuple[Callable[[LabEnv, Path], list[str]], str]] = {
    "unknown-context": (_unknown_context, "is not in the kubeconfig"),
    "expired-credentials-401": (_expired_token, "401 Unauthorized"),
    "closed-port": (_closed, "refused"),
    "malformed-kubeconfig": (_malformed, "cannot read"),
    "bad-option-value": (_bad_option, "--requests '-5'"),
    # Refused by pytest's own parser or before the suite's plugin runs (meshconform_options).
    "option-without-its-value": (_no_value, "argument --ctx1/--mc-ctx1: expected one argument"),
    "unknown-option": (_unknown_option, "unrecognized arguments: --no-such-option"),
    "another-plugins-value": (_xdist_refuses, "argument -n/--numprocesses"),
    "path-in-another-project": (_path_in_another_project, "took this path for a test path"),
}


def _secrets(lab: LabEnv, tmp: Path) -> list[str]:
    """Every token the lab's kubeconfig and the test's own kubeconfig hold."""
    found = []
    for path in (lab.kubeconfig, tmp / "kubeconfig"):
        try:
            doc = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):  # the malformed case: it holds no token to look for
            continue
        users = doc.get("users", []) if isinstance(doc, dict) else []
        found += [u["user"]["token"] for u in users if isinstance(u, dict) and "token" in u.get("user", {})]
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_refusal_leaves_three_reports_saying_why(case: str, lab: LabEnv, tmp_path: Path) -> None:
    make, fragment = CASES[case]
    reports = tmp_path / "reports"
    run = run_suite(reports, *make(lab, tmp_path), timeout=REFUSAL_SECONDS)
    line = assert_refused(run, fragment).removeprefix("ERROR: ")
    _junit_is_one_error(reports / "junit.xml", line)
    _summary_is_refused(reports / "summary.json", line)
    page = (reports / "report.html").read_text()
    assert "Refused before any test" in page and _escaped(line) in page, page
    for name in ("junit.xml", "summary.json", "report.html"):
        text = (reports / name).read_text()
        assert "Traceback" not in text, name
        for secret in _secrets(lab, tmp_path):
            assert secret not in text, f"a token in {name}"


def _escaped(text: str) -> str:
    from html import escape

    return escape(text)


def _junit_is_one_error(path: Path, line: str) -> None:
    xml = JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    assert len(cases) == 1, [c.name for c in cases]
    [result] = cases[0].result
    assert isinstance(result, Error), result
    assert result.message == line
    assert (xml.errors, xml.failures, xml.tests) == (1, 0, 1)


def _summary_is_refused(path: Path, line: str) -> None:
    doc: dict[str, Any] = json.loads(path.read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert (doc["exit_code"], doc["outcome"], doc["verdict"]) == (4, "usage-error", "refused")
    assert doc["refusal"] == {"message": line}
    assert doc["checks"] == {}


def test_schema_holds_a_refusal_to_its_promises(lab: LabEnv, tmp_path: Path) -> None:
    """A refused summary without its refusal, or with checks, is not valid."""
    reports = tmp_path / "reports"
    assert_refused(run_suite(reports, *_bad_option(lab, tmp_path), timeout=REFUSAL_SECONDS))
    doc = json.loads((reports / "summary.json").read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert validator.is_valid(doc)
    assert not validator.is_valid({k: v for k, v in doc.items() if k != "refusal"})
    assert not validator.is_valid({**doc, "verdict": "pass"})


def test_refused_report_dir_writes_nothing_and_says_one_line(tmp_path: Path) -> None:
    """A --report-dir that cannot hold the reports is the refusal itself: nothing else is said."""
    target = tmp_path / "file"
    target.write_text("")
    run = run_suite(tmp_path / "unused", "--lab", f"--report-dir={target}/reports", timeout=REFUSAL_SECONDS)
    assert_refused(run, "--report-dir")
    assert not (tmp_path / "unused").exists()


def test_only_the_suites_runs_report_a_refusal_of_pytests_parser(lab: LabEnv, tmp_path: Path) -> None:
    """A run of other tests (here the self-tests) keeps pytest's own usage error and gets no reports."""
    other = run_suite(tmp_path / "other", "selftests/unit/test_config.py", "--no-such-option",
                      timeout=REFUSAL_SECONDS)
    assert other.returncode == 4 and "usage:" in other.output, other.tail()
    assert not (tmp_path / "other").exists()
    ours = run_suite(tmp_path / "ours", *_unknown_option(lab, tmp_path), timeout=REFUSAL_SECONDS)
    line = assert_refused(ours, "--no-such-option").removeprefix("ERROR: ")
    _junit_is_one_error(tmp_path / "ours" / "junit.xml", line)


def test_user_chosen_junit_path_gets_the_error(lab: LabEnv, tmp_path: Path) -> None:
    """--junitxml PATH is honoured as pytest honours it: the refusal goes there."""
    junit = tmp_path / "ci" / "results.xml"
    run = run_suite(tmp_path / "reports", *_unknown_context(lab, tmp_path), f"--junitxml={junit}",
                    timeout=REFUSAL_SECONDS)
    line = assert_refused(run).removeprefix("ERROR: ")
    _junit_is_one_error(junit, line)



def test_a_usage_error_after_preflight_is_a_fail_not_a_refusal(lab: LabEnv, tmp_path: Path) -> None:
    """pytest's own usage error in collection (a test path that is not there) also exits 4, after
    the session began: its summary has no refusal and must still validate, as a fail."""
    reports = tmp_path / "reports"
    run = run_suite(reports, *lab.args(), "tests/test_no_such_file.py", timeout=REFUSAL_SECONDS)
    assert run.returncode == 4, run.tail()
    doc = json.loads((reports / "summary.json").read_text())
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert [e.message for e in validator.iter_errors(doc)] == []
    assert (doc["verdict"], "refusal" in doc) == ("fail", False)
