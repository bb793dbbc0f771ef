"""UI languages: gettext catalogs (Babel), language negotiation, locale-aware formatting.

The catalogs are the `.po` files under `locale/`; they are compiled in memory the first time
a language is used, so no binary `.mo` file is kept in the repository.
"""

from __future__ import annotations

import functools
import gettext
import io
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from babel.units import format_unit

LOCALE_DIR = Path(__file__).parent / "locale"
# The UI's languages, in the switcher's order (the names are shown in their own language).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "ru": "Русский",
    "az": "Azərbaycanca",
    "kk": "Қазақша",
    "tr": "Türkçe",
    "uz": "O\u02bbzbekcha",
    "ky": "Кыргызча",
    "hu": "Magyar",
}
LANGUAGE_COOKIE = "jp_lang"
# Languages whose dotted and dotless i are separate letters: i and İ, dotless ı and I.  # noqa: RUF003
TURKIC_CASING = frozenset({"tr", "az"})
# Binary multiples, shown with CLDR's (decimal-named) digital units as file managers do.
_SIZE_UNITS = (
    ("digital-gigabyte", 1 << 30),
    ("digital-megabyte", 1 << 20),
    ("digital-kilobyte", 1 << 10),
)


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of one UI language (English is the source text)."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def negotiate(cookie: str | None, accept_language: str | None, default: str = "en") -> str:
    """The UI language: the switcher's cookie, else the best of Accept-Language, else default."""
    if cookie in LANGUAGES:
        return str(cookie)
    for tag in _accepted(accept_language or ""):
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return default if default in LANGUAGES else "en"


def _accepted(header: str) -> list[str]:
    """Accept-Language tags, best first (q=0 dropped; malformed weights count as 0)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(weighted)]


def upper(text: str, language: str) -> str:
    """Upper-case with the language's rules: in Turkish and Azerbaijani i becomes İ."""
    if language in TURKIC_CASING:
        text = text.replace("i", "\u0130")
    return text.upper()


def lower(text: str, language: str) -> str:
    """Lower-case with the language's rules: in Turkish and Azerbaijani I becomes dotless."""
    if language in TURKIC_CASING:
        text = text.replace("I", "\u0131").replace("\u0130", "i")
    return text.lower()


class Formatter:
    """Dates, numbers, durations and sizes in one UI language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language)

    def when(self, value: datetime | None) -> str:
        """A date and time to the minute (`Dec 1, 2026, 2:05 PM` in English)."""
        if value is None:
            return ""
        # The locale's medium date and short time joined by its own pattern (babel's "medium"
        # datetime would show seconds).
        joined = str(get_datetime_format("medium", locale=self.locale)).replace("'", "")
        return joined.replace("{0}", format_time(value, "short", locale=self.locale)).replace(
            "{1}", format_date(value, "medium", locale=self.locale)
        )

    def date(self, value: datetime | None) -> str:
        """A date alone (`Dec 1, 2026`, `2026. dec. 1.`)."""
        return "" if value is None else format_date(value, "medium", locale=self.locale)

    # Templates call it `fmt.day(dt)` too.
    day = date

    def number(self, value: float | int | None) -> str:
        """A number with the locale's separators."""
        return "" if value is None else format_decimal(value, locale=self.locale)

    def size(self, value: int | None) -> str:
        """Bytes as GB, MB or KB with the locale's decimal sign and unit (`1,5 ГБ`)."""
        if value is None:
            return ""
        for unit, scale in _SIZE_UNITS:
            if value >= scale:
                return format_unit(round(value / scale, 1), unit, "short", locale=self.locale)
        return format_unit(value, "digital-byte", "short", locale=self.locale)


def duration(seconds: float | None) -> str:
    """A programme duration as H:MM:SS (the same in every language)."""
    if seconds is None:
        return ""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def gettext_for(language: str) -> tuple[Callable[[str], str], Callable[[str, str, int], str]]:
    """The gettext and ngettext of one language."""
    catalog = translations(language)
    return catalog.gettext, catalog.ngettext
