"""Running the suite as a user does (`python -m pytest --lab ...` in a subprocess) and reading
what it wrote: summary.json, report.html, junit.xml, and the terminal output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "summary.schema.json"
PAIR = "cluster-1->cluster-2"
FAULT = f"no-secret:{PAIR}"


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.report_dir / "summary.json").read_text())
        return doc

    @property
    def html(self) -> str:
        return (self.report_dir / "report.html").read_text()

    @property
    def junit(self) -> ET.Element:
        return ET.parse(self.report_dir / "junit.xml").getroot()

    def output(self) -> str:
        return self.stdout[-4000:] + self.stderr[-4000:]


def run_suite(report_dir: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    """`python -m pytest ARGS --report-dir=DIR` from the repository root, as a user types it."""
    cmd = [sys.executable, "-m", "pytest", f"--report-dir={report_dir}", "-p", "no:cacheprovider", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MESHCONFORM_"))}
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**clean, **(env or {})}
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, report_dir)
