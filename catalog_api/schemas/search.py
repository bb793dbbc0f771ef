"""Search results with facets."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from catalog_api.schemas.titles import TitleOut
from pool_core.search.availability import Availability
from pool_core.search.episodes import EpisodeMatch


class MatchedNameOut(BaseModel):
    """A name of an episode that matched the query."""

    language: str | None = Field(description="BCP 47 tag of a localized name; null: its own.")
    name: str


class MatchedEpisodeOut(BaseModel):
    """An episode of the title whose name matched the query."""

    id: uuid.UUID
    season: int = Field(description="Season number; 0 for titles without seasons.")
    number: int
    name: str
    matched_names: list[MatchedNameOut]

    @classmethod
    def from_match(cls, match: EpisodeMatch) -> MatchedEpisodeOut:
        """Build from the search engine's match."""
        return cls(
            id=match.id,
            season=match.season_number,
            number=match.number,
            name=match.name,
            matched_names=[
                MatchedNameOut(language=n.language or None, name=n.name) for n in match.names
            ],
        )


class SearchHitOut(BaseModel):
    """One result."""

    score: int = Field(description="Relevance; higher is better (see the search docs).")
    rights: Availability = Field(
        description="For your organization: yours; licensed (an active license that has not "
        "ended); licensable (a rights window over your country now); not_offered."
    )
    title: TitleOut
    matched_episodes: list[MatchedEpisodeOut] = Field(
        description="Episodes whose name or localized name matched the query, best first "
        "(at most 5); empty when only the title itself matched."
    )


class QueryTermOut(BaseModel):
    """How one query word was understood."""

    term: str = Field(description="The folded, cross-script form, matched as a prefix.")
    typo_variants: list[str] = Field(description="Indexed words one typo away, also matched.")


class SearchOut(BaseModel):
    """A page of results, the total, and facet counts over all matches."""

    items: list[SearchHitOut]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]] = Field(
        description="kind, genre, language, owner, year and duration (minute buckets) counts; "
        'licensable_now: {"true": matches offered in your country now}.'
    )
    terms: list[QueryTermOut]
