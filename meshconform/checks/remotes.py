"""Checks of Istio's primary-remote model: each primary that remotes name exposes its istiod, and
each remote's injector and discovery address lead to a primary under test.

Istio's "Install Primary-Remote" (istio.io/latest/docs/setup/install/multicluster/primary-remote/,
and primary-remote_multi-network/ for different networks): the primary exposes istiod on its
east-west gateway (samples/multicluster/gen-eastwest-gateway.sh, ports 15012 and 15017) through
Gateway istiod-gateway (samples/multicluster/expose-istiod.yaml: 15012 and 15017, tls mode
PASSTHROUGH); the remote's istio-system is annotated topology.istio.io/controlPlaneClusters=<the
primary's cluster name>, and its remote profile points the injector webhook and the Service
istiod at global.remotePilotAddress, the gateway's address, the injector's path naming the
remote (istiodRemote.injectionPath=/inject/cluster/<name>/net/<network>, which istiod's injector
reads as the pod's cluster and network: pkg/kube/inject/webhook.go). mesh/remote_control.py reads
the objects. On a mesh without remotes neither check applies (skipped, saying so).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from meshconform.checks import Need, cf, check, control_of, gateway_listing, statistics
from meshconform.checks.cluster import istiod_ready, reach, revision_installed
from meshconform.checks.join import own_cluster_id
from meshconform.mesh import gateways, remote_control, topology
from meshconform.mesh.facts import (
    ControlPlane,
    CrossNetworkGateway,
    MeshFacts,
    NetworkGateway,
    Webhook,
    pair_id,
)

GUIDE = "istio.io/latest/docs/setup/install/multicluster/primary-remote/"
EXPOSE = "kubectl apply -n istio-system -f samples/multicluster/expose-istiod.yaml"
PORTS = (remote_control.XDS_PORT, remote_control.WEBHOOK_PORT)


def primaries_of(facts: MeshFacts, remote: str) -> list[str]:
    """The primaries under test that the remote's controlPlaneClusters names (by our name for
    them or by istiod's CLUSTER_ID, the name Istio's docs write there)."""
    named = set(topology.named_primaries(facts, remote))
    return [
        m.cluster
        for m in topology.members(facts)
        if m.role == topology.PRIMARY and named & {m.cluster, own_cluster_id(facts, m.cluster)}
    ]


def served_remotes(facts: MeshFacts, primary: str) -> list[str]:
    return [r for r in topology.remotes(facts) if primary in primaries_of(facts, r)]


# -- the primary's side -------------------------------------------------------------------------


def _exposes(gw: CrossNetworkGateway, ew: NetworkGateway, port: int) -> bool:
    if not gw.selector or not all(ew.selector.get(k) == v for k, v in gw.selector.items()):
        return False
    return any(s.port == port and s.tls_mode == "PASSTHROUGH" for s in gw.servers)


def gateway_problem(g: NetworkGateway | None) -> str | None:
    """What keeps the east-west gateway Service from carrying remotes' calls to istiod, or None."""
    if g is None:
        return f"has no east-west gateway (Service istio-system/{gateways.EAST_WEST})"
    if not g.address:
        return (
            f"has {g.name} with no external address ({g.service_type}, status.loadBalancer.ingress is empty)"
        )
    missing = [str(p) for p in PORTS if p not in g.ports]
    if missing:
        return (
            f"has {g.name} at {g.address} without port {' and '.join(missing)} "
            "(tls-istiod 15012, tls-webhook 15017)"
        )
    if not g.ready_endpoints:
        return f"has {g.name} at {g.address} with no ready endpoints (its gateway pods are not Ready)"
    return None


