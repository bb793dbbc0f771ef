# Multilingual titles are the test data.
# ruff: noqa: RUF001, RUF003
"""Search on SQLite (FTS5) and PostgreSQL (tsvector): the same results from the same tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import product

import pytest
from sqlalchemy.orm import Session

from pool_core.catalog.episodes import upsert_episode
from pool_core.catalog.inputs import Localized, TitleInput
from pool_core.catalog.titles import (
    create_title,
    delete_title,
    get_title,
    read_title,
    update_title,
)
from pool_core.common.actor import Actor
from pool_core.common.pagination import encode_cursor
from pool_core.db import Database
from pool_core.errors import InvalidInput, NotFound
from pool_core.licensing.rights import create_rights_window, visible_title
from pool_core.models import License, Title, User, title_visible
from pool_core.search import statements, typos
from pool_core.search.availability import Availability, availability_of
from pool_core.search.backends import ensure_search_schema
from pool_core.search.engine import search_titles
from pool_core.search.statements import SearchFilters, SearchSort
from pool_core.search.typos import rebuild_vocabulary, typo_variants
from pool_core.services.accounts import create_organization, create_user


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """One unit of work for the whole test (flushes make everything visible inside it)."""
    with database.session() as s:
        yield s


@pytest.fixture
def editors(session: Session) -> tuple[User, User]:
    """An editor in each of two organizations."""
    kz = create_organization(session, code="kztv", name="Kazakh TV", country="KZ")
    uz = create_organization(session, code="uztv", name="Uzbek TV", country="UZ")
    a = create_user(session, org=kz, username="kz-editor", role="editor").user
    b = create_user(session, org=uz, username="uz-editor", role="editor").user
    return a, b


def add(session: Session, user: User, original: str, **fields: object) -> Title:
    """Create a title with the given original title and fields."""
    localizations = fields.pop("localizations", {})
    data = TitleInput(
        original_title=original,
        kind=str(fields.pop("kind", "documentary")),
        localizations={k: Localized(*v) for k, v in dict(localizations).items()},  # type: ignore[call-overload]
        **fields,  # type: ignore[arg-type]
    )
    return create_title(session, actor=Actor.for_user(user), data=data)


def rename(session: Session, user: User, title: Title, original: str) -> None:
    """Change a title's original title, as its owner."""
    update_title(
        session,
        actor=Actor.for_user(user),
        title_id=title.id,
        data=TitleInput(original_title=original),
        fields={"original_title"},
    )


def found(session: Session, user: User, query: str, **kwargs: object) -> list[str]:
    """The original titles a search returns, in order."""
    page = search_titles(session, viewer_org_id=user.org_id, query=query, **kwargs)  # type: ignore[arg-type]
    return [hit.title.original_title for hit in page.hits]


@pytest.fixture
def catalog(session: Session, editors: tuple[User, User]) -> tuple[User, User]:
    """A small multilingual catalog across the two organizations."""
    kz, uz = editors
    add(
        session,
        kz,
        "Қазақстан: ұлы дала",
        localizations={
            "kk-Cyrl": ("Қазақстан: ұлы дала", "Деректі фильм"),
            "kk-Latn": ("Qazaqstan: ūly dala", ""),
            "en": ("Kazakhstan: the great steppe", "A documentary"),
        },
        genres=["documentary", "nature"],
        production_year=2021,
        duration_seconds=52 * 60,
    )
    add(
        session,
        uz,
        "Ўзбекистон сайёҳлиги",
        localizations={
            "uz-Cyrl": ("Ўзбекистон сайёҳлиги", "Саёҳат ҳақида"),
            "ru": ("Путешествие по Узбекистану", ""),
        },
        genres=["travel"],
        kind="programme",
        production_year=2019,
        duration_seconds=26 * 60,
    )
    add(
        session,
        kz,
        "Azərbaycan mətbəxi",
        localizations={"az-Latn": ("Azərbaycan mətbəxi", "Milli yeməklər")},
        genres=["cooking"],
        kind="programme",
        production_year=2023,
        duration_seconds=12 * 60,
    )
    add(
        session,
        uz,
        "İstanbul gecələri",
        localizations={"tr": ("İstanbul geceleri", "Işıklı bir şehir")},
        genres=["drama"],
        kind="serial",
        production_year=2020,
        status="draft",
    )
    return kz, uz


