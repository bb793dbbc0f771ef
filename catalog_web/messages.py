"""Extract the web UI's messages and bring its translation catalogs up to date.

    python -m catalog_web.messages                    # write messages.pot and each messages.po
    python -m catalog_web.messages --check            # exit 1 if a catalog is out of date
    python -m catalog_web.messages --untranslated kk  # the messages kk still lacks

The sources are listed in `babel.cfg` at the repository root (Jinja2 templates and Python
files calling `_`, `gettext` or `ngettext`). Re-running keeps every existing translation,
adds new messages untranslated, marks near-matches of changed messages fuzzy, and drops
messages no source uses any more. Output is stable: messages are sorted by msgid, locations
name the file without a line number, and a catalog whose content did not change is not
rewritten, so running this on unchanged sources leaves no diff.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from catalog_web.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "Joint FTP Pool"
VERSION = "1"
# English is the source text; every other UI language has a catalog.
CATALOG_LANGUAGES: tuple[str, ...] = tuple(code for code in LANGUAGES if code != "en")
# Languages whose catalogs must translate every message (a test enforces it).
COMPLETE_LANGUAGES: tuple[str, ...] = ("ru", "az", "kk", "tr")
# `%(name)s` and the other printf-style conversions Python's `%` operator knows.
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_WIDTH = 76
_HEADER = """\
# {what}.
# Translate only the msgstr lines: the rest is rewritten from the sources
# by `python -m catalog_web.messages` (README: "Web UI languages")."""


def locale_dir(root: Path = ROOT) -> Path:
    """The folder holding messages.pot and one `<lang>/LC_MESSAGES/messages.po` per language."""
    return root / "catalog_web" / "locale"


def template_path(root: Path = ROOT) -> Path:
    """Where the extracted template lives."""
    return locale_dir(root) / "messages.pot"


def catalog_path(language: str, root: Path = ROOT) -> Path:
    """Where a language's catalog lives."""
    return locale_dir(root) / language / "LC_MESSAGES" / "messages.po"


def extract_template(root: Path = ROOT) -> Catalog:
    """The messages the current sources use (the template every catalog follows)."""
    mapping = root / "babel.cfg"
    with mapping.open(encoding="utf-8") as handle:
        parsed = parse_mapping_cfg(handle, str(mapping))  # type: ignore[no-untyped-call]
    method_map, options_map = parsed
    template = Catalog(
        header_comment=_HEADER.format(what="Messages of the Joint FTP Pool web UI (template)"),
        project=PROJECT,
        version=VERSION,
        fuzzy=False,
        charset="utf-8",
    )
    found = extract_from_dir(
        root, method_map, options_map, directory_filter=_source_folders(root, method_map)
    )
    for path, lineno, message, comments, context in found:
        template.add(message, None, [(path, lineno)], auto_comments=comments, context=context)
    return template


def _source_folders(root: Path, method_map: Iterable[tuple[str, str]]) -> Callable[[str], bool]:
    """Walk only the top-level folders the mapping's patterns start with (not .venv etc.)."""
    tops = {pattern.split("/", 1)[0] for pattern, _method in method_map}

    def keep(dirpath: str) -> bool:
        relative = Path(dirpath).relative_to(root).parts
        return relative[0] in tops and not any(part.startswith((".", "_")) for part in relative)

    return keep


def load(path: Path, language: str | None = None) -> Catalog | None:
    """A catalog file as it is now, or None when there is none yet."""
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def updated_catalog(language: str, template: Catalog, current: Catalog | None) -> Catalog:
    """A language's catalog following the template, with the translations it already has."""
    if current is None:
        current = Catalog(
            locale=language,
            header_comment=_HEADER.format(
                what=f"{LANGUAGES[language]} ({language}) messages of the Joint FTP Pool web UI"
            ),
            project=PROJECT,
            version=VERSION,
            language_team=LANGUAGES[language],
            last_translator=PROJECT,
            fuzzy=False,
            charset="utf-8",
        )
        current.revision_date = datetime.now(UTC)
    current.update(template, update_header_comment=False, update_creation_date=True)
    # Removed messages go; git keeps their history, and stale entries only confuse.
    current.obsolete.clear()
    return current


def untranslated(catalog: Catalog) -> list[str]:
    """The msgids a catalog lacks a usable translation of (empty or fuzzy)."""
    return [
        _msgid(message)
        for message in catalog
        if message.id and (message.fuzzy or not all(_strings(message)))
    ]


