"""pytest wiring for the conformance suite: options, lab, session fixtures, reports (see fixtures/)."""

pytest_plugins = ["fixtures.options", "fixtures.mesh", "fixtures.reporting", "fixtures.plugin"]
