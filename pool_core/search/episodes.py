"""Episode names in search: what a title's document gets from its episodes, and which
episodes a query matched.

The full-text index holds one document per title, so an episode name makes its title match;
naming the episode is done afterwards, for the titles of one result page only, by folding
their episodes' names exactly as the index does and testing them against the same term
groups (a prefix of the query word, or one of its one-typo variants).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pool_core.models import Episode
from pool_core.search.backends import TermGroup
from pool_core.search.normalize import unique_terms

# A long-running programme can match in hundreds of episodes; a hit names the best few.
MAX_EPISODES_PER_HIT = 5
# The key of an episode's own (untranslated) name among its matched names.
ORIGINAL = ""


@dataclass(frozen=True)
class MatchedName:
    """One name of an episode that the query matched: its language tag ("" = original)."""

    language: str
    name: str


@dataclass(frozen=True)
class EpisodeMatch:
    """An episode whose name (original or localized) matched the query."""

    id: uuid.UUID
    season_number: int
    number: int
    name: str
    names: tuple[MatchedName, ...]
    # How many query words its names matched; more is a better match.
    matched_terms: int


def episode_names(name: str, localizations: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`(language, name)` of every non-empty name of an episode, its own name first."""
    names = [(ORIGINAL, name)] if name.strip() else []
    for tag, value in sorted(localizations.items()):
        localized = str((value or {}).get("title", "")).strip()
        if localized:
            names.append((tag, localized))
    return names


def searchable_names(episodes: Iterable[Episode]) -> list[str]:
    """Every name of the episodes, for the title's search document."""
    return [text for ep in episodes for _, text in episode_names(ep.name, ep.localizations)]


def _group_matches(group: TermGroup, words: list[str]) -> bool:
    return any(word.startswith(group.term) or word in group.variants for word in words)


# Built once (bound per page): this runs on every search that has words.
_EPISODES_OF = select(
    Episode.id,
    Episode.title_id,
    Episode.season_number,
    Episode.number,
    Episode.name,
    Episode.localizations,
).where(Episode.title_id.in_(bindparam("ids", expanding=True)))


def match_episodes(
    session: Session, *, title_ids: list[uuid.UUID], groups: list[TermGroup]
) -> dict[uuid.UUID, tuple[EpisodeMatch, ...]]:
    """Per title, the episodes whose names match the most query words, in episode order."""
    if not title_ids or not groups:
        return {}
    rows = session.connection().execute(_EPISODES_OF, {"ids": title_ids})
    found: dict[uuid.UUID, list[EpisodeMatch]] = {}
    for episode_id, title_id, season, number, name, localizations in rows:
        matched_groups: set[str] = set()
        names: list[MatchedName] = []
        for language, text in episode_names(name, localizations or {}):
            words = unique_terms(text)
            hits = {g.term for g in groups if _group_matches(g, words)}
            if hits:
                matched_groups |= hits
                names.append(MatchedName(language=language, name=text))
        if names:
            found.setdefault(title_id, []).append(
                EpisodeMatch(
                    id=episode_id,
                    season_number=season,
                    number=number,
                    name=name,
                    names=tuple(names),
                    matched_terms=len(matched_groups),
                )
            )
    return {title_id: _best(matches) for title_id, matches in found.items()}


def _best(matches: list[EpisodeMatch]) -> tuple[EpisodeMatch, ...]:
    # Only the episodes that match the most query words: for "Bamsi Beyrek" the episode of
    # that name, not every episode that merely mentions Bamsi.
    most = max(m.matched_terms for m in matches)
    best = sorted(
        (m for m in matches if m.matched_terms == most),
        key=lambda m: (m.season_number, m.number),
    )
    return tuple(best[:MAX_EPISODES_PER_HIT])
