"""What a PromQL expression references: series names, label matchers and grouping labels.

A small reader for the expressions we write in deploy/ (not a PromQL parser): promtool checks
the syntax, this finds the names, so a test can hold them against the metrics contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENTIFIER = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_RANGE = re.compile(r"\[[^\]]*\]")  # [5m], [$__rate_interval], [15m:1m]
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(rf"({_IDENTIFIER})\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(rf"\s*({_IDENTIFIER})\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"\s*,?")
_BARE_NAME = re.compile(rf"(?<![\w.$])({_IDENTIFIER})(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
    | {"and", "or", "unless", "inf", "nan", "Inf", "NaN"}
)


@dataclass(frozen=True)
class Matcher:
    """One label matcher of a selector: `label op "value"`."""

    metric: str
    label: str
    op: str
    value: str


@dataclass
class References:
    """The names one expression uses."""

    metrics: set[str] = field(default_factory=set)
    matchers: list[Matcher] = field(default_factory=list)
    grouping_labels: set[str] = field(default_factory=set)


def references(expr: str) -> References:
    """Return the series, matchers and grouping labels `expr` names."""
    found = References()
    text = _RANGE.sub(" ", expr)

    def grouping(match: re.Match[str]) -> str:
        labels = (label.strip() for label in match.group(1).split(","))
        found.grouping_labels.update(label for label in labels if label)
        return " "

    text = _GROUPING.sub(grouping, text)

    def selector(match: re.Match[str]) -> str:
        metric, body = match.group(1), match.group(2)
        position = 0
        while position < len(body.rstrip()):
            matcher = _MATCHER.match(body, position)
            if matcher is None:
                raise ValueError(f"cannot read the matchers {{{body}}} in {expr!r}")
            found.matchers.append(Matcher(metric, *matcher.group(1, 2, 3)))
            position = matcher.end()
        return f" {metric} "

    text = _SELECTOR.sub(selector, text)
    if "{" in text:
        raise ValueError(f"a selector without a metric name in {expr!r}")
    found.metrics = {name for name in _BARE_NAME.findall(text) if name not in _KEYWORDS}
    return found
