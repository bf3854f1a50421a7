"""The stage table (run/pipeline.py STAGES): which stages a run's plan holds, and one numbering of
the guide's steps in the table, the stage fixtures' docstrings, the pipeline's section headers and
the file names of tests/."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from meshconform.run import pipeline

ROOT = Path(__file__).resolve().parents[2]


def names(join: str, *needed: str) -> list[str]:
    return [s.name for s in pipeline.plan(SimpleNamespace(join=join), *needed)]  # type: ignore[arg-type]


def test_a_run_that_needs_the_workloads_deploys_them_before_the_join():
    """Their pods start while the join is made and istiod syncs; no empty namespace is claimed."""
    expected = ["clusters", "control", "deploy", "join", "sync", "workloads", "traffic"]
    assert names("create", "traffic") == expected
    assert names("create", "join", "workloads") == expected[:-1]


@pytest.mark.parametrize(("join", "claims"), [("create", True), ("replace", True), ("verify", False)])
def test_a_run_that_only_joins_holds_an_empty_namespace_unless_it_writes_nothing(join, claims):
    assert names(join, "join") == ["clusters", "control", *(["claim"] if claims else []), "join"]
    assert names(join, "control", "clusters") == ["clusters", "control"]


def _fixture_docstrings() -> dict[str, str]:
    tree = ast.parse((ROOT / "fixtures" / "mesh.py").read_text())
    return {f.name: ast.get_docstring(f) or "" for f in tree.body if isinstance(f, ast.FunctionDef)}


def _says_step(text: str, step: str) -> bool:
    return re.search(rf"\b[Ss]teps? {re.escape(step)}\b", text) is not None


@pytest.mark.parametrize("stage", [s for s in pipeline.STAGES if s.fixture], ids=lambda s: s.name)
def test_each_stage_fixture_names_the_guides_step_of_its_stage(stage):
    doc = _fixture_docstrings()[stage.fixture]
    assert doc.startswith(("Step ", "Steps ")) and _says_step(doc.split(":")[0], stage.step), doc


def test_the_pipelines_sections_are_headed_by_the_guides_steps_of_the_table():
    headers = re.findall(r"^# -- (steps? [0-9-]+)", (ROOT / "meshconform/run/pipeline.py").read_text(), re.M)
    assert {h.split()[1] for h in headers} == {s.step for s in pipeline.STAGES}, headers


@pytest.mark.parametrize("path", sorted((ROOT / "tests").glob("test_*.py")), ids=lambda p: p.name)
def test_each_test_file_is_numbered_by_the_guides_step_its_docstring_names(path):
    match = re.match(r"test_(\d)_", path.name)
    assert match, f"{path.name}: tests/ files are named test_STEP_area.py"
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    step = match.group(1)
    assert _says_step(doc, step) or re.search(rf"\bsteps {step}-\d", doc), doc
    assert step in {s.step.split("-")[0] for s in pipeline.STAGES}