def placeholder_errors(catalog: Catalog) -> list[str]:
    """Translations whose `%(name)s` placeholders do not fit their msgid's.

    A translation may not use a placeholder the msgid lacks (rendering would fail), nor drop
    one (the value would be lost); a plural form may leave the number out (`one title`).
    """
    errors = []
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        expected = set().union(*(_placeholders(text) for text in ids))
        for text in _strings(message):
            if not text:
                continue
            found = _placeholders(text)
            plural = len(ids) > 1
            if found - expected or (not plural and found != expected):
                errors.append(f"{_msgid(message)!r} -> {text!r}")
    return errors


def _placeholders(text: str) -> set[str]:
    """The conversions in a message, named ones by name (`%%` is a literal percent sign)."""
    return {
        match.group(1) or match.group(0)
        for match in PLACEHOLDER.finditer(text)
        if match.group(0) != "%%"
    }


@dataclass(frozen=True)
class Outcome:
    """One catalog file: what it should contain and whether the file already does."""

    path: Path
    catalog: Catalog
    stale: bool


def plan(root: Path = ROOT) -> list[Outcome]:
    """The template, then each language's catalog, as they should be; each marked stale or not."""
    template = extract_template(root)
    current_template = load(template_path(root))
    template_stale = current_template is None or _content(current_template) != _content(template)
    # An unchanged template keeps its date, so the catalogs' POT-Creation-Date stays put too.
    if current_template is not None and not template_stale:
        template.creation_date = current_template.creation_date
    outcomes = [Outcome(template_path(root), template, template_stale)]
    for language in CATALOG_LANGUAGES:
        path = catalog_path(language, root)
        current = load(path, language)
        before = None if current is None else _content(current)
        catalog = updated_catalog(language, template, current)
        outcomes.append(Outcome(path, catalog, before is None or before != _content(catalog)))
    return outcomes


def write(outcome: Outcome) -> None:
    """Write one catalog file (sorted, file-only locations, no obsolete entries)."""
    outcome.path.parent.mkdir(parents=True, exist_ok=True)
    with outcome.path.open("wb") as handle:
        write_po(
            handle,
            outcome.catalog,
            width=_WIDTH,
            sort_output=True,
            include_lineno=False,
            ignore_obsolete=True,
            include_previous=True,
        )


def _content(catalog: Catalog) -> tuple[object, ...]:
    """What matters in a catalog: its messages and the headers translators rely on.

    Dates and the Babel version in the header are left out, so a re-run on unchanged
    sources (or with another Babel) does not count as a change.
    """
    messages = sorted(
        (
            _msgid(message),
            message.context or "",
            _strings(message),
            tuple(sorted(message.flags)),
            tuple(sorted({path for path, _line in message.locations})),
            tuple(message.auto_comments),
            tuple(message.user_comments),
        )
        for message in catalog
        if message.id
    )
    header = (str(catalog.locale or ""), catalog.plural_forms if catalog.locale else "")
    return (header, bool(catalog.obsolete), tuple(messages))


def _strings(message: Message) -> tuple[str, ...]:
    """A message's translations (one per plural form); a new message's are empty."""
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    return tuple(text or "" for text in strings)


def _msgid(message: Message) -> str:
    return message.id[0] if isinstance(message.id, tuple | list) else message.id


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    """Run the command; the exit status is 1 when --check finds a stale or broken catalog."""
    parser = argparse.ArgumentParser(
        prog="python -m catalog_web.messages",
        description="Extract the web UI's messages and update its translation catalogs.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a catalog is stale"
    )
    mode.add_argument(
        "--untranslated",
        metavar="LANG",
        choices=CATALOG_LANGUAGES,
        help="list the msgids LANG's catalog has no (or only a fuzzy) translation of",
    )
    args = parser.parse_args(argv)
    outcomes = plan(root)
    if args.untranslated:
        wanted = catalog_path(args.untranslated, root)
        for msgid in untranslated(next(o.catalog for o in outcomes if o.path == wanted)):
            print(msgid)
        return 0
    failed = False
    for outcome in outcomes:
        name = outcome.path.relative_to(root)
        if outcome.stale:
            failed = failed or args.check
            if not args.check:
                write(outcome)
            print(f"{name}: {'out of date' if args.check else 'updated'}", file=sys.stderr)
        for error in placeholder_errors(outcome.catalog):
            failed = True
            print(f"{name}: placeholders differ: {error}", file=sys.stderr)
        if outcome.catalog.locale and (missing := len(untranslated(outcome.catalog))):
            print(f"{name}: {missing} untranslated", file=sys.stderr)
    if failed and args.check:
        print("run `python -m catalog_web.messages`, then translate", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
