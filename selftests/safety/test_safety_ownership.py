"""Ownership: what the suite did not create, it never modifies or deletes (issue 4).

The guide's own clean-up, `kubectl delete ns sample`, would destroy a team's namespace that happens
to be called `sample`; `--join replace` could overwrite a remote secret someone made by hand with
istioctl. Here such objects are made before the run, through the official client as their owners
would, and after every run -- refused or passing, any --join mode, --cleanup-only -- each is still
there with the same uid and resourceVersion (any write, even a label, bumps the resourceVersion).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from safety_support import REFUSAL_SECONDS, assert_nothing_labelled, labelled, run_suite, snapshot
from support import LabEnv, Run, eventually

pytestmark = pytest.mark.selftest_slow

TEAM = {"team": "payments"}


def assert_one_error(run: Run, *fragments: str) -> None:
    __tracebackhide__ = True
    assert run.returncode == 4 and "Traceback" not in run.output, run.tail()
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), run.tail()
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_passed(run: Run) -> None:
    __tracebackhide__ = True
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
    assert " passed" in run.output and "failed" not in run.output.splitlines()[-1], run.tail()


# -- a team's namespace called `sample` -----------------------------------------------------------


@pytest.fixture(scope="module")
def team_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabEnv, dict[str, tuple]]]:
    """A lab whose cluster-2 already has the team's `sample` namespace with a ConfigMap, and a
    `half-ours` namespace that carries only our managed-by label (no run id: not provably ours)."""
    with LabEnv.start(tmp_path_factory.mktemp("team")) as lab:
        ctx = lab.contexts[1]
        core = lab.core(ctx)
        core.create_namespace({"metadata": {"name": "sample", "labels": TEAM}})
        core.create_namespaced_config_map(
            "sample", {"metadata": {"name": "orders", "labels": TEAM}, "data": {"db": "orders-prod"}}
        )
        managed_only = {"app.kubernetes.io/managed-by": "meshconform"}
        core.create_namespace({"metadata": {"name": "half-ours", "labels": managed_only}})
        yield lab, team_state(lab)


def team_state(lab: LabEnv) -> dict[str, tuple]:
    ctx = lab.contexts[1]
    return {
        "ns/sample": snapshot(lab, ctx, "", "Namespace", "sample"),
        "cm/sample/orders": snapshot(lab, ctx, "sample", "ConfigMap", "orders"),
        "ns/half-ours": snapshot(lab, ctx, "", "Namespace", "half-ours"),
    }


def assert_team_intact(lab: LabEnv, before: dict[str, tuple]) -> None:
    __tracebackhide__ = True
    assert team_state(lab) == before
    data = lab.core(lab.contexts[1]).read_namespaced_config_map("orders", "sample").data
    assert data == {"db": "orders-prod"}


def test_run_into_a_foreign_sample_namespace_is_refused(team_lab, tmp_path: Path) -> None:
    lab, before = team_lab
    run = run_suite(tmp_path / "reports", *lab.args(), timeout=REFUSAL_SECONDS)
    assert_one_error(run, "namespace sample already exists in cluster-2", "not created by meshconform",
                     "--namespace NAME")
    assert_team_intact(lab, before)
    assert_nothing_labelled_but_half_ours(lab)


def test_another_namespace_passes_beside_it(team_lab, tmp_path: Path) -> None:
    lab, before = team_lab
    assert_passed(run_suite(tmp_path / "reports", *lab.args(), "--namespace=conformance", "--requests=5"))
    assert_team_intact(lab, before)
    assert_nothing_labelled_but_half_ours(lab)


@pytest.mark.parametrize("namespace", ["kube-system", "half-ours"])
def test_other_existing_namespaces_are_refused(team_lab, namespace: str, tmp_path: Path) -> None:
    lab, before = team_lab
    run = run_suite(tmp_path / "reports", *lab.args(), f"--namespace={namespace}", timeout=REFUSAL_SECONDS)
    assert_one_error(run, f"namespace {namespace}", "--namespace NAME")
    assert_team_intact(lab, before)


def test_cleanup_only_leaves_them(team_lab, tmp_path: Path) -> None:
    lab, before = team_lab
    run = run_suite(tmp_path / "reports", *lab.args(), "--cleanup-only", timeout=REFUSAL_SECONDS)
    assert run.returncode == 0 and "Traceback" not in run.output, run.tail()
    assert "removed leftovers: 0 objects" in run.output, run.tail()
    assert_team_intact(lab, before)


def assert_nothing_labelled_but_half_ours(lab: LabEnv) -> None:
    """As assert_nothing_labelled: a deleted namespace takes a moment to be emptied and go."""
    __tracebackhide__ = True
    expected = ["cluster-2: Namespace half-ours"]
    eventually(lambda: labelled(lab) == expected, 20, lambda: f"left behind: {labelled(lab)}", pause=0.5)


# -- remote secrets someone else made -------------------------------------------------------------


@pytest.fixture(scope="module")
def joined_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabEnv, dict[str, tuple]]]:
    """A lab joined before the suite came: its remote secrets are the installer's, not ours."""
    with LabEnv.start(tmp_path_factory.mktemp("joined"), joined=True) as lab:
        yield lab, secret_state(lab)


def secret_state(lab: LabEnv) -> dict[str, tuple]:
    state = {}
    for ctx in lab.contexts:
        for secret in lab.core(ctx).list_namespaced_secret("istio-system").items:
            name = secret.metadata.name
            state[f"{ctx}/{name}"] = snapshot(lab, ctx, "istio-system", "Secret", name)
    assert sum("istio-remote-secret-" in key for key in state) == 2, state
    return state


@pytest.mark.parametrize("mode", ["create", "verify"])
def test_unowned_remote_secrets_are_used_and_kept(joined_lab, mode: str, tmp_path: Path) -> None:
    lab, before = joined_lab
    assert_passed(run_suite(tmp_path / "reports", *lab.args(), f"--join={mode}", "--requests=5"))
    assert secret_state(lab) == before
    assert_nothing_labelled(lab)


def test_replace_refuses_to_overwrite_unowned_remote_secrets(joined_lab, tmp_path: Path) -> None:
    lab, before = joined_lab
    run = run_suite(tmp_path / "reports", *lab.args(), "--join=replace", timeout=REFUSAL_SECONDS)
    assert_one_error(run, "--join replace", "istio-system/istio-remote-secret-cluster-", "not create")
    assert secret_state(lab) == before
    assert_nothing_labelled(lab)
