"""Virtual path names: normalisation and hostile names refused with a clear message."""

from __future__ import annotations

import unicodedata

import pytest

from pool_core.errors import InvalidInput
from pool_core.names import check_portable_name, check_portable_path, resolve_path, split_path


@pytest.mark.parametrize(
    ("cwd", "path", "expected"),
    [
        ("/", "incoming", "/incoming"),
        ("/incoming", "ep01.mxf", "/incoming/ep01.mxf"),
        ("/incoming/a", "../b//c/./d", "/incoming/b/c/d"),
        ("/incoming", "/../../../etc/passwd", "/etc/passwd"),
        ("/incoming", "../../..", "/"),
        ("/", "/", "/"),
        ("/incoming", ".", "/incoming"),
        ("/incoming", "Серия 01.mxf", "/incoming/Серия 01.mxf"),
        ("/incoming", "Q\u0131sa film.mov", "/incoming/Q\u0131sa film.mov"),
    ],
)
def test_paths_resolve_inside_the_tree(cwd: str, path: str, expected: str) -> None:
    assert resolve_path(cwd, path) == expected


def test_names_are_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Gündüz.mxf")
    assert decomposed != "Gündüz.mxf"
    assert resolve_path("/incoming", decomposed) == "/incoming/Gündüz.mxf"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a\x00b", "NUL"),
        ("a\nb.mxf", "control characters"),
        ("a\rb", "control characters"),
        ("a\x7fb", "control characters"),
        ("a\x85b", "control characters"),
        ("evil\u202excm.mxf", "invisible"),
        ("dir\\file.mxf", "backslash"),
        ("x" * 256, "255 bytes"),
        ("ә" * 128, "255 bytes"),  # 256 bytes in UTF-8, 128 characters
        ("...", "not a valid name"),
        ("ep01.", "end with a dot or a space"),
        ("ep01 ", "end with a dot or a space"),
        ("", "required"),
        ("a\udcffb", "valid UTF-8"),
    ],
)
def test_hostile_names_are_refused_clearly(path: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve_path("/incoming", path)


def test_name_of_255_bytes_is_accepted() -> None:
    assert resolve_path("/incoming", "x" * 255) == "/incoming/" + "x" * 255


def test_split_path() -> None:
    assert split_path("/incoming/a/b.mxf") == ("/incoming/a", "b.mxf")
    assert split_path("/incoming") == ("/", "incoming")
    assert split_path("/") == ("/", "")


@pytest.mark.parametrize(
    "name",
    ["C:evil.mxf", "a*b", "a?b", 'a"b', "a<b", "a>b", "a|b", "CON", "con.mxf", "NUL .mxf",
     "com9.tar.gz", "LPT0", "COM\u00b2", "conin$", "CONOUT$.log"],
)  # fmt: skip
def test_non_portable_names_are_refused_for_writing(name: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be stored on Windows"):
        check_portable_name(name)
    with pytest.raises(InvalidInput, match="cannot be stored on Windows"):
        check_portable_path(f"/incoming/{name}/ep1.mxf")


@pytest.mark.parametrize("name", ["CONSOLE.mxf", "COM10", "nul_.mxf", "x.con", ".CON", "Aux-1"])
def test_names_that_merely_resemble_devices_are_portable(name: str) -> None:
    check_portable_name(name)
