"""Frameworks out as 1EdTech CASE 1.1: the package, its identifiers, and the read-only CASE service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.frameworks import service as frameworks_service
from portfolio.frameworks.tree import framework_tree
from portfolio.models import Competence, Framework, Role
from portfolio.portability import case
from tests.factories import LINK_WORKER_FILE, make_user

# 1EdTech's JSON schema binding of the CASE 1.1 getCFPackage response, as kept by OpenSALT.
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "case-v1p1-cfpackage-schema.json").read_text("utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
API = "/ims/case/v1p1"
OLD_WORDING = "Demonstrate conversations skills adhering to an evidence-based framework"
REWORDED = "Demonstrate conversation skills that follow an evidence-based framework"


def schema_errors(document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def parents(package: dict) -> dict[str, list[str]]:
    """Each node's parents by ``isChildOf``."""
    found: dict[str, list[str]] = {}
    for association in package["CFAssociations"]:
        assert association["associationType"] == "isChildOf"
        found.setdefault(association["originNodeURI"]["identifier"], []).append(
            association["destinationNodeURI"]["identifier"]
        )
    return found


def path_to_document(package: dict, item_id: str) -> list[str]:
    """The titles from the document down to ``item_id`` (fails on a cycle or a dangling parent)."""
    by_id = {item["identifier"]: item for item in package["CFItems"]}
    up = parents(package)
    document = package["CFDocument"]["identifier"]
    titles: list[str] = []
    node = item_id
    while node != document:
        assert node not in titles, "cycle"
        titles.insert(0, by_id[node]["fullStatement"])
        (node,) = up[node]
    return titles


@pytest.mark.parametrize("key", ["link-worker", "sfh-senior-engagement-worker"])
def test_each_shipped_framework_exports_a_valid_case_package(app, frameworks, key):
    package = case.package_for(frameworks[key]).as_json()

    assert schema_errors(package) == []
    assert package["CFDocument"]["title"] == frameworks[key].title
    assert package["CFDocument"]["caseVersion"] == "1.1"
    # The schema check bites: a missing uri, a bad timestamp and a non-UUID are each refused.
    broken = json.loads(json.dumps(package))
    del broken["CFItems"][0]["uri"]
    broken["CFItems"][1]["lastChangeDateTime"] = "yesterday"
    broken["CFAssociations"][0]["identifier"] = "PS-LW-01"
    assert len(schema_errors(broken)) == 3


@pytest.mark.parametrize("key", ["link-worker", "sfh-senior-engagement-worker"])
def test_every_statement_is_an_item_word_for_word_with_its_ref(app, frameworks, key):
    tree = framework_tree(frameworks[key])
    package = case.package_for(frameworks[key]).as_json()

    statements = [item for item in package["CFItems"] if item["CFItemType"] == "Competence"]
    assert [(s["humanCodingScheme"], s["fullStatement"]) for s in statements] == [
        (row.competence.ref, row.competence.statement)
        for part in tree.parts
        for area in part.areas
        for row in area.rows
    ]
    assert len(statements) == len(tree.rows)
    requirements = [item for item in package["CFItems"] if item["CFItemType"] == "Requirement"]
    assert [r["fullStatement"] for r in requirements] == [r.statement for r in tree.requirements]


