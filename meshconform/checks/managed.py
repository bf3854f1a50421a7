"""Checks for a cluster served by Google's managed control plane (no istiod pod to look at).

They replace what the istiod checks prove on an in-cluster control plane: the revision is
provisioned (its ControlPlaneRevision's conditions), the managed data plane controller and the
Istio CNI run where they are installed, and endpoint discovery is declared the way the managed
control plane reads it: `multicluster_mode: connected` in ConfigMap istio-system/asm-options on
every cluster under test once any declares it, and no remote secret left beside it (Google's
"Configuration updates for modernization": Istio's multi-cluster secrets are not supported under
the TRAFFIC_DIRECTOR implementation; the migration removes them). A cluster with its own istiod
cannot take part in that declaration, so in such a mesh it is red, naming the clusters that never
learn its endpoints. A mesh without multicluster_mode is joined by remote secrets, judged by the
join checks as on any mesh.

Synced, where no istiod can be asked: the managed holder's sample sidecar holds the other cluster's
helloworld endpoints (its pod IPs on one network, its network's east-west gateway on another), read
with `pilot-agent request GET clusters?format=json` (mesh/proxy_view.py) once per source, after the
hello calls (the same read tells a refusing gateway apart). The traffic checks presuppose it.
"""

from __future__ import annotations

from meshconform.checks import Need, cf, check, networks, statistics
from meshconform.checks.cluster import managed_serves, reach, remote_note, revision_installed
from meshconform.checks.join import names_unique, secret_credentials
from meshconform.checks.workloads import pods_ready
from meshconform.kube.waits import stable_name
from meshconform.mesh import control_plane_kind, topology
from meshconform.mesh.control_plane_kind import all_ready
from meshconform.mesh.controlplane import sync_unreported
from meshconform.mesh.facts import Condition, ManagedControlPlane, MeshFacts, split_pair

OPTIONS = control_plane_kind.OPTIONS
# A provisioned revision reports these True (either is enough: v1alpha1 objects carry only one).
DONE = ("Reconciled", "ProvisioningFinished")


def _managed(facts: MeshFacts, name: str) -> ManagedControlPlane:
    managed = cf(facts, name).managed
    if managed is None or not managed_serves(facts, name):
        remote_note(facts, name, "control plane of its own")
        raise statistics.NotApplicable(
            f"{name} runs its own istiod for revision {facts.revision_of(name)}; "
            f"test_istiod_ready[{name}] judges it"
        )
    return managed


@check("test_managed_revision_ready", requires=lambda f, t: [(revision_installed, t)])
def revision_ready(facts: MeshFacts, name: str) -> str | None:
    revision = facts.revision_of(name) or ""
    conditions = {c.type: c for c in _managed(facts, name).revisions.get(revision, [])}
    where = f"ControlPlaneRevision istio-system/{revision} in {name}"
    context = cf(facts, name).context
    fix = f"see kubectl -n istio-system describe controlplanerevision {revision} --context {context}"
    stalled = conditions.get("Stalled")
    if stalled is not None and stalled.status == "True":
        return f"{where} is Stalled{_why(stalled)}: Google has not provisioned the revision; {fix}"
    done = [conditions[t] for t in DONE if t in conditions]
    if not done:
        return f"{where} reports neither {' nor '.join(DONE)}: it is not provisioned yet; {fix}"
    pending = [c for c in done if c.status != "True"]
    if pending:
        return f"{where} is not {pending[0].type}{_why(pending[0])}; {fix}"
    return None


def _why(condition: Condition) -> str:
    said = ": ".join(p for p in (condition.reason, condition.message) if p)
    return f" ({said})" if said else ""


@check("test_managed_data_plane", requires=lambda f, t: [(revision_installed, t)])
def data_plane(facts: MeshFacts, name: str) -> str | None:
    managed = _managed(facts, name)
    context = cf(facts, name).context
    problems = []
    if managed.mdp_controller is not None and not all_ready(managed.mdp_controller):
        problems.append(
            f"Deployment kube-system/{control_plane_kind.MDP_CONTROLLER} has {managed.mdp_controller} "
            f"ready; see kubectl -n kube-system describe deployment {control_plane_kind.MDP_CONTROLLER} "
            f"--context {context}"
        )
    if managed.cni_node is not None and not all_ready(managed.cni_node):
        problems.append(_cni_problem(managed, context))
    if problems:
        return f"the managed data plane of {name} is not healthy: {'; '.join(problems)}"
    return None