@check("test_control_plane_exposed", requires=lambda f, t: [(istiod_ready, t)])
def control_plane_exposed(facts: MeshFacts, name: str) -> str | None:
    remotes = served_remotes(facts, name)
    if not remotes and topology.is_remote(facts, name):
        raise statistics.NotApplicable(
            f"{name} is a remote cluster (primary-remote model) with no istiod of its own to expose: "
            "its primaries' test_control_plane_exposed judge theirs"
        )
    if not remotes:
        raise statistics.NotApplicable(
            f"no remote cluster under test names {name} in topology.istio.io/controlPlaneClusters: "
            "its istiod serves only its own cluster's proxies and need not be exposed"
        )
    control = control_of(facts, name)
    serves = f"{name} is the primary of {', '.join(remotes)}"
    problem = gateway_problem(control.istiod_gateway)
    if problem:
        return (
            f"{serves} but {problem}, so their proxies and injector cannot reach its istiod; install it "
            f"(samples/multicluster/gen-eastwest-gateway.sh | istioctl install -y -f -) and see "
            f"kubectl -n istio-system describe service {gateways.EAST_WEST} ({GUIDE})"
        )
    ew = control.istiod_gateway
    assert ew is not None  # gateway_problem said so
    listed = gateway_listing.listed(control, name)
    closed = [p for p in PORTS if not any(_exposes(gw, ew, p) for gw in listed)]
    if not closed:
        return None
    found = gateway_listing.found(listed)
    return (
        f"{serves} but no Gateway in its istio-system passes port {' and '.join(map(str, closed))} through "
        f"(tls mode PASSTHROUGH) on {ew.name} at {ew.address}, so the remotes' proxies and injector are "
        f"refused there; apply it: {EXPOSE} --context {cf(facts, name).context} (found: {found})"
    )


# -- the remote's side --------------------------------------------------------------------------


def _premises(facts: MeshFacts, name: str) -> list[Need]:
    """The remote's revision found, and each of its primaries exposing istiod (else that failure
    is the one to fix, and this one would only repeat it)."""
    return [
        (reach, name),
        (revision_installed, name),
        *[(control_plane_exposed, p) for p in primaries_of(facts, name)],
    ]


def exposed(facts: MeshFacts, primaries: list[str]) -> dict[str, str]:
    """address -> the primary whose east-west gateway has it."""
    out = {}
    for p in primaries:
        control = cf(facts, p).control
        g = control.istiod_gateway if control else None
        if g is not None and g.address:
            out[g.address] = p
    return out


def _pilot_address(addresses: dict[str, str]) -> str:
    first = next(iter(addresses), None)
    if first is None:
        return "global.remotePilotAddress set to the primary's east-west gateway address"
    return f"global.remotePilotAddress={first} ({addresses[first]}'s east-west gateway)"


