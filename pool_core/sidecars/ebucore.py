"""EBUCore XML sidecars, parsed safely, mapped onto the sidecar schema.

Real exports differ in namespaces (EBUCore 1.8 and 1.10 use `urn:ebu:metadata-schema:ebucore`,
older tools `...:ebuCore_2012` or `...:ebuCore_2014`), in prefixes (`ebucore:`, `ebu:`, a
default namespace) and in where `xml:lang` sits, so elements are matched by local name.

Read: `title/dc:title[@xml:lang]` (the title whose `typeLabel` says "original" first),
`alternativeTitle/dc:title`, `description/dc:description[@xml:lang]`,
`language/dc:language` (the one whose `typeLabel` says "original" first),
`type/genre[@typeLabel]`, `type/objectType[@typeLabel]` (the kind),
`identifier[@typeLabel]/dc:identifier` (EIDR, ISAN, anything else = house number),
`episodeNumber`, `seasonNumber`
(or `partNumber`), `date/created[@startYear]`, `subject/dc:subject`, `rights/dc:rights` or
`rightsExpression`, `contributor`/`creator` names (`name`, `givenName` + `familyName`, or
`organisationName`) with `role[@typeLabel]`; the master's declared size and hashes from
`format/fileSize` and `format/hash` (`hashValue` with `hashFunction[@typeLabel]` SHA-256 or
MD5, as EBUCore 1.10 writes them; a master that differs fails).

No DTDs, no entities, no external references: defusedxml refuses them before expansion, so
XXE and "billion laughs" documents fail fast with a readable reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden

from pool_core.sidecars.decoding import SidecarError, check_size
from pool_core.sidecars.errors_format import validate
from pool_core.sidecars.schema import CatalogSidecar

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
KIND_WORDS = {
    "serial": "serial",
    "series": "serial",
    "episode": "serial",
    "season": "serial",
    "film": "film",
    "movie": "film",
    "feature": "film",
    "documentary": "documentary",
    "news": "news",
    "programme": "programme",
    "program": "programme",
}
NAMES = {
    "original_title": "title",
    "localizations": "title/description",
    "kind": "type/objectType",
    "original_language": "language",
    "genres": "type/genre",
    "production_year": "date/created@startYear",
    "size": "format/fileSize",
    "sha256": "format/hash (SHA-256)",
    "md5": "format/hash (MD5)",
}
# hashFunction labels as tools write them, to the schema's field.
HASH_FIELDS = {"sha256": "sha256", "sha-256": "sha256", "sha2-256": "sha256", "md5": "md5"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element if _local(child.tag) == name)


def _descendants(element: Element, name: str) -> Iterator[Element]:
    return (child for child in element.iter() if _local(child.tag) == name)


def _text(element: Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _original_first(elements: Iterator[Element]) -> list[Element]:
    """Elements whose type label says "original" first, the rest in document order."""
    return sorted(elements, key=lambda e: "original" not in _type_label(e))


def _type_label(element: Element) -> str:
    return (element.get("typeLabel") or element.get("typeDefinition") or "").lower()


def parse_ebucore_sidecar(filename: str, data: bytes) -> CatalogSidecar:
    """Parse an EBUCore document safely and map it to the sidecar schema."""
    check_size(filename, data)
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden as exc:
        raise SidecarError(
            filename,
            ["the XML declares a DTD (<!DOCTYPE ...>); DTDs and entities are refused for safety"],
        ) from exc
    except EntitiesForbidden as exc:
        raise SidecarError(
            filename, [f"the XML declares entities ({exc.name}); entities are refused for safety"]
        ) from exc
    except DefusedXmlException as exc:
        raise SidecarError(filename, [f"the XML uses a refused feature: {exc}"]) from exc
    except ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        hint = ""
        if "invalid token" in reason or "encoding" in reason:
            hint = " (is the declared encoding the one the file was saved in? use UTF-8)"
        raise SidecarError(
            filename, [f"not well-formed XML at line {line}, column {column + 1}: {reason}{hint}"]
        ) from exc
    core = (
        root
        if _local(root.tag) == "coreMetadata"
        else next(_descendants(root, "coreMetadata"), None)
    )
    if core is None:
        raise SidecarError(
            filename,
            [
                f"no coreMetadata element; the root is <{_local(root.tag)}>, "
                "expected an EBUCore ebuCoreMain document"
            ],
        )
    document, problems = _map(core)
    if problems:
        raise SidecarError(filename, problems)
    sidecar, problems = validate(document, names=NAMES)
    if sidecar is None:
        raise SidecarError(filename, problems)
    return sidecar


def _map(core: Element) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    doc: dict[str, Any] = {}
    localizations: dict[str, dict[str, str]] = {}
    original = ""
    for title in _original_first(_children(core, "title")):
        for dc_title in _children(title, "title"):
            text = _text(dc_title)
            if not text:
                continue
            original = original or text
            lang = dc_title.get(XML_LANG) or title.get(XML_LANG)
            if lang:
                localizations.setdefault(lang, {"title": text})
    if not original:
        problems.append("title: no <title><dc:title> with text; every sidecar needs a title")
    doc["original_title"] = original
    keywords = [
        _text(t) for alt in _children(core, "alternativeTitle") for t in _children(alt, "title")
    ]
    keywords += [_text(s) for s in _descendants(core, "subject") if _text(s) and len(s) == 0]
    for description in _children(core, "description"):
        for dc_desc in _children(description, "description"):
            lang = dc_desc.get(XML_LANG) or description.get(XML_LANG)
            text = _text(dc_desc)
            if text and lang:
                localizations.setdefault(lang, {"title": original})["synopsis"] = text
    doc["localizations"] = localizations
    languages = [
        _text(x)
        for lang in _original_first(_children(core, "language"))
        for x in _children(lang, "language")
    ]
    if languages and languages[0]:
        doc["original_language"] = languages[0]
    genres, kind = [], None
    for type_el in _children(core, "type"):
        for genre in _children(type_el, "genre"):
            label = (genre.get("typeLabel") or _text(genre)).strip()
            if label:
                genres.append(label)
        for object_type in _children(type_el, "objectType"):
            label = (object_type.get("typeLabel") or _text(object_type)).strip().lower()
            kind = kind or KIND_WORDS.get(label)
    kind = kind or next((KIND_WORDS[g.lower()] for g in genres if g.lower() in KIND_WORDS), None)
    if kind is None:
        problems.append(
            'type/objectType: cannot tell the kind; add <objectType typeLabel="Series"/> '
            "(Series, Film, Documentary, News or Programme)"
        )
    doc["kind"] = kind
    doc["genres"] = [g.lower().replace(" ", "_") for g in genres if g.lower() not in KIND_WORDS]
    for identifier in _children(core, "identifier"):
        label = (identifier.get("typeLabel") or identifier.get("formatLabel") or "").upper()
        value = next((_text(x) for x in _children(identifier, "identifier")), "") or _text(
            identifier
        )
        if not value:
            continue
        if "EIDR" in label:
            doc["eidr"] = value
        elif "ISAN" in label:
            doc["isan"] = value
        else:
            doc.setdefault("external_id", value)
    episode = _int_of(core, "episodeNumber") or _int_of(core, "partNumber")
    season = _int_of(core, "seasonNumber")
    if episode is not None:
        doc["episode"] = {"number": episode, "season": season or 0}
    year = _year(core)
    if year is not None:
        doc["production_year"] = year
    rights = [_text(r) for r in _descendants(core, "rightsExpression")]
    rights += [_text(r) for rr in _children(core, "rights") for r in _children(rr, "rights")]
    if any(rights):
        doc["rights_notes"] = "\n".join(r for r in rights if r)
    doc["contributors"] = _people(core)
    _declared(core, doc, problems)
    doc["keywords"] = [k for k in dict.fromkeys(keywords) if k][:50]
    return doc, problems


def _declared(core: Element, doc: dict[str, Any], problems: list[str]) -> None:
    """The master's size and hashes, from the first `format` that declares them."""
    for format_el in _children(core, "format"):
        size_el = next(_descendants(format_el, "fileSize"), None)
        if size_el is not None and "size" not in doc:
            text = _text(size_el)
            if re.fullmatch(r"\d{1,16}", text):
                doc["size"] = int(text)
            else:
                problems.append(f"format/fileSize: not a number of bytes (got {text[:40]!r})")
        for hash_el in _descendants(format_el, "hash"):
            function = next(_children(hash_el, "hashFunction"), None)
            label = "" if function is None else (_type_label(function) or _text(function))
            name = HASH_FIELDS.get(label.replace(" ", "").lower())
            value = next((_text(v) for v in _children(hash_el, "hashValue")), "")
            if name is not None and value:
                doc.setdefault(name, value)


