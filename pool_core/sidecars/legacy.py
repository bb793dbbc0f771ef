# The docstring quotes Turkish and garbled words on purpose.
# ruff: noqa: RUF002
"""Telling which legacy code page a non-UTF-8 sidecar was saved in.

Excel in Russian, Kazakh or Turkish locales saves "CSV" in the locale's Windows code page.
Short files (a manifest of a few titles) give a statistical detector little to go on, so the
choice is made in three steps, each of which can only narrow the candidates:

1. charset-normalizer decodes the bytes with every code page the pool accepts and drops those
   whose text it finds messy (its "chaos" well above the best one's).
2. Our own script check counts what real titles never look like: a word mixing Latin and
   Cyrillic letters ("Iюэk" is Turkish "Işık" read as Windows-1251), a symbol glued to a
   letter, or Latin text whose words are mostly made only of accented letters ("Òèõèé" is
   Russian read as a Latin page). The least messy readings survive if they are nearly clean.
3. If the survivors disagree on the text, the uploader's country decides (its likely code
   pages, in order); KZ-1048 against Windows-1251 is settled by the bytes only KZ-1048 maps
   to Kazakh letters (unless all of them are Uzbek Ў ў, which Windows-1251 has there).
   Anything still open is ambiguous and refused: a wrong guess would put garbled titles
   into the catalog, which is worse than asking for UTF-8.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from charset_normalizer import from_bytes

# Every legacy code page the pool reads, with the name people know it by. Order matters
# only for naming: among code pages that give the same text, the first one here is named.
LEGACY_CODE_PAGES = {
    "cp1251": "Windows-1251",
    "kz1048": "KZ-1048",
    "cp1254": "Windows-1254",
    "iso8859_9": "ISO-8859-9",
    "cp1252": "Windows-1252",
    "cp1250": "Windows-1250",
    "iso8859_2": "ISO-8859-2",
}
# The code pages Excel and MAM tools of a country most likely use, most likely first.
LOCALE_CODE_PAGES: dict[str, tuple[str, ...]] = {
    "AZ": ("cp1254",),
    "TR": ("cp1254", "iso8859_9"),
    "KZ": ("kz1048", "cp1251"),
    "RU": ("cp1251",),
    "KG": ("cp1251",),
    "UZ": ("cp1251",),
    "TJ": ("cp1251",),
    "BY": ("cp1251",),
    "HU": ("cp1250", "iso8859_2"),
    "PL": ("cp1250", "iso8859_2"),
    "CZ": ("cp1250", "iso8859_2"),
    "SK": ("cp1250", "iso8859_2"),
    "RO": ("cp1250", "iso8859_2"),
    **{
        c: ("cp1252",)
        for c in ("GB", "IE", "US", "FR", "DE", "AT", "CH", "BE", "NL", "ES", "PT", "IT")
    },
}
# Bytes where KZ-1048 has a Kazakh letter and Windows-1251 a Serbian, Macedonian or
# Ukrainian one (none of which the pool's languages use) or Uzbek Ў ў (0xA1, 0xA2).
KZ1048_ONLY = frozenset(
    b
    for b in range(0x80, 0x100)
    if bytes([b]).decode("cp1251", "replace") != bytes([b]).decode("kz1048", "replace")
)
UZBEK_U = frozenset((0xA1, 0xA2))
# Icelandic letters: no member language uses them, but Turkish ş ğ read as Windows-1252 do.
FOREIGN_LETTERS = frozenset("þÞðÐ")
WORD = re.compile(r"[^\W\d_]+")
# Non-ASCII characters that are neither letters, digits nor spaces: symbols and controls.
ODD_CHAR = re.compile(r"[^\w\s\x00-\x7f]")
# charset-normalizer's chaos of a plausible decoding may exceed the best one's by this much.
CHAOS_MARGIN = 0.05


@dataclass(frozen=True)
class LegacyGuess:
    """The outcome: a code page and why it was chosen, or the candidates that disagree."""

    codec: str | None
    text: str
    how: str
    candidates: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The code page's common name."""
        return LEGACY_CODE_PAGES.get(self.codec or "", self.codec or "unknown")


