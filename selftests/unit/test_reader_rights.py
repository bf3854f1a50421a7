"""The remote-secret token's rights (DESIGN.md join row "credentials"): one SelfSubjectRulesReview
when every right is granted, and a SelfSubjectAccessReview for whatever no rule shows, so a role
that lacks one verb is reported by name. The fault matrix covers the whole binding missing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from support import LabEnv

from meshconform.kube.client import Cluster
from meshconform.mesh import remote_secrets, secret_inspection

RBAC = "rbac.authorization.k8s.io"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with LabEnv.start(tmp_path_factory.mktemp("rights"), clusters=2) as env:
        yield env


def reader_kubeconfig(source: Cluster) -> dict[str, Any]:
    """What secret_inspection.parse_kubeconfig gives for a remote secret holding a fresh reader token."""
    token = remote_secrets.reader_token(source)
    return {"server": source.server, "ca": b"", "token": token, "auth": "token", "tls_server_name": None}


def reader_role(env: LabEnv) -> tuple[client.RbacAuthorizationV1Api, dict[str, Any]]:
    rbac = client.RbacAuthorizationV1Api(env.api(0))
    items = json.loads(rbac.list_cluster_role(_preload_content=False).data)["items"]
    role = next(r for r in items if r["metadata"]["name"].startswith("istio-reader-clusterrole"))
    return rbac, role


def test_every_right_granted_costs_one_rules_review(lab: LabEnv) -> None:
    source = Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))
    kc = reader_kubeconfig(source)
    before = source.stats.as_dict()["requests"]
    assert secret_inspection.reader_denied(kc, source, "sample") is None
    assert source.stats.as_dict()["requests"] - before == 1  # the rules review alone


def test_a_role_without_one_verb_is_reported_by_that_verb(lab: LabEnv) -> None:
    source = Cluster.connect(lab.contexts[0], "cluster-1", str(lab.kubeconfig))
    kc = reader_kubeconfig(source)
    rbac, role = reader_role(lab)
    original = [dict(r) for r in role["rules"]]
    # The reader's rules without "watch" on services (and nothing else taken away).
    trimmed = []
    for rule in original:
        if "services" in (rule.get("resources") or []) and "watch" in (rule.get("verbs") or []):
            rest = [r for r in rule["resources"] if r != "services"]
            if rest:
                trimmed.append({**rule, "resources": rest})
            verbs = [v for v in rule["verbs"] if v != "watch"]
            trimmed.append({**rule, "resources": ["services"], "verbs": verbs})
        else:
            trimmed.append(rule)
    rbac.patch_cluster_role(role["metadata"]["name"], {"rules": trimmed})
    try:
        denied = secret_inspection.reader_denied(kc, source, "sample")
    finally:
        rbac.patch_cluster_role(role["metadata"]["name"], {"rules": original})
    assert denied == "watch services", denied


def test_rules_naming_objects_or_other_groups_grant_nothing() -> None:
    grants = secret_inspection._rule_grants
    assert grants({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, "", "pods", "list")
    assert grants({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}, "", "pods", "list")
    assert not grants({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
                      "", "pods", "list")
    assert not grants({"verbs": ["list"], "apiGroups": ["apps"], "resources": ["pods"]}, "", "pods", "list")
    assert not grants({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}, "", "pods", "list")
    assert not grants({"verbs": ["list"], "apiGroups": [""], "resources": ["pods/log"]}, "", "pods", "list")
