"""UI languages: the catalogs, their extraction command, negotiation, formatting and casing."""
# ruff: noqa: RUF001

from __future__ import annotations

import gettext
import io
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from catalog_web import i18n, messages
from catalog_web.render import template_context
from tests.fixtures.api import Members
from tests.fixtures.web import sign_in

ROOT = Path(__file__).resolve().parents[2]
# How each language says "Sign in" and "Search the catalog" (read by a person, not copied
# from the catalogs, so a broken or swapped catalog shows).
SIGN_IN = {
    "en": "Sign in",
    "ru": "Войти",
    "az": "Daxil ol",
    "kk": "Кіру",
    "tr": "Giriş yap",
    "uz": "Kirish",
    "ky": "Кирүү",
    "hu": "Bejelentkezés",
}
SEARCH_THE_CATALOG = {
    "en": "Search the catalog",
    "ru": "Поиск по каталогу",
    "az": "Kataloqda axtarış",
    "kk": "Каталогтан іздеу",
    "tr": "Katalogda ara",
    "uz": "Katalogdan qidirish",
    "ky": "Каталогдон издөө",
    "hu": "Keresés a katalógusban",
}
NOT_FOUND = {"en": "Not found", "ru": "Не найдено", "kk": "Табылмады", "tr": "Bulunamadı"}


def _catalog(language: str) -> Catalog:
    catalog = messages.load(messages.catalog_path(language), language)
    assert catalog is not None, f"no catalog for {language}"
    return catalog


# --- The catalogs -------------------------------------------------------------------------


def test_every_ui_language_but_english_has_a_catalog() -> None:
    assert set(messages.CATALOG_LANGUAGES) == set(i18n.LANGUAGES) - {"en"}
    assert set(messages.CATALOG_LANGUAGES) == set(SIGN_IN) - {"en"}
    assert set(messages.COMPLETE_LANGUAGES) <= set(messages.CATALOG_LANGUAGES)
    # The app reads the catalogs where the command writes them.
    assert messages.locale_dir() == i18n.LOCALE_DIR


@pytest.mark.parametrize("language", messages.CATALOG_LANGUAGES)
def test_catalog_parses_and_compiles(language: str) -> None:
    catalog = _catalog(language)
    assert str(catalog.locale) == language
    assert not catalog.fuzzy, "a fuzzy header would make gettext tools skip the catalog"
    assert list(catalog.check()) == [], "babel's own checks (plural counts, formats)"
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    translated = Translations(compiled)
    assert translated.gettext("Sign in") == SIGN_IN[language]
    # The app's loader (compiled in memory) gives the same.
    assert i18n.translations(language).gettext("Sign in") == SIGN_IN[language]
    assert (
        i18n.translations(language).gettext("Search the catalog") == (SEARCH_THE_CATALOG[language])
    )


def _cldr_plural_index(language: str, n: int) -> int:
    """The gettext plural index CLDR's rules give (Russian: one, few, many; others: one/other)."""
    category = Locale.parse(language).plural_form(n)
    order = ["one", "few", "many"] if language == "ru" else ["one", "other"]
    return order.index(category)


@pytest.mark.parametrize("language", messages.CATALOG_LANGUAGES)
def test_plural_forms_header_follows_cldr(language: str) -> None:
    catalog = _catalog(language)
    header = dict(catalog.mime_headers)
    assert header["Language"] == language
    plural_forms = header["Plural-Forms"]
    nplurals = int(re.search(r"nplurals=(\d+)", plural_forms).group(1))  # type: ignore[union-attr]
    assert nplurals == (3 if language == "ru" else 2)
    expression = re.search(r"plural=(.+?);?$", plural_forms).group(1)  # type: ignore[union-attr]
    choose = gettext.c2py(expression)
    for n in range(0, 1002):
        assert choose(n) == _cldr_plural_index(language, n), (language, n)


def test_russian_plurals_pick_one_few_many() -> None:
    catalog = _catalog("ru")
    catalog.add(("%(n)s title", "%(n)s titles"), ("%(n)s фильм", "%(n)s фильма", "%(n)s фильмов"))
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    ngettext = Translations(compiled).ngettext
    shown = [ngettext("%(n)s title", "%(n)s titles", n) % {"n": n} for n in (1, 3, 5, 11, 21)]
    assert shown == ["1 фильм", "3 фильма", "5 фильмов", "11 фильмов", "21 фильм"]


