"""Istio's four multicluster models as the kind path builds them, each tied to its install page.

Istio documents multi-primary and primary-remote, each on one network or on different networks
(istio.io ``docs/setup/install/multicluster/{multi-primary, multi-primary_multi-network,
primary-remote, primary-remote_multi-network}``, read at the 1.24+ pages). The kind path takes the
lab's names (``--model multi-primary|primary-remote``, ``--networks N``) and follows the pages:

- clusters are dealt round-robin onto ``network1..networkN`` (as the lab deals them);
- multi-primary: every cluster runs istiod; primary-remote: cluster-1 is the primary and the other
  cluster a remote of it, on whichever network it is dealt (the pages' ``cluster2``), reaching the
  primary's istiod through the primary's east-west gateway;
- an east-west gateway (a LoadBalancer Service) runs in the primary of a primary-remote mesh, and
  in one cluster of every network of a multi-network mesh.

The kind path has two clusters, the pages' ``cluster1`` and ``cluster2``; each model's Istio
configs are files under ``manifests/istio`` (the directory is the page's slug; the guide's
multi-primary on one network keeps ``manifests/istio/cluster-N.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass

MULTI_PRIMARY = "multi-primary"
PRIMARY_REMOTE = "primary-remote"
MODELS = (MULTI_PRIMARY, PRIMARY_REMOTE)
CLUSTERS = 2  # the kind configs and Istio configs are one file per cluster, as the pages have
DOCS = "https://istio.io/latest/docs/setup/install/multicluster/"


class ModelError(ValueError):
    """The options name no model the kind path can build; the message is one line."""


@dataclass(frozen=True)
class Model:
    name: str
    networks: int

    @property
    def multi_network(self) -> bool:
        return self.networks > 1

    @property
    def slug(self) -> str:
        """The istio.io page's path segment, also the directory of this model's Istio configs."""
        return self.name + ("_multi-network" if self.multi_network else "")

    @property
    def page(self) -> str:
        title = "Multi-Primary" if self.name == MULTI_PRIMARY else "Primary-Remote"
        return f"Install {title}" + (" on different networks" if self.multi_network else "")

    @property
    def url(self) -> str:
        return f"{DOCS}{self.slug}/"

    @property
    def cite(self) -> str:
        return f'istio.io "{self.page}"'

    @property
    def config_dir(self) -> str:
        """Where the Istio configs live under ``manifests/istio`` ("" for the guide's model)."""
        return "" if (self.name, self.networks) == (MULTI_PRIMARY, 1) else self.slug

    def network_of(self, index: int) -> str:
        return f"network{(index - 1) % self.networks + 1}"

    def is_remote(self, index: int) -> bool:
        return self.name == PRIMARY_REMOTE and index != 1

    def gateway_hosts(self, clusters: int = CLUSTERS) -> tuple[int, ...]:
        """Cluster indexes that run an east-west gateway, in the order the pages install them."""
        if self.name == PRIMARY_REMOTE:
            first_of_network = [i for i in range(2, clusters + 1) if i <= self.networks]
            return (1, *first_of_network)  # the primary's gateway also carries istiod for remotes
        return tuple(range(1, clusters + 1)) if self.multi_network else ()

    def describe(self) -> str:
        nets = "one network" if self.networks == 1 else f"{self.networks} networks"
        return f"{self.name} on {nets}"


def choose_model(name: str, networks: int, revision: str | None) -> Model:
    """The model for these options, or a one-line refusal naming the option and what is allowed."""
    if name not in MODELS:
        raise ModelError(f"--model {name!r}: choose {' or '.join(MODELS)}")
    if not 1 <= networks <= CLUSTERS:
        raise ModelError(
            f"--networks {networks}: the kind path has {CLUSTERS} clusters, dealt round-robin onto"
            f" network1..networkN, so N is 1 to {CLUSTERS}"
        )
    if name == PRIMARY_REMOTE and revision:
        raise ModelError(
            "--revision with --model primary-remote is not planned: expose-istiod.yaml routes the"
            " remote to the istiod Service of a control plane installed without a revision"
        )
    return Model(name, networks)
