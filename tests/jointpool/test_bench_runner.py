"""`python -m bench` refuses names it does not know before running any benchmark."""

from __future__ import annotations

import importlib

import pytest

from bench.__main__ import discover, main


def test_every_benchmark_module_is_discovered() -> None:
    assert {"ftp", "queue", "search", "sync", "transcode"} <= set(discover())


def test_an_unknown_name_is_refused_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # "queue" is real but must not start: the typo next to it stops the whole run.
    assert main(["queue", "sink"]) == 2
    out, err = capsys.readouterr()
    assert "unknown benchmark: sink" in err
    assert "=== bench." not in out


def test_help_lists_the_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m bench")
    assert "sync" in out


def test_every_discovered_module_is_a_runnable_benchmark() -> None:
    """A helper module must start with `_`, or `make bench` would try to run it and fail."""
    for name in discover():
        module = importlib.import_module(f"bench.{name}")
        assert callable(getattr(module, "main", None)), f"bench.{name} has no main()"
