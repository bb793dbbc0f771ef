"""The screening player page: a real proxy behind a presigned URL, storyboard, logging, refusals."""

from __future__ import annotations

import html
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from pool_core.db import Database
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    AuditEvent,
    MetadataState,
    Rendition,
    Title,
    TitleKind,
    TitleStatus,
)
from pool_core.services import subtitles
from pool_core.storage.s3 import S3Storage
from tests.fixtures import subtitle_files as sf
from tests.fixtures.api import LiveServer, Members
from tests.fixtures.web import sign_in

VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nsheet_001.jpg#xywh=0,0,160,90\n\n"


def tiny_proxy(ffmpeg: str, directory: Path) -> tuple[bytes, bytes]:
    """A one-second H.264 proxy and a one-tile storyboard sheet, made by ffmpeg."""
    proxy, sheet = directory / "proxy.mp4", directory / "sheet.jpg"
    source = ["-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=1"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *source, *h264, "-movflags", "+faststart", str(proxy)],
        check=True,
    )
    subprocess.run(
        [ffmpeg, "-v", "error", "-y", *source, "-frames:v", "1", "-s", "160x90", str(sheet)],
        check=True,
    )
    return proxy.read_bytes(), sheet.read_bytes()


def shared_asset(
    database: Database,
    storage: S3Storage,
    members: Members,
    *,
    status: AssetStatus = AssetStatus.READY,
    renditions: dict[tuple[str, str], tuple[bytes, str]] | None = None,
    published: bool = True,
) -> uuid.UUID:
    """A kztv master linked to a kztv title (published: every member sees it)."""
    asset_id = uuid.uuid4()
    org_id = members.org_ids["kztv"]
    with database.write_session() as session:
        title = Title(
            org_id=org_id,
            kind=TitleKind.PROGRAMME,
            original_title="Dala / Steppe",
            status=TitleStatus.PUBLISHED if published else TitleStatus.DRAFT,
        )
        session.add(title)
        session.add(
            Asset(
                id=asset_id,
                org_id=org_id,
                filename="steppe.mxf",
                object_key=f"masters/kztv/{asset_id}/steppe.mxf",
                status=status,
                failure_reason="no video track" if status == AssetStatus.FAILED else None,
                technical={
                    "video": {"frame_rate_fraction": "25/1"},
                    "container": {"start_timecode": "10:00:00:00", "duration": 1.0},
                },
            )
        )
        session.flush()
        session.add(
            AssetCatalog(
                asset_id=asset_id, org_id=org_id, title_id=title.id, state=MetadataState.LINKED
            )
        )
        for (kind, name), (data, ctype) in (renditions or {}).items():
            key = f"renditions/{asset_id}/{kind}/{name}"
            storage.put(key, data, content_type=ctype)
            session.add(
                Rendition(
                    asset_id=asset_id,
                    kind=kind,
                    name=name,
                    object_key=key,
                    size=len(data),
                    content_type=ctype,
                )
            )
    return asset_id


def attribute(page: str, pattern: str) -> str:
    """One attribute value of the page (unescaped)."""
    match = re.search(pattern, page)
    assert match, f"{pattern} not in the page"
    return html.unescape(match.group(1))


def test_screening_plays_the_real_proxy_and_is_logged_like_the_api(
    web_client: TestClient,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    ffmpeg_path: str,
    tmp_path: Path,
) -> None:
    proxy, sheet = tiny_proxy(ffmpeg_path, tmp_path)
    asset_id = shared_asset(
        database,
        api_storage,
        members,
        renditions={
            ("proxy", "proxy_360.mp4"): (proxy, "video/mp4"),
            ("storyboard", "sheet_001.jpg"): (sheet, "image/jpeg"),
            ("storyboard", "storyboard.vtt"): (VTT.encode(), "text/vtt"),
        },
    )
    sign_in(web_client, members.username("uztv"), members.password("uztv"))
    page = web_client.get(f"/assets/{asset_id}/screen")
    assert page.status_code == 200, page.text
    assert "Dala / Steppe" in page.text
    src = attribute(page.text, r'<video[^>]* src="([^"]+)"')
    assert "X-Amz-Signature=" in src
    fetched = httpx.get(src, timeout=10)
    assert fetched.status_code == 200 and fetched.content == proxy
    vtt_url = attribute(page.text, r'data-storyboard-vtt="([^"]+)"')
    assert httpx.get(vtt_url, timeout=10).text == VTT
    assert "sheet_001.jpg" in attribute(page.text, r"data-sprites='([^']+)'")
    assert 'data-testid="storyboard-tooltip"' in page.text
    assert attribute(page.text, r'data-start-timecode="([^"]+)"') == "10:00:00:00"
    assert '<label for="player-seek">' in page.text
    assert "player.js" in page.text
    with database.session() as session:
        logged = session.scalars(select(AuditEvent).where(AuditEvent.action == "asset.screened"))
        events = list(logged)
    assert [(e.subject, e.user_id, e.org_id, e.channel) for e in events] == [
        (f"asset:{asset_id}", members.user_ids[("uztv", "editor")], members.org_ids["uztv"], "web")
    ]
    assert events[0].detail["kinds"] == ["proxy", "storyboard"]


