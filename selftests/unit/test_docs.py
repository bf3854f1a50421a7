"""The README and docs/ point at things that exist: files, headings, options, sessions, checks.

Why: the documentation names paths, anchors, options and check ids that the code moves and renames;
a stale one sends a user to nothing. Each test reads the Markdown as a renderer does
(markdown-it-py, CommonMark: a link inside a code span is not a link) and compares it with the
tree and with what the tools themselves declare:

- every relative link resolves to a file or folder, and its `#anchor` to a heading of the target
  (GitHub's anchor: lowercased, punctuation dropped, spaces to hyphens, `-1` for a repeat);
- every repository path written as code (`meshconform/run/cleanup.py`) exists;
- every `--option` the README names is one that `pytest --help` (the suite's plugin included),
  `python -m meshconform.lab serve --help` or `python -m meshconform.kind --help` lists, and every
  option of the suite's plugin is in the README;
- every `nox -s NAME` is a session of noxfile.py, every `python -m MODULE` can be found;
- the README's checks table lists exactly the tests in tests/, and docs/checks.md explains each;
- no product file (docs, code, CI setups) names what users do not have: the project's internal
  design notes, its source-procedure folder, tracker numbers, the machine it is developed on.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
# Top-level folders of the repository: a code span starting with one of them names a path in it.
REPO_DIRS = ("meshconform/", "meshconform_options/", "selftests/", "tests/", "fixtures/",
             "manifests/", "docs/", "ci/", ".ci/")
REPO_PATH = re.compile(r"^(?:" + "|".join(re.escape(d) for d in REPO_DIRS) + r")[\w./-]*$")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w-])")
PLUGIN_GROUP = "multi-cluster mesh conformance:"


def _tokens(page: Path) -> list[Token]:
    flat: list[Token] = []
    for token in MarkdownIt("commonmark").enable("table").parse(page.read_text()):
        flat.append(token)
        flat.extend(token.children or [])
    return flat


def _links(page: Path) -> list[str]:
    return [str(t.attrs["href"]) for t in _tokens(page) if t.type == "link_open"]


def _code_spans(page: Path) -> list[str]:
    return [t.content for t in _tokens(page) if t.type == "code_inline"]


def _code_text(page: Path) -> str:
    """Everything a reader would type: code spans and code blocks."""
    return "\n".join(t.content for t in _tokens(page) if t.type in ("code_inline", "code_block", "fence"))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger: lowercase, drop punctuation, spaces to -)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache
def _anchors(page: Path) -> frozenset[str]:
    tokens = MarkdownIt("commonmark").parse(page.read_text())
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        base = _slug(inline.content)
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return frozenset(anchors)


def _is_relative(href: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", href, re.IGNORECASE)


def _broken_link(page: Path, href: str) -> str | None:
    path, _, anchor = href.partition("#")
    target = (page.parent / path).resolve() if path else page
    if not target.exists():
        return f"{href}: no file {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}"
    if not target.is_relative_to(ROOT):
        return f"{href}: outside the repository"
    if anchor and target.suffix == ".md" and anchor not in _anchors(target):
        return f"{href}: {target.name} has no heading #{anchor} (it has {sorted(_anchors(target))})"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = [b for href in _links(page) if _is_relative(href) and (b := _broken_link(page, href))]
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_paths_exist(page: Path) -> None:
    missing = sorted({s for s in _code_spans(page) if REPO_PATH.match(s) and not (ROOT / s).exists()})
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def _help(*command: str) -> str:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed: {done.stderr[-2000:]}"
    return done.stdout


def _declared(help_text: str) -> set[str]:
    """The long options in the option column of argparse-style help (not those its prose mentions)."""
    found: set[str] = set()
    for line in help_text.splitlines():
        column = re.match(r"\s+(-.*?)(?:\s{2,}|$)", line)
        if column:
            found.update(LONG_OPTION.findall(column.group(1)))
    return found


@functools.cache
def _pytest_help() -> str:
    return _help(sys.executable, "-m", "pytest", "--help")


def _plugin_options() -> set[str]:
    """The options of the suite's own group in pytest --help, without their --mc- aliases."""
    section = _pytest_help().split(PLUGIN_GROUP, 1)[1]
    section = re.split(r"\n\S", section, maxsplit=1)[0]  # up to the next group's title
    return {o for o in _declared(section) if not o.startswith("--mc-")}


def test_plugin_group_found() -> None:
    """The README check below reads the suite's group out of pytest --help; it must be there."""
    assert {"--ctx1", "--lab", "--join"} <= _plugin_options()


def test_readme_options_exist() -> None:
    known = _declared(_pytest_help())
    known |= _declared(_help(sys.executable, "-m", "meshconform.lab", "serve", "--help"))
    known |= _declared(_help(sys.executable, "-m", "meshconform.kind", "--help"))
    unknown = sorted(set(LONG_OPTION.findall(README.read_text())) - known)
    assert not unknown, f"README.md names options no command declares: {unknown}"


def test_readme_names_every_suite_option() -> None:
    missing = sorted(_plugin_options() - set(LONG_OPTION.findall(README.read_text())))
    assert not missing, f"README.md does not mention the suite's options {missing}"


def _nox_sessions() -> set[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("session" in ast.unparse(d) for d in node.decorator_list)
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_exist(page: Path) -> None:
    code = _code_text(page)
    sessions = set(re.findall(r"\bnox -s ([\w-]+)", code))
    modules = set(re.findall(r"\bpython3? -m ((?:meshconform)[\w.]*)", code))
    assert sessions <= _nox_sessions(), f"{page.name}: no nox session {sorted(sessions - _nox_sessions())}"
    absent = sorted(m for m in modules if importlib.util.find_spec(m) is None)
    assert not absent, f"{page.name}: no module {absent} for python -m"


def _tests_in_suite() -> set[str]:
    names: set[str] = set()
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        functions = (n for n in tree.body if isinstance(n, ast.FunctionDef))
        names.update(n.name for n in functions if n.name.startswith("test_"))
    return names


def test_readme_checks_table_is_the_suite() -> None:
    tabled = {
        t.content for t in _tokens(README) if t.type == "code_inline" and re.fullmatch(r"test_\w+", t.content)
    }
    suite = _tests_in_suite()
    assert tabled == suite, (
        f"README checks table: missing {sorted(suite - tabled)}, extra {sorted(tabled - suite)}"
    )


def test_checks_page_explains_every_check() -> None:
    text = (ROOT / "docs" / "checks.md").read_text()
    missing = sorted(name for name in _tests_in_suite() if f"`{name}[" not in text)
    assert not missing, f"docs/checks.md has no entry for {missing}"


# Files and numbers a user of the product does not have: the project's internal design and style
# notes, the source-procedure folder, tracker numbers, the machine the project is developed on.
PRIVATE = re.compile(
    r"DESIGN\.md|STYLE\.md|(?<![\w/])seed/|\bissues? #?\d+|this project's [\w-]+ machine|these machines",
    re.IGNORECASE,
)
PRODUCT = [
    *PAGES,
    ROOT / "meshconform" / "lab" / "ARCHITECTURE.md",
    ROOT / "conftest.py",
    ROOT / "noxfile.py",
    ROOT / "pyproject.toml",
    ROOT / ".ci" / "run",
    *sorted(p for d in ("meshconform", "meshconform_options", "fixtures", "tests", "ci")
            for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md", ".yaml", ".yml", ".sh")),
]


def test_product_names_nothing_users_lack() -> None:
    found = {
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in PRODUCT
        for m in PRIVATE.finditer(path.read_text())
    }
    assert not found, f"the product names what its users do not have: {sorted(found)}"
