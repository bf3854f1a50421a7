"""Read-only mode for an existing mesh: `--join verify --namespace <fresh>` writes nothing outside
that namespace.

What counts as a write: every POST, PUT, PATCH and DELETE in the lab's request log, except the
review APIs (SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview, TokenReview),
which the apiserver evaluates and forgets: they persist nothing. A TokenRequest
(serviceaccounts/NAME/token) persists nothing either, but it mints a credential that is valid
until it expires, is audited as a create on the service account, and needs `create
serviceaccounts/token` in istio-system, a right a read-only auditor should not need: verify mode
must not send one. It judges the remote secrets with the token they already hold (a
SelfSubjectAccessReview sent with that token), which is what istiod itself uses. Exec is a GET
(websocket upgrade) and writes no object; the one exec outside the namespace is istiod's read-only
debug endpoint (`pilot-discovery request GET /debug/clusterz`), so exec is allowed into istiod
pods only.

The log cannot name the namespace a POST /api/v1/namespaces creates, so a namespace watch opened
before the run is the second witness: the only namespace ADDED during the run is the fresh one.
A snapshot of istio-system and the cluster-scoped Istio objects before and after is the third.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from kubernetes import client, watch
from realpath_support import WRITE_METHODS
from support import LabEnv, request_log, run_suite

pytestmark = pytest.mark.selftest_slow
FRESH = "audit-7f3k"
REVIEWS = re.compile(
    r"^/apis/authorization\.k8s\.io/v1/(selfsubjectaccessreviews|subjectaccessreviews|selfsubjectrulesreviews)$"
    r"|^/apis/authentication\.k8s\.io/v1/tokenreviews$"
)
TOKEN_REQUEST = re.compile(r"/serviceaccounts/[^/]+/token$")
ISTIOD_EXEC = re.compile(r"^/api/v1/namespaces/istio-system/pods/istiod-[^/]+/exec$")


def in_namespace(path: str, namespace: str) -> bool:
    # /api/v1/namespaces/NS/... or /apis/GROUP/VERSION/namespaces/NS/... (e.g. security.istio.io/v1beta1)
    return re.match(rf"^/api(/v1|s/[^/]+/[^/]+)/namespaces/{namespace}(/|$)", path) is not None


def violations(lines: list[dict[str, Any]], namespace: str) -> list[str]:
    """Every request that writes, or mints a credential, or execs, outside `namespace`."""
    bad = []
    for r in lines:
        method, path = r["method"], r["path"]
        if TOKEN_REQUEST.search(path) and method == "POST":
            bad.append(f"{r['cluster']}: TokenRequest {path}")
        elif path.endswith("/exec") and not (in_namespace(path, namespace) or ISTIOD_EXEC.match(path)):
            bad.append(f"{r['cluster']}: exec {path}")
        elif method in WRITE_METHODS and not (
            REVIEWS.match(path)
            or in_namespace(path, namespace)
            or (method, path) == ("POST", "/api/v1/namespaces")
        ):
            bad.append(f"{r['cluster']}: {method} {path}")
    return bad


class NamespaceWitness:
    """Watches namespaces in one cluster from before the run; records the names ADDED."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core, self.added, self.done = core, set[str](), threading.Event()
        self.rv = core.list_namespace().metadata.resource_version
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.is_set():
            stream = watch.Watch().stream(
                self.core.list_namespace, resource_version=self.rv, timeout_seconds=1
            )
            for event in stream:
                self.rv = event["object"].metadata.resource_version
                if event["type"] == "ADDED":
                    self.added.add(event["object"].metadata.name)

    def stop(self) -> set[str]:
        self.done.set()
        self.thread.join(timeout=5)
        return self.added


