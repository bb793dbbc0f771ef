"""The UI's colours meet WCAG 2.1 AA contrast (4.5:1 for text) wherever text is drawn on them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "catalog_web" / "static" / "app.css"

# (text colour, background) pairs the stylesheet draws text with.
PAIRS = [
    ("--ink", "--paper"),
    ("--ink", "--wash"),
    ("--muted", "--paper"),
    ("--muted", "--wash"),
    ("--accent", "--paper"),
    ("--accent", "--wash"),
    ("--accent-ink", "--accent"),
    ("--paper", "--ink"),
    ("--ok", "--paper"),
    ("--warn", "--paper"),
    ("--bad", "--paper"),
]


def variables() -> dict[str, str]:
    """The `--name: #rrggbb` custom properties of app.css."""
    return dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6})", CSS.read_text()))


def luminance(colour: str) -> float:
    """WCAG relative luminance of #rrggbb."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula_knows_black_on_white() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") < 4.5  # a grey that fails AA


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_colours_meet_aa(text: str, background: str) -> None:
    colours = variables()
    ratio = contrast(colours[text], colours[background])
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f}:1"
