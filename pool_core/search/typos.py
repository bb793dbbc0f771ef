"""One-typo tolerance without database extensions: SymSpell deletions in an indexed table.

Every vocabulary term of at least `MIN_TYPO_LENGTH` letters is stored with each of its
one-letter deletions. Two words one edit apart (insertion, deletion, substitution or the
swap of two neighbours) always share a deletion variant or one is a deletion of the other,
so a query term finds its neighbours with one indexed `IN` lookup, on SQLite and PostgreSQL
alike; the candidates are then checked exactly here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pool_core.models import SearchTerm, SearchTermDeletion

# Shorter words have too many neighbours one edit away to be worth expanding.
MIN_TYPO_LENGTH = 4
# Bound the expansion so a query stays one cheap full-text lookup.
MAX_VARIANTS_PER_TERM = 8


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


def typo_variants(session: Session, term: str) -> list[str]:
    """Vocabulary terms one edit away from `term` that its prefix match would not find."""
    if not typo_eligible(term):
        return []
    probes = sorted(deletions(term) | {term})
    query = union(
        select(SearchTerm.term).where(SearchTerm.term.in_(sorted(deletions(term)))),
        select(SearchTermDeletion.term).where(SearchTermDeletion.variant.in_(probes)),
    )
    found = sorted(
        candidate
        for candidate in session.scalars(query)
        if not candidate.startswith(term) and within_one_edit(term, candidate)
    )
    return found[:MAX_VARIANTS_PER_TERM]
