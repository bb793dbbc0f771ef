"""A `?` where a letter was: where in a word it is caught, in CSV manifests and EBUCore XML."""

# Azerbaijani, Kazakh and Turkish words with lost letters are the point of these tests.
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import pytest

from pool_core.sidecars import read_csv_manifest, read_sidecar
from pool_core.sidecars.lost_letters import where_lost, xml_legacy_encoding


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("G?lge", "inside"),
        ("?srl?rin s?si", "inside"),
        ("?li", "at the start of"),  # Əli
        ("Rejissor: ?li", "at the start of"),
        ("(?sg?r)", "inside"),
        ("?аза?стан", "inside"),
        ("?лытау", "at the start of"),  # Ұлытау in Windows-1251
        ("Ana v? bala", "at the end of"),  # və, then a small letter: no sentence ended
        ("Bak?, Quba", "at the end of"),  # Bakı in a page without ı: a `?` before a comma
        ("Bak?; Şəki", "at the end of"),
        # Real question marks: a question ends the value or a sentence.
        ("Kim?", None),
        ("Kim? Nə? Harada?", None),
        ("Kim? Ali bilir.", None),
        ("(Kim?)", None),
        ("Niyə?!", None),
        ("Qui ?", None),  # French spacing
        ("Episode 2?", None),
        ("no question here", None),
        # Ambiguous, decided as a question (see the module): `Bak?` alone reads like `Kim?`.
        ("Bak?", None),
    ],
)
def test_where_a_question_mark_was_a_letter(value: str, where: str | None) -> None:
    assert where_lost(value) == where


def test_csv_catches_lost_letters_at_either_end_of_a_word() -> None:
    text = "filename;kind;original_title;title:az-Latn\r\nep01.mxf;film;?li;Bak?, Quba\r\n"
    [row] = read_csv_manifest("m.csv", text.encode("cp1254"), country="AZ").rows
    assert row.sidecar is not None
    start, end = row.warnings
    assert "row 2, original_title: '?li' has a '?' at the start of a word" in start
    assert "row 2, title:az-latn: 'Bak?, Quba' has a '?' at the end of a word" in end


EBUCORE = """<?xml version="1.0" encoding="{encoding}"?>
<ebucore:ebuCoreMain xmlns:ebucore="urn:ebu:metadata-schema:ebucore"
    xmlns:dc="http://purl.org/dc/elements/1.1/">
  <ebucore:coreMetadata>
    <ebucore:title typeLabel="original"><dc:title xml:lang="az">{title}</dc:title></ebucore:title>
    <ebucore:description><dc:description xml:lang="az">{synopsis}</dc:description>
    </ebucore:description>
    <ebucore:type><ebucore:objectType typeLabel="Film"/></ebucore:type>
  </ebucore:coreMetadata>
</ebucore:ebuCoreMain>
"""


def test_legacy_ebucore_reports_its_code_page_and_lost_letters() -> None:
    # What a MAM in a Turkish locale writes for an Azerbaijani film: ə has no byte there.
    xml = EBUCORE.format(
        encoding="windows-1254", title="Gəncə gecələri", synopsis="Əli Bakıya gəlir. Kim?"
    )
    data = xml.encode("cp1254", errors="replace")
    assert "G?nc? gec?l?ri" in data.decode("cp1254")
    reading = read_sidecar("ep01.xml", data, master_filename="ep01.mxf")
    assert reading.sidecar.original_title == "G?nc? gec?l?ri"
    assert reading.report == {"format": "ebucore", "encoding": "windows-1254"}
    title, synopsis, *more = reading.warnings
    assert title.startswith("ep01.xml, original_title: 'G?nc? gec?l?ri' has a '?' inside")
    assert "windows-1254 cannot hold" in title and "save it as UTF-8" in title
    assert "localizations.az.title" in synopsis or "localizations.az.synopsis" in synopsis
    assert all("'?' " in w for w in (title, synopsis, *more))


def test_unicode_ebucore_with_real_questions_has_no_warning() -> None:
    xml = EBUCORE.format(encoding="UTF-8", title="Kim?", synopsis="Əli gəlir. Niyə? Bilmirəm.")
    reading = read_sidecar("ep01.xml", xml.encode(), master_filename="ep01.mxf")
    assert reading.report == {"format": "ebucore"} and reading.warnings == []
    # Letters lost before the file became UTF-8 are still caught, and said so.
    xml = EBUCORE.format(encoding="UTF-8", title="?li", synopsis="Yay")
    [warning] = read_sidecar("ep01.xml", xml.encode(), master_filename="ep01.mxf").warnings
    assert "'?li' has a '?' at the start of a word" in warning
    assert "once saved in a legacy code page" in warning


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<?xml version="1.0" encoding="windows-1254"?><a/>', "windows-1254"),
        (b"<?xml version='1.0' encoding='ISO-8859-9' ?>\n<a/>", "ISO-8859-9"),
        (b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><a/>', None),
        (b'<?xml version="1.0" encoding="utf8"?><a/>', None),
        (b'<?xml version="1.0"?><a/>', None),
        (b"<a/>", None),
        ('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"), None),
    ],
)
def test_declared_xml_encoding(head: bytes, expected: str | None) -> None:
    assert xml_legacy_encoding(head) == expected
