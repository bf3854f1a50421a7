"""pytest wiring for the conformance suite: options, lab, session fixtures, reports (see fixtures/)."""

pytest_plugins = ["fixtures.options", "fixtures.plugin", "fixtures.mesh", "fixtures.reporting"]