def test_latin_query_finds_cyrillic_kazakh(session: Session, catalog: tuple[User, User]) -> None:
    _, uz = catalog
    assert found(session, uz, "Qazaqstan") == ["Қазақстан: ұлы дала"]
    assert found(session, uz, "Қазақстан") == ["Қазақстан: ұлы дала"]
    assert found(session, uz, "qazaqstan ULY dala") == ["Қазақстан: ұлы дала"]


def test_uzbek_spellings_meet(session: Session, catalog: tuple[User, User]) -> None:
    kz, _ = catalog
    for spelling in ("Özbekiston", "Oʻzbekiston", "O'zbekiston", "Ўзбекистон", "ozbekiston"):
        assert found(session, kz, spelling) == ["Ўзбекистон сайёҳлиги"], spelling


def test_azerbaijani_schwa_and_cyrillic(session: Session, catalog: tuple[User, User]) -> None:
    _, uz = catalog
    assert found(session, uz, "Azerbaycan") == ["Azərbaycan mətbəxi"]
    assert found(session, uz, "Азәрбајҹан") == ["Azərbaycan mətbəxi"]
    assert found(session, uz, "metbexi") == ["Azərbaycan mətbəxi"]


def test_turkish_dotted_and_dotless_i(session: Session, catalog: tuple[User, User]) -> None:
    _, uz = catalog  # the draft is uz's own
    assert found(session, uz, "ISTANBUL") == ["İstanbul gecələri"]
    assert found(session, uz, "istanbul") == ["İstanbul gecələri"]
    assert found(session, uz, "IŞIKLI") == ["İstanbul gecələri"]


def test_prefix_and_one_typo(session: Session, catalog: tuple[User, User]) -> None:
    kz, _ = catalog
    assert found(session, kz, "qazaq") == ["Қазақстан: ұлы дала"]
    assert found(session, kz, "Qazqastan") == ["Қазақстан: ұлы дала"]  # swapped letters
    assert found(session, kz, "Qazaqsten") == ["Қазақстан: ұлы дала"]  # one wrong letter
    assert found(session, kz, "Qazaqstn") == ["Қазақстан: ұлы дала"]  # one missing letter
    assert found(session, kz, "Qazaqsttan") == ["Қазақстан: ұлы дала"]  # one extra letter
    assert found(session, kz, "Qazuqsten") == []  # two typos are too many


def test_final_devoicing_counts_as_no_typo() -> None:
    # Azerbaijani Qorqud, Turkish Korkut/Qorqut, Kazakh Қорқыт (qorqyt): the voiced final
    # consonant is also tried devoiced, so qorqud is one edit from qorqyt.
    assert typos.spellings("qorqud") == ["qorqud", "qorqut"]
    assert typos.spellings("mahmut") == ["mahmut"]
    assert typos.spellings("dud") == ["dud"]  # short words get no extra spellings


def test_drafts_are_the_owners_only(session: Session, catalog: tuple[User, User]) -> None:
    kz, uz = catalog
    assert found(session, kz, "istanbul") == []
    assert found(session, uz, "istanbul") == ["İstanbul gecələri"]
    assert "İstanbul gecələri" not in found(session, kz, "")


def found_by_each_reader(session: Session, viewer: User, title: Title) -> dict[str, bool]:
    """Whether a title's page, the catalog's lookup and the rights check find the title."""
    org, title_id = viewer.org_id, title.id
    readers: dict[str, Callable[[], object]] = {
        "page": partial(read_title, session, viewer_org_id=org, title_id=title_id),
        "catalog": partial(get_title, session, viewer_org_id=org, title_id=title_id),
        "rights": partial(visible_title, session, title_id=title_id, org_id=org),
    }
    found_it = {}
    for reader, read in readers.items():
        try:
            read()
            found_it[reader] = True
        except NotFound:
            found_it[reader] = False
    return found_it


