"""The report self-tests' fixed points: the issue's faulted pair and the summary's JSON Schema.

Running the suite and reading what it wrote (summary.json, report.html, junit.xml, the terminal)
is selftests/support.py's, shared with the other self-test packages.
"""

from __future__ import annotations

from support import ROOT

SCHEMA = ROOT / "docs" / "summary.schema.json"
PAIR = "cluster-1->cluster-2"
FAULT = f"no-secret:{PAIR}"
