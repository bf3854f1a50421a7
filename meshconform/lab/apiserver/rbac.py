"""RBAC authorization as plugin/pkg/auth/authorizer/rbac/rbac.go evaluates it, over a cluster's Store.

Used for every request by a service-account token, for SelfSubjectAccessReview and
SelfSubjectRulesReview. Bindings are read live from the store, so deleting the istio-reader
ClusterRoleBinding (reader-rbac-missing) takes effect on the next request, as on a real cluster.
Aggregated ClusterRoles are not evaluated (nothing the lab serves relies on them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .status import ForbiddenError
from .store import Store
from .user import User

RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: a resource request or a non-resource path."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""  # set for non-resource requests

    @property
    def is_resource(self) -> bool:
        return not self.path


def _subject_matches(s: dict[str, Any], user: User, binding_ns: str) -> bool:
    kind, name = s.get("kind"), s.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.sa_name == name and user.sa_namespace == (s.get("namespace") or binding_ns)
    return False


def _has(values: list[str] | None, want: str) -> bool:
    return bool(values) and ("*" in values or want in values)  # type: ignore[operator]


def rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    if not _has(rule.get("verbs"), a.verb):
        return False
    if not a.is_resource:
        return any(
            u == a.path or (u.endswith("*") and a.path.startswith(u[:-1]))
            for u in rule.get("nonResourceURLs") or []
        )
    if not _has(rule.get("apiGroups"), a.group):
        return False
    resources = rule.get("resources") or []
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if not (
        "*" in resources or combined in resources or (a.subresource and f"*/{a.subresource}" in resources)
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _rules(store: Store, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    if ref.get("kind") == "ClusterRole":
        role = store.find(f"clusterroles.{RBAC}", None, ref.get("name", ""))
    else:
        role = store.find(f"roles.{RBAC}", namespace, ref.get("name", ""))
    return list((role or {}).get("rules") or [])


def bindings(store: Store, user: User, namespace: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(binding, its rules) for every binding that names the user, cluster-wide and in `namespace`."""
    out = []
    for b in store.iter(f"clusterrolebindings.{RBAC}"):
        if any(_subject_matches(s, user, "") for s in b.get("subjects") or []):
            out.append((b, _rules(store, b.get("roleRef") or {}, "")))
    if namespace:
        for b in store.iter(f"rolebindings.{RBAC}", namespace):
            if any(_subject_matches(s, user, namespace) for s in b.get("subjects") or []):
                out.append((b, _rules(store, b.get("roleRef") or {}, namespace)))
    return out


def authorize(store: Store, user: User, a: Attributes) -> tuple[bool, str]:
    """-> (allowed, reason) with RBAC's "allowed by ..." reason text."""
    if "system:masters" in user.groups:
        return True, ""
    for b, rules in bindings(store, user, a.namespace if a.is_resource else ""):
        if any(rule_allows(r, a) for r in rules):
            ref, kind = b.get("roleRef") or {}, b.get("kind", "ClusterRoleBinding")
            where = f'{kind} "{b["metadata"]["name"]}"'
            if kind == "RoleBinding":
                where = f'{kind} "{b["metadata"]["name"]}" of namespace "{b["metadata"]["namespace"]}"'
            return True, f'RBAC: allowed by {where} of {ref.get("kind")} "{ref.get("name")}" to {_who(user)}'
    return False, ""


def _who(user: User) -> str:
    if user.sa_name:
        return f'ServiceAccount "{user.sa_name}/{user.sa_namespace}"'
    return f'User "{user.name}"'


def forbidden_message(user: User, a: Attributes) -> str:
    """responsewriters/errors.go forbiddenMessage()."""
    if not a.is_resource:
        return f'User "{user.name}" cannot {a.verb} path "{a.path}"'
    res = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if a.namespace:
        return (
            f'User "{user.name}" cannot {a.verb} resource "{res}" in API group "{a.group}" '
            f'in the namespace "{a.namespace}"'
        )
    return (
        f'User "{user.name}" cannot {a.verb} resource "{res}" in API group "{a.group}" at the cluster scope'
    )


def check(store: Store, user: User, a: Attributes) -> None:
    """Raise 403 Forbidden with the apiserver's message unless RBAC allows."""
    allowed, _ = authorize(store, user, a)
    if allowed:
        return
    why = forbidden_message(user, a)
    if not a.is_resource:
        raise ForbiddenError(f"forbidden: {why}", {})
    raise ForbiddenError.for_resource(a.resource, a.group, a.name or None, why)


def rules_review(store: Store, user: User, namespace: str) -> dict[str, Any]:
    """SelfSubjectRulesReview status: every rule that applies in `namespace`."""
    res_rules, nonres = [], []
    if "system:masters" in user.groups:
        res_rules.append({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
        nonres.append({"verbs": ["*"], "nonResourceURLs": ["*"]})
    for _b, rules in bindings(store, user, namespace):
        for r in rules:
            if r.get("nonResourceURLs"):
                nonres.append({"verbs": r.get("verbs", []), "nonResourceURLs": r["nonResourceURLs"]})
            else:
                res_rules.append(
                    {k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if k in r}
                )
    return {"resourceRules": res_rules, "nonResourceRules": nonres, "incomplete": False}
