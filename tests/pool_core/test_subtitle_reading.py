"""Reading subtitle files: every format and encoding we accept, the names, and the QC findings."""

# Kazakh, Russian and Turkish letters are the data under test.
# ruff: noqa: RUF001

from __future__ import annotations

import pytest

from pool_core.search.cues import frame_timecode
from pool_core.subtitles.convert import SubtitleError, convert, sniff_format
from pool_core.subtitles.naming import parse_subtitle_name
from pool_core.subtitles.qc import master_findings, reading_findings, timecode
from tests.fixtures import subtitle_files as sf
from tests.fixtures.subtitle_files import Cue

KAZAKH = [
    Cue(1.0, 3.5, "Қорқыт ата келді"),
    Cue(4.0, 6.0, "Günaydın, İstanbul\nекінші жол"),
    Cue(751.2, 753.0, "Соңы"),
]
RUSSIAN = [Cue(1.0, 3.5, "Привет, мир"), Cue(4.0, 6.0, "Добрый вечер"), Cue(751.2, 753.0, "Конец")]
ASCII = [Cue(1.0, 3.5, "Korkyt ata keldi"), Cue(4.0, 6.0, "Good evening"), Cue(751.2, 753.0, "End")]


def sample(fmt: str) -> tuple[bytes, list[Cue]]:
    """A file of each format with the richest text the format can carry."""
    if fmt == "srt":
        return sf.srt(KAZAKH), KAZAKH
    if fmt == "vtt":
        return sf.vtt(KAZAKH), KAZAKH
    if fmt == "ttml":
        return sf.ttml(KAZAKH, lang="kk"), KAZAKH
    if fmt == "stl":
        return sf.stl(RUSSIAN, code_page="cyrillic"), RUSSIAN
    return sf.scc(ASCII), ASCII


@pytest.mark.parametrize("fmt", sf.FORMATS)
def test_each_format_reads_to_the_same_cues_and_webvtt(fmt: str) -> None:
    data, cues = sample(fmt)
    assert sniff_format(data) == fmt
    reading = convert(data, filename=f"ep01.kk.{fmt}", fmt=fmt)
    # STL and TTML frames are 40 ms, SCC frames 33 ms: a cue may round by one frame.
    tolerance = 0.001 if fmt in ("srt", "vtt", "ttml") else 0.045
    assert [c.text for c in reading.cues] == [c.text for c in cues]
    for got, want in zip(reading.cues, cues, strict=True):
        assert abs(got.start - want.start) <= tolerance, (got, want)
        assert abs(got.end - want.end) <= tolerance, (got, want)
    assert reading.webvtt.startswith("WEBVTT")
    assert "00:12:31." in reading.webvtt
    for cue in cues:
        assert cue.text.split("\n")[0] in reading.webvtt


def test_stl_code_tables_give_their_letters_and_frame_rate() -> None:
    cyrillic = convert(sf.stl(RUSSIAN, code_page="cyrillic"), filename="a.ru.stl", fmt="stl")
    assert cyrillic.encoding == "ISO 8859-5 (Latin/Cyrillic)"
    assert cyrillic.cues[0].text == "Привет, мир"
    assert cyrillic.frame_rate == 25.0
    turkish = [Cue(1.0, 2.0, "Günaydın, İstanbul şeker")]
    latin = convert(sf.stl(turkish, frame_rate=30), filename="a.tr.stl", fmt="stl")
    assert latin.encoding == "ISO 6937 (Latin)"
    assert latin.cues[0].text == "Günaydın, İstanbul şeker"
    assert latin.frame_rate == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1251", "cp1254", "iso-8859-9"]
)
def test_srt_in_any_encoding_becomes_utf8_webvtt(encoding: str) -> None:
    text = RUSSIAN if encoding == "cp1251" else [Cue(1.0, 2.0, "Günaydın şeker ığ")]
    data = sf.srt(text * 3 if len(text) == 1 else text, encoding=encoding, crlf=True)
    country = "RU" if encoding == "cp1251" else "TR"
    reading = convert(data, filename="ep.ru.srt", fmt="srt", country=country)
    assert reading.cues[0].text == text[0].text
    assert text[0].text in reading.webvtt
    legacy = not encoding.startswith("utf")
    assert bool([n for n in reading.notes if "not Unicode" in n]) == legacy
    assert [f["code"] for f in reading_findings(reading)].count("encoding") == int(legacy)


@pytest.mark.parametrize("fmt", sf.FORMATS)
def test_a_malformed_file_of_each_format_is_refused_in_plain_words(fmt: str) -> None:
    with pytest.raises(SubtitleError) as raised:
        convert(sf.malformed(fmt), filename=f"ep01.kk.{fmt}", fmt=fmt)
    message = str(raised.value)
    assert message.startswith(f"subtitle file ep01.kk.{fmt} could not be read:\n- ")
    assert raised.value.problems


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (b"1\n00:00:01,000 --> 00:00:02,000\n" + b"x" * (3 * 1024 * 1024), "at most"),
        (b"\xff\xfe\x00\x00garbage", "not"),
        (sf.stl(RUSSIAN, code_page="cyrillic")[:1350], "not a whole text block"),
    ],
)
def test_empty_huge_and_damaged_files_are_refused_or_noted(data: bytes, why: str) -> None:
    fmt = "stl" if why == "not a whole text block" else "srt"
    if fmt == "stl":
        # A file cut inside a block keeps its whole blocks and says it was cut.
        reading = convert(data, filename="a.ru.stl", fmt="stl")
        assert any(why in n for n in reading.notes)
        return
    with pytest.raises(SubtitleError, match=why):
        convert(data, filename="a.srt", fmt=fmt)


