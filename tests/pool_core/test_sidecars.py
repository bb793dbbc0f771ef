"""Sidecar parsers: the good deliveries map onto the schema; hostile ones fail readably."""

# Long lines are verbatim sidecar documents.
# ruff: noqa: E501, RUF001

from __future__ import annotations

import json

import pytest

from pool_core.sidecars import (
    MAX_SIDECAR_BYTES,
    SidecarError,
    parse_csv_manifest,
    parse_sidecar,
)
from tests.catalog_api.test_sidecars_data import EBUCORE_STYLES, EBUCORE_XML, mam_ebucore

EBUCORE = EBUCORE_XML


def problems(exc: pytest.ExceptionInfo[SidecarError]) -> str:
    """The whole readable message."""
    return str(exc.value)


def test_json_sidecar_round_trip() -> None:
    doc = {
        "schema": "jointpool.sidecar/1",
        "external_id": "UZ-77",
        "kind": "serial",
        "original_title": "Ўзбекистон сайёҳлиги",
        "localizations": {"uz-Cyrl": {"title": "Ўзбекистон сайёҳлиги"}},
        "genres": ["travel"],
        "episode": {"season": 1, "number": 3},
    }
    sidecar = parse_sidecar("ep03.json", json.dumps(doc).encode(), master_filename="ep03.mxf")
    assert sidecar.external_id == "UZ-77"
    assert sidecar.episode is not None and sidecar.episode.number == 3
    assert sidecar.localizations["uz-Cyrl"].title == "Ўзбекистон сайёҳлиги"


def test_json_missing_and_unknown_fields_are_named() -> None:
    data = json.dumps({"original_title": "X", "year": 2020, "production_year": "soon"}).encode()
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("a.json", data, master_filename="a.mxf")
    text = problems(exc)
    assert "kind: is required but missing" in text
    assert "year: is not a known field" in text
    assert "production_year:" in text and "'soon'" in text


def test_json_syntax_error_has_line_and_column() -> None:
    with pytest.raises(SidecarError) as exc:
        parse_sidecar(
            "a.json", b'{\n  "kind": "film",\n  "original_title": }', master_filename="a.mp4"
        )
    assert "line 3, column" in problems(exc)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "cannot be read safely"),
        (b'{"production_year": ' + b"9" * 5000 + b"}", "cannot be read safely"),
        (b'{"kind": "film", "original_title": "Bad \x00 byte"}', "NUL"),
    ],
)
def test_hostile_json(data: bytes, expected: str) -> None:
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("a.json", data, master_filename="a.mxf")
    assert expected in problems(exc)


def test_wrong_encoding_is_explained() -> None:
    latin1 = '{"kind": "film", "original_title": "Szép napok"}'.encode("latin-1")
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("a.json", latin1, master_filename="a.mxf")
    assert "not UTF-8" in problems(exc) and "line 1" in problems(exc)
    cp1251 = '{"kind": "film", "original_title": "Казах"}'.encode("cp1251")
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("a.json", cp1251, master_filename="a")
    assert "Windows-1251" in problems(exc)


def test_utf16_with_bom_and_utf8_bom_are_accepted() -> None:
    doc = '{"kind": "film", "original_title": "Ғажайып"}'
    for data in (doc.encode("utf-16"), b"\xef\xbb\xbf" + doc.encode()):
        assert parse_sidecar("a.json", data, master_filename="a").original_title == "Ғажайып"


def test_oversized_sidecar_is_refused() -> None:
    data = b'{"kind": "film", "original_title": "' + b"x" * MAX_SIDECAR_BYTES + b'"}'
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("a.json", data, master_filename="a")
    assert "at most" in problems(exc)


def test_ebucore_maps_every_field() -> None:
    sidecar = parse_sidecar("ep05.xml", EBUCORE.encode(), master_filename="ep05.mxf")
    assert sidecar.original_title == "Қазақстан: ұлы дала"
    assert sidecar.kind == "serial"
    assert sidecar.localizations["kk-Cyrl"].synopsis == "Дала туралы деректі фильм."
    assert sidecar.localizations["kk-Latn"].title == "Qazaqstan: ūly dala"
    assert sidecar.original_language == "kk"
    assert sidecar.genres == ["nature"]
    assert sidecar.eidr == "10.5240/7791-8534-2C23-9030-8610-5"
    assert sidecar.external_id == "KZ-DOC-7"
    assert sidecar.production_year == 2021
    assert sidecar.episode is not None
    assert (sidecar.episode.season, sidecar.episode.number) == (2, 5)
    assert sidecar.rights_notes == "Not for Kazakhstan before 2027"
    assert sidecar.keywords == ["The Great Steppe"]
    assert [c.model_dump() for c in sidecar.contributors] == [
        {"name": "Aruzhan Sain", "role": "Director"}
    ]