def guess_legacy(data: bytes, *, country: str = "") -> LegacyGuess:
    """Choose the legacy code page of `data` (not UTF-8) as described in the module doc."""
    texts = _decodings(data)
    chaos = _chaos(data)
    scored = {c: t for c, t in texts.items() if c in chaos}
    if scored:
        best = min(chaos[c] for c in scored)
        scored = {c: t for c, t in scored.items() if chaos[c] <= best + CHAOS_MARGIN}
    # The least messy readings survive, if they are nearly clean: a "©" glued to a word is
    # fine, a title in the wrong alphabet is not.
    mess = {c: _mess(t) for c, t in scored.items()}
    least = min((m for m, _ in mess.values()), default=0)
    survivors = {c: t for c, t in scored.items() if mess[c][0] == least <= max(1, mess[c][1] // 20)}
    groups: dict[str, list[str]] = {}
    for name, text in survivors.items():
        groups.setdefault(text, []).append(name)
    if len(groups) == 1:
        (text, names), *_ = groups.items()
        return LegacyGuess(_preferred(names, country), text, "detected")
    locale = LOCALE_CODE_PAGES.get(country.upper(), ())
    if {"cp1251", "kz1048"} == set(survivors) and "kz1048" not in locale:
        # Uzbek Ў is the one Windows-1251 letter at those bytes a member language uses.
        uses = {b for b in data if b in KZ1048_ONLY}
        codec: str | None = "cp1251" if uses <= UZBEK_U else "kz1048"
    else:
        codec = next((c for c in locale if c in survivors), None)
    if codec is None:
        labels = tuple(LEGACY_CODE_PAGES[c] for c in LEGACY_CODE_PAGES if c in survivors)
        return LegacyGuess(None, "", "ambiguous", labels)
    how = "detected" if codec not in locale else f"the usual code page in {country.upper()}"
    return LegacyGuess(codec, survivors[codec], how)


def equivalents(data: bytes, codec: str) -> list[str]:
    """Other accepted code pages that read `data` as the same text."""
    texts = _decodings(data)
    return [LEGACY_CODE_PAGES[c] for c, t in texts.items() if c != codec and t == texts.get(codec)]


def _preferred(codecs: list[str], country: str) -> str:
    locale = LOCALE_CODE_PAGES.get(country.upper(), ())
    return next((c for c in locale if c in codecs), codecs[0])


def _decodings(data: bytes) -> dict[str, str]:
    texts = {}
    for codec in LEGACY_CODE_PAGES:
        try:
            texts[codec] = data.decode(codec)
        except UnicodeDecodeError:
            continue  # a byte this code page leaves undefined: not this one
    return texts


def _chaos(data: bytes) -> dict[str, float]:
    """charset-normalizer's mess ratio for each accepted code page it did not rule out."""
    chaos: dict[str, float] = {}
    for match in from_bytes(data, cp_isolation=list(LEGACY_CODE_PAGES)):
        for codec in match.could_be_from_charset:
            if codec in LEGACY_CODE_PAGES:
                chaos.setdefault(codec, match.chaos)
    return chaos


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    if name.startswith("LATIN"):
        return "latin"
    if name.startswith("CYRILLIC"):
        return "cyrillic"
    return "other"


def _mess(text: str) -> tuple[int, int]:
    """How many signs of a wrong code page the text shows, and out of how many words."""
    words = {w for w in WORD.findall(text) if not w.isascii()}
    mess = 0
    for match in ODD_CHAR.finditer(text):
        index = match.start()
        if unicodedata.category(text[index])[0] in "SC":
            mess += any(c.isalpha() for c in text[max(0, index - 1) : index + 2])
    accented_only = 0
    accented = 0
    for word in words:
        scripts = {_script(c) for c in word}
        if {"latin", "cyrillic"} <= scripts or "other" in scripts:
            mess += 1
        mess += sum(c in FOREIGN_LETTERS for c in word)
        if "latin" in scripts:
            accented += 1
            accented_only += len(word) >= 3 and all(ord(c) > 0x7F for c in word)
    if accented_only and accented_only * 2 >= accented:
        mess += accented_only
    return mess, len(words)
