"""Checks on one cluster: its API server answers, its control plane is the one the mesh needs,
and it shares trust with the others (the catalogue's areas: reach, control plane, trust; networks
are checks/networks.py).
"""

from __future__ import annotations

from meshconform.checks import REGISTRY, Need, cf, check, reference, statistics
from meshconform.kube.waits import stable_name
from meshconform.mesh import topology, trust
from meshconform.mesh.controlplane import MIN_VERSION, version_tuple
from meshconform.mesh.facts import ClusterFacts, ControlPlane, IstiodPod, MeshFacts, pair_id

# -- reach and control plane ----------------------------------------------------------------------


@check("test_api_server_answers")
def reach(facts: MeshFacts, name: str) -> str | None:
    return reach_problem(cf(facts, name))


def reach_problem(c: ClusterFacts) -> str | None:
    """What GET /version and the SelfSubjectAccessReview with the context's credentials showed."""
    if c.api_unauthorized:
        return (
            f"the API server of {c.name} ({c.server}) rejects the credentials of "
            f"context {c.context} (401 Unauthorized); refresh them, e.g. gcloud container "
            "clusters get-credentials"
        )
    if c.api_error:
        return (
            f"the API server of {c.name} ({c.server}) does not answer: {c.api_error}; "
            f"check the cluster's control plane; try kubectl --context {c.context} get --raw /version"
        )
    if c.api_denied:
        return (
            f"context {c.context} may not list pods in istio-system of {c.name}; "
            "the suite needs cluster-admin-like rights"
        )
    return None


@check("test_revision_everywhere", requires=lambda f, t: [(reach, t)])
def revision_installed(facts: MeshFacts, name: str) -> str | None:
    c = cf(facts, name)
    if c.revision_problem:
        return c.revision_problem
    if c.control is None:
        return c.problems.get("control", f"the control plane of {name} could not be read")
    revision = facts.revision_of(name)
    if revision is None:
        return facts.revision_problem or "no istiod revision could be determined"
    if revision in c.control.revisions:
        return None  # how far apart the clusters' control planes are: test_control_planes_within_one_minor
    if topology.is_remote(facts, name):
        return _remote_injector(facts, name, revision)
    return _not_installed(facts, name, revision)


def _remote_injector(facts: MeshFacts, name: str, revision: str) -> str | None:
    """A remote runs no istiod (Istio's primary-remote model): its revision is the injector webhook
    it keeps (labelled istio.io/rev), which calls a primary's istiod (test_remote_uses_primary)."""
    c = cf(facts, name)
    hooks = [i for i in (c.control.injectors if c.control else []) if i.revision == revision and not i.tag]
    if hooks:
        return None
    found = ", ".join(sorted({i.revision for i in c.control.injectors})) if c.control else ""
    return (
        f"{name} is a remote cluster (istio-system annotated topology.istio.io/controlPlaneClusters="
        f"{c.control.control_plane_clusters if c.control else ''}) with no injector webhook of revision "
        f"{revision} (found: {found or 'none'}); install the remote profile of that revision in {name} "
        "(istioctl install --set profile=remote, istiodRemote.injectionPath=/inject/cluster/NAME/net/NETWORK)"
    )


def remote_note(facts: MeshFacts, name: str, what: str) -> None:
    """A remote has no istiod of its own (Istio's primary-remote model): the check has nothing to
    look at there; its primaries' checks judge what the remote uses."""
    if topology.is_remote(facts, name):
        primaries = ", ".join(topology.named_primaries(facts, name)) or "its primary"
        raise statistics.NotApplicable(
            f"{name} is a remote cluster (primary-remote model) with no {what}: its proxies use "
            f"{primaries}'s, which that cluster's checks judge; test_remote_uses_primary[{name}] "
            "judges the path to it"
        )


def _not_installed(facts: MeshFacts, name: str, revision: str) -> str:
    c = cf(facts, name)
    found = ", ".join(c.control.revisions if c.control else []) or "none"
    if c.tag:
        return (
            f"revision tag {c.tag} in {name} points at revision {revision}, which has no istiod there "
            f"(found: {found}); move the tag to a running revision: istioctl tag set {c.tag} --revision "
            f"REV --overwrite --context {c.context}"
        )
    common = _revisions_everywhere(facts)
    other = (
        f" or pass --revision {' or '.join(common)} (installed in every cluster)"
        if common
        else " (no revision is installed in every cluster, so --revision cannot help; "
        f"--revision {c.context}=REV names this cluster's own)"
    )
    return (
        f"{name} has no istiod of revision {revision} (found: {found}); install that revision in "
        f"{name}{other}"
    )


