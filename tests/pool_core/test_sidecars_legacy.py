"""Which legacy code page a manifest was saved in: detection, the script check, the locale."""

# Titles in Turkish and Kazakh, and their garbled readings, are the point of these tests.
# ruff: noqa: RUF001

from __future__ import annotations

import codecs

import pytest

from pool_core.sidecars import SidecarError, read_csv_manifest
from pool_core.sidecars.decoding import decode_legacy_text
from pool_core.sidecars.legacy import guess_legacy

HEADER = "filename;kind;original_title\r\n"
RUSSIAN = "ep01.mxf;serial;Тихий Дон\r\nep02.mxf;film;Брат\r\n"
KAZAKH = "ep01.mxf;serial;Ұлытау\r\nep02.mxf;film;Әйгерім\r\n"
TURKISH = "ep01.mxf;serial;Işık\r\nep02.mxf;film;Gölge\r\n"
HUNGARIAN = "ep01.mxf;serial;Őszi napok\r\n"
UZBEK = "ep01.mxf;serial;Ўзбекистон\r\n"


@pytest.mark.parametrize(
    ("text", "codec", "country", "expected"),
    [
        # Clear cases: one reading survives, whoever uploads.
        (RUSSIAN, "cp1251", "", "cp1251"),
        (RUSSIAN, "cp1251", "TR", "cp1251"),
        (TURKISH, "cp1254", "", "cp1254"),
        (TURKISH, "cp1254", "KZ", "cp1254"),
        (TURKISH, "iso8859_9", "RU", "cp1254"),  # the same text; named after Windows
        # A symbol glued to a word in every reading does not make the file unreadable.
        (TURKISH + "ep03.mxf;film;©TRT Işık\r\n", "cp1254", "", "cp1254"),
        # The same Russian text in both Cyrillic pages: KZ names its own.
        (RUSSIAN, "cp1251", "KZ", "kz1048"),
        # Kazakh letters only KZ-1048 maps win over Windows-1251, even for a Russian uploader.
        (KAZAKH, "kz1048", "KZ", "kz1048"),
        (KAZAKH, "kz1048", "RU", "kz1048"),
        (KAZAKH, "kz1048", "", "kz1048"),
        # ...except Uzbek Ў, which Windows-1251 has at the same byte.
        (UZBEK, "cp1251", "UZ", "cp1251"),
        (UZBEK, "cp1251", "", "cp1251"),
        # Latin pages disagree on ő: only the locale can tell, or nobody.
        (HUNGARIAN, "cp1250", "HU", "cp1250"),
        (HUNGARIAN, "cp1250", "KZ", None),
        (HUNGARIAN, "cp1250", "", None),
    ],
)
def test_guess(text: str, codec: str, country: str, expected: str | None) -> None:
    data = (HEADER + text).encode(codec)
    guess = guess_legacy(data, country=country)
    assert guess.codec == expected
    if expected is None:
        assert "Windows-1250" in guess.candidates and "Windows-1252" in guess.candidates
    else:
        assert guess.text == HEADER + text


def test_country_preference_is_named_in_the_report() -> None:
    data = (HEADER + HUNGARIAN).encode("cp1250")
    decoded = decode_legacy_text("m.csv", data, country="HU")
    assert (decoded.encoding, decoded.legacy) == ("Windows-1250", True)
    assert decoded.how.startswith("the usual code page in HU")
    assert "ISO-8859-2 read it the same" in decoded.how


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + (HEADER + KAZAKH).encode(), "UTF-8"),
        ((HEADER + KAZAKH).encode(), "UTF-8"),
        (codecs.BOM_UTF16_LE + (HEADER + KAZAKH).encode("utf-16-le"), "UTF-16LE"),
        (codecs.BOM_UTF16_BE + (HEADER + KAZAKH).encode("utf-16-be"), "UTF-16BE"),
        ((HEADER + KAZAKH).encode("utf-16-le"), "UTF-16LE"),
        ((HEADER + KAZAKH).encode("utf-16-be"), "UTF-16BE"),
    ],
    ids=["utf8-bom", "utf8", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be"],
)
def test_unicode_is_never_guessed(data: bytes, encoding: str) -> None:
    decoded = decode_legacy_text("m.csv", data, country="TR")
    assert (decoded.text, decoded.encoding, decoded.legacy) == (HEADER + KAZAKH, encoding, False)


def test_damaged_utf16_and_nul_bytes_are_refused() -> None:
    with pytest.raises(SidecarError, match="UTF-16LE text is damaged"):
        decode_legacy_text("m.csv", codecs.BOM_UTF16_LE + b"a\x00\x00\xdc", country="")
    with pytest.raises(SidecarError, match="NUL"):
        decode_legacy_text("m.csv", b"\xef\xbb\xbfa;b\x00c\n", country="")


def test_manifest_reports_how_it_was_read_and_lost_letters() -> None:
    data = "filename\tkind\toriginal_title\r\nep01.mxf\tfilm\tG?lge\r\n".encode("cp1254")
    manifest = read_csv_manifest("m.csv", data, country="AZ")
    assert manifest.report() == {
        "format": "csv",
        "encoding": "UTF-8",
        "encoding_how": "detected",
        "delimiter": "tab",
    }
    [row] = manifest.rows
    assert row.sidecar is not None and row.sidecar.original_title == "G?lge"
    [warning] = row.warnings
    assert "row 2, original_title: 'G?lge' has a '?' inside a word" in warning
    assert "legacy code page" in warning
    # A question mark that ends a question is not a lost letter.
    fine = "filename,kind,original_title\r\nep01.mxf,film,Kim? Nə? Harada?\r\n".encode()
    assert read_csv_manifest("m.csv", fine).rows[0].warnings == []
