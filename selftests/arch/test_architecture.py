"""The architecture's "never" rules, enforced (STYLE.md pattern 9).

- The lab and the suite never import each other: each builds Kubernetes and Istio shapes from the
  upstream sources on its own, so one misreading cannot hide itself on both sides.
- The library knows nothing of pytest; only the report glue may touch it.
- The suite never interprets fault names: outside the lab they are only handed over.
- One module, one name: the package and tests/ import no module of meshconform under an alias
  (a reader who sees `verdicts.x` should find a verdicts module).

`nox -s lint` checks the import rules again with import-linter (pyproject.toml); this test keeps
them in the README's self-test command too, where every change runs it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "meshconform"
LAB = PACKAGE / "lab"
# Modules that drive or decorate pytest by nature: the bench's warm runner calls pytest.main.
PYTEST_ALLOWED = {"bench/driver.py"}
PYTEST_PACKAGES = {"pytest", "_pytest", "xdist", "pytest_html"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _suite_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if LAB not in p.parents)


def _lab_modules() -> list[Path]:
    return sorted(LAB.rglob("*.py"))


@pytest.mark.parametrize("path", _lab_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lab_imports_nothing_from_the_suite(path: Path) -> None:
    bad = {m for m in _imports(path) if m.startswith("meshconform.") and not m.startswith("meshconform.lab")}
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}: the lab must stand alone"


@pytest.mark.parametrize("path", _suite_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_suite_never_imports_the_lab(path: Path) -> None:
    bad = {m for m in _imports(path) if m == "meshconform.lab" or m.startswith("meshconform.lab.")}
    assert not bad, (
        f"{path.relative_to(PACKAGE)} imports {sorted(bad)}: only pytest wiring (conftest.py, "
        "fixtures/) may start the lab"
    )


def _pytest_imports(path: Path) -> set[str]:
    return {m for m in _imports(path) if m.split(".")[0] in PYTEST_PACKAGES}


@pytest.mark.parametrize(
    "path",
    [p for p in _suite_modules() if str(p.relative_to(PACKAGE)) not in PYTEST_ALLOWED],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_library_knows_nothing_of_pytest(path: Path) -> None:
    bad = _pytest_imports(path)
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}: fixtures wire the library"


def test_the_pytest_exceptions_are_exactly_the_modules_that_drive_pytest() -> None:
    """Each allowed module exists and does import pytest, and no other does: an entry left behind
    by a move or a rename would otherwise let the next module of that name import it unseen."""
    driving = {str(p.relative_to(PACKAGE)) for p in _suite_modules() if _pytest_imports(p)}
    assert driving == PYTEST_ALLOWED, (
        f"modules importing pytest: {sorted(driving)}; allowed: {sorted(PYTEST_ALLOWED)}"
    )


ROOT = PACKAGE.parent
SUITE_SOURCES = [
    *_suite_modules(),
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "fixtures").rglob("*.py")),
    ROOT / "conftest.py",
]


def _fault_names() -> set[str]:
    from meshconform.lab import known_faults  # the self-tests may know the lab; the suite may not

    return {spec.split(":")[0] for spec in known_faults()}


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@pytest.mark.parametrize(
    "path", [p for p in SUITE_SOURCES if p.exists()], ids=lambda p: str(p.relative_to(ROOT))
)
def test_suite_never_interprets_fault_names(path: Path) -> None:
    """The suite finds faults through the Kubernetes API only; fault names are just handed over."""
    names = _fault_names()
    seen = {s for s in _string_constants(path) if s in names or s.split(":")[0] in names}
    assert not seen, f"{path.relative_to(ROOT)} mentions lab fault names {sorted(seen)}"


def _renamed_modules(path: Path) -> set[str]:
    """`import meshconform.x.y as z` / `from meshconform.x import y as z` where y is a module and z
    is not its name: one module, one name, wherever it is read."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("meshconform"):
            for alias in node.names:
                module = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (module.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / module.replace(".", "/")
                ).is_dir()
                if alias.asname and alias.asname != alias.name and is_module:
                    found.add(f"{module} as {alias.asname}")
        elif isinstance(node, ast.Import):
            found.update(
                f"{a.name} as {a.asname}"
                for a in node.names
                if a.name.startswith("meshconform") and a.asname and a.asname != a.name.rsplit(".", 1)[-1]
            )
    return found


@pytest.mark.parametrize(
    "path",
    [*_suite_modules(), *sorted((ROOT / "tests").rglob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_modules_are_read_by_their_own_names(path: Path) -> None:
    renamed = _renamed_modules(path)
    assert not renamed, f"{path.relative_to(ROOT)} renames {sorted(renamed)}: import each module by its name"