def inject_path(path: str) -> dict[str, str]:
    """`/inject/cluster/C/net/N` (either order) -> {"cluster": C, "net": N}, as istiod's injector
    splits its path into key/value pairs after /inject."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != "inject":
        return {}
    rest = parts[1:]
    return {rest[i]: rest[i + 1] for i in range(0, len(rest) - 1, 2)}


def _calls(control: ControlPlane, hook: Webhook) -> tuple[list[str], int, str, str]:
    """(hosts, port, path, how) the webhook calls: its url, or the Service it names."""
    if hook.url:
        url = urlsplit(hook.url)
        return [url.hostname or ""], url.port or 443, url.path, f"url {hook.url}"
    svc = control.istiod_service
    how = f"Service istio-system/{hook.service}"
    if svc is None or not svc.present or hook.service != svc.name:
        return [], 0, hook.path or "", how + " (not found)"
    hosts = [svc.external_name] if svc.external_name else svc.addresses
    port = hook.port or 443
    port = svc.webhook_target or port if port == 443 else port
    return hosts, port, hook.path or "", how


def _injector_problem(facts: MeshFacts, name: str, addresses: dict[str, str]) -> str | None:
    control = control_of(facts, name)
    revision = facts.revision_of(name)
    mine = [i for i in control.injectors if i.revision == revision and not i.tag]
    hooks = [(i.name, w) for i in mine for w in i.webhooks]
    wanted = ", ".join(f"{a}:{remote_control.WEBHOOK_PORT}" for a in addresses) or "none known"
    for injector, hook in hooks:
        hosts, port, path, how = _calls(control, hook)
        where = f"the injector webhook {injector} of {name} calls {how}"
        if not set(hosts) & set(addresses) or port != remote_control.WEBHOOK_PORT:
            seen = ", ".join(f"{h}:{port}" for h in hosts) or "no address"
            return (
                f"{where}, which leads to {seen}, not to a primary's exposed istiod ({wanted}): pods "
                f"created in {name} are refused (failurePolicy Fail) or go without a sidecar; reinstall "
                f"the remote profile with {_pilot_address(addresses)} ({GUIDE})"
            )
        primary = addresses[sorted(set(hosts) & set(addresses))[0]]
        problem = _path_problem(facts, name, inject_path(path), primary)
        if problem:
            return f"{where} with path {path or '/'}: {problem}"
    return None


def _path_problem(facts: MeshFacts, name: str, said: dict[str, str], primary: str) -> str | None:
    """The path names this cluster as the primary knows it (its secret's data key there), and its
    network: istiod injects ISTIO_META_CLUSTER_ID and the network from them."""
    fact = facts.pairs.get(pair_id(name, primary))
    cluster_id = (fact.cluster_id if fact else None) or name
    network = topology.network_of(facts, name)
    fix = (
        f"reinstall the remote profile with istiodRemote.injectionPath=/inject/cluster/{cluster_id}/net/"
        f"{network or 'NETWORK'}"
    )
    if said.get("cluster") != cluster_id:
        return (
            f"it names cluster {said.get('cluster') or '(none)'}, not {cluster_id} (the name {primary} "
            f"knows {name} by), so injected proxies claim the wrong cluster; {fix}"
        )
    if network and said.get("net") and said["net"] != network:
        return f"it names network {said['net']}, but {name} is on {network}; {fix}"
    return None


def _discovery_problem(facts: MeshFacts, name: str, addresses: dict[str, str]) -> str | None:
    """The Service istiod[-REV] that the remote's proxies dial for xDS leads to a primary."""
    svc = control_of(facts, name).istiod_service
    revision = facts.revision_of(name) or ""
    wanted = ", ".join(f"{a}:{remote_control.XDS_PORT}" for a in addresses) or "none known"
    if svc is None or not svc.present:
        return (
            f"{name} has no Service istio-system/{remote_control.service_name(revision)}, the discovery "
            f"address its proxies dial (istiod.istio-system.svc:15012); reinstall the remote profile with "
            f"{_pilot_address(addresses)} ({GUIDE})"
        )
    hosts = [svc.external_name] if svc.external_name else svc.addresses
    reaches = set(hosts) & set(addresses)
    if reaches and (svc.external_name or remote_control.XDS_PORT in svc.endpoint_ports):
        return None
    kind = f"ExternalName {svc.external_name}" if svc.external_name else (
        f"endpoints {', '.join(f'{a}:{p}' for a in svc.addresses for p in svc.endpoint_ports) or 'none'}"
    )
    return (
        f"Service istio-system/{svc.name} in {name} leads to {kind}, not to a primary's exposed istiod "
        f"({wanted}): {name}'s proxies get no configuration; reinstall the remote profile with "
        f"{_pilot_address(addresses)} ({GUIDE})"
    )


@check("test_remote_uses_primary", requires=_premises)
def remote_uses_primary(facts: MeshFacts, name: str) -> str | None:
    if not topology.is_remote(facts, name):
        role = topology.role_of(facts, name)
        raise statistics.NotApplicable(
            f"{name} is not a remote cluster ({role}; istio-system has no topology.istio.io/"
            "controlPlaneClusters annotation or istiod runs there): its proxies use its own istiod"
        )
    primaries = primaries_of(facts, name)
    if not primaries:
        listed = ", ".join(
            f"{m.cluster} (CLUSTER_ID {own_cluster_id(facts, m.cluster)})"
            for m in topology.members(facts)
            if m.role == topology.PRIMARY
        ) or "none"
        return (
            f"{name}'s istio-system names its primaries topology.istio.io/controlPlaneClusters="
            f"{', '.join(topology.named_primaries(facts, name))}, and none is under test (primaries: "
            f"{listed}); add the primary's context (--ctx), or annotate istio-system with the primary's "
            "cluster name"
        )
    addresses = exposed(facts, primaries)
    return _injector_problem(facts, name, addresses) or _discovery_problem(facts, name, addresses)
