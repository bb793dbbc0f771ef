# Cyrillic letters are this benchmark's data.
"""Subtitle cues: indexing speed, and search over titles plus cues against titles alone.

    .venv/bin/python -m bench.subtitles [--titles 20000] [--episodes 1000] [--languages 3]
                                          [--cues 600] [--queries 300] [--pg URL]

For each database (SQLite; PostgreSQL when JOINTPOOL_TEST_DATABASE_URL or --pg is set):

* load `--titles` titles with bench.search's generator (three localizations each);
* make `--episodes` masters linked to published titles, each with `--languages` subtitle
  tracks (Kazakh in Cyrillic and in Latin, Russian) of `--cues` cues, 4-10 words each, and
  index them through `pool_core.search.cues.index_cues`, the path a stored track takes:
  cues/s, and the seconds the whole index took;
* run the same queries (bench.search's mix: Latin for Cyrillic, Cyrillic, prefixes, typos,
  pairs) from one client in-process, as another member: the title search alone (facets off,
  the as-you-type list) and the title search followed by the cue search (its per-language
  counts off too, like for like). Target (issue 17): p95 of titles plus cues <= 2 x p95 of
  titles alone, same run. The cue search with its counts is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import insert, select, text

from bench.search import KK_LATIN, Corpus, load_catalog, make_queries, percentile
from pool_core.db import Database, normalize_url
from pool_core.models import (
    Asset,
    AssetCatalog,
    AssetStatus,
    Base,
    MetadataState,
    Organization,
    SubtitleTrack,
    Title,
    TitleStatus,
)
from pool_core.search.cues import index_cues, search_cues
from pool_core.search.engine import search_titles
from pool_core.subtitles.convert import Cue
from tests.fixtures.database import create_scratch_pg_database, drop_scratch_pg_database

TARGET_RATIO = 2.0
LANGUAGES = ("kk-Cyrl", "kk-Latn", "ru")


def make_cues(corpus: Corpus, rng: random.Random, language: str, count: int) -> list[Cue]:
    """`count` cues of 4-10 corpus words, 1.5-4 s each, back to back from 10 s."""
    cues: list[Cue] = []
    at = 10.0
    for _ in range(count):
        words = " ".join(rng.sample(corpus.words, rng.randint(4, 10)))
        if language == "kk-Latn":
            words = words.translate(KK_LATIN)
        length = rng.uniform(1.5, 4.0)
        cues.append(Cue(start=round(at, 3), end=round(at + length, 3), text=words.capitalize()))
        at += length + rng.uniform(0.1, 1.0)
    return cues


def load_tracks(
    db: Database, corpus: Corpus, rng: random.Random, args: argparse.Namespace
) -> tuple[int, float]:
    """Masters with tracks, indexed as a stored track is; (cues indexed, seconds indexing)."""
    with db.session() as session:
        owner = session.scalar(select(Organization).where(Organization.code == "kztv"))
        assert owner is not None
        titles = list(
            session.scalars(
                select(Title.id)
                .where(Title.org_id == owner.id, Title.status == TitleStatus.PUBLISHED)
                .limit(args.episodes)
            )
        )
    indexed, seconds = 0, 0.0
    languages = LANGUAGES[: args.languages]
    for n in range(args.episodes):
        asset_id = uuid.uuid4()
        with db.session() as session:
            session.execute(
                insert(Asset),
                [
                    {
                        "id": asset_id, "org_id": owner.id, "filename": f"ep{n:04d}.mxf",
                        "source_path": f"/incoming/ep{n:04d}.mxf",
                        "object_key": f"masters/bench/{asset_id}", "status": AssetStatus.READY,
                        "technical": {"video": {"frame_rate": 25.0}}, "qc": {},
                        "ingest_warnings": [],
                    }
                ],
            )  # fmt: skip
            session.add(
                AssetCatalog(
                    asset_id=asset_id,
                    org_id=owner.id,
                    title_id=titles[n % len(titles)],
                    state=MetadataState.LINKED,
                )
            )
            for language in languages:
                track = SubtitleTrack(
                    asset_id=asset_id, org_id=owner.id, language=language, format="srt",
                    source="ftp", original_name=f"ep{n:04d}.{language}.srt",
                    original_key=f"subtitles/{asset_id}/{language}/o.srt", original_size=1,
                    original_sha256="0" * 64, vtt_key=f"subtitles/{asset_id}/{language}/s.vtt",
                    vtt_size=1, vtt_sha256="0" * 64, cue_count=args.cues, findings=[],
                )  # fmt: skip
                session.add(track)
                session.flush()
                cues = make_cues(corpus, rng, language, args.cues)
                started = time.perf_counter()
                index_cues(session, track=track, cues=cues)
                seconds += time.perf_counter() - started
                indexed += len(cues)
        if n % 50 == 49:
            print(f"  indexed {n + 1}/{args.episodes} masters", end="\r", flush=True)
    print()
    with db.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return indexed, seconds


def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    """Load, index and search one database; print and return the numbers."""
    rng = random.Random(17)
    db = Database(url)
    Base.metadata.create_all(db.engine)
    print(f"  {name}: loading {args.titles} titles")
    _, corpus = load_catalog(db, args.titles, rng)
    total = args.episodes * args.languages * args.cues
    print(f"  {name}: indexing {total} cues")
    wall = time.perf_counter()
    indexed, seconds = load_tracks(db, corpus, rng, args)
    wall = time.perf_counter() - wall
    with db.session() as session:
        viewer = session.scalar(select(Organization.id).where(Organization.code == "uztv"))
    assert viewer is not None
    queries = make_queries(corpus, rng, args.queries)
    titles_only: list[float] = []
    both: list[float] = []
    with_counts: list[float] = []
    hits = 0
    with db.session() as session:
        for query in queries[:30]:  # warm the caches and the statement shapes
            search_titles(session, viewer_org_id=viewer, query=query, with_facets=False)
            search_cues(session, query, viewer_org_id=viewer)
        for query in queries:
            started = time.perf_counter()
            search_titles(session, viewer_org_id=viewer, query=query, with_facets=False)
            middle = time.perf_counter()
            page = search_cues(session, query, viewer_org_id=viewer, with_counts=False)
            done = time.perf_counter()
            search_cues(session, query, viewer_org_id=viewer)
            counted = time.perf_counter()
            titles_only.append(middle - started)  # seconds, as bench.search's percentile
            both.append(done - started)
            with_counts.append(middle - started + counted - done)
            hits += len(page.hits)
            if (done - started) * 1000 > args.show_slower_than:
                print(
                    f"    slow: {query!r}: titles {(middle - started) * 1000:.1f} ms, "
                    f"cues {(done - middle) * 1000:.1f} ms ({len(page.hits)} hits, "
                    f"{sum(page.languages.values())} counted)"
                )
    results: dict[str, Any] = {
        "cues": indexed,
        "cues_per_s": indexed / seconds,
        "index_wall_s": wall,
        "titles_p50": statistics.median(titles_only) * 1000,
        "titles_p95": percentile(titles_only, 95),
        "both_p50": statistics.median(both) * 1000,
        "both_p95": percentile(both, 95),
        "counts_p95": percentile(with_counts, 95),
    }
    ratio = results["both_p95"] / results["titles_p95"]
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(
        f"  {name}: indexed {indexed} cues in {seconds:.1f} s of index_cues "
        f"({results['cues_per_s']:.0f} cues/s; {wall:.1f} s with the rows around them)"
    )
    print(
        f"  {name}: one client, {len(queries)} queries, {hits} cue hits shown: titles alone "
        f"p50 {results['titles_p50']:.1f} ms p95 {results['titles_p95']:.1f} ms; titles + cues "
        f"p50 {results['both_p50']:.1f} ms p95 {results['both_p95']:.1f} ms; p95 ratio "
        f"{ratio:.2f} (target <= {TARGET_RATIO:.1f}: {verdict})"
    )
    print(
        f"  {name}: with the cue hits counted per language as well: p95 "
        f"{results['counts_p95']:.1f} ms, ratio {results['counts_p95'] / results['titles_p95']:.2f}"
    )
    db.engine.dispose()
    return results


def main() -> int:
    """Run the subtitle benchmark on SQLite and (if configured) PostgreSQL."""
    parser = argparse.ArgumentParser(prog="bench.subtitles", description=__doc__.split("\n")[0])
    parser.add_argument("--titles", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--languages", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--cues", type=int, default=600)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--pg", default=os.environ.get("JOINTPOOL_TEST_DATABASE_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--show-slower-than", type=float, default=1e9, metavar="MS", help="list slower queries"
    )
    args = parser.parse_args(sys.argv[1:])
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg:
        server_url = normalize_url(args.pg)
        url = create_scratch_pg_database(server_url)
        try:
            bench_backend("postgresql", url, args)
        finally:
            drop_scratch_pg_database(server_url, url)
    else:
        print("  postgresql: skipped (set JOINTPOOL_TEST_DATABASE_URL or --pg)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
