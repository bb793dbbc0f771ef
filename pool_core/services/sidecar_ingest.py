"""The `ingest_sidecar` job: read a master's sidecar, create or update its title, link it.

A refused sidecar is not a failed job: the asset shows the readable reason (its metadata
state becomes `invalid`), and the same text is written as `<master base>.errors.txt` next to
the master in the uploader's FTP folder, where the person who uploaded it will look. A later,
corrected sidecar replaces the state and removes that file.

The ingest report of an accepted sidecar: how it was read (format; for CSV the encoding,
how it was chosen and the delimiter) goes into the `sidecar.applied` audit event and the
`asset.linked` change event; a guessed legacy code page and letters that look lost (`?`
inside a word) become lines of `Asset.ingest_warnings` starting with `sidecar `, replaced by
the next sidecar's. The uploader's country ranks the legacy code pages (see
`pool_core.sidecars.legacy`).

Who may publish: a sidecar is written by whoever holds an FTP login of the organization,
usually an `uploader`, who may not change the catalog through the API. Unless the
organization's admin turned `sidecar_auto_publish` on, a sidecar therefore creates and
updates titles as drafts only (its `status` is not applied, and a warning says so), and a
sidecar that would change a published title is refused with a readable reason: an editor
changes or links it through the API. With auto-publish on, the sidecar's `status` is applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.catalog.assets import set_asset_catalog
from pool_core.catalog.episodes import upsert_episode
from pool_core.catalog.inputs import Localized, TitleInput
from pool_core.catalog.titles import create_title, get_title_by_external_id, update_title
from pool_core.common.actor import Actor, audit_as
from pool_core.db import Database
from pool_core.errors import InvalidInput, JobError, NotFound, PermissionDenied
from pool_core.models import (
    Asset,
    AssetCatalog,
    FileEntry,
    MetadataState,
    Organization,
    Title,
    TitleStatus,
)
from pool_core.names import INCOMING_ROOT, split_path
from pool_core.queue import JobContext
from pool_core.search.backends import ensure_search_schema
from pool_core.services.changes import record_change
from pool_core.services.errors_files import ERRORS_SUFFIX, remove_errors_file, write_errors_file
from pool_core.settings import Settings
from pool_core.sidecars import MAX_SIDECAR_BYTES, CatalogSidecar, SidecarError, read_sidecar
from pool_core.storage.base import ObjectStorage

SIDECAR_JOB = "ingest_sidecar"
# Lines of `Asset.ingest_warnings` written here start with this, so a new sidecar replaces them.
WARNING_PREFIX = "sidecar "
# The warning of an accepted sidecar whose `status` was not applied.
DRAFT_WARNING = (
    "status not applied: the title stays a draft because this organization does not let "
    "sidecars publish (an editor publishes it, or the admin turns sidecar auto-publish on)"
)
# Sidecar fields that map one to one onto title fields.
TITLE_FIELDS = frozenset(TitleInput.__dataclass_fields__)


def build_handlers(
    settings: Settings, db: Database, storage: ObjectStorage
) -> dict[str, Callable[[JobContext], None]]:
    """The job handlers of the catalog: `{"ingest_sidecar": handler}`."""
    ensure_search_schema(db.engine)

    def handle(ctx: JobContext) -> None:
        try:
            asset_id = uuid.UUID(str(ctx.payload["asset_id"]))
        except (KeyError, ValueError) as exc:
            raise JobError(f"ingest_sidecar payload needs an asset_id: {ctx.payload!r}") from exc
        with db.session() as session:
            ingest_sidecar(session, storage, asset_id=asset_id)

    return {SIDECAR_JOB: handle}


def ingest_sidecar(
    session: Session, storage: ObjectStorage, *, asset_id: uuid.UUID
) -> AssetCatalog:
    """Apply the asset's sidecar to the catalog, or record why it was refused."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise JobError(f"asset {asset_id} no longer exists")
    if not asset.sidecar_key:
        return set_asset_catalog(session, asset=asset, state=MetadataState.NEEDS_METADATA)
    entry = session.scalar(select(FileEntry).where(FileEntry.object_key == asset.sidecar_key))
    sidecar_name = entry.name if entry is not None else asset.sidecar_key.rsplit("/", 1)[-1]
    # One byte more than allowed, so an oversized sidecar is refused without reading it all.
    data = storage.get(asset.sidecar_key, start=0, end=MAX_SIDECAR_BYTES)
    org = session.get(Organization, asset.org_id)
    auto_publish = org is not None and org.sidecar_auto_publish
    try:
        with session.begin_nested():
            reading = read_sidecar(
                sidecar_name,
                data,
                master_filename=asset.filename,
                country=org.country if org is not None else "",
            )
            title, episode_id = _apply(session, asset, reading.sidecar, auto_publish=auto_publish)
    except SidecarError as exc:
        _set_sidecar_warnings(session, asset, [])
        return _refuse(session, storage, asset, sidecar_name, str(exc), exc.problems)
    except (InvalidInput, PermissionDenied, NotFound) as exc:
        # Parsed, but the catalog refused a value (a bad EIDR check digit, an unknown genre).
        message = f"sidecar {sidecar_name} was not accepted:\n- {exc}"
        _set_sidecar_warnings(session, asset, [])
        return _refuse(session, storage, asset, sidecar_name, message, [str(exc)])
    warnings = reading.warnings
    asked = "status" in reading.sidecar.model_fields_set
    if asked and not auto_publish and reading.sidecar.status is not TitleStatus.DRAFT:
        warnings = [*warnings, DRAFT_WARNING]
    _set_sidecar_warnings(session, asset, warnings)
    link = set_asset_catalog(
        session,
        asset=asset,
        state=MetadataState.LINKED,
        title_id=title.id,
        episode_id=episode_id,
    )
    _remove_stale_errors_file(session, asset)
    audit_as(
        session,
        Actor.system(org_id=asset.org_id, on_behalf_of=asset.uploaded_by),
        action="sidecar.applied",
        subject=f"asset:{asset.id}",
        detail={
            "sidecar": sidecar_name,
            "title_id": str(title.id),
            "read": reading.report,
            "warnings": reading.warnings[:20],
        },
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.linked",
        subject_type="asset",
        subject_id=str(asset.id),
        data={
            "title_id": str(title.id),
            "episode_id": str(episode_id) if episode_id else None,
            "sidecar": sidecar_name,
            "read": reading.report,
        },
    )
    return link


