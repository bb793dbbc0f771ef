"""Licensing service: windows, request/approve/decline/revoke/expire, clashes, entitlements."""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pool_core.common.actor import Actor
from pool_core.db import Database
from pool_core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from pool_core.files import licensed
from pool_core.files.downloads import open_download
from pool_core.licensing import deliveries, entitlements, rights, workflow
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    ChangeEvent,
    Delivery,
    Episode,
    License,
    LicenseStatus,
    MetadataState,
    Organization,
    RequestStatus,
    Title,
    TitleKind,
    TitleStatus,
    User,
    utcnow,
)
from pool_core.services import accounts
from tests.fixtures.orgs import make_org

DAY = timedelta(days=1)


@dataclass
class World:
    """Three broadcasters: `owner` offers a serial; `buyer` and `rival` want it."""

    owner: Organization
    buyer: Organization
    rival: Organization
    owner_rm: User
    owner_editor: User
    buyer_editor: User
    buyer_rm: User
    rival_editor: User
    title: Title
    episodes: list[Episode]
    assets: list[Asset]


def license_for(
    session: Session, *, org_id: int, asset_id: uuid.UUID, now: datetime | None = None
) -> License | None:
    """The license the one entitlement rule grants the organization for the asset (None: none)."""
    allowed = entitlements.entitlement(session, org_id=org_id, asset_id=asset_id, now=now)
    return allowed.license if allowed is not None else None


def make_user(session: Session, org: Organization, name: str, role: str) -> User:
    """Create a user of the organization."""
    return accounts.create_user(session, org=org, username=name, role=role).user


def make_title(session: Session, org: Organization, name: str, **kw: object) -> Title:
    """Create a published title owned by the organization."""
    title = Title(
        org_id=org.id,
        kind=kw.pop("kind", TitleKind.SERIAL),
        original_title=name,
        status=kw.pop("status", TitleStatus.PUBLISHED),
        **kw,
    )
    session.add(title)
    session.flush()
    return title


def make_asset(
    session: Session,
    org: Organization,
    title: Title,
    episode: Episode | None,
    filename: str,
    data: bytes = b"master-bytes",
    *,
    status: AssetStatus = AssetStatus.READY,
    object_key: str | None = None,
) -> Asset:
    """Create a ready master linked to a title (and episode)."""
    asset_id = uuid.uuid4()
    asset = Asset(
        id=asset_id,
        org_id=org.id,
        filename=filename,
        object_key=object_key or f"masters/{org.code}/{asset_id}/{filename}",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        status=status,
    )
    session.add(asset)
    session.flush()
    session.add(
        AssetCatalog(
            asset_id=asset.id,
            org_id=org.id,
            title_id=title.id,
            episode_id=episode.id if episode else None,
            state=MetadataState.LINKED,
        )
    )
    session.flush()
    return asset


def build_world(session: Session) -> World:
    """Create the three organizations, a serial with two episodes and their masters."""
    owner = make_org(session, "aztv", country="AZ")
    buyer = make_org(session, "qaz", country="KZ")
    rival = make_org(session, "ktrk", country="KG")
    title = make_title(session, owner, "Qaraqum / Desert")
    episodes = []
    for number in (1, 2):
        episode = Episode(title_id=title.id, season_number=1, number=number, name=f"Ep {number}")
        session.add(episode)
        episodes.append(episode)
    session.flush()
    assets = [
        make_asset(session, owner, title, episodes[0], "ep1.mxf", b"episode one"),
        make_asset(session, owner, title, episodes[1], "ep2.mxf", b"episode two"),
    ]
    return World(
        owner=owner,
        buyer=buyer,
        rival=rival,
        owner_rm=make_user(session, owner, "aztv-rm", "rights_manager"),
        owner_editor=make_user(session, owner, "aztv-ed", "editor"),
        buyer_editor=make_user(session, buyer, "qaz-ed", "editor"),
        buyer_rm=make_user(session, buyer, "qaz-rm", "rights_manager"),
        rival_editor=make_user(session, rival, "ktrk-ed", "editor"),
        title=title,
        episodes=episodes,
        assets=assets,
    )


