"""CSV manifests as Excel and MAM tools save them, through the ingest service on the real stack.

Every encoding × delimiter case is generated: the manifest is written with `csv.writer` in
the case's encoding, delivered next to a master by an uploader of the case's country, the
sidecar job runs, and the title, the ingest warnings and the change feed are read over the API.
"""

# Titles in Turkish, Azerbaijani and Kazakh are the point of these tests.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import codecs
import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from catalog_api.app import create_app
from pool_core.db import Database
from pool_core.files.tree import get_entry
from pool_core.models import Organization, Role
from pool_core.services.accounts import create_organization, create_user
from pool_core.settings import Settings
from pool_core.storage.s3 import S3Storage
from tests.catalog_api.test_sidecar_ingest import deliver_as, ftp_file, run_sidecar_jobs
from tests.fixtures.api import bearer
from tests.fixtures.ftp import RunningFTP, connect_tls, make_account


@dataclass(frozen=True)
class Case:
    """One way a manifest arrives: how it is encoded and by whom."""

    codec: str
    bom: bytes
    country: str
    tag: str
    original: str
    localized: str
    # How the ingest report names the encoding.
    label: str

    @property
    def legacy(self) -> bool:
        """Whether the pool has to guess a code page."""
        return not self.label.startswith("UTF-")


RU = ("ru", "Тихий Дон, часть 1", "Ёлки-палки и щи")
KK = ("kk-Cyrl", "Ұлытау", "Әйгерім: Қыз Жібек, Өмір, Ғасыр, Үміт, Һ")
TR = ("tr", "Işık", "Gölge Oyunu, Şeker Ağacı, İstanbul")
WESTERN = ("fr", "Café Müller", "Señorita Zoë, l'été à Paris")
AZ = ("az-Latn", "Əsrlərin səsi", "Qız qalası: Ұлытау, Işık, Тихий Дон")

CASES = {
    "cp1251": Case("cp1251", b"", "RU", *RU, label="Windows-1251"),
    "kz1048": Case("kz1048", b"", "KZ", *KK, label="KZ-1048"),
    "cp1254": Case("cp1254", b"", "TR", *TR, label="Windows-1254"),
    "iso8859_9": Case("iso8859_9", b"", "TR", *TR, label="ISO-8859-9"),
    "cp1252": Case("cp1252", b"", "GB", *WESTERN, label="Windows-1252"),
    "utf16le-bom": Case("utf-16-le", codecs.BOM_UTF16_LE, "AZ", *AZ, label="UTF-16LE"),
    "utf16be-bom": Case("utf-16-be", codecs.BOM_UTF16_BE, "AZ", *AZ, label="UTF-16BE"),
    "utf16le": Case("utf-16-le", b"", "AZ", *AZ, label="UTF-16LE"),
    "utf16be": Case("utf-16-be", b"", "KZ", *AZ, label="UTF-16BE"),
    "utf8": Case("utf-8", b"", "UZ", *AZ, label="UTF-8"),
    "utf8-bom": Case("utf-8", codecs.BOM_UTF8, "TR", *AZ, label="UTF-8"),
}
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}


