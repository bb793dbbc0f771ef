"""What callers hand the catalog and what it hands back: inputs, limits and views."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from pool_core.models import (
    Asset,
    AssetCatalog,
    MetadataState,
    Role,
    TitleKind,
    TitleStatus,
)

CATALOG_WRITERS = frozenset({Role.ADMIN, Role.EDITOR})
SCREENERS = frozenset({Role.ADMIN, Role.EDITOR, Role.RIGHTS_MANAGER})
# Rendition kinds a screener may get a URL for; masters are for licensees via the sync.
SCREENING_KINDS = frozenset({"proxy", "poster", "thumbnail", "storyboard", "storyboard_vtt"})
MAX_LOCALIZATIONS = 40
MAX_LIST_ITEMS = 200
MAX_SEASON = 1000
MAX_SEASON_NAME = 512


@dataclass(frozen=True)
class Localized:
    """Title and synopsis in one language."""

    title: str
    synopsis: str = ""


@dataclass
class TitleInput:
    """The writable fields of a title (for updates, only the ones named in `fields`)."""

    kind: str = TitleKind.PROGRAMME.value
    original_title: str = ""
    status: str = TitleStatus.PUBLISHED.value
    external_id: str | None = None
    original_language: str | None = None
    localizations: dict[str, Localized] = field(default_factory=dict)
    genres: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    production_year: int | None = None
    countries: list[str] = field(default_factory=list)
    duration_seconds: int | None = None
    age_rating: str | None = None
    eidr: str | None = None
    isan: str | None = None
    contributors: list[dict[str, str]] = field(default_factory=list)
    rights_notes: str | None = None


@dataclass(frozen=True)
class AssetView:
    """An asset with its catalog side."""

    asset: Asset
    catalog: AssetCatalog | None

    @property
    def metadata_state(self) -> MetadataState:
        """Whether the asset still needs metadata, waits for its sidecar, is linked or invalid."""
        if self.catalog is not None:
            return self.catalog.state
        if self.asset.sidecar_key:
            return MetadataState.PENDING
        return MetadataState.NEEDS_METADATA


@dataclass(frozen=True)
class SeasonView:
    """A season of a title with the number of episodes it holds."""

    title_id: uuid.UUID
    number: int
    name: str
    episode_count: int


@dataclass(frozen=True)
class ScreeningLink:
    """A short-lived URL to one rendition."""

    kind: str
    name: str
    content_type: str
    url: str
    expires_in: int
