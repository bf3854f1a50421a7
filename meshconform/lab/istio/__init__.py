"""Simulated Anthos Service Mesh / Istio in each lab cluster.

`install(lab)` lays down what an ASM 1.7 revisioned install leaves (istio/install.py), per the plan
(istio/plan.py, where install-time faults are decided), and registers the injection webhook
dispatcher on each store; istiod pods come up at once, as they would have long before anyone runs
the guide. `start(lab)` runs istiod's controllers: the istio-ca-root-cert publisher, one
remote-secret controller per istiod, the `pilot-discovery` exec handler and istiod logs.
`serving(lab)` (once the API servers listen) joins the clusters when the lab starts joined.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from .. import controllers
from ..apiserver.lab_cluster import LabCluster
from ..apiserver.store import Obj
from ..controllers.admission import pod_admission
from ..controllers.kit import controlled_by
from ..controllers.podstatus import NEVER_READY
from . import access, debug, eastwest, eds, objects, plan, remote, state, template
from . import managed_control_plane as mcp
from . import revisions as rv
from .inject import SidecarInjector, parse_inject_envs
from .multicluster import SecretController
from .nsctl import RootCertPublisher
from .remote_secret_exchange import join, join_outside
from .webhooks import CallFailed, Dispatcher, Handler

LEAD_CHECK = 0.5         # seconds between checks whether a primary has come to lead a remote
SETTLE_TIMEOUT = 3.0      # seconds serving() waits for a joined lab's istiods to sync (or give up)


def _resolver(ist: state.IstioCluster) -> Any:
    def resolve(ns: str, name: str, path: str, pod: Obj) -> Handler | None:
        labels = pod["metadata"].get("labels") or {}
        if ns != rv.ISTIO_NS or path != "/inject" or labels.get("app") != "istiod" or ist.injector is None:
            return None
        return ist.injector.handler(labels.get("istio.io/rev", "default"))   # type: ignore[no-any-return]
    return resolve


def _url_resolver(ist: state.IstioCluster) -> Any:
    """Google's managed injector answers at a URL outside the cluster, for the managed revision."""
    def resolve(url: str) -> Handler | None:
        if not mcp.managed(ist.control_plane) or ist.injector is None or "/inject" not in url:
            return None
        return ist.injector.handler(mcp.REVISION)   # type: ignore[no-any-return]
    return resolve


def _address_resolver(cluster: LabCluster) -> Any:
    """A webhook Service that points outside the cluster (a remote's istiod): follow the address
    through a primary's east-west gateway to the istiod it exposes."""
    def resolve(ip: str, port: int, path: str, sni: str) -> Handler | None:
        try:
            home, revision = remote.reach_istiod(cluster, ip, port, sni)
        except remote.DialFailed as e:
            raise CallFailed(str(e)) from None
        injector = state.of(home).injector
        if injector is None or not path.startswith("/inject"):
            return None
        return injector.handler(revision, parse_inject_envs(path))   # type: ignore[no-any-return]
    return resolve


def _remote_control_plane(cluster: LabCluster, ist: state.IstioCluster, rp: Any) -> list[tuple[str, Obj]]:
    """A remote's stand-ins for istiod (istio/remote.py): the reader role, the istiod Service and
    the address behind it, the webhook calling it with the remote's injection path."""
    assert ist.mesh_values is not None
    network = ist.mesh_values.network
    return [
        *remote.reader_rbac(rp.revision, access.rbac(rp.revision)),
        (objects.MWC, remote.webhook(rp.revision, ist.bundle_pem, rp.pilot_tag, cluster.name, network)),
        ("services", remote.service(rp.revision)),
        remote.address_object(rp.revision, ist.discovery_address, rp.pilot_tag),
    ]


