# ruff: noqa: RUF002 - the fullwidth look-alikes are the mapping itself.
"""Where a server path lands on this machine: every component is checked, then mapped or refused.

The server sends `/`-separated paths (`<owner>/<title>/<episode>/<file>`) whose components were
typed by people at other broadcasters, so they may hold anything. Each component is judged on
its own, with the rules of the operating system the sync runs on (Windows rules are pure
string logic, so they are tested on Linux too):

| component                                   | Windows                             | POSIX   |
| ------------------------------------------- | ----------------------------------- | ------- |
| empty, `.`, `..`, NUL, longer than 255      | refused                             | refused |
| `.jointpool-sync` as the first component    | refused (any letter case)           | refused |
| `< > : " / \\ | ? *`                        | fullwidth `＜ ＞ ： ＂ ／ ＼ ｜ ？ ＊` | kept    |
| control characters U+0001-U+001F            | `␁`-`␟` (U+2401-U+241F)             | kept    |
| a last `.` / a last space                   | `．` (U+FF0E) / `␠` (U+2420)          | kept    |
| device names CON PRN AUX NUL COM0-9 LPT0-9  | `_` after the name: `CON_.mxf`      | kept    |
| CONIN$ CONOUT$ (any case, any extension)    |                                     |         |

The character mapping is rclone's (its default "encoding" for Windows disks), so a folder
mirrored by both tools holds the same names; device names are not handled by rclone.
Mapped, a component can never be a drive (`C:evil.mxf` becomes `C：evil.mxf`), an alternate
data stream, a device or a second path component, and Windows' silent trimming of trailing
dots and spaces cannot merge two names or turn `.. ` into `..`.
Refused components fail that one file (the run goes on): truncating would merge names.

Two server paths whose local names differ only in letter case (`o/EP1.mxf`, `o/ep1.mxf`) are
one file on a case-insensitive disk (NTFS always; APFS and HFS+ by default, found by statting
the sync's own folder under another case). Each run claims local names (see `NameClaims`):
names already in the state file first, then the rest in sorted order; a later path that
lands on a claimed name fails with a reason (the run goes on) rather than being renamed,
because a renamed file would change place whenever the set of licensed files changes.
Letters compare as NTFS compares them, one character upper-cased at a time (`ı` and `i` are
both `I`; `ß` stays `ß`), not with `casefold()`, which would also merge `Straße` and
`STRASSE`, two names NTFS keeps apart.

Windows paths of 248 characters or more (CreateDirectory's limit; files stop at 260) get the
`\\\\?\\` prefix, which lifts the limit to about 32,767 characters.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import TypeVar

from pool_sync.errors import ItemError

IS_WINDOWS = os.name == "nt"
# The sync's own folder inside the destination (cursor, manifest, lock, partial files).
STATE_DIR = ".jointpool-sync"
MAX_COMPONENT = 255
# CreateDirectoryW refuses 248 characters and more without the `\\?\` prefix (MAX_PATH 260
# minus room for an 8.3 file name); files alone would allow 259.
WINDOWS_SHORT_LIMIT = 248

_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in '<>:"/\\|?*'}
_CONTROL = {chr(code): chr(0x2400 + code) for code in range(1, 32)}
_WINDOWS_MAP = str.maketrans({**_FULLWIDTH, **_CONTROL})
_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$)", re.I)
_TRAILING = {".": "\uff0e", " ": "\u2420"}

P = TypeVar("P", bound=PurePath)


def _refuse(path: str, why: str) -> ItemError:
    return ItemError(f"refusing unsafe path {path!r} from the server: {why}")


def windows_component(name: str) -> str:
    """Map one component to a name Windows stores as given (see the module's table)."""
    mapped = name.translate(_WINDOWS_MAP)
    stem, dot, rest = mapped.partition(".")
    if _RESERVED.fullmatch(stem.rstrip(" ")):
        trimmed = stem.rstrip(" ")
        mapped = f"{trimmed}_{stem[len(trimmed) :]}{dot}{rest}"
    # Only the last character needs mapping: a name that does not end in `.` or space is
    # not trimmed at all (rclone maps the same single character).
    if mapped[-1:] in _TRAILING:
        mapped = mapped[:-1] + _TRAILING[mapped[-1]]
    return mapped


def local_parts(server_path: str, *, windows: bool = IS_WINDOWS) -> tuple[str, ...]:
    """Check every component of a server path; return them mapped for this OS, or refuse."""
    if "\x00" in server_path:
        raise _refuse(server_path, "NUL character")
    raw = server_path.split("/")
    if server_path.startswith("/") or not server_path:
        raise _refuse(server_path, "absolute or empty")
    parts: list[str] = []
    for part in raw:
        if part in ("", ".", ".."):
            raise _refuse(server_path, f"component {part!r}")
        local = windows_component(part) if windows else part
        units = len(local.encode("utf-16-le")) // 2 if windows else len(local.encode())
        if units > MAX_COMPONENT:
            raise _refuse(server_path, f"a name longer than {MAX_COMPONENT} characters")
        parts.append(local)
    first = parts[0].casefold() if windows else parts[0]
    if first == STATE_DIR:
        raise _refuse(server_path, "the sync's own folder")
    return tuple(parts)


def fold(name: str) -> str:
    """The key a case-insensitive disk compares a name by (NTFS' one-to-one upper-casing)."""
    return "".join(up if len(up := char.upper()) == 1 else char for char in name)


def case_insensitive(folder: Path, *, windows: bool = IS_WINDOWS) -> bool:
    """Whether names in `folder` ignore letter case (Windows, or an existing folder says so)."""
    if windows:
        return True
    # No probe file needed: the folder itself is looked up under another case.
    swapped = folder.with_name(folder.name.swapcase())
    try:
        return swapped != folder and os.path.samefile(folder, swapped)
    except OSError:
        return False


class NameClaims:
    """The local names one run uses: two server paths never share one file on this disk."""

    def __init__(self, *, fold_case: bool) -> None:
        self.fold_case = fold_case
        self._owners: dict[str, str] = {}

    def key(self, parts: tuple[str, ...]) -> str:
        """What two paths that land on one file have in common on this disk."""
        joined = "/".join(parts)
        return fold(joined) if self.fold_case else joined

    def claim(self, server_path: str, parts: tuple[str, ...]) -> None:
        """Claim where `server_path` lands (`parts`, mapped); refuse a name already taken."""
        owner = self._owners.setdefault(self.key(parts), server_path)
        if owner != server_path:
            raise ItemError(
                f"{server_path!r} lands on the same file as {owner!r} on this destination, "
                "which does not tell letter case apart; only the first is synced here (ask the "
                "publisher to rename one)"
            )


def safe_relative(server_path: str) -> PurePosixPath:
    """The server path as a relative POSIX path, refused like `local_parts` refuses it."""
    local_parts(server_path, windows=False)
    return PurePosixPath(server_path)


def local_path(destination: P, server_path: str, *, windows: bool = IS_WINDOWS) -> P:
    """Where a server path lands under `destination` (mapped, checked, long-path safe)."""
    parts = local_parts(server_path, windows=windows)
    target = destination.joinpath(*parts)
    # Belt and braces: whatever the mapping, the result must still lie under the destination.
    flavour = PureWindowsPath if windows else PurePosixPath
    if flavour(target).parts[: len(flavour(destination).parts)] != flavour(destination).parts:
        raise _refuse(server_path, "it leaves the destination")
    return extended(target) if windows else target


def extended(path: P) -> P:
    """Give a long absolute Windows path the `\\\\?\\` prefix; shorter ones stay as they are."""
    text = str(path)
    if len(text) < WINDOWS_SHORT_LIMIT or text.startswith("\\\\?\\"):
        return path
    win = PureWindowsPath(text)
    if not (win.drive and win.root):
        return path  # relative: the caller resolves it first (config does)
    if text.startswith("\\\\"):
        return type(path)("\\\\?\\UNC\\" + text[2:])
    return type(path)("\\\\?\\" + text)


def on_disk(path: P) -> P:
    """A path of the sync's own files, long-path safe on Windows."""
    return extended(path) if IS_WINDOWS else path
