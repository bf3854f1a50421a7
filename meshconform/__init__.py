"""meshconform: prove that a multi-cluster Istio / Cloud Service Mesh works.

The package is layered; each layer imports only the ones below it (import-linter enforces it):

    report/   renders what was gathered and judged: HTML, JUnit properties, summary.json
    checks/   judges: every verdict and its message, and the statistics behind the traffic ones
    run/      one run's life cycle: options, preflight, the stage pipeline, heartbeat, clean-up
    mesh/     the guide's steps and what they observe: control plane, remote secrets, samples,
              hello calls, the sidecars' metrics; `mesh.facts` is the record they fill in
    kube/     the Kubernetes API: clients, errors, waits, fan-out, selectors, YAML, redaction

Beside them, standing alone: `lab` (an emulated fleet of clusters), `bench` (the benchmark,
`python -m meshconform.bench`) and `kind` (a real mesh on kind, `python -m meshconform.kind`).
pytest wiring lives outside the package, in conftest.py and fixtures/.
"""

__version__ = "0.1.0"
