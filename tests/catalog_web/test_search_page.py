"""The search page (home): cross-script search, facets, htmx fragments, paging, rights badges."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient

from pool_core.db import Database
from pool_core.models import Asset, AssetStatus, Rendition
from pool_core.services import subtitles
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_assets import upload
from tests.fixtures import subtitle_files as sf
from tests.fixtures.api import Members
from tests.fixtures.web import sign_in

HTMX = {"HX-Request": "true"}


def new_title(client: TestClient, members: Members, org: str, **body: Any) -> str:
    """Create a title over the API (as the org's editor); its id."""
    body.setdefault("kind", "film")
    response = client.post("/v1/titles", json=body, headers=members.headers(org, "editor"))
    assert response.status_code == 201, response.text
    title_id: str = response.json()["id"]
    return title_id


def offer_in(client: TestClient, members: Members, org: str, title_id: str, *where: str) -> None:
    """A rights window of the title over `where`, open from yesterday for two months."""
    now = datetime.now(UTC)
    response = client.post(
        f"/v1/titles/{title_id}/rights-windows",
        json={
            "territories": list(where),
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=60)).isoformat(),
            "license_type": "free_exchange",
        },
        headers=members.headers(org, "rights_manager"),
    )
    assert response.status_code == 201, response.text


def license_to(
    client: TestClient, members: Members, title_id: str, *, licensee: str, owner: str
) -> None:
    """Request a license for the licensee and approve it as the owner's rights manager."""
    now = datetime.now(UTC)
    request = client.post(
        "/v1/license-requests",
        json={
            "title_id": title_id,
            "territories": ["KZ"],
            "starts_at": now.isoformat(),
            "ends_at": (now + timedelta(days=30)).isoformat(),
            "license_type": "free_exchange",
        },
        headers=members.headers(licensee, "editor"),
    )
    assert request.status_code == 201, request.text
    approved = client.post(
        f"/v1/license-requests/{request.json()['id']}/approve",
        json={},
        headers=members.headers(owner, "rights_manager"),
    )
    assert approved.status_code == 201, approved.text