@pytest.mark.parametrize("style", list(EBUCORE_STYLES))
def test_ebucore_as_mam_systems_export_it(style: str) -> None:
    sidecar = parse_sidecar("ep07.xml", mam_ebucore(style), master_filename="ep07.mxf")
    # The title typed "Original title" wins over a working title written before it.
    assert sidecar.original_title == "Gölge"
    assert sidecar.localizations["tr"].title == "Gölge"
    assert sidecar.localizations["tr"].synopsis.startswith("Şehrin ışıkları söndüğünde")
    assert sidecar.localizations["en"].title == "Shadow"  # xml:lang on ebucore:title
    assert sidecar.localizations["en"].synopsis.startswith("When the city lights go out")
    assert sidecar.original_language == "tr"  # not the dubbed language listed first
    assert sidecar.kind == "serial" and sidecar.genres == ["drama"]
    assert sidecar.external_id == "TRT-GOLGE-0107"
    assert sidecar.eidr == "10.5240/7791-8534-2C23-9030-8610-5"
    assert sidecar.production_year == 2023
    assert sidecar.episode is not None
    assert (sidecar.episode.season, sidecar.episode.number) == (1, 7)
    assert sidecar.rights_notes == "Not for Turkey before 2026"
    assert sidecar.keywords == ["Işık ve Gölge", "aile"]
    assert [c.model_dump() for c in sidecar.contributors] == [
        {"name": "Ankara Yapım", "role": "Production company"},
        {"name": "Ayşe Yıldız", "role": "Director"},
        {"name": "Mehmet Öz", "role": "Actor"},
    ]


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<ebuCoreMain><coreMetadata><title><title>&xxe;</title></title></coreMetadata></ebuCoreMain>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<ebuCoreMain><coreMetadata><title><title>&lol9;</title></title></coreMetadata></ebuCoreMain>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE ebuCoreMain SYSTEM "http://127.0.0.1:9/evil.dtd">
<ebuCoreMain><coreMetadata/></ebuCoreMain>"""


@pytest.mark.parametrize(
    "payload", [XXE, BILLION_LAUGHS, EXTERNAL_DTD], ids=["xxe", "laughs", "dtd"]
)
def test_hostile_xml_is_refused_before_expansion(payload: bytes) -> None:
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("ep.xml", payload, master_filename="ep.mxf")
    assert "refused for safety" in problems(exc)
    assert "root:" not in problems(exc)  # nothing of /etc/passwd leaked into the message


def test_xml_with_a_lying_encoding_declaration() -> None:
    body = '<?xml version="1.0" encoding="UTF-8"?><ebuCoreMain><coreMetadata>' + (
        "<title><title>Szép napok</title></title></coreMetadata></ebuCoreMain>"
    )
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("ep.xml", body.encode("latin-1"), master_filename="ep.mxf")
    assert "not well-formed XML at line 1" in problems(exc)
    assert "UTF-8" in problems(exc)


def test_xml_declared_legacy_encoding_is_honoured() -> None:
    body = '<?xml version="1.0" encoding="windows-1251"?><ebuCoreMain><coreMetadata>' + (
        '<title><title>Қазақ</title></title><type><objectType typeLabel="Film"/></type>'
        "</coreMetadata></ebuCoreMain>"
    )
    data = body.replace("Қазақ", "Казах").encode("cp1251")
    sidecar = parse_sidecar("ep.xml", data, master_filename="x")
    assert sidecar.original_title == "Казах"


def test_xml_missing_title_and_kind() -> None:
    body = b"<ebuCoreMain><coreMetadata><language><language>kk</language></language></coreMetadata></ebuCoreMain>"
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("ep.xml", body, master_filename="ep.mxf")
    assert "every sidecar needs a title" in problems(exc)
    assert "cannot tell the kind" in problems(exc)


def test_xml_that_is_not_ebucore() -> None:
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("ep.xml", b"<html><body/></html>", master_filename="ep.mxf")
    assert "no coreMetadata" in problems(exc)


MANIFEST = """filename;kind;original_title;title:kk-Cyrl;title:ru;genres;production_year;duration;season;episode;contributors
ep01.mxf;serial;Dala;Дала;Степь;drama|history;2022;00:52:10;1;1;Asel Nur (director) | B. Ospan (writer)
ep02.mxf;serial;Dala;Дала;Степь;drama;twenty;00:51:00;1;2;
"""


def test_csv_manifest_rows() -> None:
    rows = parse_csv_manifest("batch.csv", MANIFEST.encode())
    assert [r.filename for r in rows] == ["ep01.mxf", "ep02.mxf"]
    first = rows[0].sidecar
    assert first is not None
    assert first.localizations["ru"].title == "Степь"
    assert first.duration_seconds == 52 * 60 + 10
    assert first.genres == ["drama", "history"]
    assert first.episode is not None and first.episode.number == 1
    assert [c.model_dump() for c in first.contributors] == [
        {"name": "Asel Nur", "role": "director"},
        {"name": "B. Ospan", "role": "writer"},
    ]
    assert rows[1].sidecar is None
    assert rows[1].problems[0].startswith("row 3: production_year:")


def test_csv_manifest_picks_the_masters_row_and_reports_its_errors() -> None:
    data = MANIFEST.encode()
    assert parse_sidecar("batch.csv", data, master_filename="ep01.mxf").original_title == "Dala"
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("batch.csv", data, master_filename="ep02.mxf")
    assert "row 3: production_year" in problems(exc)
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("batch.csv", data, master_filename="ep09.mxf")
    assert "no row has filename 'ep09.mxf'" in problems(exc)


def test_csv_manifest_header_problems() -> None:
    with pytest.raises(SidecarError) as exc:
        parse_sidecar("b.csv", b"filename,title,colour\nx.mxf,X,red\n", master_filename="x.mxf")
    text = problems(exc)
    assert "column 'kind' is required" in text
    assert "column 'colour' is not a known column" in text