@pytest.mark.parametrize("language", messages.COMPLETE_LANGUAGES)
def test_complete_languages_translate_every_message_the_sources_use(language: str) -> None:
    # Against a fresh extraction, so a new string in a template fails here until the
    # catalogs are updated and translated.
    template = messages.extract_template()
    assert len(template) >= 20
    catalog = _catalog(language)
    missing = [
        message.id
        for message in template
        if message.id
        and (
            (found := catalog.get(message.id, context=message.context)) is None
            or found.fuzzy
            or not all(found.string if isinstance(found.string, tuple) else (found.string,))
        )
    ]
    assert missing == [], f"{language} lacks translations of {missing}"
    assert messages.untranslated(catalog) == []


@pytest.mark.parametrize("language", sorted(set(messages.CATALOG_LANGUAGES)))
def test_translations_keep_the_msgids_placeholders(language: str) -> None:
    assert messages.placeholder_errors(_catalog(language)) == []


def test_placeholder_check_catches_a_renamed_or_dropped_placeholder() -> None:
    catalog = Catalog(locale="tr")
    catalog.add("%(name)s approved", "%(isim)s onayladı")
    catalog.add("%(count)s files", "dosyalar")
    catalog.add(("%(n)s title", "%(n)s titles"), ("%(n)s başlık", "%(m)s başlık"))
    catalog.add(("One title", "%(n)s titles"), ("Bir başlık", "%(n)s başlık"))
    catalog.add("%(name)s uploaded %(size)s", "%(size)s, %(name)s tarafından yüklendi")
    errors = messages.placeholder_errors(catalog)
    assert len(errors) == 3
    assert any("%(isim)s" in error for error in errors)
    assert any("'dosyalar'" in error for error in errors)
    assert any("%(m)s" in error for error in errors)


