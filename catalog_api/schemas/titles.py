"""Titles, localizations, seasons and episodes as the API shows and takes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from catalog_api.schemas.common import (
    AgeRating,
    ExternalId,
    LanguageTag,
    LongText,
    Medium,
    Name,
    NoControl,
    Short,
)
from pool_core.catalog.inputs import MAX_SEASON_NAME, Localized, SeasonView, TitleInput
from pool_core.models import Episode, Title, TitleKind, TitleStatus
from pool_core.search.cards import TitleCard

MAX_ITEMS = 50
# A season's name may be empty ("Season 2" is the client's to render), unlike a title's.
SeasonName = Annotated[str, Field(max_length=MAX_SEASON_NAME), NoControl]


class LocalizationIn(BaseModel):
    """Title and synopsis in one language."""

    title: Name
    synopsis: LongText = ""


class Contributor(BaseModel):
    """A person who made the programme."""

    name: Medium
    role: Short = ""


class TitleFields(BaseModel):
    """Fields shared by creating and reading titles."""

    external_id: ExternalId | None = Field(
        None, description="Your own house number; sidecars update by it."
    )
    original_language: LanguageTag | None = Field(None, description="BCP 47, e.g. `kk`.")
    localizations: dict[LanguageTag, LocalizationIn] = Field(
        default_factory=dict,
        max_length=40,
        description="Keyed by BCP 47 tag with script where it matters: `kk-Cyrl`, `uz-Latn`.",
    )
    genres: list[Short] = Field(default_factory=list, max_length=10)
    keywords: list[Medium] = Field(default_factory=list, max_length=MAX_ITEMS)
    production_year: int | None = Field(None, ge=1888, le=2100)
    countries: list[Short] = Field(default_factory=list, max_length=MAX_ITEMS)
    duration_seconds: int | None = Field(None, ge=0, le=604_800)
    age_rating: AgeRating | None = None
    eidr: Short | None = Field(None, description="EIDR content ID, check character verified.")
    isan: Short | None = Field(None, description="ISAN or V-ISAN, check characters verified.")
    contributors: list[Contributor] = Field(default_factory=list, max_length=MAX_ITEMS)
    rights_notes: LongText | None = None


class TitleCreate(TitleFields):
    """A new title."""

    kind: TitleKind
    original_title: Name
    status: TitleStatus = TitleStatus.PUBLISHED

    def to_input(self) -> TitleInput:
        """The service's input."""
        return _to_input(self.model_dump(), set(TitleInput.__dataclass_fields__))


# Fields that may be omitted from an update but never set to null.
NOT_NULLABLE = frozenset(
    {
        "kind",
        "original_title",
        "status",
        "localizations",
        "genres",
        "keywords",
        "countries",
        "contributors",
    }
)


class TitleUpdate(BaseModel):
    """A partial update: only the fields present are changed."""

    kind: TitleKind | None = None
    original_title: Name | None = None
    status: TitleStatus | None = None
    external_id: ExternalId | None = None
    original_language: LanguageTag | None = None
    localizations: dict[LanguageTag, LocalizationIn] | None = Field(None, max_length=40)
    genres: list[Short] | None = Field(None, max_length=10)
    keywords: list[Medium] | None = Field(None, max_length=MAX_ITEMS)
    production_year: int | None = Field(None, ge=1888, le=2100)
    countries: list[Short] | None = Field(None, max_length=MAX_ITEMS)
    duration_seconds: int | None = Field(None, ge=0, le=604_800)
    age_rating: AgeRating | None = None
    eidr: Short | None = None
    isan: Short | None = None
    contributors: list[Contributor] | None = Field(None, max_length=MAX_ITEMS)
    rights_notes: LongText | None = None

    @model_validator(mode="after")
    def _no_nulls_where_required(self) -> TitleUpdate:
        nulled = sorted(f for f in self.model_fields_set & NOT_NULLABLE if getattr(self, f) is None)
        if nulled:
            raise ValueError(f"these fields cannot be null: {', '.join(nulled)}")
        return self

    def to_input(self) -> tuple[TitleInput, set[str]]:
        """The service's input and the names of the fields to change."""
        fields = set(self.model_fields_set)
        data = self.model_dump(include=fields)
        return _to_input(data, fields), fields