def _control_plane(cluster: LabCluster, ist: state.IstioCluster, rp: Any) -> list[tuple[str, Obj]]:
    """An istiod Deployment and Service in the cluster, or (managed) the objects Google leaves."""
    assert ist.mesh_values is not None
    hook = objects.webhook(rp.revision, ist.bundle_pem, rp.pilot_tag)
    if not mcp.managed(ist.control_plane):
        deployment = objects.deployment(ist.mesh_values, rp)
        if ist.exposes_istiod:  # values.global.externalIstiod: istiod leads the remotes that name it
            env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            env.append({"name": "EXTERNAL_ISTIOD", "value": "true"})
        return [
            (objects.MWC, hook),
            ("services", objects.service(rp.revision)),
            ("deployments.apps", deployment),
        ]
    network = ist.mesh_values.network
    hook["webhooks"] = [mcp.url_webhook(h, cluster.name, network) for h in hook["webhooks"]]
    made: list[tuple[str, Obj]] = [(objects.MWC, hook)]
    made.append(("customresourcedefinitions.apiextensions.k8s.io", mcp.crd()))
    made.append(("controlplanerevisions.mesh.cloud.google.com", mcp.control_plane_revision(rp.revision)))
    td = ist.control_plane == mcp.MANAGED_TD
    missing = cluster.faults.touches("multicluster-mode-missing", cluster.name)
    if td:
        made.append(("configmaps", mcp.asm_options(connected=not missing)))
    made.append(("deployments.apps", mcp.mdp_controller()))
    made.append(("daemonsets.apps", mcp.cni_node()))
    return made


def _managed_status(cluster: LabCluster, ist: state.IstioCluster) -> None:
    """What Google's controllers and the DaemonSet controller write into the managed objects' status."""
    if not mcp.managed(ist.control_plane):
        return
    store = cluster.store
    stalled = cluster.faults.touches("revision-stalled", cluster.name)
    cpr = store.get("controlplanerevisions.mesh.cloud.google.com", rv.ISTIO_NS, mcp.REVISION)
    store.update("controlplanerevisions.mesh.cloud.google.com", {**cpr, "status": mcp.status(stalled)},
                 subresource="status")
    ds = store.get("daemonsets.apps", mcp.SYSTEM_NS, mcp.CNI)
    nodes = [n["metadata"]["name"] for n in store.iter("nodes")]
    with controllers.of(cluster).instantly():
        for node in nodes:
            store.create("pods", mcp.cni_pod(ds, node))
    pods = [p for p in store.iter("pods", mcp.SYSTEM_NS) if controlled_by(p, ds["metadata"]["uid"])]
    ready = sum(1 for p in pods if _ready(p))
    store.update("daemonsets.apps", {**ds, "status": mcp.cni_status(len(nodes), ready)}, subresource="status")


def _ready(pod: Obj) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _install_cluster(cluster: LabCluster, ist: state.IstioCluster, index: int) -> None:
    assert ist.mesh_values is not None and ist.ca is not None and ist.root is not None
    store = cluster.store
    ist.injector = SidecarInjector(cluster)
    store.admission.append(
        Dispatcher(store, _resolver(ist), [pod_admission], _url_resolver(ist), _address_resolver(cluster))
    )
    label = ist.labelled_network or ist.mesh_values.network
    ns = remote.namespace(label, ist.primary) if ist.primary is not None else objects.namespace(label)
    made: list[tuple[str, Obj]] = [("namespaces", ns)]
    made += access.reader_account()
    if not mcp.managed(ist.control_plane):  # a managed control plane signs with Google's CA, no cacerts
        made.append(("secrets", access.cacerts(ist.ca, ist.bundle_pem)))
    made += [("customresourcedefinitions.apiextensions.k8s.io", crd) for crd in access.crds()]
    for rp in ist.revisions:
        if ist.remote:
            made += _remote_control_plane(cluster, ist, rp)
            continue
        made += access.rbac(rp.revision)
        values = replace(ist.mesh_values, network="") if ist.sidecars_without_network else ist.mesh_values
        made += [("configmaps", cm) for cm in objects.configmaps(values, rp)]
        made += _control_plane(cluster, ist, rp)
    for tag, revision in ist.tags.items():  # istioctl tag set TAG --revision REV, after the install
        pilot = next(rp.pilot_tag for rp in ist.revisions if rp.revision == revision)
        made.append((objects.MWC, objects.tag_webhook(tag, revision, ist.bundle_pem, pilot)))
    if ist.east_west:
        bare = cluster.faults.touches("no-cross-network-gateway", cluster.name) or not ist.cross_network
        made += eastwest.objects(ist.mesh_values, ist.revisions[0], bare)
    # kubectl apply -f samples/multicluster/expose-istiod[-rev].yaml, a step the fault leaves out
    if ist.exposes_istiod and not cluster.faults.touches("istiod-not-exposed", cluster.name):
        made += remote.exposed(ist.revision_names)
    with controllers.of(cluster).instantly():
        for res, obj in made:
            store.create(res, obj)
    _managed_status(cluster, ist)
    gateway = store.find("services", rv.ISTIO_NS, eastwest.NAME)
    if gateway is not None and not cluster.faults.touches("ew-gateway-pending", cluster.name):
        store.update("services", eastwest.ingress_status(gateway, index), subresource="status")
    for rp in [] if ist.remote else ist.revisions:
        log = ist.log(rp.revision)
        if cluster.faults.touches("istiod-down", cluster.name):
            log.crash()
        else:
            log.startup(rp.pilot_tag, cluster.name, rp.revision)


