"""Checks for a cluster served by Google's managed control plane (no istiod pod to look at).

They replace what the istiod checks prove on an in-cluster control plane: the revision is
provisioned (its ControlPlaneRevision's conditions), the managed data plane controller and the
Istio CNI run where they are installed, and endpoint discovery is declared the way the managed
control plane reads it: `multicluster_mode: connected` in ConfigMap istio-system/asm-options on
every cluster under test once any declares it, and no remote secret left beside it (Google's
"Configuration updates for modernization": Istio's multi-cluster secrets are not supported under
the TRAFFIC_DIRECTOR implementation; the migration removes them). A mesh without
multicluster_mode is joined by remote secrets, judged by the join checks as on any mesh.
"""

from __future__ import annotations

from meshconform.checks import cf, check, statistics
from meshconform.checks.cluster import managed_serves, reach, remote_note, revision_installed
from meshconform.mesh import control_plane_kind
from meshconform.mesh.facts import Condition, ManagedControlPlane, MeshFacts

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
    problems = [
        f"{what} kube-system/{obj} has {ready} ready"
        for what, obj, ready in (
            ("Deployment", control_plane_kind.MDP_CONTROLLER, managed.mdp_controller),
            ("DaemonSet", control_plane_kind.CNI_NODE, managed.cni_node),
        )
        if ready is not None and not _all_ready(ready)
    ]
    if problems:
        return (
            f"the managed data plane of {name} is not healthy: {'; '.join(problems)}; see "
            f"kubectl -n kube-system get deployment,daemonset --context {cf(facts, name).context}"
        )
    return None


def _all_ready(ready: str) -> bool:
    have, _, want = ready.partition("/")
    return have == want and want != "0"


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
        raise statistics.NotApplicable(
            f"{name} runs its own istiod; the remote-secret checks judge its discovery"
        )
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
