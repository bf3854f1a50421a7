"""Checks on the clusters' networks: each cluster declares one network consistently, and where
the clusters are on several, each network is reachable through its east-west gateway.

Istio's "Install Multi-Primary on different networks" (istio.io/latest/docs/setup/install/
multicluster/multi-primary_multi-network/) gives each cluster a network (values.global.network at
install, the same in istio-system's topology.istio.io/network label), an east-west gateway
(samples/multicluster/gen-eastwest-gateway.sh: a LoadBalancer Service labelled with the network,
status port 15021, mTLS port 15443) and a Gateway passing `*.local` through on 15443
(expose-services.yaml). istiod then sends a sidecar its own network's pod IPs and, for another
network, that network's gateway address (split-horizon EDS). On one network none of this is
needed, and the gateway checks do not apply (skipped, saying so).

A mesh may instead declare a network's gateway in mesh config `meshNetworks` (istio.mesh.v1alpha1
MeshNetworks; read by mesh/gateways.py): `gateways: [{address: 192.0.2.7, port: 31443}]` is what a
NodePort or externally-fronted gateway uses, whose Service has no load-balancer ingress. istiod of
any primary hands that address out to its sidecars for the network (Istio 1.28 pilot/pkg/model/
network.go NetworkManager.reload), so a declaration in any cluster's mesh config counts: the
network's gateway Service is then judged with that address (its ports and Ready pods still read
from the Service), and a sidecar may hold either the Service's address or the declared one. A
declared address with no Service of the network behind it can only be judged as declared (an
address and a port): whether it forwards to Ready gateway pods shows in the sidecar's endpoints
and the cross-network hello calls, not in the API.
"""

from __future__ import annotations

from dataclasses import replace

from meshconform.checks import Need, cf, check, control_of, gateway_listing, join, remotes, statistics
from meshconform.checks.cluster import revision_installed
from meshconform.kube.waits import stable_name
from meshconform.mesh import gateways, proxy_view, topology
from meshconform.mesh.facts import (
    ControlPlane,
    CrossNetworkGateway,
    DeclaredGateway,
    MeshFacts,
    NetworkGateway,
    pair_id,
)

GUIDE = "istio.io/latest/docs/setup/install/multicluster/multi-primary_multi-network/"
GEN = "samples/multicluster/gen-eastwest-gateway.sh --network {net} | istioctl install -y -f -"
EXPOSE = "kubectl apply -n istio-system -f samples/multicluster/expose-services.yaml"


def _one_network(facts: MeshFacts) -> None:
    if not topology.multi_network(facts):
        nets = ", ".join(sorted(topology.networks(facts))) or "(unset)"
        raise statistics.NotApplicable(
            f"every cluster is on network {nets}: pods reach each other directly, no east-west gateway "
            "is needed (test_network_declared covers the networks)"
        )


# -- each cluster's network -----------------------------------------------------------------------


@check("test_network_declared", requires=lambda f, t: [(revision_installed, t)])
def network_declared(facts: MeshFacts, name: str) -> str | None:
    control = control_of(facts, name)
    label, installed = control.network_label, control.install_network
    where = f"{name}'s istio-system is labelled topology.istio.io/network={label}"
    if label and installed and label != installed:
        return (
            f"{where}, but its install says network {installed} (values.global.network of the "
            f"revision's sidecar injector), which its sidecars declare; label istio-system with the "
            f"network {name}'s pods are on: kubectl label namespace istio-system "
            f"topology.istio.io/network={installed} --overwrite (or reinstall with that network)"
        )
    own = [g for g in control.gateways if g.name == gateways.EAST_WEST and g.network]
    if label and own and own[0].network != label:
        return (
            f"{where}, but its east-west gateway {own[0].name} is labelled {own[0].network}; a cluster and "
            f"its gateway must be on one network: relabel istio-system or regenerate the gateway "
            f"({GEN.format(net=label)})"
        )
    return None


# -- east-west gateways ---------------------------------------------------------------------------