def link_ready_asset(
    client: TestClient,
    database: Database,
    storage: S3Storage,
    members: Members,
    org: str,
    title_id: str,
    *,
    renditions: tuple[str, ...] = ("poster", "proxy"),
    qc: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A ready master of `org` linked to the title, with renditions and a QC report."""
    asset_id = upload(database, storage, members, org, f"/incoming/{uuid.uuid4().hex}.mxf", b"m")
    assert asset_id is not None
    linked = client.put(
        f"/v1/assets/{asset_id}/link",
        json={"title_id": title_id},
        headers=members.headers(org, "editor"),
    )
    assert linked.status_code == 200, linked.text
    with database.write_session() as session:
        for kind in renditions:
            name = "poster.jpg" if kind == "poster" else f"{kind}.mp4"
            key = f"renditions/{asset_id}/{kind}/{name}"
            storage.put(key, b"bytes of " + kind.encode())
            session.add(Rendition(asset_id=asset_id, kind=kind, name=name, object_key=key, size=9))
        asset = session.get(Asset, asset_id)
        assert asset is not None
        asset.status = AssetStatus.READY
        asset.technical = {
            "container": {"format": "mxf", "duration": 1500.0, "start_timecode": "10:00:00:00"},
            "video": {"codec": "mpeg2video", "width": 1920, "height": 1080, "frame_rate": 25.0},
            "audio": [{"track": 1, "codec": "pcm_s24le", "channels": 2, "layout": "stereo"}],
        }
        if qc is not None:
            asset.qc = qc
            asset.qc_verdict = qc["verdict"]
    return asset_id


def cards(page: str) -> list[str]:
    """The names on the result cards, in order (unescaped)."""
    return [
        html.unescape(n) for n in re.findall(r'<h3><a href="/titles/[^"]+"[^>]*>([^<]*)</a>', page)
    ]


def signed_in(client: TestClient, members: Members, org: str, role: str = "editor") -> TestClient:
    """The client, signed in as the org's user of that role."""
    done = sign_in(client, members.username(org, role), members.password(org, role))
    assert done.status_code == 303, done.text
    return client


def test_latin_finds_cyrillic_and_cyrillic_finds_latin(
    web_client: TestClient, members: Members
) -> None:
    new_title(
        web_client,
        members,
        "kztv",
        original_title="Қорқыт ата",
        localizations={"kk-Cyrl": {"title": "Қорқыт ата"}},
    )
    new_title(web_client, members, "uztv", original_title="Samarqand kechalari")
    new_title(web_client, members, "uztv", original_title="Toshkent")
    client = signed_in(web_client, members, "uztv")
    latin = client.get("/", params={"q": "Qorqyt"})
    assert latin.status_code == 200
    assert cards(latin.text) == ["Қорқыт ата"]
    # The Turkish spelling is one letter away: the engine's one-typo tolerance meets it.
    assert cards(client.get("/", params={"q": "Qorqut"}).text) == ["Қорқыт ата"]
    # Azerbaijani spells the same name with a voiced final d: devoiced, then one typo.
    assert cards(client.get("/", params={"q": "Qorqud"}).text) == ["Қорқыт ата"]
    # Devoicing goes only from voiced to voiceless and only at the end of the word.
    assert cards(client.get("/", params={"q": "Qordud"}).text) == []
    cyrillic = client.get("/", params={"q": "Самарқанд"})
    assert cards(cyrillic.text) == ["Samarqand kechalari"]
    # The box keeps the query, so the page can be read back from its URL.
    assert 'value="Самарқанд"' in cyrillic.text


def test_facets_count_and_narrow_and_the_url_carries_them(
    web_client: TestClient, members: Members
) -> None:
    new_title(web_client, members, "kztv", original_title="Dala film", kind="film")
    new_title(web_client, members, "uztv", original_title="Dala serial", kind="serial")
    new_title(
        web_client,
        members,
        "uztv",
        original_title="Dala hujjatli",
        kind="documentary",
        production_year=2020,
        genres=["history"],
    )
    client = signed_in(web_client, members, "kztv")
    everything = client.get("/")
    assert len(cards(everything.text)) == 3
    assert re.search(
        r'id="f-kind-film"[^>]*>\s*<span>Film</span>\s*<span class="count">1</span>',
        everything.text,
    )
    assert re.search(
        r'id="f-owner-uztv"[^>]*>\s*<span>[^<]+</span>\s*<span class="count">2</span>',
        everything.text,
    )
    assert "3 titles found" in everything.text
    narrowed = client.get("/", params={"q": "dala", "owner": "uztv", "kind": "documentary"})
    assert cards(narrowed.text) == ["Dala hujjatli"]
    assert re.search(
        r'id="f-owner-uztv" type="checkbox" name="owner" value="uztv" checked', narrowed.text
    )
    # The kind facet still offers the other kinds of uztv (its own filter left out).
    assert re.search(
        r'id="f-kind-serial"[^>]*>\s*<span>Serial</span>\s*<span class="count">1</span>',
        narrowed.text,
    )
    assert "1 title found" in narrowed.text
    assert cards(client.get("/", params={"year": "2020"}).text) == ["Dala hujjatli"]
    assert cards(client.get("/", params={"genre": "history"}).text) == ["Dala hujjatli"]
    # The form's "any" choices send empty values, which mean no filter.
    assert len(cards(client.get("/", params={"year": "", "duration": ""}).text)) == 3
    assert client.get("/", params={"year": "1700"}).status_code == 422


def test_htmx_gets_the_fragment_and_a_browser_the_page(
    web_client: TestClient, members: Members
) -> None:
    new_title(web_client, members, "kztv", original_title="Fragment test")
    client = signed_in(web_client, members, "kztv")
    page = client.get("/", params={"q": "fragment"})
    assert page.text.lstrip().lower().startswith("<!doctype html>")
    assert 'hx-push-url="true"' in page.text and 'id="search-results"' in page.text
    fragment = client.get("/", params={"q": "fragment"}, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "<form" not in fragment.text
    assert cards(fragment.text) == ["Fragment test"]
    assert 'hx-swap-oob="innerHTML:#result-status"' in fragment.text
    # htmx restoring history it no longer has asks for the whole page.
    restore = client.get(
        "/", params={"q": "fragment"}, headers={**HTMX, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text


def test_more_results_pages_with_the_engine_cursor(
    web_client: TestClient, members: Members
) -> None:
    for n in range(30):
        new_title(web_client, members, "uztv", original_title=f"Serial {n:02d}", kind="serial")
    new_title(web_client, members, "uztv", original_title="Film 00", kind="film")
    client = signed_in(web_client, members, "kztv")
    first = client.get("/", params={"kind": "serial"})
    shown = cards(first.text)
    assert len(shown) == 24
    more = re.search(r'<a class="button" href="([^"]+)" hx-get="\1"', first.text)
    assert more, "no More results link"
    url = html.unescape(more.group(1))
    query = parse_qs(urlsplit(url).query)
    assert query["kind"] == ["serial"] and query["cursor"]
    appended = client.get(url, headers=HTMX)
    rest = cards(appended.text)
    assert len(rest) == 6 and not set(rest) & set(shown)
    assert set(shown) | set(rest) == {f"Serial {n:02d}" for n in range(30)}
    assert "More results" not in appended.text and "<aside" not in appended.text
    # Without JavaScript the link is a plain page of the next results.
    assert cards(client.get(url).text) == rest


def test_rights_badges_and_the_licensable_now_facet(
    web_client: TestClient, members: Members
) -> None:
    licensed = new_title(web_client, members, "uztv", original_title="Badge licensed")
    licensable = new_title(web_client, members, "uztv", original_title="Badge licensable")
    new_title(web_client, members, "uztv", original_title="Badge elsewhere")
    new_title(web_client, members, "kztv", original_title="Badge ours")
    elsewhere_id = new_title(web_client, members, "uztv", original_title="Badge tajik")
    offer_in(web_client, members, "uztv", licensed, "KZ")
    offer_in(web_client, members, "uztv", licensable, "KZ", "UZ")
    offer_in(web_client, members, "uztv", elsewhere_id, "TJ")
    license_to(web_client, members, licensed, licensee="kztv", owner="uztv")
    client = signed_in(web_client, members, "kztv")
    page = client.get("/", params={"q": "badge"}).text

    def badge(name: str) -> str:
        card = page[page.index(f">{name}</a>") :]
        found = re.search(r'<span class="badge ([a-z-]+)">', card)
        assert found, name
        return found.group(1)

    assert badge("Badge licensed") == "licensed"
    assert badge("Badge licensable") == "licensable"
    assert badge("Badge elsewhere") == "not-offered"
    assert badge("Badge tajik") == "not-offered"
    assert badge("Badge ours") == "yours"
    # Both offered titles count; the licensed one still has its window.
    assert re.search(
        r'name="licensable_now" value="true" >\s*<span>[^<]+</span>\s*<span class="count">2</span>',
        page,
    )
    only = client.get("/", params={"q": "badge", "licensable_now": "true"})
    assert sorted(cards(only.text)) == ["Badge licensable", "Badge licensed"]
    assert 'name="licensable_now" value="true" checked' in only.text


def test_posters_and_placeholders(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    with_poster = new_title(web_client, members, "kztv", original_title="Poster yes")
    new_title(web_client, members, "kztv", original_title="Poster no")
    link_ready_asset(web_client, database, api_storage, members, "kztv", with_poster)
    client = signed_in(web_client, members, "uztv")
    page = client.get("/", params={"q": "poster"}).text
    images = re.findall(r'<img class="poster" src="([^"]+)"', page)
    assert len(images) == 1
    assert page.count('class="poster placeholder"') == 1
    # The presigned URL really serves the poster from storage.
    got = httpx.get(html.unescape(images[0]))
    assert got.status_code == 200 and got.content == b"bytes of poster"


def test_a_hostile_title_is_escaped(web_client: TestClient, members: Members) -> None:
    new_title(web_client, members, "uztv", original_title="<img src=x onerror=alert(1)>")
    client = signed_in(web_client, members, "kztv")
    page = client.get("/", params={"q": "img onerror"})
    assert page.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<img src=x" not in page.text
    assert cards(page.text) == ["<img src=x onerror=alert(1)>"]


def test_subtitle_lines_that_match_open_the_player_at_their_moment(
    web_client: TestClient, members: Members, database: Database, api_storage: S3Storage
) -> None:
    title_id = new_title(web_client, members, "kztv", original_title="Dala / Steppe")
    asset_id = link_ready_asset(web_client, database, api_storage, members, "kztv", title_id)
    srt = sf.vtt(
        [sf.Cue(751.2, 753.0, "Қорқыт ата келді"), sf.Cue(760.0, 761.0, "<script>x</script>")]
    )
    with database.write_session() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        subtitles.store_track(
            session, api_storage, asset=asset, language="kk-Cyrl", filename="dala.kk-Cyrl.vtt",
            data=srt, fmt="vtt", source="api", uploaded_by=None,
        )  # fmt: skip
    client = signed_in(web_client, members, "uztv")
    page = client.get("/", params={"q": "Qorqyt ata"}).text
    assert "Said in subtitles" in page
    link = re.search(r'<a href="(/assets/[^"]+)">Play from (\S+)</a>', page)
    assert link is not None
    assert link.groups() == (f"/assets/{asset_id}/screen?t=751.200", "00:12:31:05")
    assert '<q lang="kk-Cyrl">Қорқыт ата келді</q>' in page
    assert "Dala / Steppe" in page
    # Cue text is shown as text, never as markup.
    hostile = client.get("/", params={"q": "script"}).text
    assert '<q lang="kk-Cyrl">&lt;script&gt;x&lt;/script&gt;</q>' in hostile
    assert "<script>x</script>" not in hostile
    # Nothing said: no section.
    assert "Said in subtitles" not in client.get("/", params={"q": "Toshkent"}).text
