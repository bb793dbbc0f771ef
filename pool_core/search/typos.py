"""One-typo tolerance without database extensions: SymSpell deletions in an indexed table.

Every vocabulary term of at least `MIN_TYPO_LENGTH` letters is stored with each of its
one-letter deletions. Two words one edit apart (insertion, deletion, substitution or the
swap of two neighbours) always share a deletion variant or one is a deletion of the other,
so a query term finds its neighbours with one indexed `IN` lookup, on SQLite and PostgreSQL
alike; the candidates are then checked exactly here.

The vocabulary is shared by every member, so it is only a source of *candidates*: what a
search reports and matches is filtered by the caller's visibility (see `engine.parse_query`),
and words that no title's document holds any more are pruned (`prune_vocabulary`) when a
title is rewritten or deleted, so a deleted title's words do not linger.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, func, literal, select, union, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pool_core.models import SearchTerm, SearchTermDeletion, TitleSearch
from pool_core.search.backends import backend_for, backend_named
from pool_core.search.statements import visible

# Shorter words have too many neighbours one edit away to be worth expanding.
MIN_TYPO_LENGTH = 4
# Bound the expansion so a query stays one cheap full-text lookup.
MAX_VARIANTS_PER_TERM = 8
# Terms checked per statement when pruning or filtering (bounds the statement's size).
CHECK_CHUNK = 200


def deletions(term: str) -> set[str]:
    """Every string made by deleting one character of `term`."""
    return {term[:i] + term[i + 1 :] for i in range(len(term))}


def within_one_edit(a: str, b: str) -> bool:
    """Whether the optimal string alignment distance between a and b is at most one."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


# Turkic and Russian spelling devoices a final consonant where another alphabet keeps it:
# Azerbaijani `Qorqud` is Kazakh `Қорқыт` and Turkish `Korkut`; `Mahmud`/`Mahmut`,
# `Ahmad`/`Ahmet`. A term ending in a voiced consonant is also matched as its devoiced form,
# one edit further (so `qorqud` → `qorqut` → `qorqyt`).
FINAL_DEVOICING = {"d": "t", "b": "p", "g": "k", "z": "s", "v": "f", "j": "c"}


def spellings(term: str) -> list[str]:
    """The term and, when it ends in a voiced consonant, its devoiced spelling."""
    devoiced = FINAL_DEVOICING.get(term[-1:]) if len(term) > MIN_TYPO_LENGTH else None
    return [term, term[:-1] + devoiced] if devoiced else [term]


def typo_eligible(term: str) -> bool:
    """Whether a term is long and wordy enough to be matched with a typo."""
    return len(term) >= MIN_TYPO_LENGTH and term.isalpha()


def add_to_vocabulary(session: Session, terms: Iterable[str]) -> None:
    """Record new terms and their deletion variants (existing ones are left alone)."""
    words = sorted({t for t in terms if typo_eligible(t)})
    if not words:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(SearchTerm).on_conflict_do_nothing(), [{"term": word} for word in words])
    rows = [{"variant": v, "term": word} for word in words for v in sorted(deletions(word))]
    session.execute(insert(SearchTermDeletion).on_conflict_do_nothing(), rows)


def typo_candidates(session: Session, term: str) -> list[str]:
    """Every vocabulary term one edit away from `term` that its prefix match would not find.

    Candidates only: the vocabulary holds every member's words, drafts included, so callers
    keep those the viewer may see (`engine.parse_query`) before using or showing any.
    """
    return typo_candidates_of(session, [term])[term]


