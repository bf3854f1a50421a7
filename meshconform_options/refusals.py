"""Refusals made before the suite's own plugin runs still leave junit.xml, summary.json, report.html.

Two refusals end a run before any pytest_configure, where the suite writes the reports of every
other refusal (fixtures/plugin.py):

- an argument pytest's parser cannot take: an option without its value (`--report-dir` last on
  the line), an option nobody declares, a value a `choices=` or `type=` of another plugin refuses
  (`-n many`). argparse calls `error()`, which pytest's PytestArgumentParser turns into a
  UsageError (_pytest/config/argparsing.py at pytest 9.2.0), printed by main() as the usage, the
  error, the ini file and the rootdir, exit code 4. No hook runs between: the parse that finds
  it is part of Config.parse, inside pytest_cmdline_parse, which began before this plugin was
  loaded. This plugin *is* loaded by then (the pytest11 entry points are loaded at
  _pytest/config/__init__.py:1769 in Config.parse, and parsed with at 1777; the last, strict parse
  follows at 1806), so `watch` gives that parser instance an `error` of its own (argparse's
  documented way to change how errors are reported): in the suite's own runs it writes the three
  reports and raises the UsageError with one line, as every other refusal shows;
- the rootdir repair's refusal (rootdir.py), raised in our own pytest_load_initial_conftests.

One case stays out of reach: a bad value of one of pytest's own options (`--tb=bogus`, `-p` with
no value) is found by the first parse, at _pytest/config/__init__.py:1704 in pytest 9.2.0, before
any entry point is loaded; no code of this package has run, and pytest offers no hook before it.

"The suite's own run" is judged as fixtures/plugin.py judges it after a good parse: its test paths
(or the ini file's testpaths) lead into the rootdir's tests/. The rootdir refusal is always ours:
its line is about one of our options. Everything heavier is imported only when a refusal happens,
as this plugin is loaded in every pytest run of the environment.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

REPORT_DIR = ("--report-dir", "--mc-report-dir")
JUNIT = ("--junitxml", "--junit-xml")  # pytest's junitxml plugin
HTML = ("--html",)  # pytest-html


def watch(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """Let the suite's runs report an argparse refusal of pytest's parser as a refusal of theirs."""
    optparser = getattr(parser, "optparser", None)
    if not isinstance(optparser, argparse.ArgumentParser) or hasattr(optparser, "_meshconform_reports"):
        return
    pytest_error: Callable[[str], Any] = optparser.error

    def error(message: str) -> Any:
        config = pluginmanager.get_plugin("pytestconfig")
        line = f"{optparser.prog}: error: {message}"
        if isinstance(config, pytest.Config) and _ours(config, optparser):
            write(config, line)
            raise pytest.UsageError(line)
        return pytest_error(message)

    optparser.error = error  # type: ignore[method-assign]
    optparser._meshconform_reports = True  # type: ignore[attr-defined]


def write(config: pytest.Config, line: str) -> None:
    """The three reports of a refusal, where the command line says they go (nothing when its
    --report-dir is unusable: pytest's line is the run's only output then, as for any refusal)."""
    from meshconform.kube.redact import kubeconfig_files_secrets
    from meshconform.report import refusal
    from meshconform.run import config as mc

    args = arguments(config)
    base = value_of(args, REPORT_DIR) or "reports"
    try:
        mc.parse_report_dir(REPORT_DIR[0], base)
    except mc.ConfigError:
        return
    where = config.invocation_params.dir
    try:
        secrets = kubeconfig_files_secrets(value_of(args, ("--kubeconfig", "--mc-kubeconfig")))
    except Exception:  # an unreadable kubeconfig holds nothing to blank in our own text
        secrets = ()
    given = refusal.Refusal(line, flags(args), secrets)
    junit, html = value_of(args, JUNIT), value_of(args, HTML)
    problems = refusal.write(
        given,
        where / base / mc.SUMMARY_JSON,
        where / (junit or Path(base) / mc.JUNIT_XML),
        where / (html or Path(base) / mc.REPORT_HTML),
    )
    for problem in problems:  # no terminal reporter yet: stderr, where pytest prints its line
        sys.stderr.write(f"meshconform: {problem}\n")


def arguments(config: pytest.Config) -> list[str]:
    """The command line as pytest parses it: PYTEST_ADDOPTS, the ini file's addopts, the arguments."""
    env = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    try:
        ini = [str(a) for a in config.getini("addopts")]
    except (ValueError, KeyError):
        ini = []
    return [*env, *ini, *map(str, config.invocation_params.args)]


def value_of(args: Sequence[str], names: Sequence[str]) -> str | None:
    """The last value given to any of `names` (`--opt=V` or `--opt V`), as argparse keeps it."""
    found = None
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names and eq:
            found = value
        elif arg in names and i + 1 < len(args) and not args[i + 1].startswith("-"):
            found = args[i + 1]
    return found


def flags(args: Sequence[str]) -> dict[str, Any]:
    """The long options of the command line by flag, for the report's options table."""
    out: dict[str, Any] = {}
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if not name.startswith("--") or not name[2:3].isalpha() or not name[2:].replace("-", "").isalnum():
            continue
        follows = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("-") else None
        out[name] = value if eq else (follows or True)
    return out


def _ours(config: pytest.Config, optparser: argparse.ArgumentParser) -> bool:
    """The run collects the rootdir's tests/ (fixtures/plugin.py targets_conformance, on the
    test paths a good parse would have found)."""
    try:
        tests = (config.rootpath / "tests").resolve()
    except AttributeError:  # before pytest chose a rootdir: not a run of ours to speak for
        return False
    paths = test_paths(arguments(config), _taking_values(optparser))
    if not paths:
        where = config.invocation_params.dir
        paths = [str(p) for p in config.getini("testpaths")] if where == config.rootpath else ["."]
    for arg in paths:
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == tests or tests in path.parents or path in tests.parents:
            return True
    return False


def _taking_values(optparser: argparse.ArgumentParser) -> set[str]:
    return {name for action in optparser._actions if action.nargs != 0 for name in action.option_strings}


def test_paths(args: Sequence[str], taking_values: set[str]) -> list[str]:
    """The positional arguments: neither an option nor the value of one given apart from it."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in taking_values
        else:
            out.append(arg)
    return out