def test_the_associations_give_the_tree_tier_area_statement(app, frameworks):
    package = case.package_for(frameworks["link-worker"]).as_json()
    up = parents(package)
    items = package["CFItems"]

    # Every item has exactly one parent, and the tiers hang from the document in order.
    assert all(len(up[item["identifier"]]) == 1 for item in items)
    tiers = [i for i in items if i["CFItemType"] == "Tier"]
    assert [t["fullStatement"] for t in tiers] == ["Link Worker", "Link Worker Coach", "Psychosocial Link Worker"]
    assert {up[t["identifier"]][0] for t in tiers} == {package["CFDocument"]["identifier"]}
    # A statement sits under its area, under the tier that introduces it.
    competence = db.session.scalar(
        select(Competence).where(Competence.framework_id == frameworks["link-worker"].id).order_by(Competence.position)
    )
    statement = next(i for i in items if i.get("humanCodingScheme") == competence.ref)
    chain = path_to_document(package, statement["identifier"])
    assert chain[0] == competence.tier.name
    assert chain[-2] == competence.group.name
    assert chain[-1] == competence.statement
    # Identifiers are unique.
    identifiers = [i["identifier"] for i in items] + [a["identifier"] for a in package["CFAssociations"]]
    assert len(identifiers) == len(set(identifiers))


def test_a_role_profile_keeps_its_sections_and_locality_specific_competences(app, frameworks):
    profile = frameworks["sfh-senior-engagement-worker"]
    manager = make_user(Role.MANAGER)
    local = frameworks_service.add_locality_competence(
        manager, profile, statement="Run the Ōtaki social prescribing café", principle="Local work", function="Cafés"
    )

    package = case.package_for(profile).as_json()

    assert schema_errors(package) == []
    sections = [i for i in package["CFItems"] if i["CFItemType"] == "Section"]
    assert [s["humanCodingScheme"] for s in sections] == ["core", "role-specific", "locality-specific"]
    item = next(i for i in package["CFItems"] if i.get("humanCodingScheme") == local.ref)
    assert item["fullStatement"] == "Run the Ōtaki social prescribing café"
    assert path_to_document(package, item["identifier"]) == [
        "Senior Engagement Worker",
        sections[2]["fullStatement"],
        "Local work",
        "Cafés",
        item["fullStatement"],
    ]


def test_identifiers_stay_the_same_between_exports_and_across_versions(app, frameworks, tmp_path):
    first = case.package_for(frameworks["link-worker"]).as_json()
    assert case.package_for(frameworks["link-worker"]).as_json() == first

    changed = tmp_path / "link-worker.yaml"
    changed.write_text(LINK_WORKER_FILE.read_text("utf-8").replace(OLD_WORDING, REWORDED), "utf-8")
    result = loader.load_file(changed)
    assert result.created and result.framework.version == 2
    second = case.package_for(result.framework).as_json()

    assert schema_errors(second) == []
    assert second["CFDocument"]["identifier"] == first["CFDocument"]["identifier"]
    assert second["CFDocument"]["version"] == "2"
    before = {i["humanCodingScheme"]: i for i in first["CFItems"] if i["CFItemType"] == "Competence"}
    after = {i["humanCodingScheme"]: i for i in second["CFItems"] if i["CFItemType"] == "Competence"}
    assert {ref: i["identifier"] for ref, i in after.items()} == {ref: i["identifier"] for ref, i in before.items()}
    reworded = [ref for ref in after if after[ref]["fullStatement"] != before[ref]["fullStatement"]]
    assert len(reworded) == 1 and after[reworded[0]]["fullStatement"] == REWORDED


def test_the_package_costs_the_same_queries_whatever_the_framework_size(app, frameworks, count_queries):
    profile = frameworks["sfh-senior-engagement-worker"]
    with count_queries:
        case.package_for(profile)
    small = count_queries.count
    manager = make_user(Role.MANAGER)
    for n in range(5):
        frameworks_service.add_locality_competence(
            manager, profile, statement=f"Local {n}", principle="P", function="F"
        )
    db.session.expire_all()
    profile = db.session.get(Framework, profile.id)
    with count_queries:
        package = case.package_for(profile)
    assert sum(1 for i in package.items if i["fullStatement"].startswith("Local ")) == 5
    assert count_queries.count == small


# --- The CASE service -----------------------------------------------------------------------


def test_the_service_lists_the_current_frameworks_without_sign_in(client, frameworks):
    response = client.get(f"{API}/CFDocuments")

    assert response.status_code == 200 and response.mimetype == "application/json"
    titles = sorted(d["title"] for d in response.get_json()["CFDocuments"])
    assert titles == sorted(f.title for f in frameworks.values())


