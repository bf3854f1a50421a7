"""What a kind plan is made of: commands, file actions, steps with their undo, and the clusters.

Plain frozen data, shared by the plan builder (``plan``), the model-specific Istio steps
(``istio_steps``) and the executor (``cli``). A value known only at run time (a node's IP, the
east-west gateway's address, a remote secret) is a ``${name}`` placeholder filled from the stdout
of an earlier command that ``capture``s it; names starting with ``secret_`` hold credentials and
are only ever fed to a later command's stdin, never printed or put into an argument list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ISTIO_NAMESPACE = "istio-system"
NETWORK_LABEL = "topology.istio.io/network"
API_SERVER_PORT = 6443  # kube-apiserver's port inside a kind control-plane container
SHORT_TIMEOUT_S = 120.0
SECRET_PREFIX = "secret_"


@dataclass(frozen=True)
class Command:
    """One external command. ``capture`` keeps its stripped stdout for later ``${capture}``;
    ``stdin`` feeds a captured value to it; ``cite`` names the upstream page the step follows."""

    argv: tuple[str, ...]
    why: str
    capture: str | None = None
    timeout: float | None = SHORT_TIMEOUT_S
    cwd: Path | None = None
    stdin: str | None = None
    cite: str = ""


@dataclass(frozen=True)
class WriteCacerts:
    """Generate the shared root and one intermediate per cluster into ``base/<cluster>/``."""

    base: Path
    clusters: tuple[str, ...]
    why: str = "generate one root CA and per-cluster intermediates (cacerts layout)"


@dataclass(frozen=True)
class RemovePath:
    """Delete a file or directory tree that the plan wrote."""

    path: Path
    why: str


Action = Command | WriteCacerts | RemovePath


@dataclass(frozen=True)
class Step:
    """A setup action and what undoes it; ``keep_skips`` undos are left alone under ``--keep``."""

    action: Action
    undo: Action | None = None
    keep_skips: bool = True


@dataclass(frozen=True)
class KindCluster:
    """One kind cluster and the mesh identity its Istio config gives it."""

    kind_name: str
    kind_config: Path
    istio_config: Path
    mesh_name: str
    network: str
    mesh_id: str  # "" for a remote: it has no istiod whose mesh config would carry one
    pod_subnet: str
    service_subnet: str
    remote: bool = False  # profile: remote, as istio.io "Install Primary-Remote" configures it
    injection_path: str = ""

    @property
    def context(self) -> str:
        return f"kind-{self.kind_name}"  # the context name kind writes into the kubeconfig

    @property
    def node(self) -> str:
        return f"{self.kind_name}-control-plane"

    @property
    def ip_var(self) -> str:
        return "ip_" + self.kind_name.replace("-", "_")

    @property
    def gateway_ip_var(self) -> str:
        return "ip_eastwest_" + self.kind_name.replace("-", "_")

    @property
    def secret_var(self) -> str:
        return SECRET_PREFIX + self.kind_name.replace("-", "_")

    @property
    def role(self) -> str:
        return "remote" if self.remote else "primary"