def _int_of(core: Element, name: str) -> int | None:
    element = next(_descendants(core, name), None)
    if element is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,6})\s*", _text(element))
    return int(match.group(1)) if match else None


def _year(core: Element) -> int | None:
    for date in _children(core, "date"):
        for created in _children(date, "created"):
            year = created.get("startYear") or created.get("startDate", "")[:4]
            if year and year.isdigit():
                return int(year)
        match = re.search(r"\b(1[89]\d\d|20\d\d)\b", _text(date))
        if match:
            return int(match.group(1))
    return None


def _people(core: Element) -> list[dict[str, str]]:
    people = []
    for tag in ("creator", "contributor"):
        for person in _children(core, tag):
            name = _person_name(person)
            role_el = next(_descendants(person, "role"), None)
            role = ""
            if role_el is not None:
                role = role_el.get("typeLabel") or _text(role_el)
            if name:
                people.append({"name": name[:255], "role": role[:64]})
    return people[:50]


def _person_name(person: Element) -> str:
    for tag in ("name", "organisationName"):
        element = next(_descendants(person, tag), None)
        if element is not None and _text(element):
            return _text(element)
    parts = [next(_descendants(person, tag), None) for tag in ("givenName", "familyName")]
    return " ".join(_text(p) for p in parts if p is not None and _text(p))