def _to_input(data: dict[str, Any], fields: set[str]) -> TitleInput:
    values = {k: v for k, v in data.items() if k in fields}
    if "localizations" in values:
        values["localizations"] = {
            tag: Localized(title=loc["title"], synopsis=loc.get("synopsis", ""))
            for tag, loc in values["localizations"].items()
        }
    for key in ("kind", "status"):
        if key in values and values[key] is not None:
            values[key] = str(values[key].value if hasattr(values[key], "value") else values[key])
    return TitleInput(**values)


class LocalizationOut(BaseModel):
    """Title and synopsis in one language."""

    title: str
    synopsis: str


class TitleOut(BaseModel):
    """A title as every member sees it."""

    id: uuid.UUID
    owner: str = Field(description="Code of the owning organization.")
    kind: TitleKind
    status: TitleStatus
    original_title: str
    external_id: str | None
    original_language: str | None
    localizations: dict[str, LocalizationOut]
    genres: list[str]
    keywords: list[str]
    production_year: int | None
    countries: list[str]
    duration_seconds: int | None
    age_rating: str | None
    eidr: str | None
    isan: str | None
    contributors: list[Contributor]
    rights_notes: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, title: Title | TitleCard) -> TitleOut:
        """Build from the ORM object, or from a search result's card of it."""
        return cls(
            id=title.id,
            owner=title.owner.code,
            kind=title.kind,
            status=title.status,
            original_title=title.original_title,
            external_id=title.external_id,
            original_language=title.original_language,
            localizations={
                loc.language: LocalizationOut(title=loc.title, synopsis=loc.synopsis)
                for loc in title.localizations
            },
            genres=title.genres,
            keywords=list(title.keywords),
            production_year=title.production_year,
            countries=list(title.countries),
            duration_seconds=title.duration_seconds,
            age_rating=title.age_rating,
            eidr=title.eidr,
            isan=title.isan,
            contributors=[Contributor(**c) for c in title.contributors],
            rights_notes=title.rights_notes,
            created_at=title.created_at,
            updated_at=title.updated_at,
        )


class EpisodeIn(BaseModel):
    """An episode; an existing one at the same season and number is updated."""

    season: int = Field(0, ge=0, le=1000, description="0 for titles without seasons.")
    number: int = Field(ge=0, le=100_000)
    name: Medium = ""
    localizations: dict[LanguageTag, LocalizationIn] = Field(default_factory=dict, max_length=40)
    duration_seconds: int | None = Field(None, ge=0, le=604_800)

    def localized(self) -> dict[str, Localized]:
        """The localizations as service values."""
        return {t: Localized(x.title, x.synopsis) for t, x in self.localizations.items()}


class EpisodeOut(BaseModel):
    """An episode of a title."""

    id: uuid.UUID
    title_id: uuid.UUID
    season: int
    number: int
    name: str
    localizations: dict[str, LocalizationOut]
    duration_seconds: int | None

    @classmethod
    def from_model(cls, episode: Episode) -> EpisodeOut:
        """Build from the ORM object."""
        return cls(
            id=episode.id,
            title_id=episode.title_id,
            season=episode.season_number,
            number=episode.number,
            name=episode.name,
            localizations={
                tag: LocalizationOut(title=v.get("title", ""), synopsis=v.get("synopsis", ""))
                for tag, v in episode.localizations.items()
            },
            duration_seconds=episode.duration_seconds,
        )


class SeasonIn(BaseModel):
    """A season's writable fields; the number is in the path."""

    name: SeasonName = Field("", description="Empty when the season has no name of its own.")


class SeasonOut(BaseModel):
    """A season of a title."""

    title_id: uuid.UUID
    number: int
    name: str
    episode_count: int

    @classmethod
    def from_view(cls, season: SeasonView) -> SeasonOut:
        """Build from the service's view."""
        return cls(
            title_id=season.title_id,
            number=season.number,
            name=season.name,
            episode_count=season.episode_count,
        )
