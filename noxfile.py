"""One nox session per thing a person wants to do with meshconform (``nox -l`` lists them).

Arguments after ``--`` go to the underlying command unchanged, e.g.
``nox -s lab -- -k traffic``, ``nox -s conformance -- --ctx1 A --ctx2 B``,
``nox -s kind -- --dry-run``. Plain ``nox`` runs lint and the self-tests, as CI does;
``nox -s selftest_fast`` the self-tests that do not run the whole suite, for a quick check.
Every tool a session runs is installed into its own virtualenv (``error_on_external_run``
catches one that is not); the kind path's docker, kind, istioctl and kubectl are checked up front,
before anything is installed, so a machine without them is refused in seconds.
"""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["lint", "selftest"]
nox.options.reuse_venv = "yes"
nox.options.error_on_external_run = True

KIND_TOOLS = ("docker", "kind", "istioctl", "kubectl")  # as meshconform.kind.plan.REQUIRED_TOOLS


@nox.session
def lab(session: nox.Session) -> None:
    """Run the conformance suite against the built-in lab emulator (no clusters needed)."""
    session.install("-e", ".")
    session.run("pytest", "--lab", *session.posargs)


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the conformance suite against real clusters: nox -s conformance -- --ctx1 A --ctx2 B."""
    if not any(arg.startswith(("--ctx", "--cleanup-only")) for arg in session.posargs):
        session.error(
            "conformance needs contexts: nox -s conformance -- --ctx1 CTX_A --ctx2 CTX_B [pytest args]"
        )
    session.install("-e", ".")
    session.run("pytest", *session.posargs)


@nox.session
def selftest(session: nox.Session) -> None:
    """Run the project's own tests: unit, lab fidelity, fault matrix, kind plan."""
    session.install("-e", ".[dev]")
    session.run("pytest", "selftests", *session.posargs)


@nox.session
def selftest_fast(session: nox.Session) -> None:
    """Run the fast self-tests (all but those that run the whole suite), two workers: ~2 min."""
    session.install("-e", ".[dev]")
    session.run("pytest", "selftests", "-m", "not selftest_slow", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint and type-check: ruff, mypy (strict on meshconform), import-linter contracts."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", *(session.posargs or ["."]))
    session.run("mypy")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark the suite on the lab: clusters x requests, batched vs one exec per request."""
    session.install("-e", ".")
    session.run("python", "-m", "meshconform.bench", *session.posargs)


@nox.session
def kind(session: nox.Session) -> None:
    """Two kind clusters with Istio (-- --model, --networks), the suite, then deletion (-- --dry-run)."""
    ours = session.posargs[: session.posargs.index("--")] if "--" in session.posargs else session.posargs
    missing = [tool for tool in KIND_TOOLS if shutil.which(tool) is None]
    if missing and "--dry-run" not in ours:
        session.error(
            f"missing on PATH: {', '.join(missing)} (the kind path needs {', '.join(KIND_TOOLS)}); "
            "nox -s kind -- --dry-run prints the plan without them"
        )
    session.install("-e", ".")
    session.run("python", "-m", "meshconform.kind", *session.posargs)