def open_window(
    session: Session, w: World, *, exclusivity: bool = True, territories: tuple[str, ...] = ()
) -> None:
    """Offer the title for a year in KZ and KG, exclusivity allowed."""
    now = utcnow()
    rights.create_rights_window(
        session,
        actor=Actor.for_user(w.owner_rm),
        title_id=w.title.id,
        territories=territories or ("KZ", "KG"),
        starts_at=now - DAY,
        ends_at=now + 365 * DAY,
        license_type="free_exchange",
        exclusivity=exclusivity,
    )


def grant(
    session: Session,
    w: World,
    requester: User,
    *,
    territories: tuple[str, ...] = ("KZ",),
    start: datetime | None = None,
    days: int = 30,
    exclusive: bool = False,
    episode_ids: tuple[uuid.UUID, ...] = (),
) -> License:
    """Request and approve a license in one go."""
    start = start or utcnow() - timedelta(hours=1)
    request = workflow.request_license(
        session,
        actor=Actor.for_user(requester),
        title_id=w.title.id,
        territories=territories,
        starts_at=start,
        ends_at=start + days * DAY,
        license_type="free_exchange",
        exclusive=exclusive,
        episode_ids=episode_ids,
    )
    return workflow.approve_request(
        session, request_id=request.id, actor=Actor.for_user(w.owner_rm)
    )


def test_approve_grants_license_and_entitles_the_licensee(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        assert entitlements.licensed_assets_for(session, org_id=w.buyer.id) == []
        assert license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id) is None
        license_ = grant(session, w, w.buyer_editor)
        assert license_.status == LicenseStatus.ACTIVE
        assert license_.licensee_org_id == w.buyer.id
        items = entitlements.licensed_assets_for(session, org_id=w.buyer.id)
        assert sorted(i.path for i in items) == [
            "/licensed/aztv/Qaraqum _ Desert/S01E01/ep1.mxf",
            "/licensed/aztv/Qaraqum _ Desert/S01E02/ep2.mxf",
        ]
        allowed = license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id)
        assert allowed is not None and allowed.id == license_.id
        # The rival holds nothing and reaches nothing.
        assert license_for(session, org_id=w.rival.id, asset_id=w.assets[0].id) is None
        assert licensed.licensed_tree(session, org_id=w.rival.id) == []
        tree = licensed.licensed_tree(session, org_id=w.buyer.id)
        assert {f.sha256 for f in tree} == {a.sha256 for a in w.assets}
        assert all(f.license_id == license_.id for f in tree)
        kinds = list(session.scalars(select(ChangeEvent.kind).order_by(ChangeEvent.id)))
        assert kinds[-2:] == ["license.requested", "license.granted"]


