"""The worker's portfolio as Leap2A 2010-07 (http://www.leapspecs.org/2010-07/2A/), for Mahara and other e-portfolios.

Leap2A is an Atom feed: an entry for each evidence item with its text, a
``leap2:resource`` entry for each of its files (an ``enclosure`` link to the file
inside the export zip), a ``leap2:ability`` entry for each competence an item is
linked to, and one ``leap2:selection`` grouping those competences as the
framework. Items point to competences with ``leap2:is_evidence_of`` and to their
files with ``leap2:has_attachment``; each relationship is written both ways.

It is built from the sections the privacy export's contributors already
collected (no query of its own), and holds only the worker's own items: no
supervisor, decision or comment of anyone else.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from flask import current_app
from markupsafe import escape

from ..evidence import kinds

ATOM = "http://www.w3.org/2005/Atom"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
LEAP2 = "http://terms.leapspecs.org/"
CATEGORIES = "http://wiki.leapspecs.org/2A/categories/"
VERSION = "http://www.leapspecs.org/2010-07/2A/"
FILE_NAME = "leap2a.xml"

for _prefix, _uri in (("", ATOM), ("rdf", RDF), ("leap2", LEAP2), ("categories", CATEGORIES)):
    ET.register_namespace(_prefix, _uri)


def _atom(tag: str) -> str:
    return f"{{{ATOM}}}{tag}"


def _when(value: datetime | date | None, fallback: datetime) -> str:
    """An Atom date: RFC 3339 with a zone (SQLite hands back naive datetimes stored in UTC)."""
    if value is None:
        value = fallback
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


class _Feed:
    def __init__(self, person: dict[str, Any], exported_at: datetime):
        self.exported_at = exported_at
        self.base = current_app.config["PUBLIC_URL"].rstrip("/")
        self.root = ET.Element(_atom("feed"))
        ET.SubElement(self.root, f"{{{LEAP2}}}version").text = VERSION
        ET.SubElement(
            self.root, _atom("id")
        ).text = f"{self.base}/leap2a/person-{person['id']}/{exported_at.isoformat()}"
        ET.SubElement(self.root, _atom("title")).text = f"Evidence portfolio of {person['name']}"
        author = ET.SubElement(self.root, _atom("author"))
        ET.SubElement(author, _atom("name")).text = person["name"]
        ET.SubElement(author, _atom("uri")).text = "portfolio:person"
        ET.SubElement(self.root, _atom("updated")).text = _when(exported_at, exported_at)

    def entry(
        self, entry_id: str, leap_type: str, title: str, *, updated: Any = None, published: Any = None
    ) -> ET.Element:
        entry = ET.SubElement(self.root, _atom("entry"))
        ET.SubElement(entry, _atom("id")).text = entry_id
        ET.SubElement(entry, _atom("title")).text = title
        ET.SubElement(entry, f"{{{RDF}}}type", {f"{{{RDF}}}resource": f"leap2:{leap_type}"})
        ET.SubElement(entry, _atom("updated")).text = _when(updated, self.exported_at)
        if published is not None:
            ET.SubElement(entry, _atom("published")).text = _when(published, self.exported_at)
        return entry


def _content(parent: ET.Element, kind: str, text: str) -> None:
    """Atom content of ``kind`` "text" or "html" (HTML travels escaped, as Atom's html type asks)."""
    ET.SubElement(parent, _atom("content"), {"type": kind}).text = text


def _link(parent: ET.Element, rel: str, href: str, **attributes: str) -> None:
    ET.SubElement(parent, _atom("link"), {"rel": rel, "href": href, **attributes})


def _item_html(row: dict[str, Any]) -> str:
    """The item's written fields under their form labels (the text is already sanitised HTML)."""
    kind = kinds.get(row["kind"])
    parts = []
    for name in kind.text_columns:
        value = str(row.get(name) or "")
        if value.strip():
            label = kind.field_label(name)
            parts.append(f"<h3>{escape(label)}</h3>{value}")
    return "".join(parts)


def document(sections: dict[str, Any], exported_at: datetime) -> bytes:
    """The Leap2A feed of the evidence, files and linked competences in the export's ``sections``."""
    person = sections["person"]
    feed = _Feed(person, exported_at)
    me = feed.entry("portfolio:person", "person", person["name"], updated=exported_at)
    _content(me, "text", f"The owner of this portfolio. Exported on {exported_at:%d %B %Y}.")

    competences: dict[int, dict[str, Any]] = {}
    evidence_of: dict[int, list[int]] = {}
    for link in sections["links"]:
        competences.setdefault(link["competence_id"], link)
        evidence_of.setdefault(link["evidence_id"], []).append(link["competence_id"])
    files_of: dict[int, list[dict[str, Any]]] = {}
    for stored in sections["files"]:
        files_of.setdefault(stored["evidence_id"], []).append(stored)

    for row in sections["evidence"]:
        entry = feed.entry(
            f"portfolio:evidence-{row['id']}",
            "entry",
            row["title"],
            updated=row["updated_at"],
            published=row["created_at"],
        )
        _content(entry, "html", _item_html(row))
        if row.get("occurred_on"):
            ET.SubElement(entry, f"{{{LEAP2}}}date", {f"{{{LEAP2}}}point": "start"}).text = row[
                "occurred_on"
            ].isoformat()
        ET.SubElement(
            entry,
            _atom("category"),
            {"term": kinds.get(row["kind"]).label, "scheme": f"{feed.base}/leap2a/evidence-kind#"},
        )
        ET.SubElement(
            entry,
            _atom("category"),
            {"term": _value(row["status"]), "scheme": f"{feed.base}/leap2a/evidence-status#"},
        )
        for competence_id in evidence_of.get(row["id"], []):
            _link(entry, "leap2:is_evidence_of", f"portfolio:competence-{competence_id}")
        for stored in files_of.get(row["id"], []):
            _link(entry, "leap2:has_attachment", f"portfolio:file-{stored['id']}")

    for stored in sections["files"]:
        resource = feed.entry(
            f"portfolio:file-{stored['id']}", "resource", stored["original_name"], updated=stored["uploaded_at"]
        )
        _content(resource, "text", stored["original_name"])
        ET.SubElement(resource, _atom("category"), {"term": "Offline", "scheme": "categories:resource_type#"})
        _link(
            resource,
            "enclosure",
            quote(stored["in_zip"], safe="/"),  # a URI reference: names may hold spaces and any letters
            type=stored["content_type"],
            length=str(stored["size"]),
        )
        _link(resource, "leap2:is_attachment_of", f"portfolio:evidence-{stored['evidence_id']}")

    has_evidence: dict[int, list[int]] = {}
    for evidence_id, ids in evidence_of.items():
        for competence_id in ids:
            has_evidence.setdefault(competence_id, []).append(evidence_id)
    framework = person.get("framework") or "Competences"
    selection = feed.entry("portfolio:framework", "selection", framework, updated=exported_at)
    _content(selection, "text", f"The competences of the {framework} this portfolio's evidence is linked to.")
    ET.SubElement(selection, _atom("category"), {"term": "Grouping", "scheme": "categories:selection_type#"})
    for competence_id, link in competences.items():
        _link(selection, "leap2:has_part", f"portfolio:competence-{competence_id}")
        ability = feed.entry(f"portfolio:competence-{competence_id}", "ability", link["competence"])
        _content(ability, "text", link["competence"])
        if link.get("competence_ref"):
            ET.SubElement(
                ability,
                _atom("category"),
                {"term": link["competence_ref"], "scheme": f"{feed.base}/leap2a/competence-ref#"},
            )
        _link(ability, "leap2:is_part_of", "portfolio:framework")
        for evidence_id in has_evidence.get(competence_id, []):
            _link(ability, "leap2:has_evidence", f"portfolio:evidence-{evidence_id}")

    ET.indent(feed.root)
    return ET.tostring(feed.root, encoding="utf-8", xml_declaration=True)


def _value(value: Any) -> str:
    return str(getattr(value, "value", value))
