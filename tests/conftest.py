"""Shared fixtures: each area keeps its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.storage",
    "tests.fixtures.media",
    "tests.fixtures.ftp",
    "tests.fixtures.api",
    "tests.fixtures.web",
    "tests.fixtures.browser",
]
