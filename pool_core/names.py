"""Virtual path names: one normaliser every door uses, so a hostile name is refused everywhere.

A virtual path is absolute, `/`-separated, NFC-normalised UTF-8, with `.` and `..` resolved
(never above `/`) and no empty components. Names must survive the trip to a broadcaster's
storage (Windows shares included) without colliding or hiding, hence the extra rules on
trailing dots and spaces and on invisible control characters.

Names written into the pool (STOR, APPE, MKD, RNTO) must also be portable: every component of
the target is checked by `check_portable_path`, which refuses what Windows would store
differently or not at all (`< > : " | ? *`, and the device names CON, PRN, AUX, NUL, COM0-9,
LPT0-9, CONIN$, CONOUT$ with or without an extension). Refused rather than mapped: a client that
stores `a:b.mxf` and then asks for `SIZE a:b.mxf` must find what it stored, or be told at once.
Names already in the pool stay readable, renamable and deletable.
"""

from __future__ import annotations

import re
import unicodedata

from pool_core.errors import InvalidInput

# The two top folders of every organization's tree.
INCOMING_ROOT = "/incoming"
LICENSED_ROOT = "/licensed"
MAX_NAME_BYTES = 255
# The longest path a PendingUpload row can hold.
MAX_PATH_BYTES = 4096
# Extensions of the media files that become assets (masters); everything else is a plain file.
MASTER_EXTENSIONS = frozenset(
    {
        # video
        "mxf", "mov", "mp4", "m4v", "mkv", "webm", "ts", "m2ts", "mts", "m2t", "mpg", "mpeg",
        "m2v", "vob", "avi", "dv", "wmv", "y4m",
        # audio
        "wav", "bwf", "aif", "aiff", "flac", "mp3", "m4a", "aac", "ac3", "eac3",
    }
)  # fmt: skip

# Bidirectional overrides and isolates let a name display differently from what it is
# ("evil\u202excm.mxf" shows as "evilfxm.mxf"); line/paragraph separators break listings.
_INVISIBLE_HOSTILE = frozenset(
    "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029\ufeff"
)

# What Windows refuses in a name (`:` would also make `C:evil.mxf` drive-relative, and
# `ep1.mxf:x` an alternate data stream); `/` and `\\` are refused for every client already.
_NOT_ON_WINDOWS = '<>:"|?*'
# Windows opens these devices whatever the extension (`CON.mxf`) and with spaces before it.
_DEVICE_NAMES = re.compile(
    r"(CON|PRN|AUX|NUL|COM[0-9\u00b9\u00b2\u00b3]|LPT[0-9\u00b9\u00b2\u00b3]|CONIN\$|CONOUT\$)",
    re.IGNORECASE,
)


def _check_characters(text: str) -> None:
    for char in text:
        code = ord(char)
        if code == 0:
            raise InvalidInput("names must not contain NUL bytes")
        if code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            raise InvalidInput(f"names must not contain control characters (found U+{code:04X})")
        if 0xD800 <= code <= 0xDFFF:
            raise InvalidInput("names must be valid UTF-8")
        if char in _INVISIBLE_HOSTILE:
            raise InvalidInput(
                f"names must not contain invisible direction or separator marks "
                f"(found U+{code:04X})"
            )
        if char == "\\":
            # A Windows client sending `dir\file` would create one odd name, and a backslash
            # name breaks every Windows-side mirror; say how to do it right instead.
            raise InvalidInput("names must not contain a backslash; use '/' between folders")


def check_name(name: str) -> str:
    """Validate one path component and return it NFC-normalised."""
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise InvalidInput("empty file or folder names are not allowed")
    _check_characters(name)
    if "/" in name:
        raise InvalidInput("a name must not contain '/'")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidInput(f"names must be at most {MAX_NAME_BYTES} bytes in UTF-8")
    if set(name) == {"."}:
        raise InvalidInput(f"{name!r} is not a valid name")
    if name[-1] in ". ":
        # Windows drops trailing dots and spaces, so "ep01 " and "ep01" would collide there.
        raise InvalidInput(f"names must not end with a dot or a space: {name!r}")
    return name


def check_portable_name(name: str) -> None:
    """Refuse a name a Windows mirror could not store as given (see the module's docstring)."""
    found = sorted({char for char in name if char in _NOT_ON_WINDOWS})
    if found:
        shown = " ".join(repr(char) for char in found)
        raise InvalidInput(f"{name!r} cannot be stored on Windows: it contains {shown}")
    stem = name.partition(".")[0].rstrip(" ")
    if _DEVICE_NAMES.fullmatch(stem):
        raise InvalidInput(
            f"{name!r} cannot be stored on Windows: {stem.upper()} is a device name there"
        )


# How a name the pool makes from text people typed (a title's folder under `/licensed`) becomes
# portable: rclone's and the sync's fullwidth look-alikes, `_` after a device name. Mapped,
# not refused: the title keeps its real name in the catalog. The sync maps the same way, so a
# name mapped here is left alone there.
_FULLWIDTH = str.maketrans({char: chr(ord(char) + 0xFEE0) for char in _NOT_ON_WINDOWS})


def portable_name(name: str) -> str:
    """`name` (already free of separators, control characters and trailing dots or spaces)
    as a Windows mirror can store it: `C:evil` becomes `C` U+FF1A `evil`, `CON` is `CON_`."""
    mapped = name.translate(_FULLWIDTH)
    stem, dot, rest = mapped.partition(".")
    trimmed = stem.rstrip(" ")
    if _DEVICE_NAMES.fullmatch(trimmed):
        mapped = f"{trimmed}_{stem[len(trimmed) :]}{dot}{rest}"
    return mapped


def check_portable_path(path: str) -> None:
    """Refuse a normalised path to be written if any of its names is not portable."""
    for name in path_components(path):
        check_portable_name(name)


def resolve_path(cwd: str, path: str) -> str:
    """Return the absolute, normalised virtual path of `path` seen from folder `cwd`."""
    if not path:
        raise InvalidInput("a file or folder name is required")
    path = unicodedata.normalize("NFC", path)
    _check_characters(path)
    parts: list[str] = []
    if not path.startswith("/"):
        cwd = unicodedata.normalize("NFC", cwd or "/")
        _check_characters(cwd)
        parts.extend(p for p in cwd.split("/") if p and p != ".")
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            # Never above the root: `/../..` is `/`, as on any FTP server.
            if parts:
                parts.pop()
            continue
        parts.append(part)
    parts = [check_name(p) for p in parts]
    result = "/" + "/".join(parts)
    if len(result.encode("utf-8")) > MAX_PATH_BYTES:
        raise InvalidInput(f"paths must be at most {MAX_PATH_BYTES} bytes in UTF-8")
    return result


def split_path(path: str) -> tuple[str, str]:
    """Split a normalised absolute path into its parent folder and its last name."""
    if path == "/":
        return "/", ""
    parent, _, name = path.rpartition("/")
    return parent or "/", name


def path_components(path: str) -> list[str]:
    """The names along a normalised absolute path (`/` has none)."""
    return [p for p in path.split("/") if p]
