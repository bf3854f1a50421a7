"""The Istio Gateway objects in a cluster's istio-system, as the network and primary-remote checks
read them: listed (else the check cannot decide, and says which permission is missing) and named
with their servers in a failure message, so that a reader sees what was there instead."""

from __future__ import annotations

from meshconform.checks import statistics
from meshconform.mesh.facts import ControlPlane, CrossNetworkGateway


def listed(control: ControlPlane, name: str) -> list[CrossNetworkGateway]:
    if control.cross_network_gateways is None:
        raise statistics.Inconclusive(
            f"the Gateways in {name}'s istio-system could not be listed (forbidden)",
            "grant the run get and list on gateways.networking.istio.io (ci/rbac)",
        )
    return control.cross_network_gateways


def found(gws: list[CrossNetworkGateway]) -> str:
    """`name (port/mode, ...)` for each Gateway, or `none`."""
    return ", ".join(
        f"{gw.name} ({', '.join(f'{s.port}/{s.tls_mode or s.protocol}' for s in gw.servers) or 'no servers'})"
        for gw in gws
    ) or "none"
