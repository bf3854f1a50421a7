"""Container logs of the sample workloads, for `kubectl logs` and the suite's failure evidence.

helloworld prints gunicorn's start-up lines; istio-proxy prints pilot-agent's, ending in "Envoy
proxy is ready" or, when the proxy never becomes ready, the agent's periodic readiness warning
("config not received from Pilot"); the sleep/curl containers print nothing.
"""

from __future__ import annotations

import datetime
from typing import Any

from ..istio import template as tmpl

Obj = dict[str, Any]
NOT_READY = ("Envoy proxy is NOT ready: config not received from Pilot (is Pilot running?): cds updates: 0 "
             "successful, 0 rejected; lds updates: 0 successful, 0 rejected")


def _started(pod: Obj) -> datetime.datetime:
    text = (pod.get("status") or {}).get("startTime") or pod["metadata"].get("creationTimestamp") or ""
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return datetime.datetime.now(datetime.UTC)


def _tail(lines: list[str], tail: int | None) -> str:
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return "".join(line + "\n" for line in lines)


def _gunicorn(pod: Obj) -> list[str]:
    t = _started(pod).strftime("[%Y-%m-%d %H:%M:%S +0000]")
    return [f"{t} [1] [INFO] Starting gunicorn 20.0.4", f"{t} [1] [INFO] Listening at: http://[::]:5000 (1)",
            f"{t} [1] [INFO] Using worker: gevent", f"{t} [8] [INFO] Booting worker with pid: 8"]


def _agent(pod: Obj) -> list[str]:
    t0 = _started(pod)

    def at(ms: int) -> str:
        return (t0 + datetime.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "000Z"
    proxy = tmpl.proxy(pod) or {}
    tag = str(proxy.get("image", "")).rsplit(":", 1)[-1]
    meta = pod["metadata"]
    ip = (pod.get("status") or {}).get("podIP", "")
    lines = [
        f'{at(0)}\tinfo\tFLAG: --concurrency="2"',
        f'{at(1)}\tinfo\tFLAG: --domain="{meta["namespace"]}.svc.cluster.local"',
        f"{at(2)}\tinfo\tVersion {tag}",
        f"{at(3)}\tinfo\tProxy role: &model.Proxy{{"
        f"Type:sidecar IPAddresses:[{ip}] ID:{meta['name']}.{meta['namespace']} "
        f"DNSDomain:{meta['namespace']}.svc.cluster.local}}",
        f'{at(4)}\tinfo\tsds\tSDS gRPC server for workload UDS starts, listening on "./etc/istio/proxy/SDS"',
        f"{at(5)}\tinfo\tStarting proxy agent",
        f"{at(6)}\tinfo\tEnvoy command: [-c etc/istio/proxy/envoy-rev0.json"
        " --restart-epoch 0 --drain-time-s 45 --parent-shutdown-time-s 60 --service-cluster "
        f"{tmpl.canonical(pod)[0]}.{meta['namespace']} --service-node sidecar~{ip}~{meta['name']}."
        f"{meta['namespace']}~{meta['namespace']}.svc.cluster.local]",
    ]
    ready = bool(tmpl.proxy_status(pod).get("ready"))
    if ready:
        lines.append(f"{at(900)}\tinfo\tEnvoy proxy is ready")
    else:
        lines += [f"{at(2000 * k)}\twarn\t{NOT_READY}" for k in range(1, 6)]
    return lines


def provide(pod: Obj, container: str, tail: int | None) -> str | None:
    if container == "istio-proxy" and tmpl.injected(pod):
        return _tail(_agent(pod), tail)
    for c in pod["spec"].get("containers") or []:
        if c.get("name") == container:
            if "helloworld" in str(c.get("image", "")):
                return _tail(_gunicorn(pod), tail)
            if "curl" in str(c.get("image", "")):
                return ""
    return None
