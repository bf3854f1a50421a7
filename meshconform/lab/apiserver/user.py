"""Who is calling: an authenticated caller as the apiserver's user.Info carries it.

Its own module because the store (admission requests), RBAC and the HTTP layer all name it while
LabCluster, which authenticates tokens into it, owns a Store: here it depends on neither
(k8s.io/apiserver/pkg/authentication/user/user.go, DefaultInfo).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """An authenticated caller, as user.Info: name, groups, and the service account if it is one."""

    name: str
    groups: tuple[str, ...]
    uid: str = ""
    sa_namespace: str | None = None
    sa_name: str | None = None