def manifest(case: Case, delimiter: str) -> bytes:
    """A two-row manifest in the case's encoding; Excel's CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["filename", "kind", "original_title", f"title:{case.tag}", "genres"])
    writer.writerow(["ep01.mxf", "serial", case.original, case.localized, "drama|history"])
    writer.writerow(["ep02.mxf", "serial", "Other", "Other", "drama"])
    return case.bom + out.getvalue().encode(case.codec)


@dataclass
class Uploader:
    """An organization of one country with an uploader and an editor."""

    org_id: int
    user_id: int
    headers: dict[str, str]


def uploader_in(database: Database, country: str) -> Uploader:
    """A new member broadcaster in `country`."""
    code = f"{country.lower()}{uuid.uuid4().hex[:6]}"
    with database.write_session() as session:
        org = create_organization(session, code=code, name=code.upper(), country=country)
        ops = create_user(session, org=org, username=f"{code}-ops", role=Role.UPLOADER)
        editor = create_user(session, org=org, username=f"{code}-ed", role=Role.EDITOR)
        return Uploader(org.id, ops.user.id, bearer(editor.api_token))


def ingest(
    client: TestClient,
    database: Database,
    storage: S3Storage,
    settings: Settings,
    who: Uploader,
    sidecar: bytes,
) -> dict[str, Any]:
    """Deliver ep01.mxf and its ep01.csv, run the sidecar job, return the asset over the API."""
    folder = f"/incoming/{uuid.uuid4().hex[:8]}"
    master = deliver_as(database, storage, who.org_id, who.user_id, f"{folder}/ep01.mxf", b"m")
    deliver_as(database, storage, who.org_id, who.user_id, f"{folder}/ep01.csv", sidecar)
    assert run_sidecar_jobs(database, storage, settings) == 1
    body: dict[str, Any] = client.get(f"/v1/assets/{master}", headers=who.headers).json()
    body["folder"] = folder
    return body


@pytest.mark.parametrize("delimiter", list(DELIMITERS), ids=list(DELIMITERS.values()))
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_manifest_encodings_keep_every_letter(
    api_client: TestClient,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    case: Case,
    delimiter: str,
) -> None:
    who = uploader_in(database, case.country)
    body = ingest(api_client, database, api_storage, api_settings, who, manifest(case, delimiter))
    assert body["metadata"]["state"] == "linked", body["metadata"]

    title = api_client.get(f"/v1/titles/{body['metadata']['title_id']}", headers=who.headers)
    assert title.status_code == 200, title.text
    assert title.json()["original_title"] == case.original
    assert title.json()["localizations"][case.tag]["title"] == case.localized
    assert title.json()["genres"] == ["drama", "history"]

    changes = api_client.get("/v1/changes", headers=who.headers).json()["events"]
    linked = [e["data"] for e in changes if e["kind"] == "asset.linked"]
    assert len(linked) == 1
    read = linked[0]["read"]
    assert read["format"] == "csv"
    assert read["delimiter"] == DELIMITERS[delimiter]
    assert case.label in f"{read['encoding']} ({read['encoding_how']})"

    if case.legacy:
        # A guessed code page is worth a look; nothing else is wrong with these files.
        [warning] = body["ingest_warnings"]
        assert warning.startswith(
            f"sidecar ep01.csv is not Unicode: it was read as {read['encoding']}"
        )
        assert case.label in warning
    else:
        assert body["ingest_warnings"] == []


def test_ambiguous_code_page_is_refused_with_todays_message(
    api_client: TestClient,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    # Hungarian ő (Windows-1250) is õ in Windows-1252/1254: only a Hungarian locale tells.
    case = Case("cp1250", b"", "HU", "hu", "Őszi napok", "Őszi napok", label="Windows-1250")
    hungarian = uploader_in(database, "HU")
    body = ingest(api_client, database, api_storage, api_settings, hungarian, manifest(case, ";"))
    assert body["metadata"]["state"] == "linked"
    title = api_client.get(f"/v1/titles/{body['metadata']['title_id']}", headers=hungarian.headers)
    assert title.json()["original_title"] == "Őszi napok"

    kazakh = uploader_in(database, "KZ")
    body = ingest(api_client, database, api_storage, api_settings, kazakh, manifest(case, ";"))
    assert body["metadata"]["state"] == "invalid"
    error = body["metadata"]["error"]
    assert "the file is not UTF-8: byte 0xD5 at line 2" in error
    assert "cannot be told for certain" in error and "Windows-1250" in error
    assert error.rstrip().endswith("save it as UTF-8")
    report = ftp_file(database, api_storage, kazakh.org_id, f"{body['folder']}/ep01.errors.txt")
    assert report is not None and error in report


@pytest.mark.parametrize(
    ("country", "codec", "tag", "lost", "kept", "native"),
    [
        # Azerbaijani ə exists in no Windows code page; Kazakh Қ not in Windows-1251.
        ("AZ", "cp1254", "az-Latn", "Əsrlərin səsi", "?srl?rin s?si", "Gölge"),
        ("RU", "cp1251", "kk-Cyrl", "Қазақстан", "?аза?стан", "Ёлка"),
    ],
    ids=["az-in-cp1254", "kk-in-cp1251"],
)
def test_lost_letters_are_warned_about(
    api_client: TestClient,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
    country: str,
    codec: str,
    tag: str,
    lost: str,
    kept: str,
    native: str,
) -> None:
    saved = lost.encode(codec, errors="replace").decode(codec)
    assert saved == kept  # what Excel writes for a letter its code page lacks
    case = Case(codec, b"", country, tag, "Ok", f"{saved} {native}", label="")
    who = uploader_in(database, country)
    body = ingest(api_client, database, api_storage, api_settings, who, manifest(case, ";"))
    assert body["metadata"]["state"] == "linked"
    title = api_client.get(f"/v1/titles/{body['metadata']['title_id']}", headers=who.headers)
    assert title.json()["localizations"][tag]["title"] == f"{saved} {native}"
    lost_lines = [w for w in body["ingest_warnings"] if "has a '?' inside a word" in w]
    assert len(lost_lines) == 1, body["ingest_warnings"]
    assert lost_lines[0].startswith(f"sidecar ep01.csv row 2, title:{tag.lower()}: ")
    assert "save it as UTF-8" in lost_lines[0]


def test_a_corrected_sidecar_replaces_the_sidecar_warnings(
    api_client: TestClient,
    database: Database,
    api_storage: S3Storage,
    api_settings: Settings,
) -> None:
    who = uploader_in(database, "TR")
    body = ingest(
        api_client, database, api_storage, api_settings, who, manifest(CASES["cp1254"], ";")
    )
    assert len(body["ingest_warnings"]) == 1
    folder = body["folder"]
    deliver_as(
        database,
        api_storage,
        who.org_id,
        who.user_id,
        f"{folder}/ep01.csv",
        manifest(CASES["utf8"], ";"),
    )
    assert run_sidecar_jobs(database, api_storage, api_settings) == 1
    again = api_client.get(f"/v1/assets/{body['id']}", headers=who.headers).json()
    assert again["metadata"]["state"] == "linked"
    assert again["ingest_warnings"] == []


def test_excel_manifests_uploaded_by_ftps_keep_every_letter(
    database: Database,
    storage: S3Storage,
    storage_settings: Settings,
    ftp_server: RunningFTP,
) -> None:
    """The issue's own cases: `;` manifests in the locale's code page, sent as operators do."""
    cases = {"rutv": CASES["cp1251"], "kaztv": CASES["kz1048"], "trtv": CASES["cp1254"]}
    app = create_app(storage_settings, database, storage)
    masters: dict[str, tuple[str, dict[str, str]]] = {}
    for code, case in cases.items():
        login = make_account(database, code, country=case.country)
        with database.write_session() as session:
            org = session.get(Organization, login.org_id)
            assert org is not None
            editor = create_user(session, org=org, username=f"{code}-ed", role=Role.EDITOR)
        client = connect_tls(ftp_server, login)
        try:
            client.mkd("/incoming/batch")
            for name, data in (("ep01.mxf", b"master"), ("ep01.csv", manifest(case, ";"))):
                reply = client.storbinary(f"STOR /incoming/batch/{name}", io.BytesIO(data))
                assert reply.startswith("226"), reply
        finally:
            client.quit()
        with database.session() as session:
            entry = get_entry(session, org_id=login.org_id, path="/incoming/batch/ep01.mxf")
            assert entry is not None and entry.asset_id is not None
            masters[code] = (str(entry.asset_id), bearer(editor.api_token))
    assert run_sidecar_jobs(database, storage, storage_settings) == len(cases)

    with TestClient(app) as api:
        for code, case in cases.items():
            asset_id, headers = masters[code]
            body = api.get(f"/v1/assets/{asset_id}", headers=headers).json()
            assert body["metadata"]["state"] == "linked", (code, body["metadata"])
            title = api.get(f"/v1/titles/{body['metadata']['title_id']}", headers=headers).json()
            assert title["original_title"] == case.original
            assert title["localizations"][case.tag]["title"] == case.localized
            assert any(case.label in w for w in body["ingest_warnings"])