def _own_gateway(control: ControlPlane) -> NetworkGateway | None:
    """This cluster's gateway for its network (the east-west one first), if it has one."""
    return next((g for g in control.gateways if g.network == control.network), None)


def declarations(facts: MeshFacts, network: str) -> list[tuple[str, DeclaredGateway]]:
    """(cluster, entry) of every meshNetworks gateway address declared for `network`, cluster order."""
    out = []
    for name in facts.names:
        control = cf(facts, name).control
        for d in control.declared_gateways if control else []:
            if d.network == network and d.address:
                out.append((name, d))
    return out


def _with_declared(facts: MeshFacts, g: NetworkGateway) -> NetworkGateway:
    """`g`, given the address meshNetworks declares for its network when its Service has none."""
    found = declarations(facts, g.network) if not g.address else []
    if not found:
        return g
    where, d = found[0]
    said = f"meshNetworks of {where}: {g.network} gateway address {d.address}:{d.port}"
    return replace(g, address=d.address, declared=said)


def _declared_problem(network: str, where: str, d: DeclaredGateway) -> str | None:
    if 0 < d.port < 65536:
        return None
    return (
        f"meshNetworks of {where} declares network {network}'s gateway at {d.address} with port {d.port}, "
        "which no sidecar can connect to: set networks.NET.gateways[].port to the port the address forwards "
        "to the gateway's 15443"
    )


def gateway_problem(g: NetworkGateway) -> str | None:
    """What keeps this gateway from taking other networks' calls, or None."""
    if not g.address:
        return f"{g.name} has no external address ({g.service_type}, status.loadBalancer.ingress is empty)"
    if gateways.STATUS_PORT not in g.ports:
        return f"{g.name} at {g.address} does not expose status port {gateways.STATUS_PORT}"
    if g.traffic_port not in g.ports:
        return f"{g.name} at {g.address} does not expose port {g.traffic_port} (cross-network calls)"
    if not g.ready_endpoints:
        return f"{g.name} at {g.address} has no ready endpoints (its gateway pods are not Ready)"
    return None


def describe(name: str, control: ControlPlane | None) -> str:
    """`cluster-1: istio-eastwestgateway at 203.0.113.10:15443, 1 ready` or what is missing."""
    if control is None:
        return f"{name}: control plane not read"
    g = _own_gateway(control)
    if g is None:
        return f"{name}: no gateway for {control.network or '(unset)'}"
    fine = f"{g.name} at {g.address}:{g.traffic_port}, {g.ready_endpoints} ready"
    return f"{name}: {gateway_problem(g) or fine}" + (f" ({g.declared})" if g.declared else "")


def _usable_elsewhere(facts: MeshFacts, name: str, network: str) -> str | None:
    """Another cluster of the network whose gateway is usable (istiod takes any of the network's)."""
    for other in topology.networks(facts).get(network, []):
        control = cf(facts, other).control
        g = _own_gateway(control) if control and other != name else None
        if g is not None and gateway_problem(_with_declared(facts, g)) is None:
            return other
    return None


@check("test_east_west_gateway", requires=lambda f, t: [(network_declared, t)])
def east_west_gateway(facts: MeshFacts, name: str) -> str | None:
    _one_network(facts)
    control = control_of(facts, name)
    net = control.network or "(unset)"
    own = _own_gateway(control)
    if own is not None:
        return _own_problem(facts, name, net, _with_declared(facts, own))
    if _usable_elsewhere(facts, name, control.network or "") is not None:
        return None
    declared = declarations(facts, control.network or "")
    if declared:  # no Service to read: the declaration is all the API holds (module docstring)
        return _declared_problem(net, *declared[0])
    seen = "; ".join(describe(n, cf(facts, n).control) for n in facts.names if cf(facts, n).usable)
    return (
        f"{name} (network {net}): no east-west gateway for network {net} (no Service in istio-system "
        f"labelled topology.istio.io/network={net} with an address, in {name} or another cluster of "
        f"{net}, and no gateway address for {net} in any cluster's mesh config meshNetworks): install "
        f"one ({GEN.format(net=net)}), or, if pods of every cluster reach each other directly, label "
        f"istio-system with one network everywhere\neast-west gateways: {seen}"
    )