def _uncertified(cluster: LabCluster, pod: Obj, container: Obj) -> str | None:
    """A remote's sidecar gets its certificate from the primary's istiod, which authenticates the
    pod's token against the remote's API server, so only with the remote's secret (security/pkg/
    server/ca/authenticate/kubeauth/kube_jwt.go getKubeClient: "could not get cluster %s's kube
    client"); until then the proxy's readiness probe fails."""
    if container.get("name") != "istio-proxy" or not state.of(cluster).remote:
        return None
    revision = template.serving_revision(pod)
    home = remote.discovery(cluster, revision) if revision is not None else None
    if home is None or not any(c is cluster for c in eds.view(home, revision)):
        return NEVER_READY
    return None


def install(lab: Any) -> None:
    controllers.install(lab)          # idempotent: makes sure the built-in admission plugins come first
    for index, (name, ist) in enumerate(plan.plan(lab).items()):
        _install_cluster(lab.clusters[name], ist, index)
        if ist.remote:
            controllers.of(lab.clusters[name]).kubelet.behaviours.append(_uncertified)


def start(lab: Any) -> None:
    for cluster in lab.clusters.values():
        ist = state.of(cluster)
        if ist.root is None:
            continue
        # a remote's root certificate comes from its primary's istiod, once it leads it (remote.py)
        leader = (lambda c=cluster: remote.led(c)) if ist.remote else None
        publisher = RootCertPublisher(cluster, ist.bundle_pem, mcp.managed(ist.control_plane), leader)
        cluster.store.subscribe(publisher.on_event)
        publisher.resync()
        if ist.remote:
            asyncio.get_running_loop().create_task(_follow_leader(publisher))
        for rev in [] if ist.remote else ist.revision_names:
            ctl = ist.istiods[rev] = SecretController(cluster, rev, ist.log(rev))
            if ist.control_plane == mcp.MANAGED_TD:
                continue  # TRAFFIC_DIRECTOR reads no remote secret: multicluster_mode (istio/eds.py)
            cluster.store.subscribe(ctl.on_event)
            ctl.resync()
        cluster.exec_handlers.append(debug.pilot_discovery)
        cluster.log_providers.append(debug.log_provider(cluster))
    if getattr(lab, "joined", False):
        asyncio.get_running_loop().create_task(_join_when_serving(lab))


async def _follow_leader(publisher: RootCertPublisher) -> None:
    """The primary starts its namespace controller for a remote when it comes to lead it, and stops
    when it no longer does: publish once the lead is taken (checked every LEAD_CHECK seconds)."""
    leading = False
    while True:
        now = publisher.istiod_running()
        if now and not leading:
            publisher.resync()
        leading = now
        await asyncio.sleep(LEAD_CHECK)


def _first(lab: Any) -> state.IstioCluster:
    return state.of(next(iter(lab.clusters.values())))


async def _join_when_serving(lab: Any) -> None:
    """Fallback for a runtime that does not call serving(): join once every server has its URL."""
    while not all(c.server_url for c in lab.clusters.values()):
        await asyncio.sleep(0.01)
    await serving(lab)


async def serving(lab: Any) -> None:
    """After the API servers listen: join (if the lab starts joined) and let the istiods sync."""
    first = _first(lab)
    if any(c.outside for c in lab.clusters.values()) and not first.join_done:
        join_outside(lab)
    if not getattr(lab, "joined", False) or first.join_done:
        return
    first.join_done = True
    join(lab)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT
    while loop.time() < deadline and not _settled(lab):
        await asyncio.sleep(0.02)


def _settled(lab: Any) -> bool:
    for cluster in lab.clusters.values():
        for ctl in state.of(cluster).istiods.values():
            if ctl.queue.pending():
                return False
            for rcs in ctl.clusters.values():
                if any(not rc.synced and rc.attempts == 0 for rc in rcs.values()):
                    return False
    return True
