"""The README's roles table is the one in pool_core.roles."""

from __future__ import annotations

from pathlib import Path

from pool_core.roles import TABLE_BEGIN, TABLE_END, roles_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_readme_roles_table_matches_pool_core_roles() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index(TABLE_BEGIN)
    end = readme.index(TABLE_END) + len(TABLE_END)
    assert readme[start:end] == roles_markdown(), (
        "README roles table is stale: run `jointpool roles-table` and paste it"
    )