def test_ttml_refuses_entities_and_other_roots() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE tt [<!ENTITY a "aaaa">]><tt>&a;</tt>'
    with pytest.raises(SubtitleError, match="entities or a DTD"):
        convert(bomb, filename="a.xml", fmt="ttml")
    with pytest.raises(SubtitleError, match="not TTML"):
        convert(b"<ebuCoreMain/>", filename="a.xml", fmt="ttml")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ep01.kk-Cyrl.srt", ("ep01", "kk-Cyrl", "srt")),
        ("ep01.KK-cyrl.SRT", ("ep01", "kk-Cyrl", "srt")),
        ("ep01.tr.stl", ("ep01", "tr", "stl")),
        ("ep01.mxf.uz-Latn.vtt", ("ep01.mxf", "uz-Latn", "vtt")),
        ("Kórkyt ata.ru.ttml", ("Kórkyt ata", "ru", "ttml")),
        ("ep01.en-GB.xml", ("ep01", "en-GB", "ttml")),
        ("ep01.pt_BR.scc", ("ep01", "pt-BR", "scc")),
        ("ep01.mxf.xml", None),  # the master's metadata sidecar
        ("ep01.xml", None),
        ("ep01.srt", None),  # no language
        ("ep01.final.srt", None),
        ("ep01.kk.txt", None),
        (".kk.srt", None),
    ],
)
def test_subtitle_names(name: str, expected: tuple[str, str, str] | None) -> None:
    named = parse_subtitle_name(name)
    assert (None if named is None else (named.base, named.language, named.format)) == expected


def test_a_name_belongs_to_its_master_with_or_without_the_master_extension() -> None:
    short, long = parse_subtitle_name("ep01.kk.srt"), parse_subtitle_name("ep01.mxf.kk.srt")
    assert short is not None and long is not None
    assert short.belongs_to("ep01.mxf") and short.belongs_to("ep01.mov")
    assert long.belongs_to("ep01.mxf") and not long.belongs_to("ep01.mov")
    assert not short.belongs_to("ep012.mxf")


def test_overlaps_beyond_the_tolerance_are_findings() -> None:
    cues = [Cue(1.0, 3.0, "a"), Cue(2.95, 4.0, "b"), Cue(3.5, 5.0, "c"), Cue(10.0, 11.0, "d")]
    reading = convert(sf.srt(cues), filename="a.srt", fmt="srt")
    overlap = [f for f in reading_findings(reading) if f["code"] == "overlap"]
    # 2.95 is within the tolerance of 3.0; 3.5 starts before 4.0 ends.
    assert overlap == [
        {
            "code": "overlap",
            "message": "1 cue(s) start before the previous one ends (by more than 0.08 s), "
            "at 00:00:03.500",
        }
    ]


@pytest.mark.parametrize(
    ("last_end", "rate", "master_rate", "duration", "codes"),
    [
        (100.0, 25.0, 25.0, 120.0, []),
        (121.0, 25.0, 25.0, 120.0, ["after_end"]),
        (120.4, None, 29.97, 120.0, []),
        (100.0, 25.0, 29.97, 120.0, ["frame_rate"]),
        (100.0, 29.97, 30000 / 1001, 120.0, []),
        (36_000.0, 25.0, 24.0, 120.0, ["after_end", "frame_rate"]),
        (100.0, 25.0, None, None, []),  # not probed yet: nothing to compare
    ],
)
def test_findings_against_the_master(
    last_end: float,
    rate: float | None,
    master_rate: float | None,
    duration: float | None,
    codes: list[str],
) -> None:
    technical = {"container": {"duration": duration}, "video": {"frame_rate": master_rate}}
    found = master_findings(last_cue_end=last_end, frame_rate=rate, fmt="stl", technical=technical)
    assert [f["code"] for f in found] == codes


def test_timecode() -> None:
    assert timecode(751.2) == "00:12:31.200"
    assert timecode(36_000.5) == "10:00:00.500"


@pytest.mark.parametrize(
    ("seconds", "rate", "expected"),
    [
        (751.2, 25.0, "00:12:31:05"),
        (751.2, 30000 / 1001, "00:12:31;05"),
        (60.06, 30000 / 1001, "00:01:00;02"),  # frame 1800: ;00 and ;01 skipped at minute 1
        (600.0, 30000 / 1001, "00:10:00;00"),  # every tenth minute keeps them
        (3600.0, 30000 / 1001, "01:00:00;00"),  # drop-frame stays with the clock
        (3600.0, 24.0, "01:00:00:00"),
        (1.5, 50.0, "00:00:01:25"),
        (61.0, 60000 / 1001, "00:01:01;00"),
    ],
)
def test_frame_timecodes(seconds: float, rate: float, expected: str) -> None:
    assert frame_timecode(seconds, rate) == expected


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ttml"])
def test_webvtt_escapes_what_would_start_a_tag(fmt: str) -> None:
    cues = [Cue(1.0, 2.0, "Tom & Jerry <3 > 2")]
    data = {"srt": sf.srt, "vtt": sf.vtt, "ttml": sf.ttml}[fmt](cues)
    reading = convert(data, filename=f"a.en.{fmt}", fmt=fmt)
    assert reading.cues[0].text == "Tom & Jerry <3 > 2"  # what search indexes
    assert "Tom &amp; Jerry &lt;3 &gt; 2" in reading.webvtt
    # Read back as WebVTT, the cue says what was delivered.
    again = convert(reading.webvtt.encode(), filename="a.en.vtt", fmt="vtt")
    assert again.cues[0].text == "Tom & Jerry <3 > 2"
