"""The documented sidecar schema (`jointpool.sidecar/1`): what every sidecar format becomes.

A JSON sidecar is exactly this document; EBUCore XML and CSV manifest rows are mapped onto
it. The API publishes it at `GET /v1/sidecar-schema` and in the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pool_core.models import TitleKind, TitleStatus

SCHEMA_ID = "jointpool.sidecar/1"


def _no_control_chars(value: str) -> str:
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


_Clean = AfterValidator(_no_control_chars)
Name = Annotated[str, Field(min_length=1, max_length=512), _Clean]
Short = Annotated[str, Field(max_length=64), _Clean]
Medium = Annotated[str, Field(max_length=255), _Clean]
LongText = Annotated[str, Field(max_length=20_000), _Clean]


class SidecarLocalization(BaseModel):
    """Title and synopsis in one language."""

    model_config = ConfigDict(extra="forbid")

    title: Name
    synopsis: LongText = ""


class SidecarContributor(BaseModel):
    """A person and their role (director, writer, presenter...)."""

    model_config = ConfigDict(extra="forbid")

    name: Medium
    role: Short = ""


class SidecarEpisode(BaseModel):
    """Where in a serial this master belongs."""

    model_config = ConfigDict(extra="forbid")

    season: int = Field(0, ge=0, le=1000, description="0 when the title has no seasons.")
    number: int = Field(ge=0, le=100_000)
    name: Medium = ""
    localizations: dict[Short, SidecarLocalization] = Field(default_factory=dict, max_length=40)
    duration_seconds: int | None = Field(None, ge=0, le=604_800)


class CatalogSidecar(BaseModel):
    """Catalog metadata delivered next to a master (`<master base name>.json`).

    The title is found by `external_id` within the uploading organization (created when
    new, updated otherwise); without `external_id` a new title is created each time.
    """

    model_config = ConfigDict(extra="forbid", title="CatalogSidecar")

    schema_: str = Field(SCHEMA_ID, alias="schema", description=f"Always `{SCHEMA_ID}`.")
    external_id: Annotated[str, Field(max_length=128), _Clean] | None = Field(
        None, description="Your house number for the title (the update key)."
    )
    kind: TitleKind
    status: TitleStatus = TitleStatus.PUBLISHED
    original_title: Name
    original_language: Short | None = Field(None, description="BCP 47 tag, e.g. `kk`.")
    localizations: dict[Short, SidecarLocalization] = Field(
        default_factory=dict,
        max_length=40,
        description="Keyed by BCP 47 tag with script: `kk-Cyrl`, `kk-Latn`, `uz-Latn`, `ru`.",
    )
    genres: list[Short] = Field(default_factory=list, max_length=10)
    keywords: list[Medium] = Field(default_factory=list, max_length=50)
    production_year: int | None = Field(None, ge=1888, le=2100)
    countries: list[Short] = Field(default_factory=list, max_length=50)
    duration_seconds: int | None = Field(None, ge=0, le=604_800)
    age_rating: Annotated[str, Field(max_length=16), _Clean] | None = None
    eidr: Short | None = None
    isan: Short | None = None
    contributors: list[SidecarContributor] = Field(default_factory=list, max_length=50)
    rights_notes: LongText | None = None
    episode: SidecarEpisode | None = None
    size: int | None = Field(
        None, ge=0, description="The master's size in bytes; a master that differs fails."
    )
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = Field(
        None, description="The master's SHA-256 (hex); a master that differs fails."
    )
    md5: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{32}$")] | None = Field(
        None, description="The master's MD5 (hex); a master that differs fails."
    )
