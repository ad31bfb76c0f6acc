"""Shared fixtures live in tests/fixtures/ (one module per real local part), loaded here."""

pytest_plugins = [
    "tests.fixtures.emulator",
    "tests.fixtures.aws",
    "tests.fixtures.actions",
]