def _revisions_everywhere(facts: MeshFacts) -> list[str]:
    """The revisions every cluster has, the ones --revision could name instead; none when a
    cluster's control plane could not be read (nobody can say what it has)."""
    controls = [c.control for c in facts.clusters.values() if c.usable]
    if not controls or any(c is None for c in controls):
        return []
    return sorted(set.intersection(*(set(c.revisions) for c in controls if c is not None)))


def rev_pods(facts: MeshFacts, name: str) -> list[IstiodPod]:
    """istiod pods of the revision `name` is judged against."""
    control = cf(facts, name).control
    revision = facts.revision_of(name)
    return [p for p in (control.istiod if control else []) if p.revision == revision]


def managed_serves(facts: MeshFacts, name: str) -> bool:
    """Google's managed control plane serves the revision here (a ControlPlaneRevision of that
    name) and no istiod of it runs in the cluster: the istiod checks have nothing to look at."""
    managed = cf(facts, name).managed
    revision = facts.revision_of(name)
    return managed is not None and revision in managed.revisions and not rev_pods(facts, name)


def _not_in_cluster(facts: MeshFacts, name: str) -> None:
    if managed_serves(facts, name):
        raise statistics.NotApplicable(
            f"{name}'s revision {facts.revision_of(name)} is Google-managed (no istiod pod in the cluster); "
            f"test_managed_revision_ready[{name}] judges it"
        )


@check("test_istiod_ready", requires=lambda f, t: [(revision_installed, t)])
def istiod_ready(facts: MeshFacts, name: str) -> str | None:
    _not_in_cluster(facts, name)
    remote_note(facts, name, "istiod")
    pods = rev_pods(facts, name)
    if any(p.ready for p in pods):
        return None
    seen = "; ".join(p.state or f"{stable_name(p.name)} {p.phase}" for p in pods) or "no pods"
    revision = facts.revision_of(name)
    forbidden = next((p.forbidden for p in pods if p.forbidden), None)
    if forbidden:
        return (
            f"istiod of revision {revision} is not ready in {name} ({seen}): its log says {forbidden}; "
            f"its account lacks the ClusterRoleBinding the install makes ({_istiod_binding(revision)}): "
            f"reinstall revision {revision} (istioctl install --set revision={revision}, or asmcli) so "
            "that its RBAC is applied"
        )
    return (
        f"istiod of revision {revision} is not ready in {name} ({seen}); "
        f"see kubectl -n istio-system describe pods -l app=istiod,istio.io/rev={revision}"
    )


def _istiod_binding(revision: str | None) -> str:
    """istio-discovery's clusterrolebinding.yaml: istiod-clusterrole[-REV]-istio-system."""
    suffix = "" if revision in ("default", None) else f"-{revision}"
    return f"istiod-clusterrole{suffix}-istio-system"


def _version_premises(facts: MeshFacts, name: str) -> list[Need]:
    """Without a single istiod pod there is no image to read: that is test_istiod_ready's failure."""
    return [(revision_installed, name), *([] if rev_pods(facts, name) else [(istiod_ready, name)])]


@check("test_istiod_version", requires=_version_premises)
def istiod_version(facts: MeshFacts, name: str) -> str | None:
    _not_in_cluster(facts, name)
    remote_note(facts, name, "istiod")
    versions = {p.name: p.version for p in rev_pods(facts, name)}
    known = {pod: v for pod, v in versions.items() if v}
    if not known:
        # A digest-pinned or custom-tagged image names no version: nothing here can tell whether
        # it meets the guide's minimum, and a pass would vouch for what was never seen.
        images = ", ".join(sorted({p.image for p in rev_pods(facts, name)}))
        raise statistics.Inconclusive(
            f"the istiod image in {name} names no version ({images})",
            f"check it with istioctl version --context {cf(facts, name).context}, or deploy istiod "
            "from a version-tagged image",
        )
    minimum = ".".join(map(str, MIN_VERSION))
    old = {pod: v for pod, v in known.items() if version_tuple(v) < MIN_VERSION}
    if old:
        pod, v = sorted(old.items())[0]
        return (
            f"istiod {stable_name(pod)} in {name} runs {v}, older than {minimum}, the guide's minimum; "
            "upgrade it"
        )
    return None


