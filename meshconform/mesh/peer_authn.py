"""The PeerAuthentication istiod applies to the run's helloworld pods, and whether it is the run's.

The run creates a namespace-wide STRICT policy named `default` in its own namespace, so that a call
arriving in plain text fails instead of passing. Whether that is what the sidecars enforce depends
on what else is there: a platform that provisions every new namespace with its own `default`
(the run's create then meets AlreadyExists), or any older namespace-wide policy, or a workload
policy that selects helloworld. Istiod composes them per level, the oldest policy of each level
winning (mesh: the root namespace without selector; namespace: without selector; workload: with a
selector, outside the root namespace), workload over namespace over mesh, an UNSET mode inheriting
(pilot/pkg/security/authn ComposePeerAuthentication, the same from 1.6 to 1.28). The run's
namespace is new, so only the two lower levels are read here; a mesh-wide policy in istio-system
is overridden by the namespace's own.
"""

from __future__ import annotations

from meshconform.kube import errors
from meshconform.kube.client import Cluster, Obj
from meshconform.mesh.facts import PeerAuthn

GROUP, VERSION, PLURAL = "security.istio.io", "v1beta1", "peerauthentications"
RUN_ID = "meshconform.io/run-id"


def list_policies(cluster: Cluster, namespace: str, run_id: str) -> list[PeerAuthn] | None:
    """The namespace's PeerAuthentications; None when they cannot be listed (no CRD, no right)."""
    try:
        listing = cluster.read(
            f"LIST peerauthentications {namespace}",
            cluster.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
        )
    except errors.KubeError:
        return None
    return [_policy(item, run_id) for item in listing.get("items") or []]


def _policy(item: Obj, run_id: str) -> PeerAuthn:
    meta, spec = item.get("metadata") or {}, item.get("spec") or {}
    return PeerAuthn(
        name=str(meta.get("name", "")),
        mode=str((spec.get("mtls") or {}).get("mode") or "UNSET"),
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        created=str(meta.get("creationTimestamp", "")),
        ours=(meta.get("labels") or {}).get(RUN_ID) == run_id,
    )


def applied(policies: list[PeerAuthn], labels: dict[str, str]) -> PeerAuthn | None:
    """The policy whose mode the pod with `labels` gets: the oldest matching workload policy that
    sets a mode, else the oldest namespace-wide one that does; None: neither (the mesh's, or PERMISSIVE)."""
    workload = [p for p in policies if p.selector and all(labels.get(k) == v for k, v in p.selector.items())]
    namespace = [p for p in policies if not p.selector]
    for level in (workload, namespace):
        # istiod sorts by creation time, then name (pilot/pkg/model sortConfigByCreationTime)
        oldest = min(level, key=lambda p: (p.created, p.name), default=None)
        if oldest is not None and oldest.mode != "UNSET":
            return oldest
    return None