def _own_problem(facts: MeshFacts, name: str, net: str, g: NetworkGateway) -> str | None:
    problem = gateway_problem(g)
    if problem is None:
        return None
    if not g.address:  # neither source gave one: say both
        problem += (
            f", and no cluster's mesh config declares a gateway address for network {net} in meshNetworks "
            f"(networks.{net}.gateways[].address, as a NodePort or externally-fronted gateway is declared)"
        )
    elif g.declared:
        problem += f" ({g.declared})"
    return (
        f"{name} (network {net}): {problem}; other networks reach {name}'s pods only through it: "
        f"see kubectl -n istio-system describe service {g.name} ({GUIDE})"
    )


# -- the Gateway that opens 15443 -----------------------------------------------------------------


def _passes_through(gw: CrossNetworkGateway, ew: NetworkGateway) -> bool:
    if not gw.selector or not all(ew.selector.get(k) == v for k, v in gw.selector.items()):
        return False
    return any(
        s.port == ew.traffic_port
        and s.tls_mode == "AUTO_PASSTHROUGH"
        and any(h.rpartition("/")[2] in ("*", "*.local") for h in s.hosts)
        for s in gw.servers
    )


@check("test_cross_network_gateway", requires=lambda f, t: [(east_west_gateway, t)])
def cross_network_gateway(facts: MeshFacts, name: str) -> str | None:
    _one_network(facts)
    control = control_of(facts, name)
    ew = _own_gateway(control)
    declared = declarations(facts, control.network or "")
    if ew is None and declared and _usable_elsewhere(facts, name, control.network or "") is None:
        where, d = declared[0]
        raise statistics.NotApplicable(
            f"{name} has no east-west gateway Service of its own, and network {control.network}'s gateway is "
            f"declared in meshNetworks of {where} at {d.address}:{d.port}: no pods to match a Gateway "
            "against through the API; the cross-network calls judge it"
        )
    if ew is None:
        raise statistics.NotApplicable(
            f"{name} has no east-west gateway of its own (network {control.network} is reached through "
            "another cluster's, whose test_cross_network_gateway covers it)"
        )
    listed = gateway_listing.listed(control, name)
    if any(_passes_through(gw, ew) for gw in listed):
        return None
    return (
        f"{name}: no Gateway in istio-system passes *.local through on port {ew.traffic_port} "
        f"(tls mode AUTO_PASSTHROUGH) of {ew.name}, so other networks' calls into {name} are refused; "
        f"apply the cross-network Gateway: {EXPOSE} --context {cf(facts, name).context} "
        f"(found: {gateway_listing.found(listed)})"
    )


# -- what the source's sidecar holds --------------------------------------------------------------


def _network_premises(facts: MeshFacts, name: str) -> list[Need]:
    return [(cross_network_gateway, n) for n in facts.names]


def premises(facts: MeshFacts, name: str) -> list[Need]:
    """What traffic from `name` presupposes about networks: every cluster's network declared and
    reachable; on several networks, `name`'s sidecar routing other networks through gateways."""
    return [*_network_premises(facts, name), (through_gateways, name)]


def gateway_sources(facts: MeshFacts, network: str) -> dict[tuple[str, int], str]:
    """The (address, port) of every east-west gateway of `network`, with where it was read: what
    another network's sidecar holds for that network's pods (split-horizon EDS), from the gateway
    Services' own addresses and from the addresses meshNetworks declares."""
    out = {}
    for n in topology.networks(facts).get(network, []):
        control = cf(facts, n).control
        for g in control.gateways if control else []:
            if g.network == network and g.address:
                out[(g.address, g.traffic_port)] = f"Service {g.name} in {n}"
    for where, d in declarations(facts, network):
        out.setdefault((d.address or "", d.port), f"meshNetworks of {where}")
    return out


