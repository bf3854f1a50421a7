"""The reports of a run refused before any test: junit.xml, summary.json and report.html, saying why.

A nightly job that stops at preflight (credentials expired, a context renamed, an API server
moved) must leave a red result that says why, not "no test results": CI systems show a job's
JUnit file and artifacts, and a missing file reads as a broken pipeline, not as a broken mesh. So
a refusal is written as one errored testcase whose message is exactly the line the terminal shows,
a summary.json with `"verdict": "refused"` and the refusal, and a small self-contained HTML page.

The JUnit shape is the one pytest's own junitxml writes for an error (a `<testsuites>` root, one
`<testsuite>` with `errors="1"`, the testcase's `<error message=... type=...>` holding the text), so
that the same parsers read both: GitHub's and GitLab's JUnit views, junitparser, Jenkins' xunit.
Every text passes meshconform.kube.redact first (the refusal line was cleaned when it was made; this is
the same last line of defence every other output has).
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from meshconform import __version__
from meshconform.kube.redact import redact
from meshconform.report import summary

CASE_CLASS = "meshconform"
CASE_NAME = "preflight"  # the testcase a refusal is reported as (no check ran)
ERROR_TYPE = "usage error"  # pytest's name for exit code 4
EXIT_CODE = 4


@dataclass(frozen=True)
class Refusal:
    """One refused run: the line the terminal showed, and the options as given (flags, no secrets)."""

    line: str
    options: dict[str, Any]
    secrets: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return redact(self.line, self.secrets)


def write(refusal: Refusal, summary_path: Path, junit_path: Path | None, html_path: Path | None) -> list[str]:
    """Write what can be written; return a line per file that could not be (the refusal itself
    stays the run's one line: a report directory that cannot be written is said after it)."""
    problems = []
    outputs: list[tuple[Path | None, str]] = [
        (summary_path, summary_text(refusal)),
        (junit_path, junit_text(refusal)),
        (html_path, html_text(refusal)),
    ]
    for path, text in outputs:
        if path is None:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(redact(text, refusal.secrets))
            tmp.replace(path)
        except OSError as exc:
            problems.append(f"cannot write {path}: {exc.strerror or exc}")
    return problems


def summary_doc(refusal: Refusal) -> dict[str, Any]:
    extra = {"options": refusal.options, "refusal": {"message": refusal.text}, "cleanup": None, "lab": None}
    return summary.build({}, None, EXIT_CODE, extra)


def summary_text(refusal: Refusal) -> str:
    import json

    return json.dumps(summary_doc(refusal), indent=2, sort_keys=True) + "\n"


def junit_text(refusal: Refusal) -> str:
    now = datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="microseconds")
    root = ET.Element("testsuites", name="pytest tests")
    suite = ET.SubElement(
        root, "testsuite", name="meshconform", errors="1", failures="0", skipped="0", tests="1",
        time="0.000", timestamp=now, hostname=socket.gethostname(),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("meshconform.version", __version__), ("meshconform.refused", "true")):
        ET.SubElement(props, "property", name=name, value=value)
    case = ET.SubElement(suite, "testcase", classname=CASE_CLASS, name=CASE_NAME, time="0.000")
    error = ET.SubElement(case, "error", message=refusal.text, type=ERROR_TYPE)
    error.text = f"{refusal.text}\n\nNo check ran: the run was refused before any test (exit code 4)."
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(root, encoding="unicode") + "\n"


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}"
    ".refused{border-left:6px solid #c00;padding:.5em 1em;background:#fee}"
    "code{background:#eee;padding:0 .2em}td,th{text-align:left;padding:.1em .8em .1em 0}"
)


def html_text(refusal: Refusal) -> str:
    rows = "".join(
        f"<tr><th>{escape(flag)}</th><td>{escape(_shown(value))}</td></tr>"
        for flag, value in sorted(refusal.options.items())
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>meshconform: run refused</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>meshconform: multi-cluster mesh conformance report</h1>"
        '<div class="refused" id="refusal"><p><b>Refused before any test: no check ran '
        f"(exit code {EXIT_CODE}).</b></p><p class=\"why\">{escape(refusal.text)}</p>"
        "<p>Fix what the line names and run again; nothing was created in any cluster.</p></div>"
        f"<h2>Options</h2><table>{rows or '<tr><td>(none given)</td></tr>'}</table>"
        f"<p>meshconform {escape(__version__)}, "
        f"{escape(datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'))}</p>"
        "</body></html>\n"
    )


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)
