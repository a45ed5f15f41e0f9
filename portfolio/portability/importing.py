"""Frameworks in: a CASE 1.1 package or a Mahara SmartEvidence ``.matrix`` file, read into one plain tree.

Real files are messier than their schemas: identifiers that are not UUIDs,
dates without a time zone, extra properties and items listed twice are
accepted; what cannot become a framework (no document, a cycle, an item with
no text) is refused with a message naming the item. The tree is then turned
into the loader's own data shape (:func:`framework_data`), so an imported
framework is loaded, versioned and carried over exactly like a shipped one.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import nh3

# Items our own CASE export marks as mandatory requirements rather than statements.
REQUIREMENT_TYPES = {"Requirement"}
REQUIREMENTS_HEADING_TYPES = {"Requirements"}
MAX_REF = 40


class ImportProblem(ValueError):
    """The file cannot be imported; the message says why, naming the item."""


@dataclass
class Node:
    id: str
    text: str
    code: str = ""
    kind: str = ""
    parent: str | None = None  # None: a child of the document


@dataclass
class ImportedTree:
    """A framework file's content: its title and its nodes in document order."""

    file_format: str
    title: str
    publisher: str = ""
    description: str = ""
    nodes: list[Node] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportedTree:
        return cls(**{**data, "nodes": [Node(**n) for n in data["nodes"]]})

    # --- Shape -------------------------------------------------------------------------------

    def children(self) -> dict[str | None, list[Node]]:
        found: dict[str | None, list[Node]] = {}
        for node in self.nodes:
            found.setdefault(node.parent, []).append(node)
        return found

    def depths(self) -> dict[str, int]:
        """Each node's level: 1 for the document's children."""
        depth: dict[str, int] = {}
        stack = [(node, 1) for node in reversed(self.children().get(None, []))]
        children = self.children()
        while stack:
            node, level = stack.pop()
            depth[node.id] = level
            stack.extend((child, level + 1) for child in reversed(children.get(node.id, [])))
        return depth

    def requirement_ids(self) -> set[str]:
        """Our own export's mandatory requirements and their heading: imported as requirements."""
        return {n.id for n in self.nodes if n.kind in REQUIREMENT_TYPES | REQUIREMENTS_HEADING_TYPES}

    def levels(self) -> list[Level]:
        """What each level of the tree holds, for the preview."""
        depth = self.depths()
        skip = self.requirement_ids()
        has_children = {n.parent for n in self.nodes}
        by_level: dict[int, list[Node]] = {}
        for node in self.nodes:
            if node.id not in skip:
                by_level.setdefault(depth[node.id], []).append(node)
        return [
            Level(
                number,
                len(nodes),
                sum(1 for n in nodes if n.id not in has_children),
                [n.text for n in nodes[:3]],
                sorted({n.kind for n in nodes if n.kind}),
            )
            for number, nodes in sorted(by_level.items())
        ]


@dataclass
class Level:
    number: int
    count: int
    leaves: int  # nodes with no children: statements if this level is below the areas
    examples: list[str]
    kinds: list[str]


# --- Reading files ------------------------------------------------------------------------------


# Said in the manager's words, whatever the file holds instead: which parser gave up, and why, means nothing to them.
NOT_A_FRAMEWORK = (
    "This is not a framework file: choose a CASE package (a .json file) or a SmartEvidence matrix (a .matrix file)."
)


def parse(filename: str, raw: bytes) -> ImportedTree:
    """The tree in an uploaded file, by its content (a ``.matrix`` or a CASE package).

    :raises ImportProblem: for a file that is not one of those, or cannot become a framework.
    """
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ImportProblem(NOT_A_FRAMEWORK) from error
    if isinstance(data, dict) and isinstance(data.get("framework"), dict):
        return parse_matrix(data["framework"])
    if isinstance(data, dict) and ("CFDocument" in data or isinstance(data.get("CFPackage"), dict)):
        return parse_case(data.get("CFPackage", data))
    raise ImportProblem(NOT_A_FRAMEWORK)


# A whole character reference: "&amp;", "&#233;", "&#xE9;" (never "&notes", which HTML's legacy rules would read).
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _text(value: Any) -> str:
    """Plain text of a value that may hold HTML (Mahara descriptions do)."""
    if not isinstance(value, str):
        return ""
    plain = nh3.clean(value, tags=set()) if "<" in value else value
    # Entities decoded once, every one of them (a Word paste's &nbsp; too): "&amp;lt;" is the text "&lt;". Only
    # whole ones, ending in ";": html.unescape alone also reads "Care &notes" as "Care ¬es".
    decoded = _ENTITY.sub(lambda entity: html.unescape(entity.group(0)), plain)
    return re.sub(r"\s+", " ", decoded).strip()


