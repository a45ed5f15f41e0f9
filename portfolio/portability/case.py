"""Frameworks as 1EdTech CASE 1.1 packages: one document, an item per part, area and statement, and the tree.

The package is built from :func:`portfolio.frameworks.tree.framework_tree`, the one
framework tree, so what CASE publishes is what every page shows. Identifiers are
name-based UUIDs (version 5) of the framework's key and each node's stable path
(a statement's by its ref), so they stay the same from export to export and
across framework versions wherever the ref is unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..frameworks.tree import FrameworkTree, framework_tree, framework_trees
from ..models import Framework

# The namespace of every identifier this service mints; changing it would
# change every published identifier, so it is fixed here for good.
NAMESPACE = uuid.UUID("9b7f3a52-6c1e-5d0b-8e4f-2a6c9d1b7e30")
API_PATH = "/ims/case/v1p1"
LANGUAGE = "en-GB"


def identifier(*path: str) -> str:
    """The stable UUID of a node, from the framework key and the node's path."""
    return str(uuid.uuid5(NAMESPACE, "/".join(path)))


def document_identifier(framework: Framework) -> str:
    return identifier(framework.key)


def _timestamp(moment: datetime | None) -> str:
    # SQLite hands back naive datetimes for columns stored in UTC.
    moment = moment or datetime(1970, 1, 1, tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _uri(kind: str, sourced_id: str) -> str:
    return f"{current_app.config['PUBLIC_URL'].rstrip('/')}{API_PATH}/{kind}/{sourced_id}"


def _link(kind: str, sourced_id: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": sourced_id, "uri": _uri(kind, sourced_id)}


@dataclass
class Package:
    """A framework's CASE package, with lookups by identifier for the service endpoints."""

    document: dict[str, Any]
    items: list[dict[str, Any]] = field(default_factory=list)
    associations: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"CFDocument": self.document, "CFItems": self.items, "CFAssociations": self.associations}

    def document_link(self) -> dict[str, str]:
        return _link("CFDocuments", self.document["identifier"], self.document["title"])

    def index(self, kind: str) -> dict[str, dict[str, Any]]:
        """The package's items (``kind`` "CFItems") or associations ("CFAssociations") by identifier."""
        return {node["identifier"]: node for node in (self.items if kind == "CFItems" else self.associations)}


class _Builder:
    """Walks the framework tree once, adding items and ``isChildOf`` associations in document order."""

    def __init__(self, tree: FrameworkTree):
        self.tree = tree
        self.framework = tree.framework
        self.changed = _timestamp(self.framework.loaded_at)
        doc_id = document_identifier(self.framework)
        self.package = Package(self._document(doc_id))
        self.doc_node = {"title": self.framework.title, "identifier": doc_id, "uri": _uri("CFDocuments", doc_id)}
        self.sequence: dict[str, int] = {}

    def _document(self, doc_id: str) -> dict[str, Any]:
        f = self.framework
        document: dict[str, Any] = {
            "identifier": doc_id,
            "uri": _uri("CFDocuments", doc_id),
            "frameworkType": "Role profile" if f.kind == "role-profile" else "Tiered competency framework",
            "caseVersion": "1.1",
            "creator": f.publisher,
            "title": f.title,
            "lastChangeDateTime": self.changed,
            "publisher": f.publisher,
            "language": LANGUAGE,
            "version": str(f.version),
            "adoptionStatus": "Adopted",
            "notes": f"Source: {f.source}. Published {f.published}." if f.source else "",
        }
        if f.summary:
            document["description"] = f.summary
        return {key: value for key, value in document.items() if value != ""}

    def item(self, path: tuple[str, ...], statement: str, item_type: str, parent: dict[str, str], **extra) -> dict:
        item_id = identifier(self.framework.key, *path)
        item: dict[str, Any] = {
            "identifier": item_id,
            "fullStatement": statement,
            "CFItemType": item_type,
            "uri": _uri("CFItems", item_id),
            "language": LANGUAGE,
            "lastChangeDateTime": extra.pop("changed", self.changed),
            **{key: value for key, value in extra.items() if value},
        }
        self.package.items.append(item)
        node = {"title": statement[:200], "identifier": item_id, "uri": item["uri"]}
        self.child_of(node, parent)
        return node

    def child_of(self, child: dict[str, str], parent: dict[str, str]) -> None:
        number = self.sequence[parent["identifier"]] = self.sequence.get(parent["identifier"], 0) + 1
        association_id = identifier(self.framework.key, "isChildOf", child["identifier"], parent["identifier"])
        self.package.associations.append(
            {
                "identifier": association_id,
                "associationType": "isChildOf",
                "sequenceNumber": number,
                "uri": _uri("CFAssociations", association_id),
                "originNodeURI": {**child, "targetType": "CASE"},
                "destinationNodeURI": {**parent, "targetType": "CASE"},
                "lastChangeDateTime": self.changed,
            }
        )

    def build(self) -> Package:
        tier_nodes: dict[int, dict[str, str]] = {}
        for part in self.tree.parts:
            if self.framework.is_tiered:
                part_key = part.tier.slug
                part_node = self._tier_node(part.tier, tier_nodes)
            else:
                # A role profile's sections (core, role-specific, locality-specific) sit under its tier.
                part_key = part.tier.slug + "/" + part.title
                section = part.areas[0].rows[0].competence.section if part.areas and part.areas[0].rows else None
                part_node = self.item(
                    ("part", part_key),
                    part.title,
                    "Section",
                    self._tier_node(part.tier, tier_nodes),
                    humanCodingScheme=section.value if section else "",
                )
            group_nodes: dict[int, dict[str, str]] = {}
            for area in part.areas:
                for row in area.rows:
                    parent = self._group_node(part_key, row.competence.group_id, part_node, group_nodes)
                    c = row.competence
                    self.item(
                        ("statement", c.ref),
                        c.statement,
                        "Competence",
                        parent,
                        humanCodingScheme=c.ref,
                        changed=_timestamp(c.created_at) if c.created_by_id else self.changed,
                    )
        if self.tree.requirements:
            heading = self.item(("part", "requirements"), "Mandatory requirements", "Requirements", self.doc_node)
            for requirement in self.tree.requirements:
                self.item(
                    ("requirement", requirement.ref),
                    requirement.statement,
                    "Requirement",
                    heading,
                    humanCodingScheme=requirement.ref,
                    notes=f"Applies to: {requirement.applies_to}" if requirement.applies_to else "",
                )
        return self.package

    def _tier_node(self, tier, made: dict[int, dict[str, str]]) -> dict[str, str]:
        if tier.id not in made:
            made[tier.id] = self.item(
                ("part", tier.slug),
                tier.name,
                "Tier",
                self.doc_node,
                humanCodingScheme=tier.slug,
                notes=tier.description,
            )
        return made[tier.id]

    def _group_node(
        self, part_key: str, group_id: int, part_node: dict[str, str], made: dict[int, dict[str, str]]
    ) -> dict[str, str]:
        """The item for a group within a part (made once, with its parents first)."""
        if group_id in made:
            return made[group_id]
        group = self.tree.groups[group_id]
        parent = part_node if group.parent_id is None else self._group_node(part_key, group.parent_id, part_node, made)
        path = [group.name]
        ancestor = group
        while ancestor.parent_id is not None:
            ancestor = self.tree.groups[ancestor.parent_id]
            path.insert(0, ancestor.name)
        made[group_id] = self.item(
            ("part", part_key, "group", *path),
            group.name,
            group.kind.capitalize(),
            parent,
            notes=group.description,
        )
        return made[group_id]


def package_for(framework: Framework) -> Package:
    """``framework`` as a CASE 1.1 package (the tree's queries, nothing per statement)."""
    return _Builder(framework_tree(framework)).build()


def current_frameworks() -> list[Framework]:
    """The current version of every framework, which is what the CASE service publishes."""
    return list(db.session.scalars(select(Framework).where(Framework.is_current).order_by(Framework.title)))


def current_packages() -> list[Package]:
    """Every current framework's package, in five queries whatever the number of frameworks."""
    return [_Builder(tree).build() for tree in framework_trees(current_frameworks())]


def find_package(document_id: str) -> Package | None:
    """The package whose document has ``document_id``, or None."""
    for framework in current_frameworks():
        if document_identifier(framework) == document_id:
            return package_for(framework)
    return None


def find_node(kind: str, sourced_id: str) -> tuple[dict[str, Any], Package] | None:
    """The item or association ``sourced_id`` (``kind`` "CFItems" or "CFAssociations") and its package.

    Identifiers are name-based hashes that cannot be read back, so every current
    package is built (in a fixed number of queries) and looked up by identifier.
    """
    for package in current_packages():
        node = package.index(kind).get(sourced_id)
        if node is not None:
            return node, package
    return None
