"""Names that do not collide between the lab and the suite.

The lab and the suite build the same Kubernetes and Istio shapes from upstream sources on their
own, so each once grew modules and classes named like the other's (two errors.py with the same
exception names, two selectors.py, two MeshFacts). A reader who greps for a name, or meets it in
a traceback, then has to work out which side it is on. These tests keep every module and
top-level class name on one side only; the suite is the layered library (kube, mesh, run,
checks, report).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "meshconform"
LAB = PACKAGE / "lab"
SUITE = [PACKAGE / layer for layer in ("kube", "mesh", "run", "checks", "report")]
SHARED_BY_NATURE = {"__init__", "__main__"}


def _modules(roots: Iterable[Path]) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.py"))


def _module_names(roots: Iterable[Path]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for path in _modules(roots):
        if path.stem not in SHARED_BY_NATURE:
            names.setdefault(path.stem, []).append(str(path.relative_to(PACKAGE)))
    return names


def _class_names(roots: Iterable[Path]) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for path in _modules(roots):
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            if isinstance(node, ast.ClassDef):
                names.setdefault(node.name, []).append(str(path.relative_to(PACKAGE)))
    return names


def _shared(lab: dict[str, list[str]], suite: dict[str, list[str]]) -> list[str]:
    return [f"{name}: {lab[name] + suite[name]}" for name in sorted(lab.keys() & suite.keys())]


def test_no_module_name_is_both_the_labs_and_the_suites() -> None:
    """No module of the lab is named like a module of the suite."""
    shared = _shared(_module_names([LAB]), _module_names(SUITE))
    assert not shared, "rename the lab's module to say what it emulates: " + "; ".join(shared)


def test_no_class_name_is_both_the_labs_and_the_suites() -> None:
    """No top-level class of the lab is named like one of the suite."""
    shared = _shared(_class_names([LAB]), _class_names(SUITE))
    assert not shared, "rename the lab's class to say what it emulates: " + "; ".join(shared)
