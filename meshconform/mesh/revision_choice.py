"""Which revision each cluster is judged against: the one named for it, else the one it runs.

Fleets upgrade one cluster at a time, so for days cluster-1 runs the new revision and cluster-2 the
old one; each cluster is judged against its own. A cluster's revision is named by `--revision
CTX=REV` for that cluster, else by `--revision REV` for all, else it is the one revision installed
there (istiod pods or deployments, controlplane.revisions); a cluster that runs several and is not
named is ambiguous (a canary beside the old revision) and the run asks which.

A name may be a revision tag instead. `istioctl tag set TAG --revision REV` (Istio 1.10+) writes
MutatingWebhookConfiguration `istio-revision-tag-TAG`, labelled `istio.io/tag=TAG` and
`istio.io/rev=REV`, whose webhooks select namespaces labelled `istio.io/rev=TAG` and call
istiod-REV (istio/istio istioctl/pkg/tag/generate.go `Generate`, util.go `GetWebhooksWithTag`,
`GetWebhookRevision`; istio-discovery chart templates/revision-tags.yaml, later
revision-tags-mwc.yaml). A tag therefore resolves to a revision through that label, cluster by
cluster: moving it is `istioctl tag set TAG --revision NEW --overwrite` in each cluster in turn, and
mid-rollout one tag names different revisions in different clusters. That is allowed, and said
(`split_tags`). A revision of that name wins over a tag (istioctl refuses a tag named like an
installed revision, except `default`).
"""

from __future__ import annotations

from dataclasses import dataclass

from meshconform.mesh.facts import Injector, MeshFacts

TAG_LABEL = "istio.io/tag"


@dataclass(frozen=True)
class Choice:
    revision: str | None
    tag: str | None = None
    problem: str | None = None


def tags_of(injectors: list[Injector]) -> dict[str, list[str]]:
    """Revision tag -> the revisions its webhooks name (one, as istioctl makes it)."""
    found: dict[str, set[str]] = {}
    for injector in injectors:
        if injector.tag:
            found.setdefault(injector.tag, set()).add(injector.revision)
    return {tag: sorted(revs) for tag, revs in sorted(found.items())}


def injector_revisions(injectors: list[Injector]) -> list[str]:
    """The revisions a cluster without istiod injects for: a remote of Istio's primary-remote model
    keeps its revision's injector webhook (istio.io/rev label), which calls a primary's istiod."""
    return sorted({i.revision for i in injectors if not i.tag})


def choose(name: str, context: str, requested: str | None, installed: list[str],
           tags: dict[str, list[str]]) -> Choice:
    """The revision of cluster `name`: `requested` (a revision or a tag) or the one installed."""
    if requested:
        return _named(name, requested, installed, tags)
    if len(installed) == 1:
        return Choice(installed[0])
    if installed:
        return Choice(None, problem=(
            f"{name} runs several istiod revisions ({', '.join(installed)}); pass --revision REV to say "
            f"which one to check, or --revision {context}=REV for this cluster alone"
        ))
    return Choice(None, problem=(
        f"no istiod found in {name} (pods or deployments labelled app=istiod in istio-system); "
        "install Istio / ASM first"
    ))


def _named(name: str, requested: str, installed: list[str], tags: dict[str, list[str]]) -> Choice:
    if requested in installed or requested not in tags:
        return Choice(requested)  # not installed: test_revision_everywhere says so
    revisions = tags[requested]
    if len(revisions) == 1:
        return Choice(revisions[0], tag=requested)
    return Choice(None, tag=requested, problem=(
        f"revision tag {requested} in {name} has webhooks for several revisions ({', '.join(revisions)}); "
        "istioctl tag set makes one: see kubectl get mutatingwebhookconfigurations -l "
        f"{TAG_LABEL}={requested}"
    ))


def common(facts: MeshFacts) -> str | None:
    """The revision every cluster that has one is judged against, when they agree."""
    chosen = {c.revision for c in facts.clusters.values() if c.revision}
    return chosen.pop() if len(chosen) == 1 else None


def split_tags(facts: MeshFacts) -> dict[str, dict[str, str]]:
    """Tags that resolve to different revisions in different clusters: tag -> {cluster: revision}.
    A tag moved in some clusters only: allowed mid-rollout, and named in the report."""
    by_tag: dict[str, dict[str, str]] = {}
    for name, c in facts.clusters.items():
        if c.tag and c.revision:
            by_tag.setdefault(c.tag, {})[name] = c.revision
    return {tag: where for tag, where in by_tag.items() if len(set(where.values())) > 1}


def described(facts: MeshFacts) -> str:
    """One line: the revision judged, or per cluster `TAG -> REV`, and any tag split across them."""
    if not any(c.revision for c in facts.clusters.values()):
        return facts.revision_problem or "not determined"
    shown = {n: _one(c.revision, c.tag) for n, c in facts.clusters.items()}
    line = (
        next(iter(shown.values())) if len(set(shown.values())) == 1
        else ", ".join(f"{n}: {v}" for n, v in shown.items())
    )
    for tag, where in split_tags(facts).items():
        revs = ", ".join(f"{rev} in {n}" for n, rev in where.items())
        line += f" (tag {tag} points at {revs}: a rollout in progress)"
    return line


def _one(revision: str | None, tag: str | None) -> str:
    if revision is None:
        return "not determined"
    return f"{tag} -> {revision}" if tag else revision
