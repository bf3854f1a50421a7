"""The guide's steps and what they observe, over the Kubernetes API layer.

Each module does one step or reads one part of the mesh and records observations in `facts`
(plain dataclasses): the control plane (`controlplane`, `gateways`, `trust`, `injection`), the
join (`remote_secrets` builds and applies them, `istioctl` the other way to make them,
`cluster_identity` and `secret_inspection` read what is there), the samples (`samples`), the
hello calls (`hello_calls`) and what the receiving sidecars counted (`telemetry`). Verdicts are
not written here: checks/ judges the facts.
"""