def test_asset_without_a_proxy_says_so(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    processing = shared_asset(database, api_storage, members, status=AssetStatus.PROCESSING)
    failed = shared_asset(database, api_storage, members, status=AssetStatus.FAILED)
    sign_in(web_client, members.username("uztv"), members.password("uztv"))
    page = web_client.get(f"/assets/{processing}/screen")
    assert page.status_code == 200
    assert "still being processed" in page.text
    assert "<video" not in page.text
    page = web_client.get(f"/assets/{failed}/screen")
    assert "Processing this master failed" in page.text and "no video track" in page.text


def test_unknown_or_private_assets_are_not_found_and_uploaders_may_not_screen(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    renditions = {("proxy", "proxy.mp4"): (b"mp4", "video/mp4")}
    private = shared_asset(database, api_storage, members, renditions=renditions, published=False)
    public = shared_asset(database, api_storage, members, renditions=renditions)
    sign_in(web_client, members.username("uztv", "uploader"), members.password("uztv", "uploader"))
    refused = web_client.get(f"/assets/{public}/screen")
    assert refused.status_code == 403
    assert "may not screen" in refused.text
    web_client.cookies.clear()
    sign_in(web_client, members.username("uztv"), members.password("uztv"))
    assert web_client.get(f"/assets/{uuid.uuid4()}/screen").status_code == 404
    hidden = web_client.get(f"/assets/{private}/screen")
    assert hidden.status_code == 404
    assert "<video" not in hidden.text
    with database.session() as session:
        assert (
            list(
                session.scalars(select(AuditEvent.id).where(AuditEvent.action == "asset.screened"))
            )
            == []
        )


def test_a_stranger_is_sent_to_sign_in(web_client: TestClient) -> None:
    page = web_client.get(f"/assets/{uuid.uuid4()}/screen")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/signin?next=")


@pytest.mark.browser
def test_player_in_chromium_shows_timecode_steps_frames_and_storyboard(
    chromium: Browser,
    live_web: LiveServer,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    ffmpeg_path: str,
    tmp_path: Path,
) -> None:
    proxy, sheet = tiny_proxy(ffmpeg_path, tmp_path)
    asset_id = shared_asset(
        database,
        api_storage,
        members,
        renditions={
            ("proxy", "proxy_360.mp4"): (proxy, "video/mp4"),
            ("storyboard", "sheet_001.jpg"): (sheet, "image/jpeg"),
            ("storyboard", "storyboard.vtt"): (VTT.encode(), "text/vtt"),
        },
    )
    context = chromium.new_context()
    try:
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda m: refused.append(m.text) if "Content Security" in m.text else None,
        )
        page.goto(f"{live_web.base_url}/signin?next=/assets/{asset_id}/screen")
        page.fill("#username", members.username("uztv"))
        page.fill("#password", members.password("uztv"))
        page.click("button[type=submit]")
        page.wait_for_url(f"**/assets/{asset_id}/screen")
        page.wait_for_function("document.querySelector('video').readyState >= 1")
        timecode = page.locator("#player-timecode")
        expect(timecode).to_have_text("10:00:00:00")
        page.locator("#player-seek").focus()
        page.keyboard.press(".")
        expect(timecode).to_have_text("10:00:00:01")
        page.keyboard.press(".")
        page.keyboard.press(".")
        expect(timecode).to_have_text("10:00:00:03")
        page.keyboard.press(",")
        expect(timecode).to_have_text("10:00:00:02")
        assert page.evaluate("document.querySelector('video').paused")
        page.get_by_role("button", name="One frame forward").click()
        expect(timecode).to_have_text("10:00:00:03")
        # Hovering the position bar shows the storyboard tile of that moment.
        page.locator("#player-seek").hover()
        tooltip = page.get_by_test_id("storyboard-tooltip")
        expect(tooltip).to_be_visible()
        frame = page.locator(".storyboard-frame")
        expect(frame).to_be_visible()
        background = frame.evaluate("e => getComputedStyle(e).backgroundImage")
        assert "sheet_001.jpg" in background
        assert frame.evaluate("e => e.getBoundingClientRect().width") == 160
        assert refused == []
    finally:
        context.close()


def with_subtitles(database: Database, storage: S3Storage, asset_id: uuid.UUID) -> bytes:
    """Give the asset Kazakh subtitles (as its owner's PUT would) and return the SRT."""
    data = sf.srt([sf.Cue(0.2, 0.8, "Қорқыт ата")])
    with database.write_session() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        subtitles.store_track(
            session, storage, asset=asset, language="kk", filename="steppe.kk.srt", data=data,
            fmt="srt", source="api", uploaded_by=None,
        )  # fmt: skip
    return data


def test_the_player_offers_each_subtitle_track_from_its_own_origin(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    renditions = {("proxy", "proxy.mp4"): (b"mp4", "video/mp4")}
    public = shared_asset(database, api_storage, members, renditions=renditions)
    private = shared_asset(database, api_storage, members, renditions=renditions, published=False)
    for asset_id in (public, private):
        with_subtitles(database, api_storage, asset_id)
    sign_in(web_client, members.username("uztv"), members.password("uztv"))
    page = web_client.get(f"/assets/{public}/screen", params={"t": "0.5"})
    assert page.status_code == 200
    src = attribute(page.text, r'<track kind="subtitles" src="([^"]+)" srclang="kk"')
    assert src == f"/assets/{public}/subtitles/kk.vtt"
    assert attribute(page.text, r'data-start-at="([^"]+)"') == "0.5"
    vtt = web_client.get(src)
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert "Қорқыт ата" in vtt.text and "00:00:00.200 --> 00:00:00.800" in vtt.text
    # Not for masters the viewer may not see, nor for a language the master lacks.
    assert web_client.get(f"/assets/{private}/subtitles/kk.vtt").status_code == 404
    assert web_client.get(f"/assets/{public}/subtitles/tr.vtt").status_code == 404
    web_client.cookies.clear()
    sign_in(web_client, members.username("uztv", "uploader"), members.password("uztv", "uploader"))
    assert web_client.get(src).status_code == 403


@pytest.mark.browser
def test_chromium_loads_the_track_and_starts_at_the_search_hit(
    chromium: Browser,
    live_web: LiveServer,
    members: Members,
    database: Database,
    api_storage: S3Storage,
    ffmpeg_path: str,
    tmp_path: Path,
) -> None:
    proxy, _ = tiny_proxy(ffmpeg_path, tmp_path)
    renditions = {("proxy", "proxy_360.mp4"): (proxy, "video/mp4")}
    asset_id = shared_asset(database, api_storage, members, renditions=renditions)
    with_subtitles(database, api_storage, asset_id)
    context = chromium.new_context()
    try:
        page = context.new_page()
        screen = f"/assets/{asset_id}/screen?t=0.5"
        page.goto(f"{live_web.base_url}/signin?next={quote(screen, safe='')}")
        page.fill("#username", members.username("uztv"))
        page.fill("#password", members.password("uztv"))
        page.click("button[type=submit]")
        page.wait_for_url(f"**/assets/{asset_id}/screen?t=0.5")
        page.wait_for_function("document.querySelector('video').readyState >= 1")
        page.wait_for_function(
            "() => Math.abs(document.querySelector('video').currentTime - 0.5) < 0.05"
        )
        # Showing the track makes the browser fetch and parse it (CSP and origin allowing).
        page.evaluate("() => { document.querySelector('video').textTracks[0].mode = 'showing'; }")
        page.wait_for_function(
            "() => { const t = document.querySelector('video').textTracks[0];"
            " return t.cues && t.cues.length === 1; }"
        )
        cue = page.evaluate(
            "() => { const c = document.querySelector('video').textTracks[0].cues[0];"
            " return [c.startTime, c.endTime, c.text]; }"
        )
        assert cue == [0.2, 0.8, "Қорқыт ата"]
        language = page.evaluate("() => document.querySelector('video').textTracks[0].language")
        assert language == "kk"
    finally:
        context.close()
