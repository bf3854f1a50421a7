"""Undo pytest's rootdir guess when it was made from the value of one of our options.

pytest reads the command line once before any plugin, even an installed one, has declared its
options, and chooses its rootdir and config file from the paths it sees then. In
`pytest --lab --samples-dir ../samples` the value `../samples` looks like a test path at that
point: pytest roots the run at the common ancestor of the working directory and ../samples, finds
no pyproject.toml there, and runs without the project's testpaths, addopts and markers (it
collected the self-tests too). A known pytest limitation: pytest-dev/pytest#8846 and #906;
`--samples-dir=../samples` never had the problem.

`repair` runs first in pytest_load_initial_conftests, the earliest hook after our options are
known and before any conftest.py is loaded. It acts only when one of our options is written in
the separate form and pytest's choice differs from what its own `determine_setup` gives for the
real test paths; then it adopts that result the way Config.parse would have: rootdir, config
file, ini values, the config file's addopts (and the `-p` among them), the default confcutdir.
It does not re-apply minversion, pythonpath, required_plugins or a capture option in addopts:
this project's pyproject.toml sets none of them. In every other run it does nothing.

This touches pytest internals (private attributes, _pytest.config.findpaths); pytest 8 and 9
have them. When they are missing, or when the value's path had led pytest to another project's
config file (whose addopts and plugins are already applied and cannot be taken back), the run
ends with one line that names the `--opt=VALUE` form instead.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Collection
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

_PRIVATE = ("_rootpath", "_inipath", "_inicfg", "_inicache")


def repair(config: pytest.Config, parser: pytest.Parser, args: list[str], ours: Collection[str]) -> None:
    """Re-root this run if a separate-form value of one of `ours` misled pytest's rootdir choice."""
    given = [(opt, value) for opt, value in pairwise(args) if opt in ours]
    if not given:
        return
    ns = config.known_args_namespace
    found = _determine_setup(config, ns)
    if found is not None and (found[0], found[1]) == (config.rootpath, config.inipath):
        return
    if found is None or config.inipath is not None or not all(hasattr(config, a) for a in _PRIVATE):
        raise pytest.UsageError(_refusal(config, given))
    _adopt(config, parser, args, found)


def _determine_setup(config: pytest.Config, ns: Any) -> tuple[Any, ...] | None:
    """pytest's own rootdir/config-file search, on the test paths as parsed with our options known."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:
        return None
    wanted = {
        "inifile": ns.inifilename,
        "override_ini": ns.override_ini,  # pytest >= 9 applies -o here
        "args": ns.file_or_dir,
        "rootdir_cmd_arg": ns.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    params = inspect.signature(determine_setup).parameters
    try:
        found = determine_setup(**{k: v for k, v in wanted.items() if k in params})
    except TypeError:
        return None
    return tuple(found)


def _adopt(config: pytest.Config, parser: pytest.Parser, args: list[str], found: tuple[Any, ...]) -> None:
    rootpath, inipath, inicfg = found[:3]
    config._rootpath = rootpath
    config._inipath = inipath
    config._inicfg = inicfg
    if len(found) > 3 and hasattr(config, "_ignored_config_files"):
        config._ignored_config_files = found[3]
    config._inicache.clear()
    parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    addopts = [str(a) for a in config.getini("addopts")]
    args[:0] = addopts  # the list pytest parses for real after this hook
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    ns = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if ns.confcutdir is None:
        ns.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    config.known_args_namespace = ns


def _refusal(config: pytest.Config, given: list[tuple[str, str]]) -> str:
    paths = [(opt, value) for opt, value in given if (config.invocation_params.dir / value).exists()]
    opt, value = (paths or given)[0]
    where = f"{config.rootpath}" + (f", {Path(config.inipath).name}" if config.inipath else "")
    return (
        f"{opt} {value}: pytest took this path for a test path when it chose its rootdir ({where}); "
        f"write {opt}={value}"
    )
