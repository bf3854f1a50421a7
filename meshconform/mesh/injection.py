"""Which label puts the run's namespace under the revision's injector, read from its own webhooks.

The guide labels the namespace `istio.io/rev=REV` (`kubectl label namespace sample istio-injection-
istio.io/rev=REV`), and every revision's webhook selects that label, except one: a default-revision
install before Istio 1.10. Its chart (istio-discovery templates/mutatingwebhook.yaml at 1.7.3 and
1.8.x; 1.9.x too, whose values.yaml keeps `useLegacySelectors: true`) renders a single webhook whose
namespaceSelector is `matchLabels: {istio-injection: enabled}`; `istio.io/rev=default` selects
nothing there, and the sample pods would start without a sidecar. From 1.10.0 the default revision
has `rev.namespace` (istio.io/rev In [default]) next to `namespace` (istio-injection In [enabled]).

A cluster judged through a revision tag (mesh/revision_choice.py) is labelled `istio.io/rev=TAG`, as
`istioctl tag set` intends: the tag's webhook (labelled with the tag's revision) selects it.

So the label is not assumed: each candidate, the guide's first, is tried against the
namespaceSelector and objectSelector of every webhook of the revision (as the API server's
admission predicates evaluate them), and the first that one of them selects is used. The choice
and its reason are facts, shown in the report and summary.
"""

from __future__ import annotations

from meshconform.kube import selectors
from meshconform.mesh.facts import InjectionLabel, Injector

REV_LABEL = "istio.io/rev"
LEGACY_LABEL = ("istio-injection", "enabled")
NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace by the API server (1.21+)


def candidates(revision: str) -> list[dict[str, str]]:
    """The guide's label first; istio-injection=enabled only ever selects a default revision."""
    return [{REV_LABEL: revision}, dict([LEGACY_LABEL])]


def selecting_hook(injectors: list[Injector], labels: dict[str, str], namespace: str) -> str | None:
    """`config/webhook` of the first webhook whose selectors take a pod of ours in a namespace
    labelled `labels`. Our sample pods carry no sidecar.istio.io/inject or istio.io/rev label, so
    the objectSelector is matched against none."""
    ns_labels = {**labels, NAME_LABEL: namespace}
    for injector in injectors:
        for hook in injector.webhooks:
            if selectors.explain_mismatch(hook.namespace_selector, ns_labels) is None and (
                selectors.explain_mismatch(hook.object_selector, {}) is None
            ):
                return f"{injector.name}/{hook.name}"
    return None


def choose(
    injectors: list[Injector], revision: str, namespace: str, tag: str | None = None
) -> InjectionLabel:
    """The label for `namespace`, given every injector webhook configuration of the cluster; with
    a tag, the tag's name is the label's value."""
    mine = [i for i in injectors if i.revision == revision]
    for labels in candidates(tag or revision):
        hook = selecting_hook(mine, labels, namespace)
        if hook is None:
            continue
        shown = _shown(labels)
        if REV_LABEL in labels:
            return InjectionLabel(labels, f"{shown}, the guide's label: webhook {hook} selects it")
        return InjectionLabel(
            labels,
            f"{shown}: revision {revision}'s webhook {hook} selects namespaces by this label only (a "
            f"default-revision install before Istio 1.10), so {REV_LABEL}={revision} would not inject",
        )
    guide = {REV_LABEL: tag or revision}
    why = "has no injector" if not mine else "has no webhook that selects either label"
    return InjectionLabel(
        guide,
        f"{_shown(guide)}, the guide's label, although revision {revision} {why} "
        "(test_injector_selects_namespace says what is missing)",
    )


def _shown(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())