def gateway_addresses(facts: MeshFacts, network: str) -> set[tuple[str, int]]:
    """The keys of gateway_sources."""
    return set(gateway_sources(facts, network))


def pod_ips(facts: MeshFacts, name: str) -> set[str]:
    """The pod IPs of `name`'s helloworld: what a sidecar on its network holds for them."""
    wl = cf(facts, name).workloads
    return {p.ip for p in wl.pods if p.ip and p.app == proxy_view.SERVICE} if wl else set()


def failed_gateways(facts: MeshFacts, source: str) -> str:
    """Where hello calls failed on several networks: the other networks' gateways the source's
    sidecar could not connect to, which nothing in the API shows (a firewall, a load balancer that
    does not forward 15443); "" when none."""
    view = facts.proxy_views.get(source)
    if view is None or not topology.multi_network(facts):
        return ""
    home = topology.network_of(facts, source)
    owners = {
        a: net for net in topology.networks(facts) if net != home for a in gateway_addresses(facts, net)
    }
    failed = [
        (h, owners[(h.address, h.port)])
        for h in view.hosts
        if h.connect_failures and (h.address, h.port) in owners
    ]
    if not failed:
        return ""
    said = ", ".join(f"{net} at {h.address}:{h.port}" for h, net in failed)
    return (
        f"; the sidecar could not connect to the east-west gateway of {said}: check that port "
        f"{failed[0][0].port} is open from {home} to that address (firewall rules, the load balancer's ports)"
    )


def _sidecar_premises(facts: MeshFacts, name: str) -> list[Need]:
    """The gateways, and on a remote its injector leading to a primary and its primaries reading it:
    a remote's sidecar is injected by a primary's istiod (no pod is created while the injector's
    address is dead, so there is no sidecar to read, on another network as on the primary's) and
    gets its certificate and endpoints from them, and is not read before it has them."""
    primaries = remotes.primaries_of(facts, name)
    injected = [(remotes.remote_uses_primary, name)] if primaries else []
    read = [(join.istiod_synced, pair_id(name, p)) for p in primaries]
    return [*_network_premises(facts, name), *injected, *read]


@check("test_sidecar_routes_networks_through_gateways", requires=_sidecar_premises)
def through_gateways(facts: MeshFacts, name: str) -> str | None:
    _one_network(facts)
    view = facts.proxy_views.get(name)
    if view is None or view.problem:
        raise statistics.Inconclusive(
            (view.problem if view else None) or f"the sidecar of {name}'s sleep pod was not read",
            "see kubectl exec POD -c istio-proxy -- pilot-agent request GET clusters?format=json",
        )
    home = topology.network_of(facts, name)
    held = {(h.address, h.port) for h in view.hosts}
    problems = []
    for net, members in topology.networks(facts).items():
        if net == home or not any(pod_ips(facts, m) for m in members):
            continue
        leaked = sorted(ip for m in members for ip in pod_ips(facts, m) if any(a == ip for a, _ in held))
        if leaked:
            problems.append(f"pod IPs of network {net} ({', '.join(leaked)}), which {home} cannot reach")
        sources = gateway_sources(facts, net)
        if not held & set(sources):
            wanted = ", ".join(f"{a}:{p} from {sources[(a, p)]}" for a, p in sorted(sources)) or "none known"
            problems.append(f"no endpoint at network {net}'s east-west gateway ({wanted})")
    if not problems:
        return None
    hosts = ", ".join(f"{h.address}:{h.port} (weight {h.weight})" for h in view.hosts[:8]) or "none"
    return (
        f"the sidecar of {stable_name(view.pod)} in {name} (network {home}) holds {'; '.join(problems)} "
        f"for {view.cluster_name}: istiod in {name} does not send other networks' calls through their "
        "gateways; check that the sidecars declare their network (ISTIO_META_NETWORK, from "
        "values.global.network: set it and restart the pods) and the gateways' topology.istio.io/network "
        f"label\nendpoints: {hosts}"
    )
