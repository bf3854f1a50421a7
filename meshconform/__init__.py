"""meshconform: prove that a multi-cluster Istio / Anthos Service Mesh works.

The library gathers facts through the Kubernetes API (kube, controlplane, join, workloads,
traffic), judges them (checks, verdicts) and reports (report). pytest wiring lives outside it, in
conftest.py and fixtures/; the lab emulator in meshconform.lab is independent of everything here.
"""

__version__ = "0.1.0"