def test_no_catalog_is_behind_the_sources() -> None:
    """`python -m catalog_web.messages --check` passes on the committed tree."""
    done = subprocess.run(
        [sys.executable, "-m", "catalog_web.messages", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "out of date" not in done.stderr


# --- The extraction command ---------------------------------------------------------------


@pytest.fixture
def source_copy(tmp_path: Path) -> Path:
    """The web UI's sources, mapping and catalogs, copied to edit without touching the tree."""
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    shutil.copytree(
        ROOT / "catalog_web",
        tmp_path / "catalog_web",
        ignore=shutil.ignore_patterns("__pycache__", "static"),
    )
    return tmp_path


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(messages.locale_dir(root).rglob("*.po*"))
    }


def test_rerunning_on_unchanged_sources_changes_nothing(source_copy: Path) -> None:
    before = _files(source_copy)
    assert len(before) == 1 + len(messages.CATALOG_LANGUAGES)
    assert messages.main([], root=source_copy) == 0
    assert _files(source_copy) == before


def test_new_and_changed_strings_are_merged_keeping_translations(source_copy: Path) -> None:
    search = source_copy / "catalog_web" / "templates" / "search.html"
    text = search.read_text(encoding="utf-8")
    text = text.replace('_("Search the catalog")', '_("Search the whole catalog")')
    text += '\n{{ ngettext("%(n)s lunar title", "%(n)s lunar titles", 2) | format(n=2) }}\n'
    search.write_text(text, encoding="utf-8")
    (source_copy / "catalog_web" / "pages" / "extra.py").write_text(
        'def label(_):\n    return _("Licensed on the Moon")\n', encoding="utf-8"
    )
    assert messages.main(["--check"], root=source_copy) == 1
    assert messages.main([], root=source_copy) == 0
    assert messages.main(["--check"], root=source_copy) == 0
    template = messages.load(messages.template_path(source_copy))
    assert template is not None
    assert "Licensed on the Moon" in template and ("%(n)s lunar title") in template
    assert "Search the catalog" not in template, "a message no source uses is dropped"
    ru = messages.load(messages.catalog_path("ru", source_copy), "ru")
    assert ru is not None
    assert ru.get("Sign in").string == "Войти", "existing translations are kept"
    changed = ru.get("Search the whole catalog")
    assert changed.fuzzy and changed.string == "Поиск по каталогу", "near match offered, fuzzy"
    # A new message starts empty, or with a fuzzy near match (msgmerge does the same),
    # which the app does not use.
    licensed = ru.get("Licensed on the Moon")
    assert licensed.fuzzy or licensed.string == ""
    compiled = io.BytesIO()
    write_mo(compiled, ru)
    compiled.seek(0)
    assert Translations(compiled).gettext("Licensed on the Moon") == "Licensed on the Moon"
    plural = ru.get("%(n)s lunar title")
    assert len(plural.string) == 3, "three plural forms in Russian"
    assert plural.fuzzy or plural.string == ("", "", ""), "new: empty or a fuzzy near match"
    assert set(messages.untranslated(ru)) == {
        "Search the whole catalog",
        "Licensed on the Moon",
        "%(n)s lunar title",
    }
    files = _files(source_copy)
    assert messages.main([], root=source_copy) == 0
    assert _files(source_copy) == files, "a second run is a no-op"
    po_text = messages.catalog_path("ru", source_copy).read_text(encoding="utf-8")
    assert "#: catalog_web/templates/search.html\n" in po_text, "locations without line numbers"
    assert "#: catalog_web/pages/extra.py\n" in po_text


def test_untranslated_lists_what_a_language_lacks(
    source_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signin = source_copy / "catalog_web" / "templates" / "signin.html"
    signin.write_text(
        signin.read_text(encoding="utf-8") + '{{ _("Forgot your password?") }}\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    assert messages.main(["--untranslated", "kk"], root=source_copy) == 0
    assert capsys.readouterr().out.splitlines() == ["Forgot your password?"]


# --- Pages in each language -----------------------------------------------------------------


@pytest.mark.parametrize("language", list(i18n.LANGUAGES))
def test_sign_in_page_follows_accept_language(
    web_client: TestClient, members: Members, language: str
) -> None:
    page = web_client.get("/signin", headers={"Accept-Language": f"{language}-XX,en;q=0.5"})
    assert page.status_code == 200
    assert f'<html lang="{language}">' in page.text
    assert page.headers["content-language"] == language
    assert f"<h1>{SIGN_IN[language]}</h1>" in page.text
    assert re.search(rf'<option value="{language}" lang="{language}"\s+selected>', page.text)


def test_signed_in_pages_render_in_each_language(web_client: TestClient, members: Members) -> None:
    done = sign_in(web_client, members.username("kztv"), members.password("kztv"))
    assert done.status_code == 303
    for language in i18n.LANGUAGES:
        switched = web_client.post("/language", data={"language": language, "next": "/"})
        assert switched.status_code == 303
        assert switched.headers["location"] == "/"
        # The switcher's cookie wins over the browser's language.
        home = web_client.get("/", headers={"Accept-Language": "hu"})
        assert home.status_code == 200
        assert f'<html lang="{language}">' in home.text
        assert f">{SEARCH_THE_CATALOG[language]}</label>" in home.text
        sign_out = i18n.translations(language).gettext("Sign out")
        assert f">{sign_out}</button>" in home.text
        if language in NOT_FOUND:
            missing = web_client.get("/no-such-page")
            assert missing.status_code == 404
            assert NOT_FOUND[language] in missing.text


def test_unknown_language_choice_is_ignored(web_client: TestClient, members: Members) -> None:
    switched = web_client.post("/language", data={"language": "xx", "next": "/signin"})
    assert switched.status_code == 303
    assert i18n.LANGUAGE_COOKIE not in switched.headers.get("set-cookie", "")
    page = web_client.get("/signin", headers={"Accept-Language": "ky"})
    assert '<html lang="ky">' in page.text


# --- Negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, "tr-TR,tr;q=0.9", "tr"),
        (None, "kk-KZ", "kk"),
        (None, "KK-kz", "kk"),
        (None, "de-DE,fr;q=0.8", "en"),
        (None, "", "en"),
        (None, None, "en"),
        (None, "*", "en"),
        (None, "ru;q=0, az;q=0.1", "az"),
        (None, "ru;q=0", "en"),
        (None, "de, uz;q=0.3, ky;q=0.7", "ky"),
        (None, "hu;q=0.5, ru;q=0.5", "hu"),
        (None, "ru;q=abc, tr;q=0.2", "tr"),
        ("kk", "tr-TR,tr;q=0.9", "kk"),
        ("en", "ru", "en"),
        ("xx", "ru", "ru"),
    ],
)
def test_negotiate(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, header) == expected


def test_negotiate_falls_back_to_the_configured_default() -> None:
    assert i18n.negotiate(None, "de", default="kk") == "kk"
    assert i18n.negotiate(None, "tr", default="kk") == "tr"
    assert i18n.negotiate(None, "de", default="xx") == "en"


# --- Formatting ---------------------------------------------------------------------------

MOMENT = datetime(2026, 12, 1, 14, 5, 30, tzinfo=UTC)


def test_numbers_use_the_locales_separators() -> None:
    assert i18n.Formatter("en").number(1234567.5) == "1,234,567.5"
    # Russian groups with a no-break space and writes a decimal comma.
    assert i18n.Formatter("ru").number(1234567.5) == "1\u00a0234\u00a0567,5"
    assert i18n.Formatter("kk").number(1234567.5) == "1\u00a0234\u00a0567,5"
    assert i18n.Formatter("tr").number(1234567.5) == "1.234.567,5"
    assert i18n.Formatter("az").number(1234567.5) == "1.234.567,5"
    assert i18n.Formatter("hu").number(1234567.5) == "1\u00a0234\u00a0567,5"
    assert i18n.Formatter("ru").number(None) == ""


def _plain(text: str) -> str:
    """CLDR puts (narrow) no-break spaces in dates; compare with plain ones."""
    return text.replace("\u202f", " ").replace("\u00a0", " ")


def test_dates_use_the_locales_words_and_order() -> None:
    # To the minute: the seconds (30) are not shown.
    assert _plain(i18n.Formatter("en").when(MOMENT)) == "Dec 1, 2026, 2:05 PM"
    assert _plain(i18n.Formatter("ru").when(MOMENT)) == "1 дек. 2026 г., 14:05"
    assert _plain(i18n.Formatter("tr").when(MOMENT)) == "1 Ara 2026 14:05"
    assert _plain(i18n.Formatter("hu").day(MOMENT)) == "2026. dec. 1."
    assert _plain(i18n.Formatter("kk").date(MOMENT)) == "2026 ж. 01 жел."
    assert _plain(i18n.Formatter("az").day(MOMENT)) == "1 dek 2026"
    assert i18n.Formatter("ru").when(None) == ""


def test_sizes_use_the_locales_decimal_sign_and_units() -> None:
    gigabytes = 1536 * 1024 * 1024
    assert i18n.Formatter("en").size(gigabytes) == "1.5 GB"
    assert i18n.Formatter("ru").size(gigabytes) == "1,5 ГБ"
    assert i18n.Formatter("tr").size(gigabytes) == "1,5 GB"
    assert i18n.Formatter("ru").size(5 * 1024 * 1024) == "5 МБ"
    assert i18n.Formatter("tr").size(12) == "12 bayt"
    assert i18n.Formatter("en").size(None) == ""
    assert i18n.duration(3725.4) == "1:02:05"


# --- Casing -------------------------------------------------------------------------------


def test_turkish_and_azerbaijani_dotted_and_dotless_i() -> None:
    assert i18n.upper("istanbul", "tr") == "\u0130STANBUL"
    assert i18n.upper("ılıca", "tr") == "ILICA"
    assert i18n.upper("bakı şəhəri", "az") == "BAKI ŞƏHƏRİ"
    assert i18n.lower("ISPARTA", "az") == "\u0131sparta"
    assert i18n.lower("\u0130ZMİR", "tr") == "izmir"
    assert i18n.lower("DİYARBAKIR", "tr") == "diyarbakır"


def test_other_languages_case_normally() -> None:
    assert i18n.upper("istanbul", "en") == "ISTANBUL"
    assert i18n.lower("ISPARTA", "en") == "isparta"
    assert i18n.upper("istanbul", "kk") == "ISTANBUL"
    assert i18n.upper("алматы", "ru") == "АЛМАТЫ"


def test_templates_upper_case_in_the_pages_language(web_app: FastAPI) -> None:
    def context_for(cookie: str) -> dict[str, Any]:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "query_string": b"",
            "headers": [(b"cookie", f"{i18n.LANGUAGE_COOKIE}={cookie}".encode())],
            "app": web_app,
        }
        return template_context(Request(scope), None)

    assert context_for("tr")["upper"]("istanbul") == "\u0130STANBUL"
    assert context_for("az")["upper"]("bakı") == "BAKI"
    assert context_for("en")["upper"]("istanbul") == "ISTANBUL"
    assert context_for("tr")["fmt"].number(1234.5) == "1.234,5"
