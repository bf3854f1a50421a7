"""One run's life cycle: options to a RunConfig, preflight, the stage pipeline, heartbeat, clean-up.

It drives the mesh layer in the guide's order and owns what a run creates; it does not judge
(checks/) and does not render (report/).
"""
