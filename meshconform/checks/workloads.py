"""Checks on sidecar injection of the sample workloads (the guide's steps 3-5): the revision's
injector selects the namespace, every sample pod runs istio-proxy and is 2/2 Ready, and the proxy
came from the expected revision.
"""

from __future__ import annotations

from meshconform.checks import Need, cf, check, statistics
from meshconform.checks.cluster import istiod_ready, revision_installed
from meshconform.checks.join import istiod_synced
from meshconform.checks.remotes import primaries_of, remote_uses_primary
from meshconform.kube import selectors
from meshconform.kube.waits import stable_name
from meshconform.mesh.facts import MeshFacts, pair_id
from meshconform.mesh.samples import PROXY


def _namespace_labels(facts: MeshFacts, name: str) -> dict[str, str]:
    """As the namespace carries them; before it exists, the label the run would give it."""
    c = cf(facts, name)
    if c.workloads and c.workloads.namespace_labels:
        return c.workloads.namespace_labels
    labels = c.injection.labels if c.injection else {"istio.io/rev": c.tag or facts.revision_of(name) or ""}
    return {**labels, "kubernetes.io/metadata.name": facts.namespace}


def _via(facts: MeshFacts, name: str) -> str:
    tag = cf(facts, name).tag
    return f" (tag {tag})" if tag else ""


@check("test_injector_selects_namespace", requires=lambda f, t: [(revision_installed, t)])
def injector_selects(facts: MeshFacts, name: str) -> str | None:
    control = cf(facts, name).control
    revision = facts.revision_of(name)
    mine = [i for i in (control.injectors if control else []) if i.revision == revision]
    if not mine:
        return (
            f"no sidecar injector (MutatingWebhookConfiguration labelled istio.io/rev={revision}) in "
            f"{name}, so pods in {facts.namespace} get no istio-proxy; reinstall revision {revision}"
        )
    ns_labels = _namespace_labels(facts, name)
    wl = cf(facts, name).workloads
    templates = list(wl.template_labels.values()) if wl and wl.template_labels else [{}]
    reasons = []
    for injector in mine:
        for hook in injector.webhooks:
            miss = selectors.explain_mismatch(hook.namespace_selector, ns_labels)
            obj_miss = next(
                (m for t in templates if (m := selectors.explain_mismatch(hook.object_selector, t))), None
            )
            if miss is None and obj_miss is None:
                return None
            reasons.append(
                f"{injector.name}/{hook.name} needs namespace {miss}"
                if miss
                else f"{injector.name}/{hook.name} needs pod labels {obj_miss}"
            )
    shown = ", ".join(f"{k}={v}" for k, v in sorted(ns_labels.items()))
    return (
        f"the revision {revision}{_via(facts, name)} injector in {name} does not select namespace "
        f"{facts.namespace} "
        f"({shown}): {reasons[0] if reasons else 'it has no webhooks'}"
    )


def _pods_premises(facts: MeshFacts, name: str) -> list[Need]:
    """The injector selects the namespace and istiod runs; on a remote, the injector leads to a
    primary's istiod (a remote's pods are refused at creation when it does not), and that istiod
    reads the remote through its secret: it authenticates the remote's sidecars by their tokens
    against the remote's API server before it signs their certificates, so without the secret they
    never turn ready."""
    read = [(istiod_synced, pair_id(name, p)) for p in primaries_of(facts, name)]
    return [(injector_selects, name), (istiod_ready, name), (remote_uses_primary, name), *read]


@check("test_sample_pods_injected_and_ready", requires=_pods_premises)
def pods_ready(facts: MeshFacts, name: str) -> str | None:
    c = cf(facts, name)
    wl = c.workloads
    if wl is None:
        return c.problems.get("workloads", f"the sample workloads were not deployed in {name}")
    where = f"namespace {wl.namespace} of {name}"
    bare = [p for p in wl.pods if not p.has_proxy]
    if bare:
        p = bare[0]
        return (
            f"pod {stable_name(p.name)} in {where} has no {PROXY} container "
            f"({p.ready_containers}/{p.total_containers}): "
            f"it was not injected; check the namespace label istio.io/rev and the injector webhook"
        )
    if wl.problem:
        return wl.problem
    unready = [p for p in wl.pods if not p.ready]
    if unready:
        p = unready[0]
        ready = f"{p.ready_containers}/{p.total_containers}"
        return f"pod {stable_name(p.name)} in {where} is {ready} {p.phase}, not Ready"
    if not wl.pods:
        return f"no sample pods are running in {where}"
    return None


@check("test_injected_by_revision", requires=lambda f, t: [(pods_ready, t)])
def injected_by_revision(facts: MeshFacts, name: str) -> str | None:
    wl = cf(facts, name).workloads
    unknown = [stable_name(p.name) for p in (wl.pods if wl else []) if p.injected_revision is None]
    if unknown:  # a pass would vouch for an injector nobody identified
        raise statistics.Inconclusive(
            f"pod {unknown[0]} in {name} names no injecting revision (neither sidecar.istio.io/status "
            "nor an istio.io/rev label)",
            f"see which injector mutated it: kubectl --context {cf(facts, name).context} -n "
            f"{facts.namespace} get pods -o yaml (the istio-proxy image and annotations of {unknown[0]})",
        )
    revision = facts.revision_of(name)
    wrong = [p for p in (wl.pods if wl else []) if p.injected_revision != revision]
    if not wrong:
        return None
    p = wrong[0]
    said = (
        f"pod {stable_name(p.name)} in {name} was injected by revision {p.injected_revision}, not "
        f"{revision}{_via(facts, name)} (annotation sidecar.istio.io/status)"
    )
    old = "an old injector webhook still matches: remove it, then restart the pods"
    return f"{said}; {_miscalled(facts, name) or old}"


def _miscalled(facts: MeshFacts, name: str) -> str | None:
    """A tag's webhook labelled with one revision but calling another's istiod: moved by hand
    (kubectl label) rather than by istioctl tag set, which renders the webhook anew."""
    c = cf(facts, name)
    hooks = [(i, h) for i in (c.control.injectors if c.control else []) if i.tag and i.tag == c.tag
             for h in i.webhooks]
    for injector, hook in hooks:
        if hook.service and hook.service != _istiod(injector.revision):
            return (
                f"its webhook {injector.name} is labelled istio.io/rev={injector.revision} but calls "
                f"{hook.service} (moved by hand?): set it with istioctl tag set {c.tag} --revision REV "
                f"--overwrite --context {c.context}, which renders the webhook anew, then restart the pods"
            )
    return None


def _istiod(revision: str) -> str:
    """The istiod Service a revision's webhooks call (istio-discovery chart: istiod[-REV])."""
    return "istiod" if revision == "default" else f"istiod-{revision}"