def _cni_problem(managed: ManagedControlPlane, context: str) -> str:
    """The CNI plugin is missing on the nodes whose istio-cni-node is not Ready (istio.io, "Install
    Istio with the Istio CNI plugin": a pod's istio-validation init container fails there)."""
    where = f" (not Ready on {', '.join(managed.cni_unready_nodes[:4])})" if managed.cni_unready_nodes else ""
    return (
        f"DaemonSet kube-system/{control_plane_kind.CNI_NODE} has {managed.cni_node} ready{where}, so "
        "pods scheduled there cannot start (their istio-validation init container fails without the "
        f"plugin); read why: kubectl -n kube-system describe pods -l {control_plane_kind.CNI_SELECTOR} "
        f"--context {context} (node capacity: it requests 100m CPU and 100Mi on each node)"
    )


def declares_connected(facts: MeshFacts, name: str) -> bool:
    managed = cf(facts, name).managed
    return managed is not None and managed.multicluster_mode == control_plane_kind.CONNECTED


@check("test_endpoint_discovery_declared", requires=lambda f, t: [(reach, t)])
def discovery_declared(facts: MeshFacts, name: str) -> str | None:
    declaring = [n for n in facts.clusters if declares_connected(facts, n)]
    if not declaring:
        raise statistics.NotApplicable(
            "no cluster under test declares multicluster_mode: connected; the remote-secret checks "
            "judge endpoint discovery"
        )
    if cf(facts, name).managed is None:
        remote_note(facts, name, "control plane of its own")
        return _undiscoverable(facts, name, declaring)
    fix = f"--context {cf(facts, name).context}"
    if not declares_connected(facts, name):
        mode = cf(facts, name).managed.multicluster_mode  # type: ignore[union-attr]
        seen = f"multicluster_mode is {mode!r}" if mode is not None else "it has no multicluster_mode"
        patch = f'{{"data":{{"{control_plane_kind.MODE_KEY}":"{control_plane_kind.CONNECTED}"}}}}'
        return (
            f"{', '.join(declaring)} declare multicluster_mode: connected but {name} does not ({seen} in "
            f"ConfigMap istio-system/{OPTIONS}), so the other clusters do not discover its endpoints nor "
            f"it theirs; kubectl patch configmap/{OPTIONS} -n istio-system --type merge -p '{patch}' {fix}"
        )
    stray = sorted(cf(facts, name).remote_secret_ids)
    if stray:
        return (
            f"{name} declares multicluster_mode: connected and still holds remote secrets "
            f"({', '.join(stray)} in istio-system), which the TRAFFIC_DIRECTOR implementation does not "
            f"support and connected mode does not need; delete them: kubectl -n istio-system delete "
            f"secret {' '.join(stray)} {fix}"
        )
    return None


def _undiscoverable(facts: MeshFacts, name: str, declaring: list[str]) -> str:
    """A cluster with its own istiod in a mesh whose managed clusters discover by multicluster_mode:
    that discovery covers the managed clusters of the fleet that declare it, read by Google's
    control plane from their asm-options; an in-cluster istiod reads no asm-options, and under
    TRAFFIC_DIRECTOR no remote secret can name it instead ("Configuration updates for
    modernization"). The declaring clusters then never learn its endpoints."""
    them = ", ".join(declaring)
    return (
        f"{them} discover other clusters by multicluster_mode: connected, which Google's managed "
        f"control plane applies only to managed clusters of the fleet that declare it; {name} runs its "
        f"own istiod and cannot declare it, so {them} never learn {name}'s endpoints and calls from "
        f"{them} do not reach {name} (their managed control plane reads no remote secret for it under "
        f"TRAFFIC_DIRECTOR); provision managed Cloud Service Mesh on {name} through the fleet API "
        f"(gcloud container fleet mesh update --management automatic --memberships MEMBERSHIP, {name}'s "
        f"fleet membership) and declare "
        f"multicluster_mode: connected there, or keep {them} out of this mesh"
    )


