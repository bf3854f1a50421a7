"""Gather every fact, stage by stage: clusters -> control plane -> join -> sync -> workloads -> traffic.

STAGES, at the end, is the one table of them: each stage's name, its gather function, the guide's
step it observes, whether it may create objects, what it needs, the fixture that hands its facts to
the checks and the line that says what it is doing. fixtures/mesh.py runs `plan`'s stages through
it, once per run; a library user runs `gather`. The sections below are headed by the guide's step.

Per-cluster work runs concurrently across clusters (threads; the work is network-bound). A stage
that fails in one cluster records why in that cluster's facts and the run goes on, so one broken
cluster yields one failing check and skipped dependants, not an aborted session. A stop event
(set on Ctrl-C / SIGTERM) makes waits return early so that clean-up can start.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from meshconform.kube import errors, waits
from meshconform.kube.client import Cluster, Obj
from meshconform.kube.fanout import Once, at_once, parallel
from meshconform.mesh import (
    cluster_identity,
    control_plane_kind,
    controlplane,
    hello_calls,
    injection,
    membership,
    multicluster_mode,
    peer_authn,
    proxy_view,
    remote_secrets,
    revision_choice,
    samples,
    sampling,
    secret_inspection,
    telemetry,
    topology,
)
from meshconform.mesh.facts import (
    ClusterFacts,
    Injector,
    IstiodPod,
    IstiodSync,
    MeshFacts,
    RemoteSecret,
    SecretClaim,
    Tally,
    TrafficPlan,
    pair_id,
)
from meshconform.run.config import RunConfig

log = logging.getLogger("meshconform.run.pipeline")
EXPECTED = (errors.KubeError, waits.WaitFailed, samples.Refused, remote_secrets.JoinFailed, ValueError)
# Endpoints of a pod that just became Ready reach the other clusters' proxies within seconds; a
# tally that misses a version is retaken this many times, this far apart, before it counts.
TRAFFIC_ATTEMPTS = 3
TRAFFIC_RETRY_SECONDS = 2.0


# Ordered pairs grow as N x (N-1): 380 at 20 clusters. All of them at once: each is a few round
# trips that mostly wait on the network, and a bound such as 8 put 380 / 8 pairs' round trips in
# series (the join took 17 s of a 26 s run at 20 clusters over a 20 ms round trip). Each API
# server then sees at most 2 x (N-1) of the suite's requests at a time, what one kubectl per pair
# in a shell loop over `&` would send.
PAIR_WORKERS = 0  # no bound


def new_facts(cfg: RunConfig, clusters: dict[str, Cluster]) -> MeshFacts:
    facts = MeshFacts(run_id=cfg.run_id, namespace=cfg.namespace, target_version=cfg.target_version)
    for c in clusters.values():
        facts.clusters[c.name] = ClusterFacts(name=c.name, context=c.context, server=c.server)
    return facts


def run_stage(
    stage: str,
    cfg: RunConfig,
    clusters: dict[str, Cluster],
    previous: MeshFacts | None,
    stop: threading.Event,
) -> MeshFacts:
    """One stage over a copy of the previous stage's facts, in the clusters that answered (every
    one, before the first stage); API use is added to the facts."""
    facts = copy.deepcopy(previous) if previous is not None else new_facts(cfg, clusters)
    started = time.monotonic()
    before = {c.name: c.stats.as_dict() for c in clusters.values()}
    up = [c for c in clusters.values() if facts.clusters[c.name].usable]
    step = STAGE[stage]
    if any(c.revision for c in facts.clusters.values()) or not step.needs_revision:
        step.gather(cfg, up, facts, stop)
    facts.stages.append(stage)
    for c in clusters.values():
        now, was, total = c.stats.as_dict(), before[c.name], facts.api.setdefault(c.name, {})
        for key in ("requests", "retries", "exec_sessions"):
            total[key] = total.get(key, 0) + now[key] - was[key]
        total["notes"] = total.get("notes", []) + now["notes"][len(was["notes"]) :]
    facts.wall_seconds = round(facts.wall_seconds + time.monotonic() - started, 2)
    return facts


def gather(cfg: RunConfig, clusters: dict[str, Cluster], stop: threading.Event) -> MeshFacts:
    """Every stage in order: what a library user (or a single process) runs."""
    facts: MeshFacts | None = None
    for stage in plan(cfg, STAGES[-1].name):
        facts = run_stage(stage.name, cfg, clusters, facts, stop)
    assert facts is not None
    return facts


def plan(cfg: RunConfig, *needed: str) -> list[Stage]:
    """The stages a run that needs the facts of the `needed` stages runs, in order: every stage up
    to the furthest of them, and of the optional ones those whose `when` holds for that chain."""
    last = max(STAGES.index(STAGE[name]) for name in needed)
    chain = list(STAGES[: last + 1])
    wanted = {s.name for s in chain if s.when is None}
    return [s for s in chain if s.when is None or s.when(wanted, cfg)]


# -- step 0 (the guide's prerequisites): clusters -------------------------------------------------


def probe_clusters(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    parallel(lambda c: probe_api(c, facts.clusters[c.name]), up, stop)


def probe_api(cluster: Cluster, facts: ClusterFacts) -> None:
    """GET /version and a SelfSubjectAccessReview with the context's own credentials: whether the
    API server answers them and lets them list istio-system's pods (checks/cluster.py judges)."""
    try:
        version = cluster.read("GET /version", cluster.version_api.get_code)
        facts.server_version = str(version.get("gitVersion", ""))
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "istio-system", "resource": "pods", "verb": "list"}},
        }
        review = cluster.write(
            "CREATE selfsubjectaccessreview",
            cluster.authz.create_self_subject_access_review,
            body,
            idempotent=True,
        )
    except errors.Unauthorized:
        facts.api_unauthorized = True
        return
    except errors.KubeError as exc:
        facts.api_error = str(exc)
        return
    facts.api_denied = not (review.get("status") or {}).get("allowed")


