"""Bad input, found before the first test: contexts that do not exist or reach nothing, two
contexts for one cluster, a namespace that is not ours, an istiod revision we would have to guess.

Each problem is one ConfigError line, which the plugin turns into a usage error (exit 4). A cluster
whose API server accepts TCP but answers errors is not bad input: the reach check reports it.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes.config.config_exception import ConfigException

from meshconform.kube import errors
from meshconform.kube.client import ATTEMPTS, Cluster, list_contexts, load_configuration
from meshconform.kube.fanout import at_once, parallel_or_leave
from meshconform.kube.redact import kubeconfig_files_secrets, one_line
from meshconform.mesh import control_plane_kind, controlplane, remote_secrets, revision_choice, samples
from meshconform.run.config import CONNECT_TIMEOUT, ConfigError, RunConfig, probe_tcp


def known_contexts(kubeconfig: str | None) -> list[str]:
    where = kubeconfig or "the kubeconfig (KUBECONFIG or ~/.kube/config)"
    try:
        contexts = list_contexts(kubeconfig)
    except _MALFORMED as exc:
        raise ConfigError(f"cannot read {where}: {why_unusable(exc, kubeconfig)}") from None
    return [str(c["name"]) for c in contexts or []]


# What the client's kubeconfig loader raises on a file it cannot use; a KeyError is the merger's
# own (kube_config.py _merge) for a cluster, context or user entry without a name.
_MALFORMED = (ConfigException, OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError)


def why_unusable(exc: BaseException, kubeconfig: str | None) -> str:
    """One line, at most 240 characters, with no credential: the client quotes a whole entry of
    the kubeconfig (a user's token and key too) when a field of it is missing, and a shape cannot
    catch every token, so the kubeconfig's own are blanked verbatim too."""
    if isinstance(exc, KeyError):
        return f"an entry has no {exc.args[0]!r} field" if exc.args else "a required field is missing"
    return one_line(str(exc) or type(exc).__name__, kubeconfig_files_secrets(kubeconfig))


def connect(cfg: RunConfig) -> dict[str, Cluster]:
    """Load every context with the client's own loader and refuse what cannot work."""
    known = known_contexts(cfg.kubeconfig)
    for ctx in cfg.contexts:
        if ctx not in known:
            raise ConfigError(
                f"context {ctx!r} is not in the kubeconfig; known: {', '.join(known) or 'none'}"
            )
    clusters: dict[str, Cluster] = {}
    servers: dict[str, str] = {}
    for ctx, name in zip(cfg.contexts, cfg.cluster_names, strict=True):
        plugin = _PluginErrors(cfg.kubeconfig)
        logging.getLogger().addHandler(plugin)
        try:
            configuration = load_configuration(ctx, cfg.kubeconfig)
        except _MALFORMED as exc:
            raise ConfigError(f"cannot load context {ctx!r}: {why_unusable(exc, cfg.kubeconfig)}") from None
        finally:
            logging.getLogger().removeHandler(plugin)
        if plugin.first:
            raise ConfigError(
                f"cannot get credentials for context {ctx!r}: {plugin.first}; log in again "
                "(e.g. gcloud auth login) or fix the user's exec plugin in the kubeconfig"
            )
        server = configuration.host.rstrip("/")
        if server in servers:
            raise ConfigError(
                f"contexts {servers[server]!r} and {ctx!r} reach the same API server {server}; "
                "give each cluster once"
            )
        servers[server] = ctx
        clusters[name] = Cluster(ctx, name, configuration)
        clusters[name].attempts = 2  # bad input is refused on sight; a failing server is reported later
    return clusters


class _PluginErrors(logging.Handler):
    """The client's kubeconfig loader reports a failed exec credential plugin (gcloud logged out,
    gke-gcloud-auth-plugin missing) with logging.error on the root logger and goes on without
    credentials (kubernetes/config/kube_config.py _load_from_exec_plugin): keep its first line for
    our one-line refusal instead of letting it reach stderr as stray output."""

    def __init__(self, kubeconfig: str | None) -> None:
        super().__init__(logging.ERROR)
        self.first, self.kubeconfig = "", kubeconfig

    def emit(self, record: logging.LogRecord) -> None:
        # A plugin's stderr is in the message, and some print the token they could not use; the
        # kubeconfig is read for its secrets only then, never on a run that goes well.
        if not self.first:
            self.first = one_line(record.getMessage(), kubeconfig_files_secrets(self.kubeconfig))


# Each step runs every cluster in its own thread (a fleet of 10 pays one cluster's round trips, not
# ten), and is judged before the next starts, in --ctx order: the line a user sees is the one the
# serial loops raised, as soon as they raised it. Nothing here writes: the access review is a
# question the API server answers without storing it.
PROBE, CREDENTIALS, NAMESPACE, REPLACE = "probe", "credentials", "namespace", "replace"


@dataclass
class Finding:
    """What preflight learnt of one cluster; `refused` holds its first refusal, by step."""

    cluster: Cluster
    refused: dict[str, str] = field(default_factory=dict)
    uid: str = ""
    revisions: list[str] | None = None  # None: istiod could not be listed (the checks report it)
    tags: dict[str, list[str]] = field(default_factory=dict)  # revision tag -> its revisions
    # where no istiod runs (a remote of the primary-remote model): its injector webhook's revisions
    injector_revisions: list[str] = field(default_factory=list)


def probe(found: Finding) -> None:
    try:
        probe_tcp(found.cluster.server, found.cluster.context)
    except ConfigError as exc:
        found.refused[PROBE] = str(exc)


def credentials(found: Finding) -> None:
    try:
        check_credentials(found.cluster)
    except ConfigError as exc:
        found.refused[CREDENTIALS] = str(exc)


def read_state(found: Finding, cfg: RunConfig, names: list[str]) -> None:
    """The cluster's identity, and unless --cleanup-only: our namespace, istiod, remote secrets."""
    cluster = found.cluster
    found.uid = kube_system_uid(cluster)
    if cfg.cleanup_only:
        return
    try:
        check_namespace(cluster, cfg)
    except ConfigError as exc:
        found.refused[NAMESPACE] = str(exc)
        return
    found.revisions, found.tags, found.injector_revisions = istiod_revisions(cluster)
    try:
        check_replace(cluster, cfg, names)
    except ConfigError as exc:
        found.refused[REPLACE] = str(exc)


def check_credentials(cluster: Cluster) -> None:
    """Expired or revoked credentials are bad input; a server that answers 5xx is a check's to report."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"resource": "namespaces", "verb": "get"}},
    }
    try:
        cluster.write(
            "CREATE selfsubjectaccessreview",
            cluster.authz.create_self_subject_access_review,
            body,
            idempotent=True,
        )
    except errors.Unauthorized:
        raise ConfigError(
            f"the API server of context {cluster.context!r} ({cluster.server}) rejects its credentials "
            "(401 Unauthorized); refresh them, e.g. gcloud container clusters get-credentials"
        ) from None
    except errors.Unreachable as exc:
        if "Timeout" in exc.reason:  # TCP accepted, then silence: every later call would wait as long
            found = re.search(r"timeout=([0-9.]+)", exc.message)
            waited = float(found.group(1)) if found else CONNECT_TIMEOUT
            raise ConfigError(
                f"the API server of context {cluster.context!r} at {cluster.server} accepted a "
                f"connection but did not answer within {waited:g}s "
                f"({exc.reason}); check the address and any proxy or firewall in between"
            ) from None
    except errors.KubeError:
        pass


def kube_system_uid(cluster: Cluster) -> str:
    """kube-system's UID, the identity istioctl itself uses for a cluster without --name
    (remote_secret.go clusterUID); "" when it cannot be read (the reach check reports why)."""
    try:
        ns = cluster.read("GET namespace kube-system", cluster.core.read_namespace, "kube-system")
    except errors.KubeError:
        return ""
    return str(ns.get("metadata", {}).get("uid") or "")


def check_identity(findings: list[Finding]) -> None:
    """Two contexts may name one cluster through different addresses: compare kube-system's UID."""
    seen: dict[str, str] = {}
    for found in findings:
        uid, context = found.uid, found.cluster.context
        if uid and uid in seen:
            raise ConfigError(
                f"contexts {seen[uid]!r} and {context!r} reach the same cluster "
                f"(kube-system uid {uid}); give each cluster once"
            )
        if uid:
            seen[uid] = context


def check_namespace(cluster: Cluster, cfg: RunConfig) -> None:
    try:
        samples.check_namespace(cluster, cfg.namespace, cfg.run_id)
    except samples.Refused as exc:
        raise ConfigError(str(exc)) from None
    except errors.KubeError:
        pass  # an API server that answers errors is the reach check's to report


def istiod_revisions(cluster: Cluster) -> tuple[list[str] | None, dict[str, list[str]], list[str]]:
    """The revisions installed (None: unreadable), the revision tags (mesh/revision_choice.py) and
    the revisions of the injector webhooks that are not tags (a remote's, which runs no istiod)."""
    reads: list[Callable[[], Any]] = [
        lambda: controlplane.list_istiod(cluster),
        lambda: control_plane_kind.control_plane_revisions(cluster),
        lambda: controlplane.injectors(cluster),
    ]
    listed, managed, hooks = at_once(reads, catching=(errors.KubeError,))
    if isinstance(listed, errors.KubeError) or isinstance(managed, errors.KubeError):
        return None, {}, []
    # a managed cluster has no istiod pod: Google's ControlPlaneRevisions are its revisions
    installed = sorted(set(controlplane.revisions(*listed)) | set(managed or {}))
    if isinstance(hooks, errors.KubeError):
        return installed, {}, []
    return installed, revision_choice.tags_of(hooks), revision_choice.injector_revisions(hooks)


def check_revision(findings: list[Finding], cfg: RunConfig) -> None:
    """A named revision (or tag) nowhere to be found is a typo, or the canary is not installed
    yet: every check would fail for the same reason. So is one named for a single cluster and not
    there. A cluster that runs several, not named, is ambiguous."""
    found = [f for f in findings if f.revisions is not None]
    if not found:
        return
    installed = sorted({r for f in found for r in f.revisions or []})
    tags = sorted({t for f in found for t in f.tags})
    known = f"installed: {', '.join(installed) or 'none'}"
    known += f"; revision tags: {', '.join(tags)}" if tags else ""
    if cfg.revision and installed and cfg.revision not in installed and cfg.revision not in tags:
        raise ConfigError(f"--revision {cfg.revision} has no istiod in any cluster; {known}")
    for f in found:
        name, context = f.cluster.name, f.cluster.context
        own = cfg.cluster_revisions.get(context) or cfg.cluster_revisions.get(name)
        # a remote runs no istiod: the revision its injector webhook serves is the one it runs
        mine = f.revisions or f.injector_revisions
        if own and own not in mine and own not in f.tags:
            there = f"installed there: {', '.join(mine) or 'none'}"
            if not f.revisions and f.injector_revisions:
                there = f"it is a remote (no istiod) whose injector webhook serves {', '.join(mine)}"
            raise ConfigError(
                f"--revision {context}={own}: {name} has no istiod of revision {own} nor a revision tag "
                f"of that name; {there}"
            )
    if not installed and cfg.revision is None and not cfg.cluster_revisions:
        raise ConfigError(
            "no istiod found (pods or deployments labelled app=istiod in istio-system) in any "
            "cluster; install Istio / ASM first"
        )
    for f in found:
        choice = revision_choice.choose(
            f.cluster.name, f.cluster.context, cfg.revision_for(f.cluster.name), f.revisions or [], f.tags
        )
        if choice.problem and f.revisions:
            raise ConfigError(choice.problem)


def check_replace(target: Cluster, cfg: RunConfig, names: list[str]) -> None:
    """--join replace recreates remote secrets; one that meshconform did not create is refused here,
    before anything is written, rather than kept silently while the user believes it replaced."""
    if cfg.join != "replace":
        return
    for source in names:
        if source == target.name:
            continue
        name = remote_secrets.secret_name(source)
        try:
            secret = remote_secrets.get_secret(target, name)
        except errors.KubeError:
            continue  # the reach and join checks report a server that answers errors
        if secret is not None and not remote_secrets.owned(secret):
            raise ConfigError(
                f"--join replace would overwrite remote secret {remote_secrets.ISTIO_NS}/{name} in "
                f"{target.name}, "
                "which meshconform did not create, and meshconform never modifies it: delete it "
                "yourself if it is stale, or use --join create (keeps it) or --join verify"
            )


def first_refusal(findings: list[Finding], step: str) -> None:
    for found in findings:
        if step in found.refused:
            raise ConfigError(found.refused[step])


def examine(clusters: dict[str, Cluster], cfg: RunConfig) -> None:
    """Every cluster through each step at once; the first refusal, step by step, in --ctx order."""
    findings = [Finding(c) for c in clusters.values()]
    names = list(clusters)

    def each(check: Callable[[Finding], None]) -> None:
        parallel_or_leave(check, [f for f in findings if not f.refused])

    each(probe)
    first_refusal(findings, PROBE)
    each(credentials)
    first_refusal(findings, CREDENTIALS)
    each(lambda found: read_state(found, cfg, names))
    check_identity(findings)
    if cfg.cleanup_only:
        return
    first_refusal(findings, NAMESPACE)
    check_revision(findings, cfg)
    first_refusal(findings, REPLACE)


def check_tools(cfg: RunConfig) -> None:
    if cfg.join_with == "istioctl" and cfg.join != "verify" and shutil.which("istioctl") is None:
        raise ConfigError("--join-with istioctl needs istioctl on PATH; install it or use --join-with native")


_UNUSABLE = (OSError, yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError, StopIteration)


def check_samples(cfg: RunConfig) -> None:
    """--samples-dir manifests parse and hold what the guide deploys (a helloworld Service and its
    v1 Deployment, a sleep/curl Deployment): refused here, not as an error in every later test."""
    if cfg.samples_dir is None:
        return
    for path in samples.sample_files(cfg.samples_dir):
        try:
            docs = samples.load_manifest(path)
            if path.parent.name == "helloworld":
                objs = samples.helloworld_objects(docs, samples.version_for(0))
                if not any(o["kind"] == "Service" for o in objs):
                    raise ValueError("it has no Service labelled app=helloworld")
            else:
                samples.source_app(docs)
        except _UNUSABLE as exc:
            why = " ".join(str(exc).split())[:200]
            if isinstance(exc, KeyError | TypeError | AttributeError | StopIteration):
                why = f"a manifest lacks a field the sample needs ({why or 'no Deployment'})"
            where = f"{path.parent.name}/{path.name}"
            raise ConfigError(f"--samples-dir {cfg.samples_dir}: {where} is unusable: {why}") from None


def run(cfg: RunConfig) -> dict[str, Cluster]:
    if not cfg.cleanup_only:
        check_tools(cfg)
        check_samples(cfg)
    clusters = connect(cfg)
    examine(clusters, cfg)
    for cluster in clusters.values():
        cluster.attempts = ATTEMPTS  # from here on a transient failure is retried in full
    return clusters