def parse_case(package: dict[str, Any]) -> ImportedTree:
    """A CASE 1.0/1.1 package: items hang from the document by ``isChildOf`` associations."""
    document = package.get("CFDocument")
    if not isinstance(document, dict):
        raise ImportProblem("The CASE package has no CFDocument, so there is no framework to import.")
    title = _text(document.get("title"))
    if not title:
        raise ImportProblem("The CASE package's CFDocument has no title.")
    items: dict[str, Node] = {}
    for raw in package.get("CFItems") or []:
        if not isinstance(raw, dict) or not str(raw.get("identifier") or "").strip():
            raise ImportProblem("A CFItem has no identifier.")
        identifier = str(raw["identifier"]).strip()
        text = _text(raw.get("fullStatement")) or _text(raw.get("abbreviatedStatement"))
        code = _text(raw.get("humanCodingScheme"))
        if not text:
            raise ImportProblem(f"The item {code or identifier} has no text (fullStatement is empty).")
        # An item listed twice: the first one stands.
        items.setdefault(identifier, Node(identifier, text, code, _text(raw.get("CFItemType"))))
    parents: dict[str, tuple[str, float]] = {}
    for raw in package.get("CFAssociations") or []:
        if not isinstance(raw, dict) or raw.get("associationType") != "isChildOf":
            continue
        child = str((raw.get("originNodeURI") or {}).get("identifier") or "")
        parent = str((raw.get("destinationNodeURI") or {}).get("identifier") or "")
        if child not in items or child in parents:
            continue  # about something else, or listed twice: the first one stands
        sequence = raw.get("sequenceNumber")
        order = float(sequence) if isinstance(sequence, int | float) else float("inf")
        parents[child] = (parent if parent in items else "", order)
    for identifier, node in items.items():
        node.parent = parents.get(identifier, ("", 0))[0] or None
    _refuse_cycles(items)
    ordered = _document_order(items, {i: order for i, (_, order) in parents.items()})
    return ImportedTree(
        "CASE",
        title,
        publisher=_text(document.get("publisher")) or _text(document.get("creator")),
        description=_text(document.get("description")),
        nodes=ordered,
    )


def parse_matrix(framework: dict[str, Any]) -> ImportedTree:
    """A Mahara SmartEvidence matrix: standards, and their elements (nested through their parent)."""
    title = _text(framework.get("name"))
    if not title:
        raise ImportProblem("The SmartEvidence matrix has no framework name.")
    nodes: list[Node] = []
    standards = framework.get("standards") or []
    if not isinstance(standards, list) or not standards:
        raise ImportProblem("The SmartEvidence matrix has no standards.")
    by_standard_id: dict[str, str] = {}
    for position, standard in enumerate(standards, start=1):
        name = _text(standard.get("name")) or _text(standard.get("shortname"))
        if not name:
            raise ImportProblem(f"Standard {position} of the matrix has no name.")
        node_id = f"standard-{standard.get('standardid', position)}"
        nodes.append(Node(node_id, name, _text(standard.get("shortname")), "Standard"))
        by_standard_id[str(standard.get("standardid", position))] = node_id
        # The older layout nests elements inside their standard.
        nodes.extend(_matrix_elements(standard.get("standardelement") or [], node_id, f"{node_id}-"))
    elements = framework.get("standardelements") or []
    for element in elements:
        parent_id = str(element.get("parentelementid") or "")
        standard = by_standard_id.get(str(element.get("standardid")))
        if standard is None:
            raise ImportProblem(f"The element {_element_label(element)} names a standard the matrix does not have.")
        parent = f"element-{parent_id}" if parent_id else standard
        nodes.append(_element(element, f"element-{element.get('elementid')}", parent))
    items: dict[str, Node] = {}
    for node in nodes:
        items.setdefault(node.id, node)
    known = set(items)
    for node in items.values():
        if node.parent is not None and node.parent not in known:
            raise ImportProblem(
                f"The element {node.code or node.text} names a parent element the matrix does not have."
            )
    _refuse_cycles(items)
    return ImportedTree(
        "Mahara SmartEvidence",
        title,
        publisher=_text(framework.get("institution")) if framework.get("institution") not in (None, "all") else "",
        description=_text(framework.get("description")),
        nodes=_document_order(items, {}),
    )


def _element_label(element: dict[str, Any]) -> str:
    return _text(element.get("shortname")) or _text(element.get("name")) or str(element.get("elementid"))


def _element(element: dict[str, Any], node_id: str, parent: str) -> Node:
    name = _text(element.get("name"))
    description = _text(element.get("description"))
    text = f"{name}: {description}" if name and description and description != name else name or description
    if not text:
        raise ImportProblem(f"The element {_element_label(element) or node_id} has no text.")
    return Node(node_id, text, _text(element.get("shortname")), "Element", parent)


def _matrix_elements(elements: list[dict[str, Any]], standard: str, prefix: str) -> list[Node]:
    """The older nested layout: ``parent: true`` marks a sub-element of the element before it."""
    nodes: list[Node] = []
    last_top: str | None = None
    for position, element in enumerate(elements, start=1):
        node_id = f"{prefix}{position}"
        is_sub = bool(element.get("parent")) and last_top is not None
        nodes.append(_element(element, node_id, last_top if is_sub and last_top else standard))
        if not is_sub:
            last_top = node_id
    return nodes


