"""The apiserver's MutatingAdmissionWebhook plugin, as an admission hook on a lab Store.

For each MutatingWebhookConfiguration (in name order) and each of its webhooks: the rules must match
the operation and group/version/resource, `namespaceSelector` must match the namespace's labels
and `objectSelector` the object's labels (k8s.io/apiserver/pkg/admission/plugin/webhook/
predicates). A matching webhook's service is resolved through its Endpoints: no ready endpoint or
no such Service is a call failure, which `failurePolicy: Fail` turns into the apiserver's
`Internal error occurred: failed calling webhook "<name>": Post "https://<svc>.<ns>.svc:443<path>
?timeout=10s": no endpoints available for service "<svc>"`. After a webhook changed the object,
the in-tree mutating plugins run again (the reinvocation the apiserver does), so an injected
istio-proxy gets its service-account token mount like the app containers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..apiserver.resources import BY_KEY
from ..apiserver.selection import matches_label_selector
from ..apiserver.status import InternalError, StatusError
from ..apiserver.store import Admission, AdmissionRequest, Store

Obj = dict[str, Any]
MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io"
# (service namespace, service name, path, the pod backing it) -> handler(request) -> mutated object
Handler = Callable[[AdmissionRequest], "Obj | None"]
Resolver = Callable[[str, str, str, Obj], "Handler | None"]
# (IP, port, path, TLS server name) -> handler, for a Service without a selector (its endpoints are
# an address outside the cluster, as a remote's istiod Service); raises CallFailed when unreachable
AddressResolver = Callable[[str, int, str, str], "Handler | None"]


class CallFailed(Exception):
    """The webhook could not be called (what failurePolicy decides about)."""


def _matches_rule(rule: Obj, op: str, group: str, version: str, resource: str) -> bool:
    def has(values: list[str] | None, want: str) -> bool:
        return bool(values) and ("*" in values or want in values)   # type: ignore[operator]
    return (has(rule.get("operations"), op) and has(rule.get("apiGroups"), group)
            and has(rule.get("apiVersions"), version) and has(rule.get("resources"), resource))


class Dispatcher:
    def __init__(
        self,
        store: Store,
        resolve: Resolver,
        reinvoke: list[Admission],
        resolve_url: Callable[[str], Handler | None] | None = None,
        resolve_address: AddressResolver | None = None,
    ) -> None:
        self.store, self.resolve, self.reinvoke = store, resolve, reinvoke
        self.resolve_address = resolve_address or _unreachable
        # a webhook called at a URL outside the cluster (Google's managed injector); None: unreachable
        self.resolve_url = resolve_url or (lambda url: None)

    def __call__(self, req: AdmissionRequest) -> Obj | None:
        r = BY_KEY.get(req.res)
        if r is None or not r.stored:
            return None
        version = str(req.obj.get("apiVersion", r.api_version())).rsplit("/", 1)[-1]
        obj, changed = req.obj, False
        for mwc in sorted(self.store.iter(MWC), key=lambda m: m["metadata"]["name"]):
            for hook in mwc.get("webhooks") or []:
                if not self._applies(hook, req, obj, r.group, version, r.plural, r.namespaced):
                    continue
                out = self._call(
                    hook,
                    AdmissionRequest(
                        req.operation, req.res, obj, req.old, req.namespace_obj, req.user, req.dry_run
                    ),
                )
                if out is not None:
                    obj, changed = out, True
        if changed:
            for plugin in self.reinvoke:
                obj = (
                    plugin(
                        AdmissionRequest(
                            req.operation, req.res, obj, req.old, req.namespace_obj, req.user, req.dry_run
                        )
                    )
                    or obj
                )
            return obj
        return None

    @staticmethod
    def _applies(
        hook: Obj, req: AdmissionRequest, obj: Obj, group: str, version: str, plural: str, namespaced: bool
    ) -> bool:
        if not any(
            _matches_rule(rule, req.operation, group, version, plural) for rule in hook.get("rules") or []
        ):
            return False
        if namespaced and req.namespace_obj is not None:
            ns_labels = req.namespace_obj["metadata"].get("labels") or {}
            if not matches_label_selector(hook.get("namespaceSelector") or {}, ns_labels):
                return False
        labels = obj.get("metadata", {}).get("labels") or {}
        return matches_label_selector(hook.get("objectSelector") or {}, labels)

    def _call(self, hook: Obj, req: AdmissionRequest) -> Obj | None:
        cc = hook.get("clientConfig") or {}
        svc = cc.get("service") or {}
        ns, name, path = svc.get("namespace", ""), svc.get("name", ""), svc.get("path", "/")
        url = (
            (
                f'Post "https://{name}.{ns}.svc:{svc.get("port", 443)}{path}'
                f'?timeout={hook.get("timeoutSeconds", 10)}s"'
            )
            if svc
            else f'Post "{cc.get("url", "")}"'
        )
        try:
            handler = (
                self._backend(ns, name, path, int(svc.get("port", 443)))
                if svc
                else self.resolve_url(str(cc.get("url", "")))
            )
            if handler is None:
                raise CallFailed("dial tcp: connect: connection refused")
            return handler(req)
        except CallFailed as e:
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return None
            raise InternalError(f'failed calling webhook "{hook.get("name")}": {url}: {e}') from None
        except StatusError:
            raise

    def _backend(self, ns: str, name: str, path: str, port: int) -> Handler | None:
        svc = self.store.find("services", ns, name)
        if svc is None:
            raise CallFailed(f'service "{name}" not found')
        if not svc["spec"].get("selector"):
            return self._selectorless(svc, path, port)
        ep = self.store.find("endpoints", ns, name)
        ready = [a for s in (ep or {}).get("subsets") or [] for a in s.get("addresses") or []]
        if not ready:
            raise CallFailed(f'no endpoints available for service "{name}"')
        ref = ready[0].get("targetRef") or {}
        pod = self.store.find("pods", ref.get("namespace", ns), ref.get("name", ""))
        if pod is None:
            raise CallFailed(f"dial tcp {ready[0]['ip']}:15017: connect: connection refused")
        return self.resolve(ns, name, path, pod)

    def _selectorless(self, svc: Obj, path: str, port: int) -> Handler | None:
        """The service's port, by name, on the first address of its Endpoints or EndpointSlices."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        sport = next((p for p in svc["spec"].get("ports") or [] if int(p.get("port", 0)) == port), None)
        if sport is None:
            raise CallFailed(f'service "{name}" has no port {port}')
        found = addresses(self.store, ns, name)
        if not found:
            raise CallFailed(f'no endpoints available for service "{name}"')
        ip, ports = found[0]
        target = ports.get(str(sport.get("name", "")), int(sport.get("targetPort", port)))
        return self.resolve_address(ip, target, path, f"{name}.{ns}.svc")


def _unreachable(ip: str, port: int, path: str, sni: str) -> Handler | None:
    raise CallFailed(f"dial tcp {ip}:{port}: i/o timeout")


def addresses(store: Store, ns: str, name: str) -> list[tuple[str, dict[str, int]]]:
    """(IP, port name -> port) behind a Service without a selector: its Endpoints and the
    EndpointSlices labelled with its name (kubernetes.io/service-name), as kube-proxy takes them."""
    out: list[tuple[str, dict[str, int]]] = []
    ep = store.find("endpoints", ns, name)
    for subset in (ep or {}).get("subsets") or []:
        ports = {str(p.get("name", "")): int(p["port"]) for p in subset.get("ports") or []}
        out += [(str(a["ip"]), ports) for a in subset.get("addresses") or []]
    for es in store.iter("endpointslices.discovery.k8s.io", ns):
        if (es["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != name:
            continue
        ports = {str(p.get("name", "")): int(p["port"]) for p in es.get("ports") or []}
        for e in es.get("endpoints") or []:
            if (e.get("conditions") or {}).get("ready", True) is not False:
                out += [(str(a), ports) for a in e.get("addresses") or []]
    return out
