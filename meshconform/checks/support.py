"""Support checks, the pre-upgrade group: what `istioctl x precheck` and the vendors' support pages
ask before an upgrade, judged from what each cluster shows.

- The Kubernetes version (GET /version) is among those the release of the cluster's revision
  supports, and among those of --target-version X.Y when given (mesh/support.toml, with its
  sources: Istio's supported-releases page, Cloud Service Mesh's supported-platforms pages).
  istioctl's own precheck only compares against a minimum (IST0142 UnsupportedKubernetesVersion,
  istioctl/pkg/precheck/precheck.go); the pages list a window, and a cluster newer than the
  window is as unsupported as an older one.
- Control planes of one mesh are at most one minor apart (the step Istio upgrades by).
- Every sample proxy runs a release no newer than its control plane and at most one minor older
  (istio.io supported releases, "Control Plane/Data Plane Skew").

A release the table does not list, or a version no image or revision name tells, cannot be
decided: Inconclusive, which fails unless --allow-inconclusive. A Google-managed control plane
(no istiod in the cluster) follows its release channel, which Google keeps supported: these
checks do not apply to it.
"""

from __future__ import annotations

import itertools

from meshconform.checks import Need, cf, check, remotes, statistics
from meshconform.checks.cluster import istiod_version, managed_serves, rev_pods
from meshconform.checks.workloads import injected_by_revision
from meshconform.kube.waits import stable_name
from meshconform.mesh import support_table
from meshconform.mesh.controlplane import MIN_VERSION, version_tuple
from meshconform.mesh.facts import MeshFacts

Minor = tuple[int, int]
Refused = list[tuple[support_table.Release, str]]  # releases that do not support it, and why each was asked


def _managed(facts: MeshFacts, name: str) -> None:
    if managed_serves(facts, name):
        raise statistics.NotApplicable(
            f"{name}'s revision {facts.revision_of(name)} is Google-managed: its release follows the "
            f"cluster's release channel, which Google keeps supported; test_managed_revision_ready[{name}] "
            "judges it"
        )


def control_release(facts: MeshFacts, name: str) -> tuple[support_table.Product, str] | None:
    """(product, version) of the istiod of the revision `name` is judged against: its image tag,
    else what an ASM revision name encodes; on a remote, its primaries' istiod's."""
    # A remote (primary-remote model) runs no istiod: its proxies are its primaries' istiod's.
    pods = rev_pods(facts, name) or [p for q in remotes.primaries_of(facts, name) for p in rev_pods(facts, q)]
    tags = [p.version for p in pods if p.version]
    return support_table.release_of(tags[0] if tags else None, facts.revision_of(name))


def _unknown_release(facts: MeshFacts, name: str) -> statistics.Inconclusive:
    images = ", ".join(sorted({p.image for p in rev_pods(facts, name)})) or "no istiod pod"
    return statistics.Inconclusive(
        f"the release of revision {facts.revision_of(name)} in {name} cannot be told: its istiod image "
        f"names no version ({images}) and the revision name encodes none",
        f"check it with istioctl version --context {cf(facts, name).context}",
    )


