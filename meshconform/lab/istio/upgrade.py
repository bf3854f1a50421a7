"""What an operator does to a running cluster mid-upgrade, done to a lab cluster the same way.

`install_revision`: `istioctl install --set revision=REV` (or `asmcli install --revision_name
REV`) beside the revisions the cluster runs: the revision's RBAC, mesh and injector ConfigMaps,
injector webhook, Service and istiod Deployment, as the install (istio/__init__.py) lays them
down, and its istiod's remote-secret controller, which reads the remote secrets already there.
`set_tag`: `istioctl tag set TAG --revision REV --overwrite` (istioctl/pkg/tag/generate.go):
the tag's webhook rendered anew for REV, so it calls istiod-REV from then on; pods already running
keep their sidecar until restarted, as on a real cluster. Both run on the lab's loop thread
(Lab.install_revision, Lab.set_tag) and refuse what the tools refuse, in one line.
"""

from __future__ import annotations

from typing import Any

from ..apiserver.store import Obj
from ..faults import LabConfigError
from . import access, meshconfig, objects, state
from . import revisions as rv
from .multicluster import SecretController


def _not_remote(ist: state.IstioCluster, cluster_name: str) -> None:
    """A remote (primary-remote) runs no istiod: its revisions and tags are its primary's business."""
    if ist.primary is not None:
        raise LabConfigError(
            f"{cluster_name} is a remote of {ist.primary}: it runs no istiod; upgrade {ist.primary}"
        )


def install_revision(lab: Any, cluster_name: str, spec: str) -> None:
    cluster = lab.clusters[cluster_name]
    ist = state.of(cluster)
    _not_remote(ist, cluster_name)
    name, tag = rv.split_spec(spec)
    if name in ist.revision_names:
        raise LabConfigError(f"{cluster_name} already runs revision {name}")
    assert ist.mesh_values is not None
    rp = meshconfig.RevisionPlan(name, tag, tag)
    made: list[tuple[str, Obj]] = [*access.rbac(name)]
    made += [("configmaps", cm) for cm in objects.configmaps(ist.mesh_values, rp)]
    made.append((objects.MWC, objects.webhook(name, ist.bundle_pem, tag)))
    made.append(("services", objects.service(name)))
    made.append(("deployments.apps", objects.deployment(ist.mesh_values, rp)))
    for res, obj in made:
        cluster.store.create(res, obj)
    ist.revisions.append(rp)
    lab.revision_tags[name] = tag
    ist.log(name).startup(tag, cluster.name, name)
    controller = ist.istiods[name] = SecretController(cluster, name, ist.log(name))
    cluster.store.subscribe(controller.on_event)
    controller.resync()


def set_tag(lab: Any, cluster_name: str, tag: str, revision: str) -> None:
    cluster = lab.clusters[cluster_name]
    ist = state.of(cluster)
    _not_remote(ist, cluster_name)
    plan = next((rp for rp in ist.revisions if rp.revision == revision), None)
    if plan is None:
        raise LabConfigError(
            f"cannot modify tag: cannot find MutatingWebhookConfiguration with revision {revision!r} "
            f"in {cluster_name}"
        )
    if tag in ist.revision_names and tag != "default":
        raise LabConfigError(f"cannot create revision tag {tag!r}: found existing control plane revision")
    if not rv.at_least(plan.pilot_tag, rv.TAGS_SINCE):
        raise LabConfigError(f"revision tags came with Istio 1.10; {revision} is older")
    hook = objects.tag_webhook(tag, revision, ist.bundle_pem, plan.pilot_tag)
    if cluster.store.find(objects.MWC, None, rv.tag_webhook(tag)) is None:
        cluster.store.create(objects.MWC, hook)
    else:
        cluster.store.update(objects.MWC, hook)
    ist.tags[tag] = revision
