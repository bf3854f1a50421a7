"""Shared self-test fixtures: a lab started through its public API, for tests that need one.

Loading this file puts selftests/ on sys.path (pytest's default "prepend" import mode, no
__init__.py), which is how every self-test imports `support`."""

from __future__ import annotations

from support import lab_fixture

# A two-cluster lab (support.LabEnv: kubeconfig, contexts, clients) shared by the session's tests.
two_cluster_lab = lab_fixture(scope="session", name="two_cluster_lab", clusters=2)