# -- synced, as a sample sidecar sees it ----------------------------------------------------------


def _sync_premises(facts: MeshFacts, pair: str) -> list[Need]:
    """How A reaches B's control plane (both declare multicluster_mode, or A's remote secret in B),
    then the pods whose endpoints are looked for, and on several networks A's gateway."""
    a, b = split_pair(pair)
    if control_plane_kind.by_multicluster_mode(facts, b):
        discovery: list[Need] = [(discovery_declared, a), (discovery_declared, b)]
    else:
        discovery = [(secret_credentials, pair), (names_unique, b)]
    gateway: list[Need] = [(networks.cross_network_gateway, a)] if _networks_differ(facts, a, b) else []
    return [*discovery, (pods_ready, a), (pods_ready, b), *gateway]


def _networks_differ(facts: MeshFacts, a: str, b: str) -> bool:
    return topology.multi_network(facts) and topology.network_of(facts, a) != topology.network_of(facts, b)


@check("test_sidecar_synced", "pair", requires=_sync_premises)
def sidecar_synced(facts: MeshFacts, pair: str) -> str | None:
    a, b = split_pair(pair)
    managed = managed_serves(facts, b)
    if not managed and not sync_unreported(cf(facts, b).istiod_sync):
        raise statistics.NotApplicable(
            f"{b} runs its own istiod, whose own report judges its sync: test_istiod_synced[{pair}]"
        )
    view = facts.proxy_views.get(b)
    if view is None or view.problem:
        raise statistics.Inconclusive(
            (view.problem if view else None) or f"the sidecar of {b}'s sleep pod was not read",
            "see kubectl exec POD -c istio-proxy -- pilot-agent request GET clusters?format=json",
        )
    held = {(h.address, h.port) for h in view.hosts}
    if _networks_differ(facts, a, b):
        net = topology.network_of(facts, a)
        wanted = networks.gateway_addresses(facts, net)
        if held & wanted:
            return None
        missing = f"no endpoint at {a}'s network {net} gateway ({_addresses(wanted)})"
    else:
        ips = networks.pod_ips(facts, a)
        if not ips:  # Ready pods have IPs: without them there is nothing to look for
            raise statistics.Inconclusive(
                f"no pod IP of {a}'s helloworld was recorded",
                f"see kubectl get pods -o wide -n {facts.namespace}",
            )
        absent = sorted(ip for ip in ips if ip not in {h for h, _ in held})
        if not absent:
            return None
        missing = f"no endpoint for {len(absent)} of {a}'s helloworld pods ({', '.join(absent[:4])})"
    hosts = ", ".join(f"{h.address}:{h.port}" for h in view.hosts[:8]) or "none"
    return (
        f"the sidecar of {stable_name(view.pod)} in {b} holds {missing} for {view.cluster_name}: "
        f"{b}'s {'managed control plane' if managed else 'istiod'} has not sent it {a}'s endpoints; "
        f"{_sync_fix(facts, a, b) if managed else _istiod_fix(facts, a, b)}"
        f"\nendpoints: {hosts}"
    )


def _addresses(wanted: set[tuple[str, int]]) -> str:
    return ", ".join(f"{h}:{p}" for h, p in sorted(wanted)) or "none known"


def _istiod_fix(facts: MeshFacts, a: str, b: str) -> str:
    """An istiod too old to report its sync (before Istio 1.11): its log says why it did not read A."""
    return (
        f"read istiod's log in {b} for {a}'s remote secret (kubectl -n istio-system logs -l "
        f"app=istiod,istio.io/rev={facts.revision_of(b)} --context {cf(facts, b).context} | grep -i {a})"
    )


def _sync_fix(facts: MeshFacts, a: str, b: str) -> str:
    if control_plane_kind.by_multicluster_mode(facts, b):
        return (
            f"both declare multicluster_mode: connected, so check that {a} and {b} are members of "
            "the same fleet (gcloud container fleet memberships list) and that the fleet's mesh "
            "feature manages both (gcloud container fleet mesh describe)"
        )
    return (
        f"check {a}'s remote secret in {b} (test_remote_secret_credentials[{a}->{b}]) and the "
        f"revision's status (kubectl -n istio-system describe controlplanerevision "
        f"--context {cf(facts, b).context})"
    )
