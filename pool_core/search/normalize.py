# Cyrillic and Turkic letters are this module's data, not look-alike typos.
# ruff: noqa: RUF001, RUF002, RUF003
"""Cross-script folding: every text, Latin or Cyrillic, to one canonical Latin form.

The members write the same names in several alphabets: `Қазақстан` / `Qazaqstan`,
`Ўзбекистон` / `Oʻzbekiston` / `Özbekiston`, `Azərbaycan` / `Azerbaycan` / `Азәрбајҹан`.
Documents and queries pass through the same `fold()`, so any of those spellings meets the
others. The folded form is a matching key, never shown to people:

1. Cyrillic is transliterated letter by letter with a table chosen to land where the Turkic
   Latin alphabets (kk, ky, uz, az, tr) land once their diacritics are stripped (қ→q, ғ→g,
   ә→e, ө→o, ў→o, ҹ→c, ј→y, ш→s, ч→c, ж→j, х→h).
2. Turkish dotless ı and dotted İ become i; ə becomes e; other letters lose their diacritics
   by Unicode decomposition; apostrophe-like marks (Uzbek oʻ, gʻ) disappear.
3. Latin digraphs that spell one Cyrillic letter are merged (sh→s, ch→c, zh→j, kh→h, gh→g)
   and x→h (Uzbek and Azerbaijani write х as x), so `Shymkent` meets `Шымкент` and
   `Kazakhstan` meets `Казахстан`.
4. Whatever is not `[a-z0-9]` separates words.
"""

from __future__ import annotations

import re
import unicodedata

# Longest folded term kept; longer runs are cut so index rows stay bounded.
MAX_TERM_LENGTH = 48
# Words kept per document and per query: enough for any synopsis, bounded against abuse.
MAX_DOCUMENT_TERMS = 4000
MAX_QUERY_TERMS = 12

CYRILLIC_TO_LATIN: dict[str, str] = {
    "а": "a",
    "ә": "e",
    "б": "b",
    "в": "v",
    "г": "g",
    "ғ": "g",
    "ґ": "g",
    "д": "d",
    "е": "e",
    "ё": "yo",
    "є": "ye",
    "ж": "j",
    "җ": "j",
    "з": "z",
    "и": "i",
    "і": "i",
    "ї": "yi",
    "й": "y",
    "ј": "y",
    "к": "k",
    "қ": "q",
    "ҡ": "q",
    "л": "l",
    "м": "m",
    "н": "n",
    "ң": "n",
    "о": "o",
    "ө": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ұ": "u",
    "ү": "u",
    "ў": "o",
    "ф": "f",
    "х": "h",
    "ҳ": "h",
    "һ": "h",
    "ц": "ts",
    "ч": "c",
    "ҷ": "j",
    "ҹ": "c",
    "ш": "s",
    "щ": "sc",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
}

# Latin letters Unicode decomposition does not take apart.
LATIN_SPECIAL: dict[str, str] = {
    "ı": "i",
    "ə": "e",
    "ǝ": "e",
    "ß": "ss",
    "æ": "ae",
    "œ": "oe",
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ł": "l",
    "ħ": "h",
    "ŋ": "n",
    "þ": "th",
}

# Marks that sit inside words (Uzbek oʻ/gʻ, English don't) and must not split them.
APOSTROPHES = "'`´ʻʼʹ‘’′"

_TABLE = str.maketrans({**CYRILLIC_TO_LATIN, **LATIN_SPECIAL, **dict.fromkeys(APOSTROPHES, "")})
# Spellings of one sound that the alphabets disagree on, merged after transliteration.
_DIGRAPHS = re.compile(r"sh|ch|zh|kh|gh|x")
_DIGRAPH_MAP = {"sh": "s", "ch": "c", "zh": "j", "kh": "h", "gh": "g", "x": "h"}
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Fold any text to lowercase ASCII in the canonical cross-script form."""
    # casefold first: it also maps the capital Cyrillic and Turkish letters the table keys on.
    lowered = text.casefold().translate(_TABLE)
    decomposed = unicodedata.normalize("NFKD", lowered)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Some letters only appear after decomposition (e.g. a precomposed ǝ with a mark).
    stripped = stripped.translate(_TABLE)
    return _DIGRAPHS.sub(lambda m: _DIGRAPH_MAP[m.group(0)], stripped)


def terms(text: str, *, limit: int = MAX_DOCUMENT_TERMS) -> list[str]:
    """Split text into folded `[a-z0-9]+` terms, in order, duplicates kept."""
    return [word[:MAX_TERM_LENGTH] for word in _WORD.findall(fold(text))[:limit]]


def unique_terms(*texts: str, limit: int = MAX_DOCUMENT_TERMS) -> list[str]:
    """The distinct folded terms of several texts, in first-seen order."""
    seen: dict[str, None] = {}
    for text in texts:
        for term in terms(text, limit=limit):
            seen.setdefault(term, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


def sort_key(text: str) -> str:
    """A folded, space-normalised key for sorting titles alphabetically across scripts."""
    return " ".join(terms(text, limit=64))[:512]