# -- step 2: the istiod revision, and the control plane around it ---------------------------------


def gather_control(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """istiod and the injectors first (the revision tags are injector webhooks), each cluster's
    revision chosen from them (mesh/revision_choice.py), then the rest of its control plane for it."""
    found: dict[str, tuple[list[IstiodPod], dict[str, str], list[Injector]]] = {}

    def istiod(c: Cluster) -> None:
        reads: list[Callable[[], Any]] = [
            lambda: controlplane.list_istiod(c),
            lambda: controlplane.injectors(c),
            lambda: control_plane_kind.observe(c),
        ]
        listed, hooks, managed = at_once(reads, catching=(errors.KubeError,))
        failed = next((r for r in (listed, hooks) if isinstance(r, errors.KubeError)), None)
        if failed is not None:  # no istiod or injector to judge: the control checks say why
            facts.clusters[c.name].problems["control"] = str(failed)
            return
        found[c.name] = (*listed, hooks)
        if isinstance(managed, errors.KubeError):  # e.g. no RBAC for Google's kinds: still judged
            facts.clusters[c.name].problems["control"] = str(managed)
        else:
            facts.clusters[c.name].managed = managed

    parallel(istiod, up, stop)
    for c in up:
        if c.name in found:
            pods, deployments, hooks = found[c.name]
            installed, tags = _revisions(facts, c.name, (pods, deployments)), revision_choice.tags_of(hooks)
            installed = installed or revision_choice.injector_revisions(hooks)  # a remote's, if any
            choice = revision_choice.choose(c.name, c.context, cfg.revision_for(c.name), installed, tags)
            fact = facts.clusters[c.name]
            fact.revision, fact.tag, fact.revision_problem = choice.revision, choice.tag, choice.problem
    facts.revision = revision_choice.common(facts)
    problems = [c.revision_problem for c in facts.clusters.values() if c.revision_problem]
    facts.revision_problem = problems[0] if problems and facts.revision is None else None

    def control(c: Cluster) -> None:
        if c.name not in found:
            return
        fact = facts.clusters[c.name]
        try:
            fact.control = ctl = controlplane.gather(c, fact.revision or "", *found[c.name])
        except EXPECTED as exc:
            fact.problems["control"] = str(exc)
            return
        ctl.revisions = _revisions(facts, c.name, found[c.name][:2])
        for pod in (p for p in ctl.istiod if p.revision == fact.revision):
            controlplane.why_unready(c, pod)
        if fact.revision:
            fact.injection = injection.choose(ctl.injectors, fact.revision, cfg.namespace, fact.tag)

    parallel(control, up, stop)


def _revisions(facts: MeshFacts, name: str, found: tuple[list[IstiodPod], dict[str, str]]) -> list[str]:
    """The revisions an istiod serves in the cluster, and those its managed control plane serves."""
    managed = facts.clusters[name].managed
    return sorted(set(controlplane.revisions(*found)) | set(managed.revisions if managed else ()))


# -- step 1: endpoint discovery (remote secrets) ---------------------------------------------------


def gather_join(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """Every ordered pair at once (each costs a dozen round trips on a real cluster, and they are
    independent), after one listing of the remote secrets already in each target and one read of
    what each of their kubeconfigs reaches (cluster_identity.py): A's secret in B is the one that reaches A.
    What is A's, whatever the target (its CA, its reader token, a TLS handshake with it, a read or
    review with a token it issued), is asked once per cluster through one Once, not once per pair."""
    existing: dict[str, dict[str, Obj]] = {}
    once = Once()
    if cfg.join != "verify":
        parallel(lambda c: _declare(cfg, c, facts), up, stop)

    def listing(target: Cluster) -> None:
        try:
            existing[target.name] = remote_secrets.remote_secrets(target)
        except errors.KubeError as exc:
            facts.clusters[target.name].problems["join"] = str(exc)
        try:
            facts.clusters[target.name].uid = cluster_identity.kube_system_uid(target)
        except errors.KubeError as exc:  # the secrets are then matched by name and server
            log.warning("%s: no cluster identity (%s); remote secrets are matched by name", target.name, exc)

    parallel(listing, up, stop)
    uids = {name: c.uid for name, c in facts.clusters.items() if c.uid}
    found = {n: _entries(secrets) for n, secrets in existing.items()}
    entries = [e for es in found.values() for e in es]
    parallel(lambda e: cluster_identity.read_identity(e, once), entries, stop)
    # A managed cluster of a mesh that declares multicluster_mode: connected discovers the others
    # without secrets (under TRAFFIC_DIRECTOR it may not be given one): none is made or inspected.
    declarative = control_plane_kind.by_multicluster_mode
    # Nor is one made in a remote of the primary-remote model: it runs no istiod to read it.
    joined = [
        t for t in up
        if t.name in existing and not declarative(facts, t.name) and not topology.is_remote(facts, t.name)
    ]
    pairs = [(s, t) for t in joined for s in up if s is not t]

    def one(pair: tuple[Cluster, Cluster]) -> RemoteSecret | None:
        source, target = pair
        if stop.is_set():
            return None
        return join_pair(cfg, source, target, existing[target.name], found[target.name], uids, once)

    for (source, target), secret in zip(pairs, parallel(one, pairs, stop, PAIR_WORKERS), strict=True):
        if secret is not None:
            facts.pairs[pair_id(source.name, target.name)] = secret
    names = {uid: name for name, uid in uids.items()}
    for name, secrets in existing.items():
        ids = {n: sorted(remote_secrets.decode_data(s)) for n, s in secrets.items()}
        facts.clusters[name].remote_secret_ids = ids
        facts.clusters[name].remote_secret_claims = [_claim(e, names) for e in found[name]]


def _declare(cfg: RunConfig, c: Cluster, facts: MeshFacts) -> None:
    """A managed cluster of a mesh that declares multicluster_mode joins by the declaration; one
    already in place is read again, since another run that made it must learn that this one relies
    on it (multicluster_mode.py)."""
    managed = facts.clusters[c.name].managed
    if managed is None or not control_plane_kind.by_multicluster_mode(facts, c.name):
        return
    try:
        managed.declared = multicluster_mode.declare(c, cfg.run_id)
    except EXPECTED as exc:
        facts.clusters[c.name].problems["join"] = f"could not declare multicluster_mode: {exc}"
        return
    managed.multicluster_mode = control_plane_kind.CONNECTED


def _entries(secrets: dict[str, Obj]) -> list[cluster_identity.Entry]:
    """One entry per data key of every remote secret in a cluster (cluster_identity.py)."""
    return [e for s in secrets.values() for e in cluster_identity.entries(s)]


def _claim(entry: cluster_identity.Entry, names: dict[str, str]) -> SecretClaim:
    server = entry.kubeconfig["server"] if entry.kubeconfig else None
    reaches = names.get(entry.uid) if entry.uid else None
    return SecretClaim(entry.name, entry.key, server, entry.uid, reaches, entry.unknown)


def join_pair(
    cfg: RunConfig,
    source: Cluster,
    target: Cluster,
    existing: dict[str, Obj],
    found: list[cluster_identity.Entry] | None = None,
    uids: dict[str, str] | None = None,
    once: Once | None = None,
) -> RemoteSecret:
    """Find A's secret in B by what it reaches (else by name), make it when missing (--join create)
    and none reaches A under another name, and inspect it. `found`: the entries of `existing` with
    what each reaches (read here when not given); `uids`: each cluster's kube-system UID."""
    name, uids = remote_secrets.secret_name(source.name), uids or {}
    uid = uids.get(source.name)
    if found is None:
        found = [e for s in existing.values() for e in cluster_identity.entries(s)]
        for entry in found:
            cluster_identity.read_identity(entry, once)
    try:
        match = cluster_identity.match(found, source.name, uid)
        current = match.entry.secret if match.entry else remote_secrets.get_secret(target, name)
        note, current, match = _settle(cfg, source, target, current, match, found, uid, once)
        if current is not None and _labelled(current):
            existing[current["metadata"]["name"]] = current
        if cfg.join == "replace" and current is not None and current["metadata"]["name"] != name:
            kept = current["metadata"]["name"]
            note = f"kept existing {kept} (it reaches {source.name}; --join replace recreates only {name})"
        key = match.entry.key if match.entry else None
        expected = cfg.api_server_for(source.name) or source.server
        reached = _reached(match, uid, uids)
        fact = secret_inspection.inspect(current, key, reached, source, expected, cfg.namespace, once)
    except EXPECTED as exc:
        fact = RemoteSecret(
            name=name, note=f"could not {'read' if cfg.join == 'verify' else 'create'} it: {exc}"
        )
        return fact
    fact.note = note
    fact.created_now = note in ("created", "replaced")
    return fact


def _settle(
    cfg: RunConfig,
    source: Cluster,
    target: Cluster,
    current: Obj | None,
    match: cluster_identity.Match,
    found: list[cluster_identity.Entry],
    uid: str | None,
    once: Once | None = None,
) -> tuple[str | None, Obj | None, cluster_identity.Match]:
    """Make the secret per --join, and mark one a concurrent run made as relied on by this run."""
    note = None
    for _ in range(2):  # a second time when a concurrent run deleted the secret it had made
        if cfg.join != "verify" and _to_make(cfg, current, remote_secrets.secret_name(source.name)):
            note, current = _make_secret(cfg, source, target, current, once)
            match = _identify(current, found, source.name, uid, once)
        if cfg.join == "verify" or current is None or not _made_by_another_run(current, cfg.run_id):
            break
        current = remote_secrets.mark_kept(target, current, cfg.run_id)
        if current is not None:
            break
    return note, current, match


def _labelled(secret: Obj) -> bool:
    return (secret["metadata"].get("labels") or {}).get(remote_secrets.MULTICLUSTER_LABEL) == "true"


_FOUND = threading.Lock()


def _to_make(cfg: RunConfig, current: Obj | None, name: str) -> bool:
    """create: only when B holds nothing for A (by identity or name); replace: also ours, by name."""
    return current is None or (cfg.join == "replace" and current["metadata"]["name"] == name)


def _identify(
    secret: Obj | None,
    found: list[cluster_identity.Entry],
    source: str,
    uid: str | None,
    once: Once | None = None,
) -> cluster_identity.Match:
    """What a secret just made reaches; its entries join B's (for the names check)."""
    made = cluster_identity.entries(secret) if secret is not None else []
    for entry in made:
        cluster_identity.read_identity(entry, once)
    with _FOUND:  # B's list is shared by the pairs that target B, which run at once
        found[:] = [e for e in found if secret is None or e.name != secret["metadata"]["name"]] + made
    return cluster_identity.match(made, source, uid)


def _reached(
    match: cluster_identity.Match, uid: str | None, uids: dict[str, str]
) -> secret_inspection.Reached:
    entry = match.entry
    if entry is None:
        return secret_inspection.Reached(expected=uid)
    other = next((n for n, u in uids.items() if entry.uid and u == entry.uid), None)
    return secret_inspection.Reached(entry.uid, entry.unknown, uid, other)


def _make_secret(
    cfg: RunConfig, source: Cluster, target: Cluster, current: Obj | None, once: Once | None = None
) -> tuple[str, Obj | None]:
    override = cfg.api_server_for(source.name)
    labels = samples.ownership(cfg.run_id)
    secret = (
        remote_secrets.istioctl_secret(source, override, cfg.kubeconfig, labels)
        if cfg.join_with == "istioctl"
        else remote_secrets.native_secret(source, override, labels, once)
    )
    note, stored = remote_secrets.apply_secret(target, secret, current, cfg.join, cfg.run_id)
    return note, stored or remote_secrets.get_secret(target, secret["metadata"]["name"])


def _made_by_another_run(secret: Obj, run_id: str) -> bool:
    """A remote secret a concurrent meshconform run made: this run relies on it from now on."""
    return remote_secrets.owned(secret) and not remote_secrets.owned(secret, run_id)


# -- steps 3-5: helloworld and sleep in every cluster ---------------------------------------------


def sample_objects(cfg: RunConfig, facts: MeshFacts) -> tuple[dict[str, list[Obj]], tuple[str, str]]:
    """helloworld vK for cluster K plus sleep, labelled as this run's, per cluster; the source app."""
    hello_path, sleep_path = samples.sample_files(cfg.samples_dir)
    hello_docs, sleep_docs = samples.load_manifest(hello_path), samples.load_manifest(sleep_path)
    objs = {
        name: samples.label_objects(
            [*samples.helloworld_objects(hello_docs, samples.version_for(i)), *sleep_docs,
             samples.strict_mtls()],
            cfg.run_id,
        )
        for i, name in enumerate(facts.clusters)
    }
    return objs, samples.source_app(sleep_docs)


def deploy_workloads(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """Create namespace and objects in every cluster, without waiting for the pods."""
    objs, _ = sample_objects(cfg, facts)
    log.info("creating namespace %s and the sample workloads; their pods start meanwhile", cfg.namespace)
    labels = injection_labels(facts)
    for why in dict.fromkeys(c.injection.why for c in facts.clusters.values() if c.injection):
        log.info("namespace %s labelled %s", cfg.namespace, why)
    claimed, refused = claim_namespace(cfg, up, labels)

    def deploy(c: Cluster) -> None:
        fact = facts.clusters[c.name]
        try:
            if c.name in refused:
                raise samples.Refused(refused[c.name])
            deploy_into(cfg, c, labels[c.name], objs[c.name], c.name in claimed)
            fact.deployed = True
        except EXPECTED as exc:
            fact.problems["deploy"] = str(exc)

    parallel(deploy, up, stop)


def injection_labels(facts: MeshFacts) -> dict[str, dict[str, str]]:
    """Per cluster, the namespace label its revision's (or tag's) webhook selects
    (injection.choose); the guide's istio.io/rev=REV where the control stage could not tell."""
    return {n: c.injection.labels if c.injection else _guide(c) for n, c in facts.clusters.items()}


def _guide(c: ClusterFacts) -> dict[str, str]:
    label = c.tag or c.revision
    return {injection.REV_LABEL: label} if label else {}


def deploy_into(cfg: RunConfig, c: Cluster, labels: dict[str, str], objs: list[Obj], claimed: bool) -> None:
    if not claimed:  # claim_namespace met an error here: try once more, and let it raise this time
        samples.create_namespace(c, cfg.namespace, labels, cfg.run_id)
    samples.create_objects(c, cfg.namespace, objs, cfg.run_id)


def claim_for_heartbeat(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """A run that deploys nothing still relies on the remote secrets it keeps while it lives, and a
    concurrent run's clean-up tells that from a heartbeat on a namespace of this run (cleanup.py):
    an empty one of its own name. Without it the run goes on, unprotected, and says so."""
    name = samples.holder_namespace(cfg.run_id)

    def claim(c: Cluster) -> None:
        try:
            samples.create_namespace(c, name, {}, cfg.run_id)
        except EXPECTED as exc:
            log.warning(
                "%s: no heartbeat for this run there (%s): a concurrent run that ends first may "
                "remove the remote secrets this run keeps",
                c.name,
                exc,
            )

    parallel(claim, [c for c in up if not facts.clusters[c.name].deployed], stop)


def gather_workloads(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """Deploy where the deploy stage did not run, wait until every pod is Ready, describe them."""
    objs, source = sample_objects(cfg, facts)
    done = {n for n, c in facts.clusters.items() if c.deployed or "deploy" in c.problems}
    fresh = [c for c in up if c.name not in done]
    wanted = injection_labels(facts)
    claimed, refused = claim_namespace(cfg, fresh, wanted)

    def ready(c: Cluster) -> None:
        fact = facts.clusters[c.name]
        problem = refused.get(c.name) or fact.problems.pop("deploy", None)
        try:
            if problem is None and not fact.deployed:
                deploy_into(cfg, c, wanted[c.name], objs[c.name], c.name in claimed)
            if problem is None:
                samples.wait_ready(c, cfg.namespace, cfg.run_id, objs[c.name], cfg.ready_timeout, stop)
        except EXPECTED as exc:
            problem = str(exc)
        try:
            ns = c.read(f"GET namespace {cfg.namespace}", c.core.read_namespace, cfg.namespace)
            pods = samples.list_pods(c, cfg.namespace, cfg.run_id)
        except errors.KubeError as exc:
            fact.problems["workloads"] = problem or str(exc)
            return
        labels = ns.get("metadata", {}).get("labels") or {}
        version = samples.version_for(list(facts.clusters).index(c.name))
        wl = samples.describe(cfg.namespace, labels, objs[c.name], version, pods, source)
        wl.problem = problem
        wl.peer_authns = peer_authn.list_policies(c, cfg.namespace, cfg.run_id)
        hello = {"app": "helloworld", "version": version}
        wl.server_mtls = peer_authn.applied(wl.peer_authns, hello) if wl.peer_authns else None
        fact.workloads = wl

    parallel(ready, up, stop)


def claim_namespace(
    cfg: RunConfig, up: list[Cluster], labels: dict[str, dict[str, str]]
) -> tuple[set[str], dict[str, str]]:
    """Create the namespace in the first cluster by name, then in all the others at once, before any
    rollout, so that two runs started together with one --namespace meet in that first cluster and
    the loser stops there, rather than each winning some cluster and failing the other. (One cluster
    after another, as before, put N round trips in series: 20 at 20 clusters.) A refusal anywhere
    refuses that cluster and every later one by name, as the loop did; what was created beyond is
    this run's and its clean-up removes it.
    -> (clusters where the namespace is ours now, {cluster: why refused})"""
    ordered = sorted(up, key=lambda c: c.name)
    outcome = [_take_namespace(cfg, c, labels[c.name]) for c in ordered[:1]]
    if outcome and not isinstance(outcome[0], samples.Refused):
        outcome += parallel(lambda c: _take_namespace(cfg, c, labels[c.name]), ordered[1:])
    claimed: set[str] = set()
    for i, (c, result) in enumerate(zip(ordered, outcome, strict=False)):
        if isinstance(result, samples.Refused):
            return claimed, {later.name: str(result) for later in ordered[i:]}
        if result is True:
            claimed.add(c.name)
    return claimed, {}


def _take_namespace(cfg: RunConfig, c: Cluster, labels: dict[str, str]) -> bool | samples.Refused:
    """True when the namespace is ours now; False on another error (the rollout meets it again and
    records it for this cluster); the refusal when it is not ours to use."""
    try:
        samples.create_namespace(c, cfg.namespace, labels, cfg.run_id)
        return True
    except samples.Refused as exc:
        return exc
    except EXPECTED:
        return False


# -- step 1, as istiod sees it: /debug/clusterz ----------------------------------------------------


Clusterz = list[dict[str, Any]]
SETTLED = (remote_secrets.SYNCED, "timeout", "closed")  # istiod's sync states that will not change by waiting


def gather_sync(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """Each istiod's own view (/debug/clusterz), polled until every peer it has a secret for settles."""

    def sync(target: Cluster) -> None:
        control = facts.clusters[target.name].control
        istiods = control.istiod if control else []
        ready = [p for p in istiods if p.revision == facts.revision_of(target.name) and p.ready]
        sources = [s.name for s in up if s is not target and _present(facts, s.name, target.name)]
        if not ready or not sources:  # nothing to wait for; its remote secrets still name its clusters
            return
        # istiod lists a remote cluster by its secret's data key, which need not be our name for it
        ids = [facts.pairs[pair_id(s, target.name)].cluster_id or s for s in sources]
        result = _poll_clusterz(cfg, target, ready[0].name, ids, stop)
        seen = IstiodSync(pod=ready[0].name, version=ready[0].version)
        if isinstance(result, secret_inspection.ClusterzMissing):
            seen.missing = True
        elif isinstance(result, str):
            seen.error = result
        else:
            seen.entries = result
            # every cluster it registers, under test or not (membership.py)
            remotes = [str(e.get("id")) for e in result if e.get("secretName") and e.get("id")]
            facts.clusters[target.name].istiod_remotes = remotes
        facts.clusters[target.name].istiod_sync = seen

    parallel(sync, up, stop)
    remotes = [c for c in up if topology.is_remote(facts, c.name)]
    parallel(lambda c: _root_published(cfg, facts, c, stop), remotes, stop)
    facts.outside = membership.outside_clusters(facts)
    if facts.outside:
        log.info("%s", membership.mesh_line(facts))


def _root_published(cfg: RunConfig, facts: MeshFacts, remote: Cluster, stop: threading.Event) -> None:
    """A primary's istiod publishes istio-ca-root-cert into a remote's namespaces only once it
    reads the remote through its secret (its namespace controller runs for each remote cluster it
    leads), so a remote seen without it before the join is read again: waited for where a primary
    lists the remote synced, read once where none does (the join checks say why)."""
    control = facts.clusters[remote.name].control
    if control is None or control.root_ca_configmap is not False:
        return

    def attempt() -> bool | None:
        try:
            controlplane.root_ca(remote, control)
        except EXPECTED as exc:
            log.warning("%s: istio-ca-root-cert not read again (%s)", remote.name, exc)
            return None
        return control.root_ca_configmap

    if not _synced_by_a_primary(facts, remote.name):
        attempt()
        return
    what = f"a primary's istiod to publish istio-ca-root-cert in {remote.name}"
    waits.poll(what, attempt, lambda found: found is not False, cfg.ready_timeout, stop=stop)


def _synced_by_a_primary(facts: MeshFacts, remote: str) -> bool:
    for name, c in facts.clusters.items():
        fact = facts.pairs.get(pair_id(remote, name))
        listed = (fact.cluster_id if fact else None) or remote
        entries = c.istiod_sync.entries if c.istiod_sync else []
        if any(e.get("id") == listed and e.get("syncStatus") == remote_secrets.SYNCED for e in entries):
            return True
    return False


def _present(facts: MeshFacts, source: str, target: str) -> bool:
    fact = facts.pairs.get(pair_id(source, target))
    return bool(fact and fact.present)


Polled = Clusterz | str | secret_inspection.ClusterzMissing


def _poll_clusterz(
    cfg: RunConfig, target: Cluster, pod: str, sources: list[str], stop: threading.Event
) -> Polled:
    """clusterz until every source settles; an istiod without the endpoint is not waited for."""

    def attempt() -> Polled:
        try:
            return secret_inspection.clusterz(target, pod)
        except secret_inspection.ClusterzMissing as exc:
            return exc
        except (errors.KubeError, ValueError) as exc:
            return str(exc)

    def settled(result: Polled) -> bool:
        if isinstance(result, secret_inspection.ClusterzMissing):
            return True
        status = {} if isinstance(result, str) else {e.get("id"): e.get("syncStatus") for e in result}
        return all(status.get(s) in SETTLED for s in sources)

    what = f"istiod {pod} in {target.name} to sync {', '.join(sources)}"
    result: Polled = waits.poll(what, attempt, settled, cfg.ready_timeout, stop=stop)
    return result


# -- step 6: cross-cluster load balancing ----------------------------------------------------------


def gather_traffic(cfg: RunConfig, up: list[Cluster], facts: MeshFacts, stop: threading.Event) -> None:
    """Calls per source as the verdicts need them (sampling.plan_calls), said once; then per source
    one take, retaken while it misses a version (take_until_reached)."""
    found = sampling.targets(facts)
    plan = sampling.plan_calls(found, len(facts.names), cfg.requests)
    facts.traffic_plan = plan
    log.info("%s", plan.reason)
    versions = {t.version for t in found}
    several_networks = topology.multi_network(facts)

    def send(c: Cluster) -> None:
        wl = facts.clusters[c.name].workloads
        if wl is None or not wl.source_pod or not wl.source_container:
            return  # no Ready sleep pod to call from (checks/traffic.py says so)
        try:
            pod, container = wl.source_pod, wl.source_container
            facts.traffic[c.name] = take_until_reached(cfg, c, pod, container, plan, versions, stop)
        except errors.KubeError as exc:
            facts.curl_errors[c.name] = str(exc)
        # What its control plane sent: one more exec per source, on several networks (the other
        # networks' gateways, and which of them refused the calls just sent) and where no istiod
        # says whether it synced the other clusters (Google's managed control plane; before 1.11).
        own = facts.clusters[c.name]
        if several_networks or own.managed is not None or controlplane.sync_unreported(own.istiod_sync):
            facts.proxy_views[c.name] = proxy_view.read(c, cfg.namespace, wl.source_pod)

    before = telemetry.read_all(up, facts, stop)  # the servers' counters, to tell this run's calls apart
    parallel(send, up, stop)
    telemetry.record(up, facts, before, telemetry.read_all(up, facts, stop))


def take_until_reached(
    cfg: RunConfig,
    c: Cluster,
    pod: str,
    container: str,
    plan: TrafficPlan,
    versions: set[str],
    stop: threading.Event,
) -> Tally:
    """A sample, retaken while it misses a version: the endpoints of a pod that just became Ready
    reach the other clusters' proxies within seconds. The counts are the last take's (an earlier
    take describes a mesh that has converged since, and pooled it would bias the split); the failed
    calls of every take are kept; a take whose failures left too few answers to judge a miss is
    followed by a larger one (sampling.retake_calls) rather than the same question again."""
    tally: Tally | None = None
    calls = plan.calls
    for attempt in range(1, TRAFFIC_ATTEMPTS + 1):
        earlier = tally
        tally = hello_calls.send(c, cfg.namespace, pod, container, calls, cfg.curl_batch)
        tally.takes = [*(earlier.takes if earlier else []), calls]
        if earlier is not None:
            hello_calls.keep_failures(tally, earlier)  # a retake shows convergence, it hides no error
        if set(tally.by_version) >= versions or attempt == TRAFFIC_ATTEMPTS or stop.is_set():
            break
        calls = sampling.retake_calls(plan, tally)
        log.info(
            "calls from %s reached %s of %s (%d of %d answered); retaking the sample with %d calls in %.0fs "
            "(attempt %d/%d)",
            c.name,
            sorted(tally.by_version),
            sorted(versions),
            tally.answered,
            tally.takes[-1],
            calls,
            TRAFFIC_RETRY_SECONDS,
            attempt + 1,
            TRAFFIC_ATTEMPTS,
        )
        if stop.wait(TRAFFIC_RETRY_SECONDS):
            break
    assert tally is not None
    return tally


# -- the stages, as one table ----------------------------------------------------------------------

Gather = Callable[[RunConfig, list[Cluster], MeshFacts, threading.Event], None]
When = Callable[[set[str], RunConfig], bool]


@dataclass(frozen=True)
class Stage:
    name: str
    gather: Gather
    step: str  # the guide's step it observes or makes ("0": its prerequisites), as tests/ number it
    creates: bool  # may create objects in the clusters: from its start on, the clean-up has work
    needs_revision: bool  # gathers nothing until the control stage found the istiod revision
    fixture: str | None  # the session fixture that hands its facts to the checks (fixtures/mesh.py)
    doing: str  # the progress line's words while it runs
    # An optional stage runs only when this holds for the names of the chain's other stages.
    when: When | None = None


STAGES: tuple[Stage, ...] = (
    Stage(
        "clusters", probe_clusters, "0", False, False, "mesh_clusters",
        "asking each API server for /version and a SelfSubjectAccessReview",
    ),
    Stage(
        "control", gather_control, "2", False, False, "mesh_control",
        "reading istiod pods, revisions, mesh config and root CA per cluster",
    ),
    # Created without waiting, so that the pods start while the join is made and istiod syncs
    # (minutes of image pulls on a real cluster); "workloads" then only waits for them.
    Stage(
        "deploy", deploy_workloads, "3-5", True, True, None,
        "creating the sample workloads", when=lambda chain, cfg: "workloads" in chain,
    ),
    # A run that deploys nothing, yet makes or keeps remote secrets, holds an empty namespace of its
    # own for its heartbeat instead (cleanup.py tells a live run by it).
    Stage(
        "claim", claim_for_heartbeat, "1", True, True, None,
        "claiming an empty namespace for this run's heartbeat",
        when=lambda chain, cfg: "workloads" not in chain and cfg.join != "verify",
    ),
    Stage(
        "join", gather_join, "1", True, True, "mesh_joined",
        "making and validating a remote secret for each ordered pair",
    ),
    Stage(
        "sync", gather_sync, "1", False, True, "mesh_synced",
        "waiting for each istiod to list its remote clusters as synced",
    ),
    Stage(
        "workloads", gather_workloads, "3-5", True, True, "mesh_workloads",
        "deploying helloworld and sleep, waiting for 2/2 Ready pods",
    ),
    Stage(
        "traffic", gather_traffic, "6", False, True, "mesh_traffic",
        "one curl batch from each cluster's sleep pod",
    ),
)  # fmt: skip
STAGE = {s.name: s for s in STAGES}
