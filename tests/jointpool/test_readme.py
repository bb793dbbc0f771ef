"""The README shows the two set-up commands and a configuration table in step with Settings."""

from __future__ import annotations

from pathlib import Path

from jointpool.settings_doc import BEGIN_MARKER, END_MARKER, settings_block

ROOT = Path(__file__).resolve().parents[2]


def test_readme_settings_table_matches_the_settings_class() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(BEGIN_MARKER)
    end = readme.index(END_MARKER) + len(END_MARKER)
    assert readme[start:end] == settings_block(), (
        "README configuration table is stale: run `jointpool settings-table` and paste it"
    )


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
