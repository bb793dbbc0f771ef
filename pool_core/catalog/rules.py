"""Catalog field rules shared by the API and the sidecars: identifiers, languages, genres."""

from __future__ import annotations

import re

from pool_core.errors import InvalidInput

# The controlled genre list (a pragmatic subset of the EBU content genre scheme).
GENRES: tuple[str, ...] = (
    "action",
    "animation",
    "biography",
    "children",
    "comedy",
    "cooking",
    "crime",
    "culture",
    "current_affairs",
    "documentary",
    "drama",
    "economy",
    "education",
    "entertainment",
    "family",
    "fantasy",
    "history",
    "lifestyle",
    "music",
    "nature",
    "news",
    "politics",
    "reality",
    "religion",
    "romance",
    "science",
    "society",
    "sport",
    "talk_show",
    "thriller",
    "travel",
    "war",
)
GENRE_SET = frozenset(GENRES)

_BCP47 = re.compile(r"^([a-zA-Z]{2,3})(?:-([a-zA-Z]{4}))?(?:-([a-zA-Z]{2}|[0-9]{3}))?$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_EIDR = re.compile(
    r"^10\.5240/([0-9A-F]{4})-([0-9A-F]{4})-([0-9A-F]{4})-([0-9A-F]{4})-([0-9A-F]{4})-([0-9A-Z])$"
)
_ISAN_CHARS = re.compile(r"[^0-9A-Z]")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def normalize_language(tag: str) -> str:
    """Return a BCP 47 tag in canonical case (`kk-Cyrl`, `pt-BR`), refusing malformed ones."""
    match = _BCP47.match(tag.strip().replace("_", "-"))
    if not match:
        raise InvalidInput(
            f"language {tag!r} is not a BCP 47 tag like 'kk', 'kk-Cyrl', 'uz-Latn' or 'en-GB'"
        )
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def base_language(tag: str) -> str:
    """The primary language subtag of a BCP 47 tag."""
    return tag.split("-")[0].lower()


def normalize_genre(genre: str) -> str:
    """Map a genre to the controlled list, refusing unknown ones."""
    key = genre.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in GENRE_SET:
        raise InvalidInput(f"genre {genre!r} is not in the controlled list: {', '.join(GENRES)}")
    return key


def normalize_country(code: str) -> str:
    """Return an ISO 3166-1 alpha-2 code in upper case."""
    value = code.strip().upper()
    if not _COUNTRY.match(value):
        raise InvalidInput(f"country {code!r} must be an ISO 3166-1 alpha-2 code like KZ")
    return value


def mod37_36_check(chars: str) -> str:
    """The ISO 7064 MOD 37,36 check character of an alphanumeric string."""
    product = 36
    for char in chars:
        total = (product + int(char, 36)) % 36 or 36
        product = (2 * total) % 37
    return _ALPHABET[(37 - product) % 36]


def normalize_eidr(value: str) -> str:
    """Validate an EIDR content ID (`10.5240/XXXX-XXXX-XXXX-XXXX-XXXX-C`) and its check."""
    text = value.strip().upper()
    match = _EIDR.match(text)
    if not match:
        raise InvalidInput(
            f"EIDR {value!r} must look like 10.5240/XXXX-XXXX-XXXX-XXXX-XXXX-C (hex groups)"
        )
    *groups, check = match.groups()
    expected = mod37_36_check("".join(groups))
    if check != expected:
        raise InvalidInput(f"EIDR {value!r} has a wrong check character (expected {expected})")
    return text


def normalize_isan(value: str) -> str:
    """Validate an ISAN (root + episode [+ version]) with its check characters."""
    text = value.strip().upper()
    text = text.removeprefix("ISAN")
    compact = _ISAN_CHARS.sub("", text)
    if len(compact) not in (16, 17, 26):
        raise InvalidInput(
            f"ISAN {value!r} must be 16 hex digits (+ check) or a full V-ISAN "
            "like ISAN 0000-0001-8947-0000-8-0000-0000-D"
        )
    work = compact[:16]
    if not re.fullmatch(r"[0-9A-F]{16}", work):
        raise InvalidInput(f"ISAN {value!r}: root and episode must be hexadecimal")
    first = mod37_36_check(work)
    if len(compact) >= 17 and compact[16] != first:
        raise InvalidInput(f"ISAN {value!r} has a wrong first check character (expected {first})")
    if len(compact) == 26:
        version = compact[17:25]
        if not re.fullmatch(r"[0-9A-F]{8}", version):
            raise InvalidInput(f"ISAN {value!r}: the version part must be hexadecimal")
        second = mod37_36_check(work + version)
        if compact[25] != second:
            raise InvalidInput(
                f"ISAN {value!r} has a wrong second check character (expected {second})"
            )
        return (
            f"ISAN {work[0:4]}-{work[4:8]}-{work[8:12]}-{work[12:16]}-{first}-"
            f"{version[0:4]}-{version[4:8]}-{second}"
        )
    return f"ISAN {work[0:4]}-{work[4:8]}-{work[8:12]}-{work[12:16]}-{first}"