def test_the_service_answers_a_package_an_item_and_an_association(client, frameworks):
    document_id = case.identifier("link-worker")

    package = client.get(f"{API}/CFPackages/{document_id}").get_json()
    assert schema_errors(package) == []
    assert package == case.package_for(frameworks["link-worker"]).as_json()

    statement = next(i for i in package["CFItems"] if i["CFItemType"] == "Competence")
    item = client.get(f"{API}/CFItems/{statement['identifier']}").get_json()
    assert item["fullStatement"] == statement["fullStatement"]
    assert item["CFDocumentURI"]["identifier"] == document_id
    assert item["uri"].endswith(f"{API}/CFItems/{statement['identifier']}")

    association = package["CFAssociations"][0]
    answer = client.get(f"{API}/CFAssociations/{association['identifier']}").get_json()
    assert answer["originNodeURI"] == association["originNodeURI"]
    assert answer["CFDocumentURI"]["title"] == frameworks["link-worker"].title
    assert client.get(f"{API}/CFDocuments/{document_id}").get_json() == package["CFDocument"]


@pytest.mark.parametrize("kind", ["CFDocuments", "CFPackages", "CFItems", "CFAssociations"])
def test_unknown_and_malformed_identifiers_get_the_case_status_shape(client, frameworks, kind):
    unknown = client.get(f"{API}/{kind}/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    body = unknown.get_json()
    assert body["imsx_codeMajor"] == "failure" and body["imsx_severity"] == "error"
    assert body["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == "unknownobject"

    malformed = client.get(f"{API}/{kind}/not-a-uuid")
    assert malformed.status_code == 400
    field = malformed.get_json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]
    assert field["imsx_codeMinorFieldValue"] == "invalid_uuid"


def test_a_setting_turns_the_service_off(app, client, frameworks):
    app.config["CASE_API"] = False

    assert client.get(f"{API}/CFDocuments").status_code == 404
    assert client.get(f"{API}/CFPackages/{case.identifier('link-worker')}").status_code == 404


def test_the_framework_page_links_to_its_case_package(client, auth, frameworks, app):
    auth.login_as(make_user(Role.WORKER))
    page = client.get(f"/frameworks/{frameworks['link-worker'].id}").get_data(as_text=True)
    assert f'href="{API}/CFPackages/{case.identifier("link-worker")}"' in page
    assert "Download as 1EdTech CASE 1.1 (JSON)" in page

    app.config["CASE_API"] = False
    page = client.get(f"/frameworks/{frameworks['link-worker'].id}").get_data(as_text=True)
    assert "CASE 1.1" not in page


def test_item_and_association_lookups_cost_the_same_queries_whatever_the_number_of_frameworks(
    client, frameworks, count_queries
):
    from portfolio.portability import importing
    from tests.factories import imported

    package = case.package_for(frameworks["link-worker"]).as_json()
    statement = next(i for i in package["CFItems"] if i.get("humanCodingScheme") == "PS-LW-01")
    association = package["CFAssociations"][-1]

    def lookups() -> list[int]:
        counts = []
        for path in (f"{API}/CFItems/{statement['identifier']}", f"{API}/CFAssociations/{association['identifier']}"):
            with count_queries:
                answer = client.get(path)
            assert answer.status_code == 200
            counts.append(count_queries.count)
        return counts

    before = lookups()
    exported = json.dumps(package, ensure_ascii=False).encode()
    for n in range(3):
        imported(importing.parse("copy.json", exported), key=f"link-worker-copy-{n}", tier_level=1, area_level=2)
    db.session.expire_all()

    assert lookups() == before
    assert (
        client.get(f"{API}/CFItems/{statement['identifier']}").get_json()["fullStatement"] == statement["fullStatement"]
    )
