"""Shared fixtures: each area keeps its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.database",
]