def test_exclusive_clash_is_refused_naming_the_license(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        first = grant(session, w, w.buyer_editor, territories=("KZ", "KG"), exclusive=True)
        request = workflow.request_license(
            session,
            actor=Actor.for_user(w.rival_editor),
            title_id=w.title.id,
            territories=("KG",),
            starts_at=utcnow() + 10 * DAY,
            ends_at=utcnow() + 20 * DAY,
            license_type="free_exchange",
        )
        with pytest.raises(rights.LicenseClash) as caught:
            workflow.approve_request(
                session, request_id=request.id, actor=Actor.for_user(w.owner_rm)
            )
        assert caught.value.license_id == first.id
        assert f"license {first.id}" in str(caught.value)
        assert isinstance(caught.value, Conflict)
        assert workflow.get_request(session, request_id=request.id, org_id=w.owner.id).status == (
            RequestStatus.PENDING
        )


def test_non_overlapping_or_other_territory_does_not_clash(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        grant(session, w, w.buyer_editor, territories=("KZ",), exclusive=True, days=10)
        # Same territory after the exclusive period ends: fine.
        grant(session, w, w.rival_editor, territories=("KZ",), start=utcnow() + 20 * DAY)
        # Other territory during it: fine.
        grant(session, w, w.rival_editor, territories=("KG",))


def test_exclusive_request_clashes_with_existing_non_exclusive(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        existing = grant(session, w, w.rival_editor, territories=("KZ",))
        with pytest.raises(rights.LicenseClash) as caught:
            grant(session, w, w.buyer_editor, territories=("KZ",), exclusive=True)
        assert caught.value.license_id == existing.id


def test_disjoint_episodes_do_not_clash(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        grant(session, w, w.buyer_editor, exclusive=True, episode_ids=(w.episodes[0].id,))
        second = grant(session, w, w.rival_editor, episode_ids=(w.episodes[1].id,))
        items = entitlements.licensed_assets_for(session, org_id=w.rival.id)
        assert [i.asset.id for i in items] == [w.assets[1].id]
        assert items[0].license.id == second.id
        with pytest.raises(rights.LicenseClash):
            grant(session, w, w.rival_editor, episode_ids=(w.episodes[0].id,))


def test_rights_windows_bound_what_can_be_approved(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        with pytest.raises(Conflict, match="no rights windows"):
            grant(session, w, w.buyer_editor)
        open_window(session, w, exclusivity=False, territories=("KZ",))
        with pytest.raises(Conflict, match="does not cover KG"):
            grant(session, w, w.buyer_editor, territories=("KG",))
        with pytest.raises(Conflict, match="does not allow exclusivity"):
            grant(session, w, w.buyer_editor, exclusive=True)
        with pytest.raises(Conflict, match="does not cover the period"):
            grant(session, w, w.buyer_editor, days=1000)


def test_holdback_blocks_overlapping_license(database: Database) -> None:
    with database.write_session() as session:
        w = build_world(session)
        now = utcnow()
        rights.create_rights_window(
            session,
            actor=Actor.for_user(w.owner_rm),
            title_id=w.title.id,
            territories=["KZ", "KG"],
            starts_at=now - DAY,
            ends_at=now + 365 * DAY,
            license_type="free_exchange",
            holdbacks=[
                {
                    "territories": ["KZ"],
                    "starts_at": now.isoformat(),
                    "ends_at": (now + 60 * DAY).isoformat(),
                    "reason": "festival premiere",
                }
            ],
        )
        with pytest.raises(Conflict, match="holds back KZ"):
            grant(session, w, w.buyer_editor, territories=("KZ",))
        grant(session, w, w.buyer_editor, territories=("KZ",), start=now + 61 * DAY)


def test_only_the_owners_rights_manager_decides(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        request = workflow.request_license(
            session,
            actor=Actor.for_user(w.buyer_editor),
            title_id=w.title.id,
            territories=["KZ"],
            starts_at=utcnow(),
            ends_at=utcnow() + DAY,
            license_type="free_exchange",
        )
        with pytest.raises(PermissionDenied):
            workflow.approve_request(
                session, request_id=request.id, actor=Actor.for_user(w.owner_editor)
            )
        with pytest.raises(PermissionDenied):
            workflow.approve_request(
                session, request_id=request.id, actor=Actor.for_user(w.buyer_rm)
            )
        with pytest.raises(NotFound):
            workflow.approve_request(
                session,
                request_id=request.id,
                actor=Actor.for_user(make_user(session, w.rival, "k-rm", "admin")),
            )
        with pytest.raises(InvalidInput, match="comment"):
            workflow.decline_request(
                session, request_id=request.id, actor=Actor.for_user(w.owner_rm), comment=""
            )
        declined = workflow.decline_request(
            session,
            request_id=request.id,
            actor=Actor.for_user(w.owner_rm),
            comment="Not in 2027, sorry",
        )
        assert declined.status == RequestStatus.DECLINED
        assert declined.decision_comment == "Not in 2027, sorry"
        with pytest.raises(Conflict, match="already declined"):
            workflow.approve_request(
                session, request_id=request.id, actor=Actor.for_user(w.owner_rm)
            )


def test_cannot_license_own_or_unpublished_title(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        with pytest.raises(InvalidInput):
            workflow.request_license(
                session,
                actor=Actor.for_user(w.owner_editor),
                title_id=w.title.id,
                territories=["AZ"],
                starts_at=utcnow(),
                ends_at=utcnow() + DAY,
                license_type="paid",
            )
        draft = make_title(session, w.owner, "Secret draft", status=TitleStatus.DRAFT)
        with pytest.raises(NotFound):
            workflow.request_license(
                session,
                actor=Actor.for_user(w.buyer_editor),
                title_id=draft.id,
                territories=["KZ"],
                starts_at=utcnow(),
                ends_at=utcnow() + DAY,
                license_type="paid",
            )


def test_revocation_ends_access_at_once(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        license_ = grant(session, w, w.buyer_editor)
        with pytest.raises(PermissionDenied):
            workflow.revoke_license(
                session, license_id=license_.id, actor=Actor.for_user(w.buyer_rm)
            )
        workflow.revoke_license(
            session, license_id=license_.id, actor=Actor.for_user(w.owner_rm), reason="x"
        )
        assert license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id) is None
        assert licensed.licensed_tree(session, org_id=w.buyer.id) == []
        with pytest.raises(PermissionDenied):
            open_download(session, actor=Actor.for_user(w.buyer_editor), target=w.assets[0].id)
        # A revoked license no longer blocks a new one.
        grant(session, w, w.rival_editor, exclusive=True)


def test_license_events_are_on_the_console_at_info(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pool_core.licensing")
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        license_ = grant(session, w, w.buyer_editor)
        workflow.revoke_license(
            session, license_id=license_.id, actor=Actor.for_user(w.owner_rm), reason="x"
        )
        declined = workflow.request_license(
            session,
            actor=Actor.for_user(w.rival_editor),
            title_id=w.title.id,
            territories=("KG",),
            starts_at=utcnow(),
            ends_at=utcnow() + DAY,
            license_type="free_exchange",
        )
        workflow.decline_request(
            session, request_id=declined.id, actor=Actor.for_user(w.owner_rm), comment="no"
        )
    events = [
        (r.getMessage(), r.levelno) for r in caplog.records if r.name == "pool_core.licensing"
    ]
    assert events == [
        ("license requested", logging.INFO),
        ("license granted", logging.INFO),
        ("license revoked", logging.INFO),
        ("license requested", logging.INFO),
        ("license request declined", logging.INFO),
    ]
    granted = next(r for r in caplog.records if r.getMessage() == "license granted")
    assert granted.__dict__["license_id"] == license_.id
    assert granted.__dict__["by"] == "aztv-rm"


def test_expiry_sweep_and_period_bounds(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        future = grant(session, w, w.buyer_editor, start=utcnow() + 5 * DAY)
        # Not started yet: no access.
        assert license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id) is None
        later = utcnow() + 40 * DAY
        assert license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id, now=later) is None
        mid = utcnow() + 10 * DAY
        assert license_for(session, org_id=w.buyer.id, asset_id=w.assets[0].id, now=mid) == (future)
        expired = workflow.expire_licenses(session, now=later)
        assert [lic.id for lic in expired] == [future.id]
        assert future.status == LicenseStatus.EXPIRED
        assert workflow.expire_licenses(session, now=later) == []
        last = session.scalars(select(ChangeEvent).order_by(ChangeEvent.id.desc())).first()
        assert last is not None and last.kind == "license.expired"


def test_unready_and_newer_versions(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        grant(session, w, w.buyer_editor)
        processing = make_asset(
            session, w.owner, w.title, None, "extra.mov", status=AssetStatus.PROCESSING
        )
        v2 = make_asset(session, w.owner, w.title, w.episodes[0], "ep1.mxf", b"episode one v2")
        v2.version = 2
        session.flush()
        items = entitlements.licensed_assets_for(session, org_id=w.buyer.id)
        ids = {i.asset.id for i in items}
        assert processing.id not in ids
        assert v2.id in ids and w.assets[0].id not in ids
        assert license_for(session, org_id=w.buyer.id, asset_id=processing.id) is None


def test_deliveries_are_logged_against_the_license(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        license_ = grant(session, w, w.buyer_editor)
        grant_ = entitlements.entitlement(session, org_id=w.buyer.id, asset_id=w.assets[1].id)
        assert grant_.license is not None and grant_.license.id == license_.id
        deliveries.record_delivery(
            session,
            license_id=license_.id,
            asset_id=w.assets[1].id,
            org_id=w.buyer.id,
            channel="ftp",
            offset=1024,
        )
        log = deliveries.list_deliveries(session, license_id=license_.id, org_id=w.owner.id)
        assert [(d.channel, d.offset) for d in log] == [("ftp", 1024)]
        assert session.scalar(select(Delivery.asset_id)) == w.assets[1].id
        with pytest.raises(NotFound):
            deliveries.list_deliveries(session, license_id=license_.id, org_id=w.rival.id)
        # The owner may fetch its own masters without a license.
        own = entitlements.entitlement(session, org_id=w.owner.id, asset_id=w.assets[0].id)
        assert own is not None and own.license is None


def test_licensed_ftp_view(database: Database) -> None:
    with database.session() as session:
        w = build_world(session)
        open_window(session, w)
        assert licensed.licensed_list_dir(session, org_id=w.buyer.id, path="/licensed") == []
        license_ = grant(session, w, w.buyer_editor)
        root = licensed.licensed_list_dir(session, org_id=w.buyer.id, path="/licensed")
        assert [(v.name, v.is_dir, v.writable) for v in root] == [("aztv", True, False)]
        season = licensed.licensed_list_dir(
            session, org_id=w.buyer.id, path="/licensed/aztv/Qaraqum _ Desert"
        )
        assert [v.name for v in season] == ["S01E01", "S01E02"]
        files = licensed.licensed_list_dir(
            session, org_id=w.buyer.id, path="/licensed/aztv/Qaraqum _ Desert/S01E02/"
        )
        assert [(v.name, v.size, v.sha256) for v in files] == [
            ("ep2.mxf", w.assets[1].size, w.assets[1].sha256)
        ]
        path = "/licensed/aztv/Qaraqum _ Desert/S01E02/ep2.mxf"
        view = licensed.licensed_stat(session, org_id=w.buyer.id, path=path)
        assert not view.is_dir and not view.writable and view.asset_id == w.assets[1].id
        item = licensed.licensed_file(session, org_id=w.buyer.id, path=path)
        assert item.object_key == w.assets[1].object_key and item.license_id == license_.id
        # Nothing for the rival, not even by guessing the path; nothing outside /licensed.
        with pytest.raises(NotFound):
            licensed.licensed_file(session, org_id=w.rival.id, path=path)
        with pytest.raises(NotFound):
            licensed.licensed_stat(session, org_id=w.rival.id, path="/licensed/aztv")
        with pytest.raises(NotFound):
            licensed.licensed_file(session, org_id=w.buyer.id, path="/incoming/x")
        workflow.revoke_license(session, license_id=license_.id, actor=Actor.for_user(w.owner_rm))
        with pytest.raises(NotFound):
            licensed.licensed_file(session, org_id=w.buyer.id, path=path)
        assert licensed.licensed_list_dir(session, org_id=w.buyer.id, path="/licensed") == []