def _refuse_cycles(items: dict[str, Node]) -> None:
    for start in items.values():
        seen = {start.id}
        node = start
        while node.parent is not None:
            if node.parent in seen:
                raise ImportProblem(
                    f"The item {start.code or start.text[:60]} is its own ancestor (a cycle), "
                    "so the framework has no tree."
                )
            seen.add(node.parent)
            node = items[node.parent]


def _document_order(items: dict[str, Node], order: dict[str, float]) -> list[Node]:
    """Parents before children, siblings by sequence number and then as listed."""
    listed = {identifier: position for position, identifier in enumerate(items)}
    children: dict[str | None, list[Node]] = {}
    for node in items.values():
        children.setdefault(node.parent, []).append(node)
    for siblings in children.values():
        siblings.sort(key=lambda n: (order.get(n.id, float("inf")), listed[n.id]))
    ordered: list[Node] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        node = stack.pop()
        ordered.append(node)
        stack.extend(reversed(children.get(node.id, [])))
    return ordered


# --- Into the loader's shape -------------------------------------------------------------------


def slug(text: str, limit: int = 60) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return value[:limit].strip("-") or "framework"


def _refs(nodes: list[Node], prefix: str) -> dict[str, str]:
    """A stable ref per node: its code where that is unique and short, else one made from its identifier."""
    counts = Counter(n.code for n in nodes if n.code)
    return {
        n.id: n.code
        if n.code and counts[n.code] == 1 and len(n.code) <= MAX_REF
        else f"{prefix}-{hashlib.sha1(n.id.encode()).hexdigest()[:10].upper()}"
        for n in nodes
    }


def framework_data(tree: ImportedTree, *, key: str, tier_level: int | None, area_level: int | None) -> dict:
    """The loader's data for ``tree``: tiers from ``tier_level`` (None: one tier), areas from ``area_level``.

    Statements are the nodes with no children below the areas; levels between an
    area and its statements are folded into the area.

    :raises ImportProblem: when the choice leaves no statement, or areas above tiers.
    """
    if tier_level is not None and area_level is not None and area_level <= tier_level:
        raise ImportProblem("The areas must be on a level below the tiers.")
    depth = tree.depths()
    by_id = {n.id: n for n in tree.nodes}
    skip = tree.requirement_ids()
    has_children = {n.parent for n in tree.nodes}

    def ancestor_at(node: Node, level: int | None) -> Node | None:
        if level is None:
            return None
        while depth[node.id] > level and node.parent is not None:
            node = by_id[node.parent]
        return node if depth[node.id] == level else None

    statements = [
        n
        for n in tree.nodes
        if n.id not in skip and n.id not in has_children and depth[n.id] > max(tier_level or 0, area_level or 0)
    ]
    if not statements:
        raise ImportProblem("With these levels there are no statements: choose levels above the statements.")
    tiers: dict[str, dict[str, str]] = {}
    areas: dict[str, dict[str, Any]] = {}
    refs = _refs(statements, "IMP")
    for node in statements:
        tier_node = ancestor_at(node, tier_level)
        tier_name = tier_node.text if tier_node else tree.title
        tier = tiers.setdefault(tier_name, {"slug": _unique_slug(tier_name, tiers), "name": tier_name[:120]})
        area_node = ancestor_at(node, area_level)
        parent = by_id[node.parent] if node.parent else None
        area_name = area_node.text if area_node else (parent.text if parent and parent is not tier_node else "General")
        area = areas.setdefault(area_name, {"name": area_name[:300], "description": "", "lists": {}})
        listing = area["lists"].setdefault(
            tier["slug"], {"listed_under": tier["name"], "tiers": [tier["slug"]], "competences": []}
        )
        listing["competences"].append({"ref": refs[node.id], "statement": node.text})
    for area in areas.values():
        area["lists"] = list(area["lists"].values())
    requirement_nodes = [n for n in tree.nodes if n.kind in REQUIREMENT_TYPES]
    requirement_refs = _refs(requirement_nodes, "REQ")
    data: dict[str, Any] = {
        "key": key,
        "kind": "tiered",
        "title": tree.title[:300],
        "short_title": tree.title[:120],
        "publisher": (tree.publisher or "Imported")[:200],
        "published": "imported",
        "role": tree.title[:200],
        "area_of_work": "Imported framework",
        "source": f"Imported from a {tree.file_format} file",
        "summary": tree.description,
        "tiers": list(tiers.values()),
        "areas": list(areas.values()),
    }
    if requirement_nodes:
        data["requirements"] = {
            "title": "Requirements",
            "applies_to": ", ".join(t["name"] for t in tiers.values()),
            "items": [{"ref": requirement_refs[n.id], "statement": n.text} for n in requirement_nodes],
        }
    return data


def _unique_slug(name: str, taken: dict[str, dict[str, str]]) -> str:
    base = slug(name, 70)
    used = {t["slug"] for t in taken.values()}
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