def test_every_reader_of_a_title_follows_the_one_visibility_rule(
    session: Session, editors: tuple[User, User]
) -> None:
    # The rule is said once in Python (title_visible) and in SQL by each query: a title's
    # page, the catalog's own lookups, the rights checks and search must all agree with it.
    kz, uz = editors
    titles = [
        add(session, owner, f"Rulebook {owner.username} {status}", status=status)
        for owner, status in product((kz, uz), ("draft", "published"))
    ]
    for viewer in (kz, uz):
        page = search_titles(session, viewer_org_id=viewer.org_id, query="rulebook")
        searched = {hit.title.id for hit in page.hits}
        seen = []
        for title in titles:
            rule = title_visible(
                title.status, owner_org_id=title.org_id, viewer_org_id=viewer.org_id
            )
            seen.append(rule)
            found_it = found_by_each_reader(session, viewer, title)
            found_it["search"] = title.id in searched
            expected = dict.fromkeys(found_it, rule)
            assert found_it == expected, (title.original_title, viewer.username)
        # Each viewer sees their own draft and both published titles, not the other's draft.
        assert seen.count(True) == 3


def test_facets_and_filters(session: Session, catalog: tuple[User, User]) -> None:
    kz, _ = catalog
    page = search_titles(session, viewer_org_id=kz.org_id, query="")
    assert page.total == 3
    assert page.facets["kind"] == {"documentary": 1, "programme": 2}
    assert page.facets["owner"] == {"kztv": 2, "uztv": 1}
    assert page.facets["genre"] == {"documentary": 1, "nature": 1, "travel": 1, "cooking": 1}
    assert page.facets["language"] == {"kk": 1, "en": 1, "uz": 1, "ru": 1, "az": 1}
    assert page.facets["year"] == {"2019": 1, "2021": 1, "2023": 1}
    assert page.facets["duration"] == {"5-30": 2, "30-60": 1}

    def titles(**filters: object) -> list[str]:
        f = SearchFilters(**filters)  # type: ignore[arg-type]
        page = search_titles(session, viewer_org_id=kz.org_id, filters=f, sort=SearchSort.TITLE)
        return [h.title.original_title for h in page.hits]

    assert titles(kinds=("programme",)) == ["Azərbaycan mətbəxi", "Ўзбекистон сайёҳлиги"]
    assert titles(genres=("travel", "cooking")) == ["Azərbaycan mətbəxi", "Ўзбекистон сайёҳлиги"]
    assert titles(languages=("kk-Latn",)) == ["Қазақстан: ұлы дала"]
    assert titles(languages=("ru",)) == ["Ўзбекистон сайёҳлиги"]
    assert titles(owners=("uztv",)) == ["Ўзбекистон сайёҳлиги"]
    assert titles(year_from=2020, year_to=2022) == ["Қазақстан: ұлы дала"]
    assert titles(duration_min=20 * 60, duration_max=30 * 60) == ["Ўзбекистон сайёҳлиги"]


def test_a_facet_filter_keeps_its_alternatives_counted(
    session: Session, catalog: tuple[User, User]
) -> None:
    kz, _ = catalog
    page = search_titles(
        session, viewer_org_id=kz.org_id, filters=SearchFilters(kinds=("programme",))
    )
    assert page.total == 2
    # The kind facet ignores the kind filter, so "documentary" stays offered...
    assert page.facets["kind"] == {"documentary": 1, "programme": 2}
    # ...while every other facet counts only the two programmes.
    assert page.facets["owner"] == {"kztv": 1, "uztv": 1}
    assert page.facets["year"] == {"2019": 1, "2023": 1}
    both = search_titles(
        session,
        viewer_org_id=kz.org_id,
        filters=SearchFilters(kinds=("programme",), owners=("uztv",)),
    )
    assert both.total == 1
    assert both.facets["kind"] == {"programme": 1}  # the owner filter still applies here
    assert both.facets["owner"] == {"kztv": 1, "uztv": 1}  # and the kind filter here


def test_sorting(session: Session, editors: tuple[User, User]) -> None:
    kz, _ = editors
    add(session, kz, "Dala jyry", localizations={"kk-Latn": ("Dala jyry", "Qazaqstan taulary")})
    add(session, kz, "Qazaqstan", localizations={"kk-Latn": ("Qazaqstan", "")})
    add(session, kz, "Altyn Qazaqstan tarihy")
    # An exact title first, then titles containing the word, then the synopsis match.
    assert found(session, kz, "qazaqstan") == ["Qazaqstan", "Altyn Qazaqstan tarihy", "Dala jyry"]
    assert found(session, kz, "qazaqstan", sort=SearchSort.TITLE) == [
        "Altyn Qazaqstan tarihy",
        "Dala jyry",
        "Qazaqstan",
    ]
    assert found(session, kz, "qazaqstan", sort=SearchSort.NEWEST)[0] == "Altyn Qazaqstan tarihy"