def istio_state(env: LabEnv, i: int) -> dict[str, tuple[str, str]]:
    """kind/name -> (uid, resourceVersion) of istio-system's objects and the Istio cluster objects."""
    core, api = env.core(i), env.api(i)
    admission = client.AdmissionregistrationV1Api(api)
    rbac = client.RbacAuthorizationV1Api(api)
    listings = {
        "secret": core.list_namespaced_secret("istio-system"),
        "configmap": core.list_namespaced_config_map("istio-system"),
        "serviceaccount": core.list_namespaced_service_account("istio-system"),
        "service": core.list_namespaced_service("istio-system"),
        "deployment": env.apps(i).list_namespaced_deployment("istio-system"),
        "namespace": core.list_namespace(),
        "mutatingwebhookconfiguration": admission.list_mutating_webhook_configuration(),
        "clusterrolebinding": rbac.list_cluster_role_binding(),
    }
    return {
        f"{kind}/{o.metadata.name}": (o.metadata.uid, o.metadata.resource_version)
        for kind, listing in listings.items()
        for o in listing.items
        if o.metadata.name != FRESH  # the run's own namespace may still be terminating
    }


@pytest.fixture(scope="module")
def verify_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("read-only")
    log = tmp / "requests.jsonl"
    with LabEnv.start(tmp, joined=True, request_log=log) as env:
        before = [istio_state(env, i) for i in range(2)]
        start = len(request_log(log))
        witnesses = [NamespaceWitness(env.core(i)) for i in range(2)]
        run = run_suite(tmp / "reports", *env.args(), "--join=verify", f"--namespace={FRESH}")
        added = [w.stop() for w in witnesses]
        after = [istio_state(env, i) for i in range(2)]
    return {
        "run": run,
        "requests": request_log(log)[start:],
        "added": added,
        "before": before,
        "after": after,
    }


def test_verify_run_passes_on_a_joined_mesh(verify_run: Any) -> None:
    run = verify_run["run"]
    assert run.returncode == 0, run.tail()
    assert run.healthy, run.messages


def test_no_write_outside_the_namespace(verify_run: Any) -> None:
    requests = verify_run["requests"]
    assert any(r["method"] == "POST" and in_namespace(r["path"], FRESH) for r in requests), (
        "the log saw the run"
    )
    assert violations(requests, FRESH) == []


def test_the_only_namespace_created_is_the_fresh_one(verify_run: Any) -> None:
    creates = [
        r for r in verify_run["requests"] if (r["method"], r["path"]) == ("POST", "/api/v1/namespaces")
    ]
    assert sorted(r["cluster"] for r in creates) == ["cluster-1", "cluster-2"]
    assert verify_run["added"] == [{FRESH}, {FRESH}]


def test_istio_system_and_cluster_objects_are_unchanged(verify_run: Any) -> None:
    for before, after in zip(verify_run["before"], verify_run["after"], strict=True):
        assert after == before


def test_no_token_is_minted(verify_run: Any) -> None:
    assert not [r["path"] for r in verify_run["requests"] if TOKEN_REQUEST.search(r["path"])]


def test_the_classifier_flags_what_create_mode_does() -> None:
    """The rule has teeth: what `--join create` sends in istio-system is flagged, reviews are not."""

    def line(method: str, path: str) -> dict[str, Any]:
        return {"cluster": "cluster-2", "method": method, "path": path}

    lines = [
        line("POST", "/api/v1/namespaces/istio-system/serviceaccounts/istio-reader-service-account/token"),
        line("POST", "/api/v1/namespaces/istio-system/secrets"),
        line("PATCH", "/api/v1/namespaces/istio-system/secrets/istio-remote-secret-cluster-1"),
        line("DELETE", f"/api/v1/namespaces/{FRESH}-x"),
        line("GET", "/api/v1/namespaces/default/pods/web/exec"),
        line("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"),
        line("POST", f"/apis/apps/v1/namespaces/{FRESH}/deployments"),
        line("DELETE", f"/api/v1/namespaces/{FRESH}"),
        line("GET", "/api/v1/namespaces/istio-system/pods/istiod-asm-173-3-5d-x/exec"),
        line("POST", f"/apis/security.istio.io/v1beta1/namespaces/{FRESH}/peerauthentications"),
        line("POST", "/apis/security.istio.io/v1beta1/namespaces/istio-system/peerauthentications"),
    ]
    assert len(violations(lines, FRESH)) == 6
