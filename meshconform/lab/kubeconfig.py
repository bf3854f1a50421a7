"""The kubeconfig a GKE user would have: one context per cluster, CA data and a bearer token."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .apiserver.lab_cluster import LabCluster


def kubeconfig(clusters: Iterable[LabCluster]) -> dict[str, Any]:
    cs = list(clusters)
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "current-context": cs[0].context if cs else "",
        "clusters": [
            {
                "name": c.context,
                "cluster": {
                    "server": c.server_url,
                    "certificate-authority-data": base64.b64encode(c.ca_pem).decode(),
                },
            }
            for c in cs
        ],
        "users": [{"name": c.context, "user": {"token": c.admin_token}} for c in cs],
        "contexts": [{"name": c.context, "context": {"cluster": c.context, "user": c.context}} for c in cs],
    }


def write_kubeconfig(clusters: Iterable[LabCluster], path: Path) -> list[str]:
    """Write (mode 0600, it holds tokens) and return the context names."""
    cs = list(clusters)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # libyaml's emitter when PyYAML has it: the pure-Python one took ~20 ms of every lab start.
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        yaml.dump(kubeconfig(cs), f, Dumper=dumper, sort_keys=False)
    return [c.context for c in cs]
