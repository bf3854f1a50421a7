"""meshconform.lab: N emulated Kubernetes clusters with simulated Istio, for real clients.

Public API, used only by pytest wiring and self-tests:
`Lab`, `LabOptions`, `LabConfigError`, `known_faults`.
"""

from .faults import LabConfigError, known_faults
from .options import LabOptions
from .runtime import Lab

__all__ = ["Lab", "LabConfigError", "LabOptions", "known_faults"]
