"""A framework's structure, kept by each process until a framework changes (``portfolio/frameworks/structure.py``).

Tiers, groups, statements and requirements are frozen copies of their rows, read on nearly every page and
kept under the frameworks' version token (``portfolio/progress/versions.py``): a change to any of them is
seen by the next request, and a change not yet committed is never kept.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from portfolio.extensions import db
from portfolio.frameworks import service as frameworks_service
from portfolio.frameworks.structure import (
    FrozenCompetence,
    FrozenGroup,
    FrozenRequirement,
    FrozenTier,
    structures,
)
from portfolio.frameworks.tree import framework_tree
from portfolio.models import Competence, CompetenceGroup, Requirement, Tier
from tests.pages import text_of

LINK_WORKER = "link-worker"


def structure_of(framework):
    return structures([framework.id])[framework.id]


def test_the_structure_is_the_frameworks_in_document_order(app, frameworks):
    framework = frameworks[LINK_WORKER]
    structure = structure_of(framework)

    tiers = db.session.scalars(select(Tier).where(Tier.framework_id == framework.id).order_by(Tier.position)).all()
    assert [t.name for t in structure.tiers] == [t.name for t in tiers]
    assert [t.name for t in structure.tiers] == ["Link Worker", "Link Worker Coach", "Psychosocial Link Worker"]
    active = db.session.scalars(
        select(Competence)
        .where(Competence.framework_id == framework.id, Competence.retired_at.is_(None))
        .order_by(Competence.position)
    ).all()
    assert [c.ref for c in structure.competences] == [c.ref for c in active]
    first = structure.competences[0]
    assert first.statement == active[0].statement
    assert first.tier.name == active[0].tier.name
    assert first.group is structure.groups[active[0].group_id]
    assert [r.ref for r in structure.requirements] == [
        r.ref
        for r in db.session.scalars(
            select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.position)
        )
    ]


@pytest.mark.parametrize(
    ("frozen", "model"),
    [
        (FrozenTier, Tier),
        (FrozenGroup, CompetenceGroup),
        (FrozenCompetence, Competence),
        (FrozenRequirement, Requirement),
    ],
)
def test_a_frozen_copy_has_every_column_of_its_row(frozen, model):
    # A column added to the model and not to its copy would fail here, not as a blank on a page.
    fields = {f.name for f in dataclasses.fields(frozen)}
    assert {c.key for c in model.__mapper__.column_attrs} <= fields


def test_a_kept_structure_cannot_be_changed(app, frameworks):
    competence = structure_of(frameworks[LINK_WORKER]).competences[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        competence.statement = "Something else"  # type: ignore[misc]


def test_a_kept_structure_costs_one_token_query_then_none_in_the_same_transaction(
    app, frameworks, worker, count_queries
):
    framework = frameworks[LINK_WORKER]
    framework_tree(framework, worker)  # computes and keeps the structure and the worker's counts
    db.session.commit()
    db.session.refresh(worker), db.session.refresh(framework)  # loaded again before counting

    with count_queries(keep=True):
        tree = framework_tree(framework, worker)
        assert structure_of(framework).competences[0].ref == tree.rows[0].competence.ref
    # One query for the tokens of the worker and of the frameworks: the second lookup reuses them.
    assert len(count_queries.statements) == 1
    assert "portfolio_versions" in count_queries.statements[0]


def change_group(framework):
    group = db.session.scalars(select(CompetenceGroup).where(CompetenceGroup.framework_id == framework.id)).first()
    group.name = "A renamed area"
    return lambda s: any(g.name == "A renamed area" for g in s.groups.values())


def change_tier(framework):
    tier = db.session.scalars(select(Tier).where(Tier.framework_id == framework.id)).first()
    tier.name = "A renamed tier"
    return lambda s: any(t.name == "A renamed tier" for t in s.tiers)


def change_statement(framework):
    competence = db.session.scalars(select(Competence).where(Competence.framework_id == framework.id)).first()
    competence.statement = "A reworded statement"
    return lambda s: any(c.statement == "A reworded statement" for c in s.competences)


def change_requirement(framework):
    requirement = db.session.scalars(select(Requirement).where(Requirement.framework_id == framework.id)).first()
    requirement.statement = "A reworded requirement"
    return lambda s: any(r.statement == "A reworded requirement" for r in s.requirements)


CHANGES = [change_group, change_tier, change_statement, change_requirement]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_a_committed_change_is_seen_by_the_next_lookup(app, frameworks, change):
    framework = frameworks[LINK_WORKER]
    structure_of(framework)  # kept
    db.session.commit()

    shows_it = change(framework)
    db.session.commit()

    assert shows_it(structure_of(framework))


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__)
def test_a_change_not_yet_committed_is_read_afresh_and_never_kept(app, frameworks, change):
    framework = frameworks[LINK_WORKER]
    structure_of(framework)
    db.session.commit()

    shows_it = change(framework)
    assert shows_it(structure_of(framework))  # this transaction sees its own change
    db.session.rollback()

    assert not shows_it(structure_of(framework))  # and nobody keeps what was rolled back


def test_a_new_locality_statement_is_on_every_page_at_once(client, auth, frameworks, manager):
    framework = frameworks["sfh-senior-engagement-worker"]
    auth.sign_in(manager.email)
    assert "Support people with their tenancies" not in text_of(client.get(f"/frameworks/{framework.id}"))  # kept

    frameworks_service.add_locality_competence(
        manager, framework, statement="Support people with their tenancies", principle="P", function="F"
    )

    page = text_of(client.get(f"/frameworks/{framework.id}"))
    assert "Support people with their tenancies" in page
    added = db.session.scalar(select(Competence).where(Competence.statement == "Support people with their tenancies"))
    assert added.ref in [c.ref for c in structure_of(framework).competences]


def test_the_structure_is_read_from_the_database_not_from_rows_the_session_holds(app, frameworks):
    framework = frameworks[LINK_WORKER]
    competence = db.session.scalars(
        select(Competence).where(Competence.framework_id == framework.id).order_by(Competence.position)
    ).first()
    in_the_database = competence.statement
    # As if loaded earlier in the request, before another transaction changed the statement: the
    # session holds an older wording than the database.
    set_committed_value(competence, "statement", "An older wording")

    kept = structure_of(framework)

    assert kept.competences[0].statement == in_the_database
    db.session.rollback()
    assert structure_of(framework).competences[0].statement == in_the_database  # and that is what was kept


def test_a_released_savepoint_keeps_nothing_that_its_transaction_may_still_roll_back(app, frameworks):
    link_worker, role_profile = frameworks[LINK_WORKER], frameworks["sfh-senior-engagement-worker"]
    structure_of(link_worker), structure_of(role_profile)
    db.session.commit()
    original = structure_of(link_worker).competences[0].statement  # the tokens are read: this transaction's memo

    savepoint = db.session.begin_nested()
    competence = db.session.get_one(Competence, structure_of(link_worker).competences[0].id)
    competence.statement = "A wording that is rolled back"
    savepoint.commit()  # the savepoint's tokens are written, not committed
    assert structure_of(link_worker).competences[0].statement == "A wording that is rolled back"
    db.session.rollback()

    assert structure_of(link_worker).competences[0].statement == original