def _window(versions: frozenset[Minor]) -> str:
    ordered = [support_table.fmt(v) for v in sorted(versions)]
    minors = sorted(versions)
    if len(minors) > 1 and all(b == (a[0], a[1] + 1) for a, b in itertools.pairwise(minors)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(ordered)


def _premises(facts: MeshFacts, name: str) -> list[Need]:
    """The istiod's own version is judged first (test_istiod_version: an image older than the
    guide's minimum fails there, not again here); it presupposes the revision and a pod."""
    return [(istiod_version, name)]


# -- Kubernetes version ----------------------------------------------------------------------------


@check("test_kubernetes_version_supported", requires=_premises)
def kubernetes_supported(facts: MeshFacts, name: str) -> str | None:
    _managed(facts, name)
    c = cf(facts, name)
    kube = support_table.minor_of(c.server_version or "")
    if kube is None:
        raise statistics.Inconclusive(
            f"{name}'s API server named no Kubernetes version (GET /version gitVersion "
            f"{c.server_version!r})",
            f"check kubectl --context {c.context} version",
        )
    release = control_release(facts, name)
    if release is None:
        raise _unknown_release(facts, name)
    product, version = release
    asked = [(support_table.minor_of(version), f"istiod {version}, revision {facts.revision_of(name)}")]
    if facts.target_version:
        asked.append((support_table.minor_of(facts.target_version), "--target-version"))
    refused: Refused = []
    unknown = []
    for minor, why in asked:
        assert minor is not None  # release_of and parse_target_version give MAJOR.MINOR...
        row = _row(product, minor)
        if row is None:
            unknown.append(f"{support_table.PRODUCT_NAMES[product]} {support_table.fmt(minor)} ({why})")
        elif kube not in row.kubernetes:
            refused.append((row, why))
    if refused:
        return _unsupported(name, c.server_version or "", kube, refused)
    if unknown:
        raise statistics.Inconclusive(
            f"the support table has no row for {' or '.join(unknown)}: the pages read do not say which "
            f"Kubernetes versions it supports ({name} runs {support_table.fmt(kube)})",
            "check the release's supported-platforms page by hand; the suite's support table "
            "(meshconform/mesh/support.toml) names the pages it was read from",
        )
    return None


def _row(product: support_table.Product, minor: Minor) -> support_table.Release | None:
    """The row a release is judged by. Every Cloud Service Mesh (Anthos Service Mesh) X.Y is built
    on Istio X.Y (1.7.3-asm.3 on Istio 1.7.3); where no Google page for that minor was found (ASM
    1.7-1.20 among others), Istio X.Y's window stands in for it, and a refusal names that row."""
    table = support_table.load()
    return table.release(product, minor) or (table.release("istio", minor) if product == "csm" else None)


def _unsupported(name: str, git_version: str, kube: Minor, refused: Refused) -> str:
    tested = " (tested, but not supported)" if any(kube in row.tested for row, _ in refused) else ""
    said = [f"{row.name} ({why})" for row, why in refused]
    windows = [f"{_window(row.kubernetes)} ({row.source})" for row, _ in refused]
    if len(refused) == 1:
        which = f"which {said[0]} does not support: it supports {windows[0]}"
    else:
        which = f"which neither {said[0]} nor {said[1]} supports: they support {windows[0]} and {windows[1]}"
    fix = (
        "upgrade the cluster first, or target a release that supports it"
        if all(why == "--target-version" for _, why in refused)
        else "upgrade the cluster or the mesh to a pair that is supported"
    )
    return f"{name} runs Kubernetes {support_table.fmt(kube)}{tested} ({git_version}), {which}; {fix}"


# -- control planes across the mesh ------------------------------------------------------------------


def _control_minor(facts: MeshFacts, name: str) -> tuple[Minor, str] | None:
    release = control_release(facts, name)
    minor = support_table.minor_of(release[1]) if release else None
    return (minor, release[1]) if release and minor else None


@check("test_control_planes_within_one_minor", requires=_premises)
def control_planes_close(facts: MeshFacts, name: str) -> str | None:
    _managed(facts, name)
    mine = _control_minor(facts, name)
    if mine is None:
        raise _unknown_release(facts, name)
    apart = support_table.load().skew.control_planes_apart
    far, unknown = [], []
    for other in facts.names:
        oc = cf(facts, other)
        absent = oc.control is None or facts.revision_of(other) not in oc.control.revisions
        if other == name or not oc.usable or absent or managed_serves(facts, other):
            continue  # unread, not installed or managed: their own checks say so
        theirs = _control_minor(facts, other)
        if theirs is not None and _too_old(theirs[1]):
            continue  # older than the guide's minimum: test_istiod_version[other] fails
        if theirs is None:
            unknown.append(other)
        elif abs(_index(theirs[0]) - _index(mine[0])) > apart:
            far.append(f"{other} (istiod {theirs[1]})")
    if far:
        return (
            f"{name}'s control plane (istiod {mine[1]}, revision {facts.revision_of(name)}) is more than "
            f"{apart} minor from {', '.join(far)}: a skew Istio does not support between the control "
            "planes of one mesh; upgrade one minor at a time, or pass --revision "
            f"{cf(facts, name).context}=REV if {name} runs another revision for this mesh"
        )
    if unknown:
        raise statistics.Inconclusive(
            f"the istiod release of {', '.join(unknown)} cannot be told (image names no version)",
            "check them with istioctl version",
        )
    return None


def _too_old(version: str) -> bool:
    try:
        return version_tuple(version) < MIN_VERSION
    except ValueError:
        return False


def _index(minor: Minor) -> int:
    return minor[0] * 1000 + minor[1]


# -- proxies against their control plane --------------------------------------------------------------


@check(
    "test_proxies_within_skew",
    requires=lambda f, t: [(injected_by_revision, t), *_premises(f, t)],
)
def proxies_within_skew(facts: MeshFacts, name: str) -> str | None:
    _managed(facts, name)
    control = _control_minor(facts, name)
    if control is None:
        raise _unknown_release(facts, name)
    wl = cf(facts, name).workloads
    pods = [p for p in (wl.pods if wl else []) if p.has_proxy]
    versions = {p.name: support_table.release_of((p.proxy_image or "").rpartition(":")[2]) for p in pods}
    unknown = [stable_name(p) for p, v in versions.items() if v is None]
    if unknown:
        image = next(p.proxy_image for p in pods if stable_name(p.name) == unknown[0])
        raise statistics.Inconclusive(
            f"the istio-proxy image of pod {unknown[0]} in {name} names no version ({image})",
            f"check it with istioctl proxy-status --context {cf(facts, name).context}",
        )
    behind = support_table.load().skew.data_plane_behind
    for pod, release in sorted(versions.items()):
        assert release is not None
        problem = _skewed(name, stable_name(pod), release[1], control, behind)
        if problem:
            return problem
    return None


def _skewed(name: str, pod: str, version: str, control: tuple[Minor, str], behind: int) -> str | None:
    minor = support_table.minor_of(version)
    assert minor is not None
    gap = _index(control[0]) - _index(minor)
    if gap < 0:
        return (
            f"pod {pod} in {name} runs proxy {version}, newer than its control plane (istiod {control[1]}): "
            "a data plane may never be ahead of its control plane; upgrade the control plane first, then "
            "restart the pods"
        )
    if gap > behind:
        return (
            f"pod {pod} in {name} runs proxy {version}, {gap} minors behind its control plane (istiod "
            f"{control[1]}; Istio supports {behind}); have the revision's injector hand out its own "
            "release (ConfigMap istio-sidecar-injector-REV values.global.tag, or no sidecar.istio.io/"
            "proxyImage annotation pinning another), then restart the pods"
        )
    return None