# -- trust ------------------------------------------------------------------------------------


def _root_ca_premises(facts: MeshFacts, name: str) -> list[Need]:
    """istiod publishes istio-ca-root-cert: where none is found and istiod is not ready, the
    missing root is that failure (test_istiod_ready), not a second one."""
    control = cf(facts, name).control
    unpublished = control is not None and control.root_ca is None
    if unpublished and topology.is_remote(facts, name):  # published by the primaries that read it
        return [(reach, name), *_read_by_primaries(facts, name)]
    idle = unpublished and not any(p.ready for p in rev_pods(facts, name))
    return [(reach, name), *([(istiod_ready, name)] if idle else [])]


def _read_by_primaries(facts: MeshFacts, remote: str) -> list[Need]:
    """Each primary's istiod reading the remote (test_istiod_synced[REMOTE->PRIMARY], registered
    by checks/join.py, which builds on this module)."""
    synced = REGISTRY["test_istiod_synced"]
    primaries = [m.cluster for m in topology.members(facts) if m.role == topology.PRIMARY]
    return [(synced, pair_id(remote, p)) for p in primaries]


@check("test_root_ca_shared", requires=_root_ca_premises)
def root_ca_shared(facts: MeshFacts, name: str) -> str | None:
    c = cf(facts, name)
    if c.control is None:
        return c.problems.get("control", f"the control plane of {name} could not be read")
    if c.control.root_ca is None:
        return _no_root_ca(c.control, name)
    ref = reference(facts, lambda x: bool(x.control and x.control.root_ca))
    if ref is None or ref.name == name or ref.control is None:
        return None
    mine, theirs = c.control, ref.control
    if mine.root_pems and theirs.root_pems:
        problem = trust.compare_cached(
            name,
            tuple(mine.root_pems),
            tuple(mine.signing_chain),
            ref.name,
            tuple(theirs.root_pems),
            tuple(theirs.signing_chain),
        ).problem
    else:  # fingerprints only: the bundles must still share a root
        ours, others = (set(x.root_cas) | ({x.root_ca} if x.root_ca else set()) for x in (mine, theirs))
        problem = None if ours & others else f"{name}'s roots and {ref.name}'s have none in common"
    if problem is None:
        return None
    return (
        f"{problem} (istio-ca-root-cert root-cert.pem, signing chains from Secret cacerts); "
        "all clusters need a common root (same Mesh CA, or cacerts from one root; during a rotation "
        "every cluster's root-cert.pem holds old and new root)"
    )


def _no_root_ca(control: ControlPlane, name: str) -> str:
    """Why no root CA was read: istio-ca-root-cert missing, or holding no PEM certificate."""
    if control.root_ca_configmap is False:
        return f"ConfigMap istio-system/istio-ca-root-cert is missing in {name} (istiod publishes it)"
    if control.root_ca_configmap:
        return f"ConfigMap istio-system/istio-ca-root-cert in {name} holds no PEM certificate"
    return f"no root CA found in {name}"


@check("test_trust_domain_and_mesh_id", requires=lambda f, t: [(revision_installed, t)])
def trust_domain(facts: MeshFacts, name: str) -> str | None:
    c = cf(facts, name)
    if c.control is not None and c.control.mesh_config is None:
        remote_note(facts, name, "mesh ConfigMap (istio[-REV])")
    if c.control is None or c.control.mesh_config is None:
        return f"no mesh ConfigMap (istio-{facts.revision_of(name)} or istio) in istio-system of {name}"
    ref = reference(facts, lambda x: bool(x.control and x.control.mesh_config))
    if ref is None or ref.control is None or ref.name == name:
        return None
    mine, theirs = (
        (c.control.trust_domain, c.control.mesh_id),
        (ref.control.trust_domain, ref.control.mesh_id),
    )
    if mine == theirs:
        return None
    return (
        f"{name} has trustDomain={mine[0]} meshId={mine[1]} (ConfigMap istio-system/"
        f"{c.control.mesh_config}), but {ref.name} has trustDomain={theirs[0]} meshId={theirs[1]}; install "
        "every cluster with the same values"
    )
