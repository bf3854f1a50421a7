"""Revision names, versions, images and the names of every per-revision object.

ASM names a revision after its version: asm-173-3 is 1.7.3-asm.3 (asm-1102-3 is 1.10.2-asm.3),
with images under gcr.io/gke-release/asm (pilot, proxyv2). The lab installs a current Cloud Service
Mesh by default, asm-1285-9 (1.28.5-asm.9, as Google's in-cluster install pages show it); the
guide's own ASM 1.7 is `--revisions asm-173-3`, and what an istiod serves follows its version
(serves_clusterz), so an old revision behaves as an old istiod does. A revision whose name
carries no version takes one after `@` (split_spec): `default@1.7.3` is a default-revision
install of Istio 1.7.3 (`istioctl install` without --revision), images under docker.io/istio.
Object names follow the revisioned istio-discovery chart
(manifests/charts/istio-control/istio-discovery/templates): istiod-<rev>, istio-<rev> (mesh
config), istio-sidecar-injector-<rev> (injector ConfigMap and webhook),
istio-reader-clusterrole-<rev>-istio-system; the revision "default" drops the suffix.
"""

from __future__ import annotations

import re

ISTIO_NS = "istio-system"
ASM_HUB = "gcr.io/gke-release/asm"
UPSTREAM_HUB = "docker.io/istio"
DEFAULT_REVISION = "asm-1285-9"
FALLBACK_VERSION = "1.28.5-asm.9"           # a revision whose name carries no version ("canary")
# istiod's /debug/clusterz (ListRemoteClusters) came with `istioctl x remote-clusters` in Istio 1.11
# (istio/istio#33804, #34086 for #33799); an older istiod answers it 404.
CLUSTERZ_SINCE = (1, 11)
# ENABLE_DEBUG_ON_HTTP (default true) came with Istio 1.10 (releasenotes/notes/debug-handlers.yaml);
# false leaves istiod's monitoring port without any /debug handler.
DEBUG_ON_HTTP_SINCE = (1, 10)
# Istio 1.11 moved the injected revision from the pod's istio.io/rev label (which the 1.7-1.10
# injection template set) into sidecar.istio.io/status and an istio.io/rev annotation, and stopped
# overwriting the label (istio/istio#33447, for #33237).
REVISION_IN_STATUS_SINCE = (1, 11)
OLD_ISTIOD_VERSION = "1.6.5-asm.7"          # old-istiod: an ASM 1.6 release before 1.6.8
STALE_REVISION = "asm-168-9"                # stale-injector: the control plane before the upgrade
MISMATCH_REVISIONS = ("asm-181-1", "asm-173-3", "asm-1102-3")

# Revision tags (`istioctl x revision tag set`, later `istioctl tag set`) came with Istio 1.10
# (istio.io blog "Safely upgrade the Istio control plane with revisions and tags", 2021).
TAGS_SINCE = (1, 10)

_ASM = re.compile(r"asm-(\d)(\d+)(\d)-(\d+)")
SPEC_VERSION = re.compile(r"\d+\.\d+\.\d+(-asm\.\d+)?")
# The injector webhook's selectors changed shape with Istio 1.10, when useLegacySelectors turned
# false (istio-discovery templates/mutatingwebhook.yaml and values.yaml at 1.9.0 and 1.10.0).
WEBHOOK_SELECTORS_SINCE = (1, 10)
_PLAIN = re.compile(r"(\d+)-(\d+)-(\d+)")


def version(revision: str) -> str:
    """asm-173-3 -> 1.7.3-asm.3; 1-8-1 -> 1.8.1; anything else -> the default's version."""
    m = _ASM.fullmatch(revision)
    if m:
        return f"{m[1]}.{m[2]}.{m[3]}-asm.{m[4]}"
    m = _PLAIN.fullmatch(revision)
    if m:
        return f"{m[1]}.{m[2]}.{m[3]}"
    return FALLBACK_VERSION


def split_spec(spec: str) -> tuple[str, str]:
    """A --revisions entry -> (revision, image tag): `default@1.7.3` -> (default, 1.7.3);
    `asm-173-3` -> (asm-173-3, 1.7.3-asm.3)."""
    name, sep, tag = spec.partition("@")
    return name, tag if sep else version(name)


def at_least(tag: str, minor: tuple[int, int]) -> bool:
    """Whether image tag `tag` (1.7.3-asm.3, 1.28.5) is at `minor` or later; an unversioned tag
    (latest, a digest) counts as current."""
    m = re.match(r"(\d+)\.(\d+)", tag)
    return m is None or (int(m[1]), int(m[2])) >= minor


def serves_clusterz(tag: str) -> bool:
    """Whether istiod at image tag `tag` has /debug/clusterz."""
    return at_least(tag, CLUSTERZ_SINCE)


def older(tag: str, minors: int) -> str:
    """The first patch of the release `minors` minors before image tag `tag`, of the same
    distribution: 1.28.5-asm.9 -> 1.26.0-asm.1, 1.28.5 -> 1.26.0; an unversioned tag is kept."""
    m = re.match(r"(\d+)\.(\d+)\.\d+(-asm\.\d+)?$", tag)
    if m is None:
        return tag
    return f"{m[1]}.{max(int(m[2]) - minors, 0)}.0" + ("-asm.1" if m[3] else "")


def hub(tag: str) -> str:
    return ASM_HUB if "-asm." in tag else UPSTREAM_HUB


def pilot_image(tag: str) -> str:
    return f"{hub(tag)}/pilot:{tag}"


def proxy_image(tag: str) -> str:
    return f"{hub(tag)}/proxyv2:{tag}"


def mismatch_for(revision: str, taken: tuple[str, ...] = ()) -> str:
    """The revision revision-mismatch gives cluster-2..N instead of `revision` (not one already there)."""
    return next(r for r in MISMATCH_REVISIONS if r != revision and r not in taken)


def stale_for(revision: str) -> str:
    return STALE_REVISION if revision != STALE_REVISION else "asm-162-2"


def _suffix(revision: str) -> str:
    return "" if revision in ("", "default") else f"-{revision}"


def istiod(revision: str) -> str:
    return f"istiod{_suffix(revision)}"


def mesh_configmap(revision: str) -> str:
    return f"istio{_suffix(revision)}"


def injector(revision: str) -> str:
    """Both the injector ConfigMap and the MutatingWebhookConfiguration are named this."""
    return f"istio-sidecar-injector{_suffix(revision)}"


def tag_webhook(tag: str) -> str:
    """`istio-revision-tag-<tag>`, the name istioctl gives a tag's webhook in istio-system."""
    return f"istio-revision-tag-{tag}"


def reader_role(revision: str) -> str:
    return f"istio-reader-clusterrole{_suffix(revision)}-{ISTIO_NS}"


def istiod_role(revision: str) -> str:
    return f"istiod-clusterrole{_suffix(revision)}-{ISTIO_NS}"


def label(revision: str) -> str:
    """The istio.io/rev label value."""
    return revision or "default"
