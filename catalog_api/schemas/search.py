"""Search results with facets."""

from __future__ import annotations

from pydantic import BaseModel, Field

from catalog_api.schemas.titles import TitleOut


class SearchHitOut(BaseModel):
    """One result."""

    score: int = Field(description="Relevance; higher is better (see the search docs).")
    title: TitleOut


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
        description="kind, genre, language, owner, year and duration (minute buckets) counts."
    )
    terms: list[QueryTermOut]