def typo_candidates_of(
    session: Session, words: list[str], *, visible_to: int | None = None
) -> dict[str, list[str]]:
    """`typo_candidates` of several words in one statement (one round trip per keystroke).

    With `visible_to` (an organization id), only the candidates that a document this
    organization may see (`statements.visible`) holds as a whole term are returned, checked
    in the same statement.

    A candidate found through another word's deletions is kept for a word only when it is
    one edit from that word too; every such term is also found through the word's own
    deletions (the SymSpell property above), so the result is each word's own lookup.
    """
    forms = {w: spellings(w) for w in words if typo_eligible(w)}
    found: dict[str, list[str]] = {w: [] for w in words}
    if not forms:
        return found
    removed = {d for spelled in forms.values() for form in spelled for d in deletions(form)}
    devoiced = {form for spelled in forms.values() for form in spelled[1:]}
    exact = {form for spelled in forms.values() for form in spelled}
    values: dict[str, Any] = {
        "terms": sorted(removed | devoiced),
        "variants": sorted(removed | exact),
    }
    if visible_to is not None:
        values["viewer"] = visible_to
    statement = _candidates_statement(session.get_bind().dialect.name, visible_to is not None)
    terms: list[str] = sorted(session.connection().execute(statement, values).scalars())
    for word, spelled in forms.items():
        found[word] = [
            candidate
            for candidate in terms
            if not candidate.startswith(word)
            and any(within_one_edit(f, candidate) for f in spelled)
        ]
    return found


@lru_cache(maxsize=4)
def _candidates_statement(dialect: str, held_visibly: bool) -> Select[Any]:
    # Built once per database and variant with expanding parameters: building it per keystroke
    # cost more Python than the lookup costs the database (`bench.search --profile`).
    candidates: Any = union(
        select(SearchTerm.term.label("term")).where(
            SearchTerm.term.in_(bindparam("terms", expanding=True))
        ),
        select(SearchTermDeletion.term.label("term")).where(
            SearchTermDeletion.variant.in_(bindparam("variants", expanding=True))
        ),
    ).subquery("candidates")
    query = select(candidates.c.term)
    if held_visibly:
        holder = select(TitleSearch.id).where(
            backend_named(dialect).contains_column(candidates.c.term),
            visible(bindparam("viewer")),
        )
        query = query.where(exists(holder))
    return query


def typo_variants(session: Session, term: str) -> list[str]:
    """Vocabulary terms one edit away from `term`, unfiltered (for maintenance and tests)."""
    return typo_candidates(session, term)[:MAX_VARIANTS_PER_TERM]


def terms_in_documents(session: Session, words: Iterable[str], *, where: Any = None) -> set[str]:
    """The `words` that are whole terms of at least one indexed document (matching `where`).

    One `EXISTS` per word over the full-text index, `CHECK_CHUNK` words per statement.
    """
    backend = backend_for(session)
    found: set[str] = set()
    ordered = sorted(set(words))
    for start in range(0, len(ordered), CHECK_CHUNK):
        parts = []
        for word in ordered[start : start + CHECK_CHUNK]:
            holder = select(TitleSearch.id).where(backend.contains(word))
            if where is not None:
                holder = holder.where(where)
            parts.append(select(literal(word)).where(exists(holder)))
        found.update(str(w) for w in session.scalars(union_all(*parts)))
    return found


def prune_vocabulary(session: Session, terms: Iterable[str]) -> None:
    """Forget those of `terms` that no indexed document holds any more, with their deletions.

    Call it after a document lost words (rewritten or removed), in the same unit of work.
    """
    gone = {t for t in terms if typo_eligible(t)}
    if not gone:
        return
    gone -= terms_in_documents(session, gone)
    for word in sorted(gone):
        # By primary key (variant, term): the deletions of a word are known, no scan.
        session.execute(
            delete(SearchTermDeletion).where(
                SearchTermDeletion.term == word,
                SearchTermDeletion.variant.in_(sorted(deletions(word))),
            )
        )
    for start in range(0, len(gone), CHECK_CHUNK):
        chunk = sorted(gone)[start : start + CHECK_CHUNK]
        session.execute(delete(SearchTerm).where(SearchTerm.term.in_(chunk)))


def rebuild_vocabulary(session: Session) -> int:
    """Recompute the vocabulary from the indexed documents (repairs; returns its size)."""
    session.execute(delete(SearchTermDeletion))
    session.execute(delete(SearchTerm))
    words: set[str] = set()
    for document in session.scalars(select(TitleSearch.document)):
        words.update(document.split())
    ordered = sorted(words)
    for start in range(0, len(ordered), 5000):
        add_to_vocabulary(session, ordered[start : start + 5000])
    return session.scalar(select(func.count()).select_from(SearchTerm)) or 0
