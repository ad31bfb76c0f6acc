"""Shared fixtures live in tests/fixtures/ (one module per real local part), loaded here."""

import os

from hypothesis import settings

# CI replays a fixed set of examples (`HYPOTHESIS_PROFILE=ci` in .ci/run) so a submission never
# lands or fails on luck; local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.aws",
    "tests.fixtures.actions",
    "tests.fixtures.iam",
]
