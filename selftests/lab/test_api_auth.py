"""Authentication, RBAC, access reviews, TokenRequest, token Secrets, and the API-level faults."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from labapi_support import Running, lab_fixture, start_lab
from support import until

RBAC = "rbac.authorization.k8s.io"


env = lab_fixture(clusters=2)


@pytest.fixture(scope="module")
def reader(env: Running) -> str:
    """A service account `auth/reader` allowed to list pods cluster-wide, and its TokenRequest token."""
    core, rbac = client.CoreV1Api(env.api()), client.RbacAuthorizationV1Api(env.api())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="auth")))
    core.create_namespaced_service_account(
        "auth", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    rbac.create_cluster_role(
        client.V1ClusterRole(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list", "watch"])],
        )
    )
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="pod-reader"),
            role_ref=client.V1RoleRef(api_group=RBAC, kind="ClusterRole", name="pod-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace="auth")],
        )
    )
    req = core.create_namespaced_service_account_token(
        "reader",
        "auth",
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    )
    assert req.status.expiration_timestamp is not None
    return req.status.token


def test_missing_or_bad_token_is_401(env):
    for token in ("", "not-a-token"):
        code, body = env.json("GET", "/api/v1/namespaces", token=token)
        assert code == 401 and body["reason"] == "Unauthorized" and body["message"] == "Unauthorized"


def test_token_of_another_cluster_is_401(env, reader):
    code, _ = env.json("GET", "/api/v1/pods", token=reader, i=1)
    assert code == 401


def test_rbac_allows_what_is_bound(env, reader):
    code, body = env.json("GET", "/api/v1/pods", token=reader)
    assert code == 200 and body["kind"] == "PodList"
    code, _ = env.json("GET", "/version", token=reader)
    assert code == 200


def test_rbac_forbids_with_the_apiserver_message(env, reader):
    code, body = env.json("GET", "/api/v1/secrets", token=reader)
    assert code == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'secrets is forbidden: User "system:serviceaccount:auth:reader" cannot list '
        'resource "secrets" in API group "" at the cluster scope'
    )
    code, body = env.json("GET", "/api/v1/namespaces/auth/configmaps/x", token=reader)
    assert body["message"] == (
        'configmaps "x" is forbidden: User "system:serviceaccount:auth:reader" cannot get '
        'resource "configmaps" in API group "" in the namespace "auth"'
    )
    code, body = env.json("DELETE", "/apis/apps/v1/namespaces/auth/deployments/d", token=reader)
    assert body["message"].startswith('deployments.apps "d" is forbidden: User')


def _ssar(
    api: client.ApiClient, verb: str, resource: str, namespace: str = ""
) -> client.V1SelfSubjectAccessReview:
    attrs = client.V1ResourceAttributes(verb=verb, resource=resource, namespace=namespace or None)
    return client.AuthorizationV1Api(api).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
    )


def test_self_subject_access_review_evaluates_rbac_for_the_caller(env, reader):
    api = env.api_as(reader)
    allowed = _ssar(api, "list", "pods")
    assert allowed.status.allowed is True
    assert allowed.status.reason == (
        'RBAC: allowed by ClusterRoleBinding "pod-reader" of ClusterRole "pod-reader" '
        'to ServiceAccount "reader/auth"'
    )
    assert _ssar(api, "list", "secrets", "auth").status.allowed is False
    assert _ssar(env.api(), "delete", "nodes").status.allowed is True  # the admin is system:masters


def test_removing_the_binding_takes_effect_at_once(env, reader):
    rbac = client.RbacAuthorizationV1Api(env.api())
    rbac.create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name="tmp-cm"),
            role_ref=client.V1RoleRef(api_group=RBAC, kind="ClusterRole", name="view"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace="auth")],
        )
    )
    assert env.json("GET", "/api/v1/configmaps", token=reader)[0] == 200
    rbac.delete_cluster_role_binding("tmp-cm")
    assert env.json("GET", "/api/v1/configmaps", token=reader)[0] == 403


def test_role_binding_is_namespaced(env, reader):
    rbac = client.RbacAuthorizationV1Api(env.api())
    rbac.create_namespaced_role(
        "auth",
        client.V1Role(
            metadata=client.V1ObjectMeta(name="cm"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        "auth",
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="cm"),
            role_ref=client.V1RoleRef(api_group=RBAC, kind="Role", name="cm"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace="auth")],
        ),
    )
    assert env.json("GET", "/api/v1/namespaces/auth/configmaps", token=reader)[0] == 200
    assert env.json("GET", "/api/v1/namespaces/default/configmaps", token=reader)[0] == 403


def test_token_secret_is_filled_like_the_token_controller(env):
    core = client.CoreV1Api(env.api())
    core.create_namespaced_secret(
        "auth",
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="reader-token", annotations={"kubernetes.io/service-account.name": "reader"}
            ),
            type="kubernetes.io/service-account-token",
        ),
    )
    secret = until(lambda: core.read_namespaced_secret("reader-token", "auth"),
                   lambda secret: "token" in (secret.data or {}), 5,
                   "the token controller to fill secret auth/reader-token",
                   show=lambda secret: sorted(secret.data or {}))  # the keys, never the token
    assert set(secret.data) == {"token", "ca.crt", "namespace"}
    assert base64.b64decode(secret.data["namespace"]) == b"auth"
    assert base64.b64decode(secret.data["ca.crt"]) == env.cluster().ca_pem
    assert secret.metadata.annotations["kubernetes.io/service-account.uid"]
    token = base64.b64decode(secret.data["token"]).decode()
    assert env.json("GET", "/api/v1/pods", token=token)[0] == 200
    core.delete_namespaced_secret("reader-token", "auth")
    assert env.json("GET", "/api/v1/pods", token=token)[0] == 401  # legacy tokens die with their secret


def test_token_review_and_rules_review(env, reader):
    review = client.AuthenticationV1Api(env.api()).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=reader))
    )
    assert review.status.authenticated and review.status.user.username == "system:serviceaccount:auth:reader"
    assert "system:serviceaccounts:auth" in review.status.user.groups
    code, rules = env.json(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        token=reader,
        body={
            "kind": "SelfSubjectRulesReview",
            "apiVersion": "authorization.k8s.io/v1",
            "spec": {"namespace": "auth"},
        },
    )
    assert (
        code == 201
        and {"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}
        in rules["status"]["resourceRules"]
    )


def test_token_request_for_missing_sa_is_404(env):
    core = client.CoreV1Api(env.api())
    with pytest.raises(ApiException) as e:
        core.create_namespaced_service_account_token(
            "ghost", "auth", client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        )
    assert e.value.status == 404


@pytest.mark.parametrize("spec", ["api-down:cluster-2"])
def test_api_down_answers_503_over_working_tls(tmp_path_factory, spec):
    env = start_lab(tmp_path_factory, clusters=2, faults=(spec,))
    try:
        code, body = env.json("GET", "/version", i=1)
        assert code == 503 and body["reason"] == "ServiceUnavailable"
        assert env.json("GET", "/version", i=0)[0] == 200
    finally:
        env.stop()


def test_flaky_api_fails_some_requests_but_never_twice_in_a_row(tmp_path_factory):
    env = start_lab(tmp_path_factory, clusters=1, faults=("flaky-api",), seed=7)
    try:
        outcomes, retries_needed = [], 0
        for i in range(60):
            path = f"/api/v1/namespaces/default/configmaps/c{i % 5}"
            for attempt in range(3):
                try:
                    code, headers, _ = env.raw("GET", path)
                except OSError:  # the dropped connection
                    code, headers = -1, {}
                outcomes.append(code)
                if code in (404, 200):
                    break
                assert attempt == 0, f"failed twice in a row on {path}"
                retries_needed += 1
                if code == 429:
                    assert headers.get("Retry-After") == "1"
        assert 0 < retries_needed < 30
        assert {429, 500} & set(outcomes)
    finally:
        env.stop()