def scored(session: Session, user: User, query: str) -> dict[str, int]:
    """Original title -> relevance score, for every hit of a search."""
    page = search_titles(session, viewer_org_id=user.org_id, query=query)
    return {hit.title.original_title: hit.score for hit in page.hits}


def test_relevance_follows_the_titles_own_words_through_edits_and_rebuilds(
    database: Database, session: Session, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    add(session, kz, "Bori")  # the whole query: 4, and +5 for the exact title
    add(session, kz, "Altyn bori")  # a title word: 4
    add(session, kz, "Boriler zamany")  # starts a title word: 3
    add(session, kz, "Kök bora")  # a one-typo variant is a title word: 2
    elsewhere = add(session, kz, "Dala", localizations={"kk-Latn": ("Dala", "bori turaly")})
    expected = {"Bori": 9, "Altyn bori": 4, "Boriler zamany": 3, "Kök bora": 2, "Dala": 1}
    assert scored(session, kz, "bori") == expected
    # Renaming moves a title between tiers: its title words are reindexed with its document.
    rename(session, kz, elsewhere, "Dala borileri")
    expected |= {"Dala borileri": 3}
    del expected["Dala"]
    assert scored(session, kz, "bori") == expected
    session.commit()
    # SQLite keeps the title words in an FTS5 table of their own; rebuilt, it ranks the same.
    if database.is_sqlite:
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE title_words_fts")
        ensure_search_schema(database.engine)
    with database.session() as fresh:
        assert scored(fresh, kz, "bori") == expected


def test_cursor_pagination_walks_every_result(session: Session, editors: tuple[User, User]) -> None:
    kz, _ = editors
    for n in range(7):
        add(session, kz, f"Episode guide {n}")
    seen: list[str] = []
    cursor = None
    while True:
        page = search_titles(
            session, viewer_org_id=kz.org_id, query="guide", limit=3, cursor=cursor
        )
        seen += [h.title.original_title for h in page.hits]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == [f"Episode guide {n}" for n in range(7)]
    assert len(seen) == 7
    with pytest.raises(InvalidInput):
        search_titles(session, viewer_org_id=kz.org_id, query="guide", cursor="bogus!")


def test_the_as_you_type_total_is_the_faceted_total(
    session: Session, editors: tuple[User, User]
) -> None:
    """Without facets the total rides on the page's own query; it must not differ."""
    kz, uz = editors
    for n in range(7):
        add(session, kz, f"Guide book {n}")
    add(session, uz, "Guide draft", status="draft")  # not the viewer's: never counted
    add(session, kz, "Unrelated")
    for query, cursor_pages, expected in (("guide", 0, 7), ("guide", 1, 7), ("nothingatall", 0, 0)):
        cursor = None
        for _ in range(cursor_pages):
            cursor = search_titles(
                session, viewer_org_id=kz.org_id, query=query, limit=3, cursor=cursor
            ).next_cursor
        pages = [
            search_titles(
                session,
                viewer_org_id=kz.org_id,
                query=query,
                limit=3,
                cursor=cursor,
                with_facets=facets,
            )
            for facets in (True, False)
        ]
        assert [p.total for p in pages] == [expected, expected]
        assert [h.title.id for h in pages[0].hits] == [h.title.id for h in pages[1].hits]
        assert pages[1].facets == {}
    # A cursor past the last match: no row carries the total, so it is counted on its own.
    last = search_titles(session, viewer_org_id=kz.org_id, query="guide", limit=7)
    assert last.next_cursor is None
    beyond = search_titles(
        session,
        viewer_org_id=kz.org_id,
        query="guide",
        limit=3,
        cursor=_cursor_at(9),
        with_facets=False,
    )
    assert (beyond.hits, beyond.total) == ([], 7)


def _cursor_at(offset: int) -> str:
    return encode_cursor({"o": offset})


def test_updates_and_deletes_reach_the_index(session: Session, editors: tuple[User, User]) -> None:
    kz, _ = editors
    title = add(session, kz, "Old name")
    actor = Actor.for_user(kz)
    rename(session, kz, title, "Жаңа атау")
    assert found(session, kz, "old") == []
    assert found(session, kz, "jana atau") == ["Жаңа атау"]
    delete_title(session, actor=actor, title_id=title.id)
    assert found(session, kz, "jana") == []


def test_the_vocabulary_follows_edits_and_deletes(
    session: Session, editors: tuple[User, User]
) -> None:
    kz, uz = editors
    actor = Actor.for_user(kz)
    first = add(session, kz, "Wanderlust Tarantella")
    add(session, uz, "Tarantella")
    assert typo_variants(session, "wanderlusp") == ["wanderlust"]
    rename(session, kz, first, "Tarantella")
    # Gone with the rename; a word another title still holds stays.
    assert typo_variants(session, "wanderlusp") == []
    assert typo_variants(session, "tarantellq") == ["tarantella"]
    delete_title(session, actor=actor, title_id=first.id)
    assert typo_variants(session, "tarantellq") == ["tarantella"]
    assert rebuild_vocabulary(session) == 1


def test_punctuation_only_query_matches_nothing(
    session: Session, catalog: tuple[User, User]
) -> None:
    kz, _ = catalog
    assert found(session, kz, "!!! ??? ---") == []
    assert found(session, kz, "\"' OR 1=1 --") == []
    assert found(session, kz, "NEAR( * AND OR") == []


def test_missing_fulltext_index_is_rebuilt(database: Database) -> None:
    with database.write_session() as s:
        org = create_organization(s, code="kztv", name="Kazakh TV", country="KZ")
        kz = create_user(s, org=org, username="kz-editor", role="editor").user
        add(s, kz, "Қазақстан")
    with database.engine.begin() as conn:
        if database.is_sqlite:
            conn.exec_driver_sql("DROP TABLE title_search_fts")
            conn.exec_driver_sql("DROP TABLE title_words_fts")
        else:
            conn.exec_driver_sql("DROP INDEX ix_title_search_document_fts")
    ensure_search_schema(database.engine)
    ensure_search_schema(database.engine)  # idempotent
    with database.session() as s:
        assert found(s, kz, "qazaqstan") == ["Қазақстан"]


@pytest.fixture
def serial(session: Session, editors: tuple[User, User]) -> Title:
    """A serial whose episodes have Azerbaijani names, localized into Cyrillic and Turkish."""
    _, uz = editors
    title = add(
        session,
        uz,
        "Kitabi-Dədə Qorqud",
        kind="serial",
        status="published",
        localizations={"az-Latn": ("Kitabi-Dədə Qorqud", "Oğuz dastanları")},
    )
    actor = Actor.for_user(uz)
    episodes = [
        (1, "Bamsı Beyrək", {"az-Cyrl": ("Бамсы Бејрәк", ""), "tr": ("Bamsı Beyrek", "")}),
        (2, "Dəli Domrul", {"tr": ("Deli Dumrul", "")}),
        (3, "Qazan xanın evinin yağmalanması", {}),
        (4, "Bamsının oğlu Uruz", {}),
    ]
    for number, name, localized in episodes:
        upsert_episode(
            session,
            actor=actor,
            title_id=title.id,
            season_number=1,
            number=number,
            name=name,
            localizations={k: Localized(*v) for k, v in localized.items()},
        )
    return title


def episodes_found(session: Session, user: User, query: str) -> dict[str, list[int]]:
    """Original title -> numbers of the episodes named in its hit, for every hit."""
    page = search_titles(session, viewer_org_id=user.org_id, query=query)
    return {hit.title.original_title: [e.number for e in hit.episodes] for hit in page.hits}


def test_episode_names_find_their_serial_and_are_named(
    session: Session, serial: Title, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    # Prefix "bamsi" matches episode 1 ("Bamsı") and episode 4 ("Bamsının").
    assert episodes_found(session, kz, "Bamsı") == {"Kitabi-Dədə Qorqud": [1, 4]}
    # Across scripts and spellings: Cyrillic, plain Latin, upper-case.
    for query in ("bamsi", "BAMSI"):
        assert episodes_found(session, kz, query) == {"Kitabi-Dədə Qorqud": [1, 4]}, query
    # Cyrillic ы folds to "y": episode 1 through its az-Cyrl name (and "bamsi" is one typo
    # away), not "Bamsının", which is only one typo from a longer word.
    assert episodes_found(session, kz, "Бамсы") == {"Kitabi-Dədə Qorqud": [1]}
    for query in ("Beyrək", "beyrek", "Бејрәк", "БЕЙРЕК"):
        assert episodes_found(session, kz, query) == {"Kitabi-Dədə Qorqud": [1]}, query
    # Only the episodes matching the most query words are named.
    assert episodes_found(session, kz, "Bamsı Beyrək") == {"Kitabi-Dədə Qorqud": [1]}
    assert episodes_found(session, kz, "Qorqud Bamsı") == {"Kitabi-Dədə Qorqud": [1, 4]}
    # A localized name alone: "Dumrul" is only the Turkish name of episode 2.
    assert episodes_found(session, kz, "Dumrul") == {"Kitabi-Dədə Qorqud": [2]}
    # One typo, as for titles.
    assert episodes_found(session, kz, "Beyrak") == {"Kitabi-Dədə Qorqud": [1]}
    # The title itself matched: no episode is named.
    assert episodes_found(session, kz, "Qorqud") == {"Kitabi-Dədə Qorqud": []}


def test_an_episode_hit_says_which_names_matched(
    session: Session, serial: Title, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    page = search_titles(session, viewer_org_id=kz.org_id, query="Бамсы Бейрек")
    (hit,) = page.hits
    first = hit.episodes[0]
    assert (first.season_number, first.number, first.name) == (1, 1, "Bamsı Beyrək")
    assert {(n.language, n.name) for n in first.names} == {
        ("", "Bamsı Beyrək"),
        ("az-Cyrl", "Бамсы Бејрәк"),
        ("tr", "Bamsı Beyrek"),
    }
    assert first.matched_terms == 2
    page = search_titles(session, viewer_org_id=kz.org_id, query="Deli")
    (hit,) = page.hits
    (episode,) = hit.episodes
    assert [(n.language, n.name) for n in episode.names] == [
        ("", "Dəli Domrul"),
        ("tr", "Deli Dumrul"),
    ]


def test_renaming_an_episode_reindexes_its_title(
    session: Session, serial: Title, editors: tuple[User, User]
) -> None:
    kz, uz = editors
    upsert_episode(
        session,
        actor=Actor.for_user(uz),
        title_id=serial.id,
        season_number=1,
        number=2,
        name="Təpəgözün öldürülməsi",
    )
    assert episodes_found(session, kz, "Domrul") == {}
    assert episodes_found(session, kz, "Dumrul") == {}
    assert episodes_found(session, kz, "Tepegoz") == {"Kitabi-Dədə Qorqud": [2]}
    # Editing the title keeps the episode names in its document.
    rename(session, uz, serial, "Dədə Qorqud kitabı")
    assert episodes_found(session, kz, "Tepegoz") == {"Dədə Qorqud kitabı": [2]}
    delete_title(session, actor=Actor.for_user(uz), title_id=serial.id)
    assert episodes_found(session, kz, "Tepegoz") == {}


# --- licensable in my territory now -----------------------------------------------------------


def offer(
    session: Session, owner: User, title: Title, territories: list[str], days: tuple[int, int]
) -> None:
    """A rights window of `title` over `territories`, from/to `days` relative to now."""
    manager = create_user(
        session,
        org=owner.organization,
        username=f"{owner.username}-rights-{title.id.hex[:6]}",
        role="rights_manager",
    ).user
    now = datetime.now(UTC)
    create_rights_window(
        session,
        actor=Actor.for_user(manager),
        title_id=title.id,
        territories=territories,
        starts_at=now + timedelta(days=days[0]),
        ends_at=now + timedelta(days=days[1]),
        license_type="free_exchange",
    )


@pytest.fixture
def offers(session: Session, editors: tuple[User, User]) -> dict[str, Title]:
    """Uzbek titles offered in Kazakhstan now, in the past, elsewhere; a Kazakh one at home."""
    kz, uz = editors
    titles = {
        "now": add(session, uz, "Offered now"),
        "past": add(session, uz, "Offered last year"),
        "elsewhere": add(session, uz, "Offered in Tajikistan"),
        "own": add(session, kz, "Our own"),
        "silent": add(session, uz, "Never offered"),
    }
    offer(session, uz, titles["now"], ["KZ", "UZ"], (-1, 30))
    offer(session, uz, titles["past"], ["KZ"], (-400, -35))
    offer(session, uz, titles["elsewhere"], ["TJ"], (-1, 30))
    offer(session, kz, titles["own"], ["KZ"], (-1, 30))
    return titles


def test_licensable_now_is_a_facet_and_a_filter(
    session: Session, editors: tuple[User, User], offers: dict[str, Title]
) -> None:
    kz, uz = editors
    page = search_titles(session, viewer_org_id=kz.org_id)
    assert page.total == 5
    assert page.facets["licensable_now"] == {"true": 1}
    assert found(session, kz, "", filters=SearchFilters(licensable_now=True)) == ["Offered now"]
    filtered = search_titles(
        session, viewer_org_id=kz.org_id, filters=SearchFilters(licensable_now=True)
    )
    assert filtered.total == 1
    assert filtered.facets["owner"] == {"uztv": 1}
    # Combined with words and other facets like any filter.
    assert found(session, kz, "offered", filters=SearchFilters(licensable_now=True)) == [
        "Offered now"
    ]
    assert found(session, kz, "never", filters=SearchFilters(licensable_now=True)) == []
    # Uzbekistan's own titles are never "licensable" to it; the Kazakh one is not offered in UZ.
    assert search_titles(session, viewer_org_id=uz.org_id).facets["licensable_now"] == {"true": 0}
    # "Now" is a parameter: a year ago, last year's window was open.
    a_year_ago = datetime.now(UTC) - timedelta(days=365)
    assert found(session, kz, "", filters=SearchFilters(licensable_now=True), now=a_year_ago) == [
        "Offered last year"
    ]


def test_availability_of_a_page_of_titles(
    session: Session, editors: tuple[User, User], offers: dict[str, Title]
) -> None:
    kz, uz = editors
    titles = list(offers.values())
    standing = availability_of(session, titles=titles, viewer_org_id=kz.org_id)
    assert {name: standing[t.id] for name, t in offers.items()} == {
        "now": Availability.LICENSABLE,
        "past": Availability.NOT_OFFERED,
        "elsewhere": Availability.NOT_OFFERED,
        "own": Availability.YOURS,
        "silent": Availability.NOT_OFFERED,
    }
    now = datetime.now(UTC)
    session.add(
        License(
            title_id=offers["now"].id,
            licensor_org_id=uz.org_id,
            licensee_org_id=kz.org_id,
            territories=["KZ"],
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=10),
            license_type="free_exchange",
        )
    )
    session.flush()
    standing = availability_of(session, titles=titles, viewer_org_id=kz.org_id)
    assert standing[offers["now"].id] is Availability.LICENSED
    # A license of another organization changes nothing for this one.
    assert (
        availability_of(session, titles=titles, viewer_org_id=uz.org_id)[offers["own"].id]
        is Availability.NOT_OFFERED
    )


def test_postgresql_plans_every_search_for_its_own_words(pg_database: Database) -> None:
    """A generic plan for `vector @@ $1::tsquery` ignores the GIN index (20-80 ms per word at
    100,000 titles, see bench.search); every connection must plan for the actual values."""
    with pg_database.engine.connect() as first, pg_database.engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == (
                "force_custom_plan"
            )


def test_several_words_get_their_own_typo_variants_from_one_lookup(
    session: Session, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    add(session, kz, "Karlov Marlov")
    # One statement serves every word; a word is offered only what is one edit from itself.
    assert typos.typo_candidates_of(session, ["karlox", "marlox", "ka"]) == {
        "karlox": ["karlov"],
        "marlox": ["marlov"],
        "ka": [],
    }


def test_a_zero_duration_bound_still_leaves_out_titles_without_one(
    session: Session, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    add(session, kz, "Timed", duration_seconds=60)
    add(session, kz, "Untimed")
    assert found(session, kz, "", filters=SearchFilters(duration_min=0)) == ["Timed"]
    assert found(session, kz, "", filters=SearchFilters()) == ["Untimed", "Timed"]


def test_searches_of_one_shape_share_one_statement_with_their_own_values(
    session: Session, editors: tuple[User, User]
) -> None:
    kz, _ = editors
    add(session, kz, "A film", kind="film")
    add(session, kz, "A serial", kind="serial")
    statements.ranked.cache_clear()
    assert found(session, kz, "", filters=SearchFilters(kinds=("film",))) == ["A film"]
    assert found(session, kz, "", filters=SearchFilters(kinds=("serial",))) == ["A serial"]
    # Built once for the shape (a kind filter, no words); each search bound its own kind.
    assert (statements.ranked.cache_info().misses, statements.ranked.cache_info().hits) == (1, 1)