def _set_sidecar_warnings(session: Session, asset: Asset, warnings: list[str]) -> None:
    kept = [w for w in asset.ingest_warnings or [] if not w.startswith(WARNING_PREFIX)]
    new = [f"{WARNING_PREFIX}{w}" for w in warnings[:20]]
    if new or len(kept) != len(asset.ingest_warnings or []):
        # A new list, so the JSON column is seen as changed.
        asset.ingest_warnings = [*kept, *new]
        session.flush()


def _apply(
    session: Session, asset: Asset, sidecar: CatalogSidecar, *, auto_publish: bool
) -> tuple[Title, uuid.UUID | None]:
    actor = Actor.system(org_id=asset.org_id, on_behalf_of=asset.uploaded_by)
    values: dict[str, Any] = sidecar.model_dump(include=set(TITLE_FIELDS))
    values["kind"] = str(sidecar.kind)
    values["status"] = str(sidecar.status if auto_publish else TitleStatus.DRAFT)
    values["localizations"] = {
        tag: Localized(loc.title, loc.synopsis) for tag, loc in sidecar.localizations.items()
    }
    values["contributors"] = [c.model_dump() for c in sidecar.contributors]
    data = TitleInput(**values)
    existing = (
        get_title_by_external_id(session, org_id=asset.org_id, external_id=sidecar.external_id)
        if sidecar.external_id
        else None
    )
    if existing is None:
        title = create_title(session, actor=actor, data=data)
    else:
        if not auto_publish and existing.status is not TitleStatus.DRAFT:
            raise PermissionDenied(
                f"title {existing.external_id!r} is published, and this organization does not "
                "let sidecars change published titles (auto-publish is off); an editor changes "
                "the title and links this master through the catalog API, or the organization's "
                "admin turns sidecar auto-publish on"
            )
        provided = (sidecar.model_fields_set & TITLE_FIELDS) | {"kind", "original_title"}
        if not auto_publish:
            # A draft stays a draft whatever the sidecar says.
            provided.discard("status")
        title = update_title(session, actor=actor, title_id=existing.id, data=data, fields=provided)
    episode_id = None
    if sidecar.episode is not None:
        ep = sidecar.episode
        episode = upsert_episode(
            session,
            actor=actor,
            title_id=title.id,
            season_number=ep.season,
            number=ep.number,
            name=ep.name,
            localizations={t: Localized(v.title, v.synopsis) for t, v in ep.localizations.items()},
            duration_seconds=ep.duration_seconds,
        )
        episode_id = episode.id
    return title, episode_id


def errors_file_path(asset: Asset) -> str:
    """Where the readable errors of an asset's sidecar go: next to the master."""
    folder, name = split_path(asset.source_path or f"{INCOMING_ROOT}/{asset.filename}")
    base = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return f"{folder.rstrip('/')}/{base}{ERRORS_SUFFIX}"


def _refuse(
    session: Session,
    storage: ObjectStorage,
    asset: Asset,
    sidecar_name: str,
    message: str,
    problems: list[str],
) -> AssetCatalog:
    link = set_asset_catalog(session, asset=asset, state=MetadataState.INVALID, error=message)
    path = errors_file_path(asset)
    text = (
        f"{message}\n\nThe master {asset.filename} was received and is being processed; "
        f"fix {sidecar_name} and upload it again to add it to the catalog.\n"
    )
    # Outside the writable area (the master moved), nothing is written: the asset shows it.
    write_errors_file(
        session, storage, org_id=asset.org_id, path=path, text=text, asset_id=asset.id
    )
    audit_as(
        session,
        Actor.system(org_id=asset.org_id, on_behalf_of=asset.uploaded_by),
        action="sidecar.rejected",
        subject=f"asset:{asset.id}",
        detail={"sidecar": sidecar_name, "problems": problems[:20]},
    )
    record_change(
        session,
        org_id=asset.org_id,
        kind="asset.metadata_invalid",
        subject_type="asset",
        subject_id=str(asset.id),
        data={"sidecar": sidecar_name},
    )
    return link


def _remove_stale_errors_file(session: Session, asset: Asset) -> None:
    remove_errors_file(session, org_id=asset.org_id, path=errors_file_path(asset))
