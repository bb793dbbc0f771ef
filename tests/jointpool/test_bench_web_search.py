"""`bench.web_search` runs end to end on a tiny catalog and prints its two comparisons."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import discover
from bench.web_search import main


def test_web_search_bench_is_discovered() -> None:
    assert "web_search" in discover()


def test_a_small_run_prints_the_ratio_and_the_page_weight(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--titles", "200", "--requests", "20", "--pg", ""]) == 0
    out = capsys.readouterr().out
    ratio = re.search(r"sqlite: p95 page [\d.]+ ms / API [\d.]+ ms = ratio ([\d.]+)", out)
    assert ratio, out
    assert float(ratio.group(1)) > 0
    weight = re.search(r"first search page without posters: ([\d.]+) KB as served", out)
    assert weight, out
    # The page, htmx and the stylesheets: well over nothing, well under the 150 KB budget.
    assert 50 < float(weight.group(1)) < 150
