"""Our options never break another pytest plugin's: a name someone else declares is theirs.

Installed, meshconform_options is in every pytest run of the environment, and some of its names
are common words other plugins and conftests use too (pytest-kind declares `--cluster-name`;
`--kubeconfig`, `--namespace`, `--keep`, `--revision` and `--lab` are as likely). Two options
with one name end pytest with argparse's "conflicting option string" (exit 3) in every run of
that environment, the suite's own included. So each option of ours also answers to `--mc-NAME`,
and its plain name is given up to whoever else declares it:

- declared before ours (a `-p` plugin, an entry point loaded first): we leave the name out;
- declared after ours (a conftest.py, an entry point loaded later): pytest >= 9 hands each option
  to argparse at once, whose conflict handler would raise. `yield_later` gives every argparse
  container of pytest's parser a handler that, for a conflict with one of *our* actions only,
  does what argparse's own conflict_handler="resolve" does (the newcomer takes the name, ours
  keeps `--mc-NAME`); a conflict between two other plugins still raises as before. This uses
  argparse's documented conflict-handler mechanism through the private `_handle_conflict_error`
  method name, set on the instances of pytest's parser only.

`given_up` then holds the names we lost, so that the suite can refuse, in one line, a run that
used such a name meaning ours (it would silently have gone to the other plugin).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Sequence
from typing import Any

PREFIX = "--mc-"
given_up: set[str] = set()  # plain names another plugin or conftest declared


def alias(name: str) -> str:
    return PREFIX + name.removeprefix("--")


def free_names(parser: Any, names: Sequence[str]) -> list[str]:
    """`names` and their --mc- aliases, less those some plugin registered before us declared."""
    taken = declared(parser)
    wanted = [*names, *(alias(n) for n in names)]
    given_up.update(n for n in names if n in taken)
    return [n for n in wanted if n not in taken]


def declared(parser: Any) -> set[str]:
    groups = [*getattr(parser, "_groups", []), getattr(parser, "_anonymous", None)]
    return {name for g in groups if g is not None for opt in g.options for name in opt.names()}


def yield_later(parser: Any, ours: Collection[str], on_given_up: Callable[[str], None]) -> None:
    """Let a later declaration of one of our plain names win instead of crashing pytest."""
    optparser = getattr(parser, "optparser", None)
    if not isinstance(optparser, argparse.ArgumentParser):
        return  # pytest 8 builds argparse only when it parses: nothing conflicts at declaration
    for container in [optparser, *optparser._action_groups]:
        _patch(container, ours, on_given_up)
    make_group = optparser.add_argument_group

    def add_argument_group(*args: Any, **kwargs: Any) -> Any:
        group = make_group(*args, **kwargs)
        _patch(group, ours, on_given_up)
        return group

    optparser.add_argument_group = add_argument_group  # type: ignore[method-assign]


def _patch(container: Any, ours: Collection[str], on_given_up: Callable[[str], None]) -> None:
    if getattr(container, "_meshconform_yields", False):
        return
    refuse = container._handle_conflict_error

    def handle(action: argparse.Action, conflicts: list[tuple[str, argparse.Action]]) -> None:
        if not all(old.dest in ours for _, old in conflicts):
            refuse(action, conflicts)
            return
        for name, old in conflicts:  # argparse's own "resolve", for our actions only
            old.option_strings.remove(name)  # type: ignore[attr-defined]  # a list in argparse
            container._option_string_actions.pop(name, None)
            given_up.add(name)
            on_given_up(name)
            if not old.option_strings:
                old.container._remove_action(old)  # type: ignore[attr-defined]

    container._handle_conflict_error = handle
    container._meshconform_yields = True


def used(args: Sequence[str]) -> str | None:
    """The first given-up name the command line uses (`--keep`, `--namespace=x`), if any."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in given_up:
            return name
    return None
