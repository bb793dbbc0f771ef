# ruff: noqa: RUF001, RUF003 - the expected Windows names (and comments on them) hold look-alikes on purpose.
"""Where server paths land: Windows rules checked with PureWindowsPath on Linux, POSIX rules,
and a state file that means the same on both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from pool_sync.errors import ItemError
from pool_sync.paths import NameClaims, case_insensitive, extended, fold, local_parts, local_path
from pool_sync.state import SyncState

WIN_DEST = PureWindowsPath(r"D:\media\licensed")
POSIX_DEST = PurePosixPath("/srv/media/licensed")

SAME = ("<the server's components, unchanged>",)
# server path -> (Windows components, POSIX components); None: refused.
TABLE: list[tuple[str, tuple[str, ...] | None, tuple[str, ...] | None]] = [
    # Legal everywhere: kept as they are, letters of every script included.
    ("aztv/Bozqır/ep1.mxf", ("aztv", "Bozqır", "ep1.mxf"), ("aztv", "Bozqır", "ep1.mxf")),
    ("kaztrk/Ұлытау/Әйгерім 01.mxf", ("kaztrk", "Ұлытау", "Әйгерім 01.mxf"), SAME),
    (
        "trt/Işık, Gölge (2024)/S01E01/a.b.c.mov",
        ("trt", "Işık, Gölge (2024)", "S01E01", "a.b.c.mov"),
        SAME,
    ),
    ("o/CONSOLE.mxf", ("o", "CONSOLE.mxf"), SAME),  # only the exact device names are reserved
    ("o/COM10.mxf", ("o", "COM10.mxf"), SAME),
    ("o/.hidden", ("o", ".hidden"), SAME),
    # Drive-relative and stream names: the colon is mapped, so nothing leaves the destination.
    ("C:evil.mxf", ("C：evil.mxf",), ("C:evil.mxf",)),
    (
        "aztv/C:/Windows/x.mxf",
        ("aztv", "C：", "Windows", "x.mxf"),
        ("aztv", "C:", "Windows", "x.mxf"),
    ),
    ("o/ep1.mxf:Zone.Identifier", ("o", "ep1.mxf：Zone.Identifier"), SAME),
    # Backslash would be a separator on Windows: mapped there, kept on POSIX.
    ("o/..\\..\\boot.ini", ("o", "..＼..＼boot.ini"), ("o", "..\\..\\boot.ini")),
    ('o/a<b>c"d|e?f*g.mxf', ("o", "a＜b＞c＂d｜e？f＊g.mxf"), SAME),
    ("o/tab\there\x01.mxf", ("o", "tab␉here␁.mxf"), SAME),
    # Reserved device names, any case, with or without an extension.
    ("o/CON", ("o", "CON_"), ("o", "CON")),
    ("o/nul.mxf", ("o", "nul_.mxf"), ("o", "nul.mxf")),
    ("o/Com1.tar.gz", ("o", "Com1_.tar.gz"), SAME),
    ("o/LPT9.txt", ("o", "LPT9_.txt"), SAME),
    ("o/COM¹.mxf", ("o", "COM¹_.mxf"), SAME),
    ("o/conin$", ("o", "conin$_"), SAME),
    ("AUX/ep1.mxf", ("AUX_", "ep1.mxf"), ("AUX", "ep1.mxf")),
    ("o/NUL .mxf", ("o", "NUL_ .mxf"), SAME),
    # Trailing dots and spaces, which Windows would silently trim.
    ("o/Episode 1./a.mxf", ("o", "Episode 1．", "a.mxf"), ("o", "Episode 1.", "a.mxf")),
    ("o/name ", ("o", "name␠"), ("o", "name ")),
    ("o/... /x", ("o", "...␠", "x"), ("o", "... ", "x")),
    ("o/.. /x", ("o", "..␠", "x"), ("o", ".. ", "x")),
    ("o/...", ("o", "..．"), ("o", "...")),
    ("o/ep. .", ("o", "ep. ．"), SAME),
    # The sync's own folder: refused as the first component only (any case on Windows).
    ("o/.jointpool-sync/x", ("o", ".jointpool-sync", "x"), ("o", ".jointpool-sync", "x")),
    # Refused everywhere.
    ("", None, None),
    ("/etc/passwd", None, None),
    ("../outside.mxf", None, None),
    ("o/../../outside.mxf", None, None),
    ("o/./x.mxf", None, None),
    ("o//x.mxf", None, None),
    ("o/x.mxf/", None, None),
    (".jointpool-sync/state.json", None, None),
    ("o/nul\x00.mxf", None, None),
    ("o/" + "a" * 256, None, None),
    # 132 UTF-16 units (Windows' limit is 255) but 260 UTF-8 bytes (POSIX' limit is 255).
    ("o/" + "ә" * 128 + ".mxf", ("o", "ә" * 128 + ".mxf"), None),
]
WINDOWS_ONLY_REFUSED = [".JOINTPOOL-SYNC/state.json"]


@pytest.mark.parametrize(("server", "windows", "posix"), TABLE, ids=repr)
def test_table_of_hostile_and_legal_names(
    server: str, windows: tuple[str, ...] | None, posix: tuple[str, ...] | None
) -> None:
    if windows is None:
        with pytest.raises(ItemError, match="refusing unsafe path"):
            local_parts(server, windows=True)
    else:
        assert local_parts(server, windows=True) == windows
        target = local_path(WIN_DEST, server, windows=True)
        # PureWindowsPath parses the result as Windows would: same drive, under the folder,
        # exactly the mapped components (no drive, root or separator crept in).
        assert target.drive == "D:" and target.parts[:3] == WIN_DEST.parts
        assert target.parts[3:] == windows
    posix_expected = tuple(server.split("/")) if posix == SAME else posix
    if posix_expected is None:
        with pytest.raises(ItemError):
            local_parts(server, windows=False)
    else:
        assert local_parts(server, windows=False) == posix_expected
        target_posix = local_path(POSIX_DEST, server, windows=False)
        assert target_posix.parts[: len(POSIX_DEST.parts)] == POSIX_DEST.parts
        assert target_posix.parts[len(POSIX_DEST.parts) :] == posix_expected


# Two server paths in one run: (first, second, whether the second is refused on Windows).
# POSIX disks tell case apart, so there both are always kept.
COLLISIONS: list[tuple[str, str, bool]] = [
    ("o/EP1.mxf", "o/ep1.mxf", True),
    ("o/Serial/ep1.mxf", "o/SERIAL/EP1.MXF", True),  # folders merge too
    ("trt/Işık.mxf", "trt/IŞIK.mxf", True),
    ("trt/Işık.mxf", "trt/Isik.mxf", False),  # ş is not s
    ("o/ıi.mxf", "o/II.mxf", True),  # NTFS upper-cases dotless ı and i alike
    ("kaztrk/Ұлытау.mxf", "kaztrk/ҰЛЫТАУ.mxf", True),
    ("o/Straße.mxf", "o/STRASSE.mxf", False),  # casefold() would merge these; NTFS does not
    ("o/a?b.mxf", "o/a？b.mxf", True),  # the mapped `?` and a real fullwidth one
    ("o/CON.mxf", "o/con_.mxf", True),  # a mapped device name and its look-alike
    ("o/ep1.mxf", "o/ep2.mxf", False),
]


@pytest.mark.parametrize(("first", "second", "refused"), COLLISIONS, ids=repr)
def test_names_that_differ_only_in_case_are_one_file_on_windows(
    first: str, second: str, refused: bool
) -> None:
    windows = NameClaims(fold_case=True)
    windows.claim(first, local_parts(first, windows=True))
    if refused:
        with pytest.raises(ItemError, match="does not tell letter case apart") as caught:
            windows.claim(second, local_parts(second, windows=True))
        assert repr(first) in str(caught.value) and repr(second) in str(caught.value)
    else:
        windows.claim(second, local_parts(second, windows=True))
    windows.claim(first, local_parts(first, windows=True))  # the owner may claim again
    posix = NameClaims(fold_case=False)
    for path in (first, second):
        posix.claim(path, local_parts(path, windows=False))


def test_fold_matches_ntfs_upper_casing() -> None:
    assert fold("Işık ıi") == "IŞIK II" and fold("İstanbul") == "İSTANBUL"
    assert fold("Straße") == "STRAßE" != fold("STRASSE")  # one character each, as NTFS does
    assert fold("Әйгерім") == "ӘЙГЕРІМ"


def test_case_sensitivity_is_read_from_the_destination(tmp_path: Path) -> None:
    folder = tmp_path / ".jointpool-sync"
    folder.mkdir()
    # This Linux disk tells case apart; Windows never does, whatever the folder.
    assert case_insensitive(folder, windows=False) is False
    assert case_insensitive(folder, windows=True) is True
    assert case_insensitive(tmp_path / "missing", windows=False) is False
    # A case-insensitive disk answers for the other case with the same folder; a symlink
    # under the swapped name is what such a disk looks like to `samefile`.
    (tmp_path / ".JOINTPOOL-SYNC").symlink_to(folder)
    assert case_insensitive(folder, windows=False) is True


@pytest.mark.parametrize("server", WINDOWS_ONLY_REFUSED)
def test_state_folder_is_refused_in_any_case_on_windows_only(server: str) -> None:
    with pytest.raises(ItemError):
        local_parts(server, windows=True)
    assert local_parts(server, windows=False) == tuple(server.split("/"))


def test_mapping_never_merges_names_windows_would_merge() -> None:
    # Windows trims trailing dots and spaces: these would be one file without the mapping.
    names = ["o/ep", "o/ep.", "o/ep ", "o/ep..", "o/EP. "]
    mapped = {local_parts(n, windows=True)[-1] for n in names}
    assert len(mapped) == len(names)
    assert all(not m.endswith((".", " ")) for m in mapped)


def test_long_windows_paths_get_the_extended_prefix() -> None:
    short = local_path(WIN_DEST, "o/t/ep1.mxf", windows=True)
    assert str(short) == r"D:\media\licensed\o\t\ep1.mxf"
    deep = "/".join(["Очень длинное название сериала"] * 8) + "/ep1.mxf"
    long = local_path(WIN_DEST, deep, windows=True)
    assert len(str(long)) > 260
    assert str(long).startswith("\\\\?\\D:\\media\\licensed\\")
    assert long.parts[-1] == "ep1.mxf"
    unc = extended(PureWindowsPath(r"\\nas\media") / ("x" * 250))
    assert str(unc).startswith("\\\\?\\UNC\\nas\\media\\")
    assert extended(unc) == unc  # already extended: unchanged
    # Limit: CreateDirectory refuses 248 characters and more without the prefix.
    just_below = PureWindowsPath("D:\\" + "d" * 244)
    assert len(str(just_below)) == 247 and extended(just_below) == just_below
    assert str(extended(just_below / "x")).startswith("\\\\?\\")


def test_state_file_is_utf8_and_maps_the_same_on_windows(tmp_path: Path) -> None:
    state = SyncState(
        cursor="c42",
        files={
            "kaztrk/Ұлытау/Әйгерім.mxf": {"asset_id": "a1", "size": 1},
            "trt/Işık: Gölge./CON.mxf": {"asset_id": "a2", "size": 2},
        },
    )
    path = tmp_path / "state.json"
    state.save(path)
    raw = path.read_bytes()
    assert "Ұлытау".encode() in raw and b"\r\n" not in raw  # UTF-8, one line ending everywhere
    # Read back by a Python whose locale is ASCII (as a Windows server's cp1251 would be):
    # the state file is decoded as UTF-8 whatever the locale.
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "utf-8"}
    script = (
        "import json, locale, sys; from pathlib import Path; from pool_sync.state import SyncState;"
        "s = SyncState.load(Path(sys.argv[1]));"
        "print(json.dumps([locale.getpreferredencoding(False), s.cursor, sorted(s.files)]))"
    )
    out = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script, str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    encoding, cursor, files = json.loads(out.stdout)
    assert encoding.lower() not in ("utf-8", "utf8")  # the test really ran in a non-UTF-8 locale
    assert cursor == "c42" and files == sorted(state.files)
    # The keys are server paths; on Windows each lands mapped, under the destination.
    landed = {k: local_path(WIN_DEST, k, windows=True) for k in SyncState.load(path).files}
    assert landed["trt/Işık: Gölge./CON.mxf"] == WIN_DEST / "trt" / "Işık： Gölge．" / "CON_.mxf"
    assert landed["kaztrk/Ұлытау/Әйгерім.mxf"] == WIN_DEST / "kaztrk" / "Ұлытау" / "Әйгерім.mxf"
