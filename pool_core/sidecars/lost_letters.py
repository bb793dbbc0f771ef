"""Finding the `?` a letter became when a sidecar was saved in a code page that lacks it.

Excel and MAM exports write `?` for a letter their code page cannot hold (Azerbaijani `ə` in
Windows-1254, Kazakh `Қ` in Windows-1251). Where the `?` sits decides whether it was a letter:

| where                                          | example            | flagged |
| ---------------------------------------------- | ------------------ | ------- |
| between two letters                            | `G?lge`, `s?si`    | yes     |
| before a letter, with no letter before it      | `?li`, `(?sg?r)`   | yes     |
| after a letter, then a space and a small letter | `Ana v? bala`      | yes     |
| after a letter, then `,` `;` or `:`            | `Bak?, Quba`       | yes     |
| after a letter, then the end, a space and a    | `Kim?`, `Bak?`,    | no      |
| capital, or other punctuation                  | `Kim? Ali`, `(Kim?)` |       |

The last row is ambiguous: `Bak?` at the end of a value reads exactly like the question
`Kim?`. Questions are common in titles and synopses, so a lone word-final `?` before the end
or before a new sentence is taken for a question mark; a lost letter there is still caught
when the same value loses a letter anywhere else (an Azerbaijani phrase rarely has only one
`ə`), and the decoded code page is reported for every legacy file anyway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# A `?` touching a letter on at least one side; which side decides (see the table).
_CANDIDATE = re.compile(r"(?<=[^\W\d_])\?|\?(?=[^\W\d_])")
_LETTER = re.compile(r"[^\W\d_]")


def where_lost(value: str) -> str | None:
    """Where in a word `value` has a `?` that was probably a letter (None: nowhere)."""
    found = set()
    for match in _CANDIDATE.finditer(value):
        index = match.start()
        after = value[index + 1 : index + 2]
        letter_before = bool(_LETTER.fullmatch(value[index - 1 : index]))
        letter_after = bool(_LETTER.fullmatch(after))
        if letter_before and letter_after:
            return "inside"  # the surest sign: said first
        if letter_after:
            found.add("at the start of")
        elif after in (",", ";", ":") or (
            after == " " and value[index + 1 :].lstrip(" ")[:1].islower()
        ):
            found.add("at the end of")
    return next((w for w in ("at the start of", "at the end of") if w in found), None)


def lost_letter_warning(where: str, value: str, how: str) -> str:
    """The warning's words after the place the value came from."""
    return f"{value[:80]!r} has a '?' {where} a word; {how} (save it as UTF-8 to keep every letter)"


def how_lost(encoding: str | None) -> str:
    """Why the letter is gone: the file's own code page, or an earlier legacy save."""
    if encoding:
        return f"a letter {encoding} cannot hold was probably lost when the file was saved"
    return "a letter was probably lost when the file was once saved in a legacy code page"


# The encoding an XML declaration names; UTF-16 files (BOM) declare theirs in UTF-16, not here.
_XML_ENCODING = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']"""
)
UNICODE_NAMES = frozenset(("utf-8", "utf8", "utf-16", "utf16", "utf-16le", "utf-16be"))


def xml_legacy_encoding(data: bytes) -> str | None:
    """The legacy code page an XML document declares (None: Unicode or none declared)."""
    match = _XML_ENCODING.match(data[:200])
    if match is None:
        return None
    name = match.group(1).decode("ascii")
    return None if name.lower() in UNICODE_NAMES else name


def text_fields(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a dumped sidecar, with where it sits (`localizations.az.title`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from text_fields(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for number, item in enumerate(value, start=1):
            yield from text_fields(item, f"{path}[{number}]")
