"""Progression: the status rule, readiness on both frameworks, promotion, requirement checks, the overview."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import Forbidden, NotFound

from portfolio.audit import ledger
from portfolio.duties import OwnDecision
from portfolio.errors import FieldError, FieldErrors
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.frameworks import service as frameworks_service
from portfolio.models import (
    AuditEntry,
    Competence,
    CompetenceDecision,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    NoteOutcome,
    NoteReview,
    NoteState,
    Notification,
    PromotionDecision,
    PromotionRecommendation,
    PromotionRequest,
    RequirementVerification,
    Role,
    Submission,
    SupervisionAssignment,
    TierChange,
    User,
)
from portfolio.people import service as people_service
from portfolio.progress import rules, service
from portfolio.progress.rules import CompetenceStatus
from portfolio.progress.service import NotReady
from tests.factories import (
    HASH,
    LINK_WORKER_FILE,
    RECENT_DAY,
    SUPERVISED_SINCE,
    TODAY,
    YESTERDAY,
    assign,
    competences,
    decide_on,
    link_draft,
    make_ready,
    make_user,
    meet,
    not_accept,
    requirement,
    requirements_of,
    supervision_note,
    tier,
    verification,
    verify_all,
)
from tests.pages import audit_rows, count, long_date, reload, row_counts

# --- helpers --------------------------------------------------------------------


def by_ref(ref: str, framework_key: str = "link-worker") -> Competence:
    return competences(framework_key, refs=[ref])[0]


def status_by_ref(progress: service.WorkerProgress) -> dict[str, service.CompetenceRow]:
    return {row.competence.ref: row for block in progress.blocks for area in block.areas for row in area.rows}


def missing_refs(readiness: service.Readiness) -> list[str]:
    return [row.competence.ref for area in readiness.missing for row in area.rows]


def progress_of(worker: User) -> service.WorkerProgress:
    db.session.expire_all()
    return service.worker_progress(db.session.get(User, worker.id), with_items=True)


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def notices(user: User) -> list[Notification]:
    return list(
        db.session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))
    )


@pytest.fixture
def people(app, frameworks):
    """A Link Worker with a current supervisor, two managers, and a supervisor of someone else."""
    worker = make_user(Role.WORKER, name="Wren Worker", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    other_manager = make_user(Role.MANAGER, name="Nia Manager")
    stranger = make_user(Role.SUPERVISOR, name="Sol Stranger")
    assign(supervisor, worker, SUPERVISED_SINCE, audited=True)
    return worker, supervisor, manager, other_manager, stranger


# --- The status rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepted", "linked", "required", "expected"),
    [
        (0, 0, 1, CompetenceStatus.NOT_STARTED),
        (0, 1, 1, CompetenceStatus.IN_PROGRESS),
        (1, 1, 1, CompetenceStatus.MET),
        (1, 1, 2, CompetenceStatus.IN_PROGRESS),
        (2, 2, 2, CompetenceStatus.MET),
        (3, 3, 2, CompetenceStatus.MET),
    ],
)
def test_the_rule_itself(accepted, linked, required, expected):
    assert rules.status_of(accepted, linked, required) == expected


def test_status_is_derived_from_links_and_signed_off_decisions(people):
    worker, supervisor, *_ = people
    a, b, c, d, e = competences("link-worker", "link-worker")[:5]
    link_draft(worker, [b])
    meet(worker, [c], supervisor=supervisor)
    not_accept(worker, [d], supervisor=supervisor, returned=True)  # accepted, but in a RETURNED decision
    not_accept(worker, [e], supervisor=supervisor)  # signed off, but this competence not accepted

    rows = status_by_ref(progress_of(worker))
    assert rows[a.ref].status == CompetenceStatus.NOT_STARTED
    assert rows[b.ref].status == CompetenceStatus.IN_PROGRESS
    assert rows[c.ref].status == CompetenceStatus.MET
    assert rows[d.ref].status == CompetenceStatus.IN_PROGRESS, "an acceptance in a returned decision must not count"
    assert rows[e.ref].status == CompetenceStatus.IN_PROGRESS
    assert (rows[c.ref].accepted, rows[d.ref].accepted, rows[e.ref].accepted) == (1, 0, 0)
    assert (
        rows[a.ref].status.label == "Not started"
        and rows[b.ref].status.label == "In progress"
        and rows[c.ref].status.label == "Met"
    )


def test_a_competence_needing_two_acceptances_is_not_met_by_one(people):
    worker, supervisor, *_ = people
    competence = competences("link-worker", "link-worker")[0]
    competence.required_count = 2
    db.session.commit()

    first = meet(worker, [competence], supervisor=supervisor, title="First observation")
    row = status_by_ref(progress_of(worker))[competence.ref]
    assert (row.status, row.accepted) == (CompetenceStatus.IN_PROGRESS, 1)

    # The same item signed off again still counts once: it needs different items.
    decide_on(worker, [competence], supervisor=supervisor, evidence=first)
    row = status_by_ref(progress_of(worker))[competence.ref]
    assert (row.status, row.accepted) == (CompetenceStatus.IN_PROGRESS, 1)

    meet(worker, [competence], supervisor=supervisor, title="Second observation")
    row = status_by_ref(progress_of(worker))[competence.ref]
    assert (row.status, row.accepted) == (CompetenceStatus.MET, 2)


def test_another_workers_acceptances_do_not_count(people):
    worker, supervisor, *_ = people
    other = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    competence = competences("link-worker", "link-worker")[0]
    meet(other, [competence], supervisor=supervisor)
    assert status_by_ref(progress_of(worker))[competence.ref].status == CompetenceStatus.NOT_STARTED
    assert status_by_ref(progress_of(other))[competence.ref].status == CompetenceStatus.MET


def test_status_follows_the_statement_ref_into_a_new_framework_version(people, tmp_path):
    worker, supervisor, *_ = people
    old = {c.ref: c for c in competences("link-worker")}
    meet(worker, [old["PS-LW-01"], old["PS-LW-02"]], supervisor=supervisor, title="Accepted on version 1")
    link_draft(worker, [old["PS-LW-03"]], title="Linked on version 1")
    old_framework_id = old["PS-LW-01"].framework_id

    # A changed copy of the data file: one statement reworded, another now needs two items.
    text = LINK_WORKER_FILE.read_text(encoding="utf-8")
    assert "Demonstrate conversations skills adhering to an evidence-based framework" in text
    text = text.replace(
        "Demonstrate conversations skills adhering to an evidence-based framework",
        "Demonstrate conversation skills that follow an evidence-based framework",
    ).replace("    - ref: PS-LW-02\n", "    - ref: PS-LW-02\n      required_count: 2\n")
    changed = tmp_path / "link-worker.yaml"
    changed.write_text(text, encoding="utf-8")
    result = loader.load_file(changed)
    assert result.created and result.framework.version == 2

    db.session.expire_all()
    moved = db.session.get(User, worker.id)
    assert moved.framework_id == result.framework.id != old_framework_id  # the worker moved to version 2
    assert moved.tier.slug == "link-worker"
    progress = progress_of(worker)
    rows = status_by_ref(progress)
    assert rows["PS-LW-01"].competence.framework_id == result.framework.id
    assert (
        rows["PS-LW-01"].competence.statement
        == "Demonstrate conversation skills that follow an evidence-based framework"
    )
    assert rows["PS-LW-01"].status == CompetenceStatus.MET, "evidence accepted on version 1 still counts"
    assert [e.title for e in rows["PS-LW-01"].items] == ["Accepted on version 1"]
    assert (rows["PS-LW-02"].status, rows["PS-LW-02"].accepted) == (CompetenceStatus.IN_PROGRESS, 1)  # needs 2 now
    assert rows["PS-LW-03"].status == CompetenceStatus.IN_PROGRESS
    assert [e.title for e in rows["PS-LW-03"].items] == ["Linked on version 1"]
    assert progress.blocks[0].met == 1 and progress.blocks[0].total == 48


# --- Readiness: the Link Worker framework (cumulative tiers) -------------------------


def test_ready_for_link_worker_coach_needs_both_tiers_and_every_requirement(people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    readiness = progress_of(worker).readiness
    assert readiness.tier.slug == "link-worker-coach"
    assert readiness.ready
    assert readiness.missing == [] and readiness.missing_count == 0
    assert [r.state for r in readiness.requirements] == ["verified", "verified", "verified"]
    # Psychosocial Link Worker competences are not needed for the tier before it.
    assert count(CompetenceDecision) == 48 + 20


def test_one_competence_missing_means_not_ready_and_names_exactly_that(people):
    worker, supervisor, manager, *_ = people
    needed = competences("link-worker", "link-worker", "link-worker-coach")
    assert len(needed) == 68
    left_out = by_ref("PS-LWC-03")
    meet(worker, [c for c in needed if c.id != left_out.id], supervisor=supervisor)
    verify_all(worker, manager)

    readiness = progress_of(worker).readiness
    assert not readiness.ready
    assert missing_refs(readiness) == [left_out.ref]
    assert [area.group.id for area in readiness.missing] == [left_out.group_id]
    assert readiness.missing[0].rows[0].status == CompetenceStatus.NOT_STARTED
    assert readiness.requirement_problems == []


def test_a_missing_link_worker_competence_blocks_coach_too(people):
    """Cumulative: a Link Worker statement not met keeps a worker from Link Worker Coach."""
    worker, supervisor, manager, *_ = people
    needed = competences("link-worker", "link-worker", "link-worker-coach")
    left_out = competences("link-worker", "link-worker")[0]
    meet(worker, [c for c in needed if c.id != left_out.id], supervisor=supervisor)
    verify_all(worker, manager)
    readiness = progress_of(worker).readiness
    assert not readiness.ready and missing_refs(readiness) == [left_out.ref]


def test_one_requirement_not_verified_means_not_ready_and_names_exactly_that(people):
    worker, supervisor, manager, *_ = people
    meet(worker, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=supervisor)
    verify_all(worker, manager, skip=("REQ-HOME-VISITS",))

    readiness = progress_of(worker).readiness
    assert not readiness.ready
    assert readiness.missing == []
    assert [(r.requirement.ref, r.state) for r in readiness.requirement_problems] == [("REQ-HOME-VISITS", "missing")]


def test_a_lapsed_dbs_makes_the_worker_not_ready_until_renewed(people):
    worker, supervisor, manager, *_ = people
    meet(worker, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=supervisor)
    verify_all(worker, manager, skip=("REQ-DBS",))
    verification(worker, manager, "REQ-DBS", verified_on=YESTERDAY - timedelta(days=3 * 365), expires_on=YESTERDAY)

    readiness = progress_of(worker).readiness
    assert not readiness.ready
    assert [(r.requirement.ref, r.state) for r in readiness.requirement_problems] == [("REQ-DBS", "lapsed")]
    assert service.overview()[0].lapsed == [next(r.statement for r in requirements_of(worker) if r.ref == "REQ-DBS")]
    assert service.overview()[0].ready is False

    # Expiring today is still in date; a renewal (the newest verification) makes them ready again.
    verification(worker, manager, "REQ-DBS", verified_on=YESTERDAY - timedelta(days=3 * 365), expires_on=TODAY)
    assert progress_of(worker).readiness.ready
    service.verify_requirement(
        manager, worker, requirements_of(worker)[2], verified_on=TODAY, expires_on=None, note="Renewed"
    )
    readiness = progress_of(worker).readiness
    assert readiness.ready
    assert readiness.requirements[2].verification.expires_on == service.add_months(TODAY, 36)
    assert service.overview()[0].ready is True and service.overview()[0].lapsed == []


def test_a_coach_needs_all_three_tiers_for_psychosocial_link_worker(people):
    worker, supervisor, manager, *_ = people
    worker.tier_id = tier("link-worker", "link-worker-coach").id
    db.session.commit()
    make_ready(worker, supervisor, manager)
    readiness = progress_of(worker).readiness
    assert readiness.tier.slug == "psychosocial-link-worker"
    assert not readiness.ready
    assert readiness.missing_count == 17
    assert sorted(missing_refs(readiness)) == sorted(
        c.ref for c in competences("link-worker", "psychosocial-link-worker")
    )

    meet(worker, competences("link-worker", "psychosocial-link-worker"), supervisor=supervisor)
    assert progress_of(worker).readiness.ready


def test_the_top_tier_has_nothing_to_be_ready_for(people):
    worker, supervisor, manager, *_ = people
    worker.tier_id = tier("link-worker", "psychosocial-link-worker").id
    db.session.commit()
    meet(worker, competences("link-worker"), supervisor=supervisor)
    verify_all(worker, manager)
    progress = progress_of(worker)
    assert progress.next_tier is None
    assert progress.readiness.tier is None and not progress.readiness.ready
    with pytest.raises(FieldError) as refused:
        service.request_promotion(db.session.get(User, worker.id))
    assert refused.value.message == "There is no higher tier to ask for"
    assert count(PromotionRequest) == 0


# --- Readiness: the Skills for Health role profile ---------------------------------


@pytest.fixture
def profile_worker(app, frameworks):
    worker = make_user(
        Role.WORKER, name="Ezra Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    supervisor = make_user(Role.SUPERVISOR, name="Sky Supervisor")
    manager = make_user(Role.MANAGER, name="Max Manager")
    assign(supervisor, worker, SUPERVISED_SINCE)
    # Whatever requirements the profile's data file lists are verified, so that
    # these tests are about its competences.
    verify_all(worker, manager)
    return worker, supervisor, manager, frameworks["sfh-senior-engagement-worker"]


def test_role_profile_ready_when_core_and_role_specific_are_met(profile_worker):
    worker, supervisor, _, framework = profile_worker
    everything = competences("sfh-senior-engagement-worker")
    assert len(everything) == 60
    meet(worker, everything[:-1], supervisor=supervisor)
    progress = progress_of(worker)
    assert [(b.title, b.met, b.total) for b in progress.blocks] == [
        ("Core competences", 20, 20),
        ("Role-specific competences", 39, 40),
    ]
    assert progress.next_tier.slug == "senior-engagement-worker"  # a one-tier profile: its own tier
    assert progress.readiness.requirement_problems == []
    assert not progress.readiness.ready and missing_refs(progress.readiness) == [everything[-1].ref]

    meet(worker, everything[-1:], supervisor=supervisor)
    readiness = progress_of(worker).readiness
    assert readiness.ready and readiness.tier.slug == "senior-engagement-worker"


def test_an_active_locality_competence_is_required_and_a_retired_one_is_not(profile_worker):
    worker, supervisor, manager, framework = profile_worker
    meet(worker, competences("sfh-senior-engagement-worker"), supervisor=supervisor)
    assert progress_of(worker).readiness.ready

    local = frameworks_service.add_locality_competence(
        manager,
        framework,
        statement="Work with housing providers to sustain tenancies",
        principle="Local",
        function="Housing",
    )
    progress = progress_of(worker)
    assert not progress.readiness.ready
    assert missing_refs(progress.readiness) == [local.ref]
    assert progress.blocks[-1].title == "Locality-specific competences"
    assert (progress.blocks[-1].met, progress.blocks[-1].total) == (0, 1)
    assert [r for r in service.overview() if r.worker.id == worker.id][0].ready is False

    frameworks_service.retire_locality_competence(manager, local)
    progress = progress_of(worker)
    assert progress.readiness.ready
    assert [b.title for b in progress.blocks] == ["Core competences", "Role-specific competences"]
    assert [r for r in service.overview() if r.worker.id == worker.id][0].ready is True

    # Met again once evidenced, when it is active.
    second = frameworks_service.add_locality_competence(
        manager, framework, statement="Know the local food banks", principle="Local", function="Food"
    )
    meet(worker, [second], supervisor=supervisor)
    assert progress_of(worker).readiness.ready


def test_a_role_profile_worker_cannot_request_promotion(profile_worker):
    worker, supervisor, _, _ = profile_worker
    meet(worker, competences("sfh-senior-engagement-worker"), supervisor=supervisor)
    with pytest.raises(FieldError) as refused:
        service.request_promotion(db.session.get(User, worker.id))
    assert refused.value.message == "There is no higher tier to ask for"
    assert count(PromotionRequest) == 0


# --- worker_progress: numbers and what is missing ------------------------------------


def test_met_and_total_per_tier_and_area(people):
    worker, supervisor, *_ = people
    practitioner = competences("link-worker", "link-worker", refs=["PS-LW-01", "PS-LW-02"])
    coach = competences("link-worker", "link-worker-coach", refs=["PS-LWC-01"])
    meet(worker, practitioner + coach, supervisor=supervisor)
    link_draft(worker, competences("link-worker", "link-worker", refs=["PS-LW-03"]))

    progress = progress_of(worker)
    assert progress.framework.key == "link-worker"
    assert [(b.title, b.met, b.total) for b in progress.blocks] == [
        ("Link Worker", 2, 48),
        ("Link Worker Coach", 1, 20),
        ("Psychosocial Link Worker", 0, 17),
    ]
    by_area = {a.group.name: (a.met, a.total) for a in progress.blocks[0].areas}
    assert by_area == {
        "Practitioner Skills": (2, 13),
        "Personal Development and Learning, Leadership and Supervision": (0, 10),
        "Professionalism and Communication": (0, 9),
        "Data, Information and Technical Skills": (0, 8),
        "Enabling Access to Assets": (0, 8),
    }
    assert [a.group.name for a in progress.blocks[0].areas][0] == "Practitioner Skills"  # in framework order
    assert {a.group.name: (a.met, a.total) for a in progress.blocks[1].areas}["Practitioner Skills"] == (1, 5)
    assert sum(a.total for a in progress.blocks[2].areas) == 17
    assert "Enabling Access to Assets" not in {a.group.name for a in progress.blocks[2].areas}


def test_missing_for_the_next_tier_is_grouped_by_area_with_the_evidence_in_progress(people):
    worker, supervisor, *_ = people
    done = competences("link-worker", "link-worker")[:10]
    meet(worker, done, supervisor=supervisor)
    target = by_ref("PS-LWC-02")
    draft = link_draft(worker, [target], title="Coaching session plan")
    returned = not_accept(worker, [target], supervisor=supervisor, returned=True)

    readiness = progress_of(worker).readiness
    assert readiness.tier.slug == "link-worker-coach"
    assert readiness.missing_count == 68 - 10
    positions = [a.group.position for a in readiness.missing]
    assert positions == sorted(positions)  # areas in framework order
    names = [a.group.name for a in readiness.missing]
    assert len(names) == len(set(names)) == 5  # one group per area, Link Worker and Coach statements together
    assert not ({c.ref for c in done} & set(missing_refs(readiness)))
    practitioner = next(a for a in readiness.missing if a.group.name == "Practitioner Skills")
    assert practitioner.total == 13 + 5 - 10
    row = next(r for r in practitioner.rows if r.competence.ref == "PS-LWC-02")
    assert row.status == CompetenceStatus.IN_PROGRESS
    assert {e.id for e in row.items} == {draft.id, returned.id}
    assert all(r.items == [] for r in practitioner.rows if r.competence.ref != "PS-LWC-02")
    # Psychosocial Link Worker statements are beyond the next tier.
    assert not (set(missing_refs(readiness)) & {c.ref for c in competences("link-worker", "psychosocial-link-worker")})


# --- What is missing: the newest items of each statement ------------------------------


def newest_items_of(worker: User, ref: str) -> list[service.LinkedItem]:
    return status_by_ref(progress_of(worker))[ref].items


def test_the_newest_items_of_a_statement_break_a_tie_on_the_day_by_the_newer_item(people):
    worker, *_ = people
    target, other = by_ref("PS-LW-01"), by_ref("PS-LW-02")
    latest = link_draft(worker, [target], title="Latest, written first")
    latest.occurred_on = RECENT_DAY + timedelta(days=1)
    for n in range(1, 7):
        link_draft(worker, [target, other], title=f"Same day {n}")  # RECENT_DAY, in the order written
    older = link_draft(worker, [target], title="A day earlier")
    older.occurred_on = RECENT_DAY - timedelta(days=1)
    db.session.commit()

    assert [i.title for i in newest_items_of(worker, "PS-LW-01")] == [
        "Latest, written first",
        "Same day 6",
        "Same day 5",
        "Same day 4",
        "Same day 3",
    ]
    # Each statement ranks its own items: the other one has only the six written on the same day.
    assert [i.title for i in newest_items_of(worker, "PS-LW-02")] == [f"Same day {n}" for n in (6, 5, 4, 3, 2)]
    assert newest_items_of(worker, "PS-LW-03") == []


def test_the_newest_items_of_a_statement_are_of_every_status_and_only_the_workers_own(people):
    worker, supervisor, _, _, stranger = people
    target = by_ref("PS-LW-01")
    someone_else = make_user(Role.WORKER, name="Olive Other", tier=tier("link-worker", "link-worker"))
    link_draft(someone_else, [target], title="Not the worker's")
    link_draft(worker, [target], title="A draft")
    link_draft(worker, [target], title="Waiting", status=EvidenceStatus.SUBMITTED)
    decide_on(worker, [target], supervisor=supervisor, title="Signed off")
    decide_on(worker, [target], supervisor=supervisor, title="Not accepted", accepted=False)
    decide_on(worker, [target], supervisor=supervisor, title="Returned", outcome=DecisionOutcome.RETURNED)

    items = newest_items_of(worker, "PS-LW-01")
    assert [(i.title, i.status) for i in items] == [
        ("Returned", EvidenceStatus.RETURNED),
        ("Not accepted", EvidenceStatus.SIGNED_OFF),
        ("Signed off", EvidenceStatus.SIGNED_OFF),
        ("Waiting", EvidenceStatus.SUBMITTED),
        ("A draft", EvidenceStatus.DRAFT),
    ]
    assert all(i.note_state is None and i.ref == "PS-LW-01" for i in items)  # no supervision notes here


def test_a_supervision_note_among_the_newest_items_shows_its_state(people):
    worker, supervisor, *_ = people
    target = by_ref("PS-LW-01")
    waiting = supervision_note(worker, supervisor, title="Waiting note")
    disputed = supervision_note(worker, supervisor, title="Disputed note")
    confirmed = supervision_note(worker, supervisor, title="Confirmed note")
    for note in (waiting, disputed, confirmed):
        db.session.add(EvidenceLink(evidence_id=note.id, competence_id=target.id))
    for note, outcome in ((disputed, NoteOutcome.DISPUTED), (confirmed, NoteOutcome.DISPUTED)):
        db.session.add(NoteReview(evidence_id=note.id, supervisor_id=supervisor.id, outcome=outcome, content_hash=HASH))
    db.session.add(
        NoteReview(
            evidence_id=confirmed.id, supervisor_id=supervisor.id, outcome=NoteOutcome.CONFIRMED, content_hash=HASH
        )
    )
    db.session.commit()

    assert {i.title: i.note_state for i in newest_items_of(worker, "PS-LW-01")} == {
        "Waiting note": NoteState.WAITING,
        "Disputed note": NoteState.DISPUTED,
        "Confirmed note": NoteState.CONFIRMED,  # disputed first, then confirmed
    }


def test_a_worker_without_a_framework_has_no_progress(app, frameworks):
    worker = make_user(Role.WORKER)
    with pytest.raises(NotFound):
        service.worker_progress(worker)


# --- Promotion: request ------------------------------------------------------------


def test_a_request_when_not_ready_is_refused_with_what_is_missing_and_writes_nothing(people):
    worker, supervisor, manager, *_ = people
    needed = competences("link-worker", "link-worker", "link-worker-coach")
    meet(worker, needed[1:], supervisor=supervisor)
    verify_all(worker, manager, skip=("REQ-DRIVING",))
    audit_before, notices_before = count(AuditEntry), count(Notification)

    with pytest.raises(NotReady) as refused:
        service.request_promotion(db.session.get(User, worker.id))
    error = refused.value
    assert error.field == "request"
    assert error.message == (
        "You are not ready for Link Worker Coach yet: 1 competence is not met and 1 requirement is not verified or in date"
    )
    assert missing_refs(error.readiness) == [needed[0].ref]
    assert [r.requirement.ref for r in error.readiness.requirement_problems] == ["REQ-DRIVING"]
    assert count(PromotionRequest) == 0
    assert (count(AuditEntry), count(Notification)) == (audit_before, notices_before)


def test_not_ready_message_counts_in_the_plural(people):
    worker, *_ = people
    with pytest.raises(NotReady) as refused:
        service.request_promotion(db.session.get(User, worker.id))
    assert refused.value.message == (
        "You are not ready for Link Worker Coach yet: 68 competences are not met and 3 requirements are not verified or in date"
    )


def test_a_second_request_while_one_is_open_is_refused(people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    service.request_promotion(db.session.get(User, worker.id))
    audit_before, notices_before = count(AuditEntry), count(Notification)
    with pytest.raises(FieldError) as refused:
        service.request_promotion(db.session.get(User, worker.id))
    assert refused.value.message == "You already have a promotion request waiting for a decision"
    assert count(PromotionRequest) == 1
    assert (count(AuditEntry), count(Notification)) == (audit_before, notices_before)


def test_a_request_notifies_current_supervisors_only(people):
    worker, supervisor, manager, other_manager, stranger = people
    former = make_user(Role.SUPERVISOR, name="Flo Former")
    db.session.add(
        SupervisionAssignment(
            supervisor_id=former.id, worker_id=worker.id, starts_on=SUPERVISED_SINCE, ends_on=TODAY - timedelta(days=5)
        )
    )
    db.session.commit()
    make_ready(worker, supervisor, manager)
    request = service.request_promotion(db.session.get(User, worker.id))

    assert request.target_tier.slug == "link-worker-coach" and request.from_tier.slug == "link-worker"
    [notice] = notices(supervisor)
    assert notice.message == "Wren Worker asked to become Link Worker Coach: your recommendation is needed"
    assert notice.url == f"/progress/workers/{worker.id}"
    assert notices(former) == [] and notices(stranger) == [] and notices(manager) == []
    assert progress_of(worker).open_request.id == request.id


# --- Promotion: the whole flow -------------------------------------------------------


def test_the_whole_promotion_flow(people):
    worker, supervisor, manager, other_manager, stranger = people
    make_ready(worker, supervisor, manager)
    coach = tier("link-worker", "link-worker-coach")

    request = service.request_promotion(db.session.get(User, worker.id))
    recommendation = service.recommend(
        supervisor, request, supports=True, reasons="  Consistently excellent practice.  "
    )
    assert recommendation.reasons == "Consistently excellent practice."
    assert recommendation.supports is True and recommendation.supervisor_id == supervisor.id
    for person in (manager, other_manager):
        [notice] = notices(person)
        assert notice.message == "Sam Supervisor supports Wren Worker’s promotion request"
        assert notice.url == f"/progress/workers/{worker.id}"
    assert notices(stranger) == []

    effective = TODAY + timedelta(days=7)
    decision = service.decide_promotion(
        manager, db.session.get(PromotionRequest, request.id), approved=True, effective_on=effective, reasons=""
    )
    assert decision.approved is True and decision.effective_on == effective and decision.manager_id == manager.id

    db.session.expire_all()
    promoted = db.session.get(User, worker.id)
    assert promoted.tier_id == coach.id
    [change] = db.session.scalars(select(TierChange)).all()
    assert (change.worker_id, change.from_tier.slug, change.to_tier.slug) == (
        worker.id,
        "link-worker",
        "link-worker-coach",
    )
    assert (change.effective_on, change.decision_id) == (effective, decision.id)
    promotion_actions = [a for a in actions() if a.startswith("promotion.")]
    assert promotion_actions == ["promotion.requested", "promotion.recommended", "promotion.approved"]
    approved = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "promotion.approved"))
    assert approved.actor_id == manager.id and approved.subject == f"user:{worker.id}"
    assert approved.details["request_id"] == request.id and approved.details["effective_on"] == effective.isoformat()
    assert approved.details["target_tier_id"] == coach.id
    assert ledger.verify().ok
    assert [n.message for n in notices(worker)] == [
        "Sam Supervisor supports your promotion request",
        "Your request to become Link Worker Coach was approved",
        "You have a credential for Link Worker Coach: download it for your wallet",
    ]
    assert notices(worker)[0].url == "/progress/"

    progress = progress_of(worker)
    assert progress.open_request is None
    assert [h.to_tier.slug for h in service.tier_history(worker)] == ["link-worker-coach"]
    assert progress.next_tier.slug == "psychosocial-link-worker" and not progress.readiness.ready


def test_a_declined_request_keeps_the_tier_and_can_be_asked_again(people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    request = service.request_promotion(db.session.get(User, worker.id))
    service.recommend(supervisor, request, supports=False, reasons="Needs more practice in groups")
    [notice] = notices(manager)
    assert notice.message == "Sam Supervisor does not yet support Wren Worker’s promotion request"

    decision = service.decide_promotion(
        manager, request, approved=False, effective_on=TODAY, reasons="Agree: a few more months"
    )
    assert decision.approved is False and decision.effective_on is None
    assert decision.reasons == "Agree: a few more months"
    db.session.expire_all()
    assert db.session.get(User, worker.id).tier.slug == "link-worker"
    assert count(TierChange) == 0
    assert actions()[-1] == "promotion.declined"
    assert notices(worker)[-1].message == "Your request to become Link Worker Coach was declined"
    assert ledger.verify().ok

    again = service.request_promotion(db.session.get(User, worker.id))
    assert again.id != request.id and count(PromotionRequest) == 2


# --- Promotion: recommending --------------------------------------------------------


@pytest.fixture
def open_request(people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    return service.request_promotion(db.session.get(User, worker.id))


@pytest.mark.parametrize(
    ("supports", "reasons", "field", "message"),
    [
        (None, "Good work", "supports", "Choose whether you support the request"),
        (True, "   ", "reasons", "Give your reasons"),
        (False, "", "reasons", "Give your reasons"),
        (True, "x" * 5001, "reasons", "The reasons must be 5,000 characters or fewer"),
    ],
)
def test_a_recommendation_needs_a_choice_and_reasons(people, open_request, supports, reasons, field, message):
    _, supervisor, *_ = people
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.recommend(supervisor, open_request, supports=supports, reasons=reasons)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert row_counts() == before


def test_a_supervisor_may_change_their_recommendation_until_it_is_decided(people, open_request):
    """A wrong click, or a change of mind: a new row, the earlier kept; the newest counts, for the decision too."""
    worker, supervisor, manager, *_ = people
    first = service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    before = row_counts()
    again = service.recommend(supervisor, open_request, supports=True, reasons="Ready")  # a double click
    assert again.id == first.id and row_counts() == before

    changed = service.recommend(supervisor, open_request, supports=False, reasons="One more observation first")
    request = reload(open_request)
    assert [r.id for r in request.recommendations] == [first.id, changed.id]
    assert request.current_recommendations == [changed]
    assert request.earlier_recommendations(changed) == [first]
    [audit] = audit_rows("promotion.recommended", changes=first.id)
    assert audit.details["supports"] is False
    assert notices(worker)[-1].message == (
        "Sam Supervisor changed their recommendation: they now do not yet support your promotion request"
    )

    # The decision reads the newest: approving against "not yet" needs reasons, whatever was said before.
    with pytest.raises(FieldErrors) as refused:
        service.decide_promotion(manager, reload(open_request), approved=True, effective_on=TODAY, reasons="")
    assert refused.value.by_field() == {
        "reasons": "Give the reasons for approving when a supervisor does not yet support it"
    }
    service.decide_promotion(manager, reload(open_request), approved=True, effective_on=TODAY, reasons="Seen it")
    with pytest.raises(FieldError):
        service.recommend(supervisor, reload(open_request), supports=True, reasons="Ready after all")
    assert count(PromotionRecommendation) == 2


def test_a_decision_is_bound_to_the_recommendations_its_page_showed(people, open_request):
    _, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    seen = service.recommendations_seen(reload(open_request))
    service.recommend(supervisor, reload(open_request), supports=False, reasons="Not yet after all")
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(
            manager, reload(open_request), approved=False, effective_on=None, reasons="No", seen_recommendations=seen
        )
    assert (refused.value.field, refused.value.message) == ("approved", service.RECOMMENDATION_CHANGED)
    assert row_counts() == before


def test_two_current_supervisors_may_each_recommend(people, open_request):
    worker, supervisor, *_ = people
    second = make_user(Role.SUPERVISOR, name="Tay Second")
    assign(second, worker, SUPERVISED_SINCE)
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    service.recommend(second, open_request, supports=True, reasons="Agreed")
    assert count(PromotionRecommendation) == 2


def test_notices_asking_for_a_recommendation_or_a_decision_are_done_with_when_it_is_given(people):
    """Nobody is left a "New" notice asking for something already done."""
    worker, supervisor, manager, other_manager, _ = people
    second = make_user(Role.SUPERVISOR, name="Tay Second")
    assign(second, worker, SUPERVISED_SINCE)
    make_ready(worker, supervisor, manager)
    request = service.request_promotion(db.session.get(User, worker.id))

    def unread(person: User) -> list[str]:
        return [n.message for n in notices(person) if n.read_at is None]

    assert unread(supervisor) and unread(second)
    service.recommend(supervisor, request, supports=True, reasons="Ready")
    assert unread(supervisor) == []  # given
    assert unread(second) == ["Wren Worker asked to become Link Worker Coach: your recommendation is needed"]
    assert unread(manager) and unread(other_manager)

    service.decide_promotion(
        manager, db.session.get(PromotionRequest, request.id), approved=True, effective_on=TODAY, reasons=""
    )
    assert unread(second) == [] and unread(manager) == [] and unread(other_manager) == []  # decided
    assert unread(worker) == [
        "Sam Supervisor supports your promotion request",
        "Your request to become Link Worker Coach was approved",
        "You have a credential for Link Worker Coach: download it for your wallet",
    ]


def test_recommending_for_someone_who_is_not_a_supervisee_is_404_and_writes_nothing(people, open_request):
    worker, supervisor, manager, other_manager, stranger = people
    former = make_user(Role.SUPERVISOR, name="Flo Former")
    db.session.add(
        SupervisionAssignment(
            supervisor_id=former.id, worker_id=worker.id, starts_on=SUPERVISED_SINCE, ends_on=YESTERDAY
        )
    )
    db.session.commit()
    before = row_counts()
    for actor in (stranger, former, manager):
        with pytest.raises(NotFound):
            service.recommend(actor, open_request, supports=True, reasons="Ready")
    # The worker themself is told why (separation of duties, tests/test_duties.py).
    with pytest.raises(OwnDecision):
        service.recommend(db.session.get(User, worker.id), open_request, supports=True, reasons="Ready")
    assert row_counts() == before


def test_no_recommendation_after_the_decision(people, open_request):
    _, supervisor, manager, *_ = people
    second = make_user(Role.SUPERVISOR, name="Tay Second")
    assign(second, open_request.worker, SUPERVISED_SINCE)
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    service.decide_promotion(manager, open_request, approved=True, effective_on=TODAY, reasons="")
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.recommend(second, db.session.get(PromotionRequest, open_request.id), supports=True, reasons="Late")
    assert refused.value.message == "A manager has already decided this request"
    assert row_counts() == before


# --- Promotion: withdrawing ------------------------------------------------------------


def test_a_worker_withdraws_their_request_closed_not_declined_and_may_ask_again(people, open_request):
    worker, supervisor, manager, other_manager, stranger = people
    service.recommend(supervisor, open_request, supports=False, reasons="A few more months")
    withdrawn = service.withdraw_request(db.session.get(User, worker.id), open_request)

    db.session.expire_all()
    stored = db.session.get(PromotionRequest, withdrawn.id)
    assert stored.withdrawn_at is not None and stored.decision is None
    assert count(PromotionDecision) == 0 and count(PromotionRecommendation) == 1  # the recommendation stays
    assert progress_of(worker).open_request is None
    assert service.open_requests(manager) == [] and service.open_requests(other_manager) == []
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "promotion.withdrawn"))
    assert entry.actor_id == worker.id and entry.details["request_id"] == withdrawn.id
    assert people_service.describe(entry) == "Withdrew the request to become Link Worker Coach"  # a person's history
    assert ledger.verify().ok  # the withdrawal is bound; the request's first row is superseded, not broken
    # Nobody is left asked to decide; those asked are told.
    assert [n.read_at is not None for n in notices(manager)] == [True]
    assert notices(supervisor)[-1].message == "Wren Worker withdrew their request to become Link Worker Coach"
    assert notices(stranger) == []

    again = service.request_promotion(db.session.get(User, worker.id))
    assert again.id != withdrawn.id and progress_of(worker).open_request.id == again.id


def test_a_former_supervisor_who_recommended_is_not_told_of_the_withdrawal(people, open_request):
    worker, supervisor, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    assignment = db.session.scalar(select(SupervisionAssignment).where(SupervisionAssignment.worker_id == worker.id))
    assignment.ends_on = YESTERDAY
    db.session.commit()
    before = len(notices(supervisor))
    service.withdraw_request(db.session.get(User, worker.id), open_request)
    assert len(notices(supervisor)) == before  # the notice would lead to a page they may no longer see


def test_withdrawing_twice_writes_once(people, open_request):
    worker, *_ = people
    service.withdraw_request(db.session.get(User, worker.id), open_request)
    before = row_counts()
    service.withdraw_request(db.session.get(User, worker.id), db.session.get(PromotionRequest, open_request.id))
    assert row_counts() == before


def test_a_decided_request_cannot_be_withdrawn(people, recommended):
    worker, _, manager, *_ = people
    service.decide_promotion(manager, recommended, approved=False, effective_on=None, reasons="Not yet")
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.withdraw_request(db.session.get(User, worker.id), db.session.get(PromotionRequest, recommended.id))
    assert (refused.value.field, refused.value.message) == (
        "withdraw",
        "A manager has already decided this request, so it cannot be withdrawn",
    )
    assert row_counts() == before
    assert db.session.get(PromotionRequest, recommended.id).withdrawn_at is None


def test_only_the_worker_withdraws_their_request(people, open_request):
    _, supervisor, manager, *_ = people
    before = row_counts()
    for actor in (supervisor, manager):
        with pytest.raises(NotFound):
            service.withdraw_request(actor, open_request)
    assert row_counts() == before


def test_a_withdrawn_request_is_neither_recommended_on_nor_decided(people, open_request):
    """Checked on the locked request: the supervisor's page, opened before the withdrawal, still shows the form."""
    worker, supervisor, manager, *_ = people
    second = make_user(Role.SUPERVISOR, name="Tay Second")
    assign(second, worker, SUPERVISED_SINCE)
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    stale = db.session.get(PromotionRequest, open_request.id)
    service.withdraw_request(db.session.get(User, worker.id), open_request)
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.recommend(second, stale, supports=True, reasons="Late")
    assert (refused.value.field, refused.value.message) == (
        "supports",
        "Wren Worker withdrew this request: there is nothing to recommend on",
    )
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, stale, approved=True, effective_on=TODAY, reasons="")
    assert (refused.value.field, refused.value.message) == (
        "approved",
        "Wren Worker withdrew this request: there is nothing to decide",
    )
    assert row_counts() == before
    assert db.session.get(User, worker.id).tier.slug == "link-worker"


# --- Promotion: deciding -------------------------------------------------------------


@pytest.fixture
def recommended(people, open_request):
    _, supervisor, *_ = people
    service.recommend(supervisor, open_request, supports=True, reasons="Ready")
    return db.session.get(PromotionRequest, open_request.id)


@pytest.mark.parametrize(
    ("approved", "effective_on", "reasons", "field", "message"),
    [
        (None, TODAY, "Fine", "approved", "Choose whether to approve or decline the request"),
        (True, None, "Fine", "effective_on", "Enter the date the new tier takes effect"),
        (False, None, "  ", "reasons", "Give the reasons for declining"),
        (False, None, "x" * 5001, "reasons", "The reasons must be 5,000 characters or fewer"),
    ],
)
def test_a_decision_needs_its_fields(people, recommended, approved, effective_on, reasons, field, message):
    worker, _, manager, *_ = people
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, recommended, approved=approved, effective_on=effective_on, reasons=reasons)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert row_counts() == before
    assert db.session.get(User, worker.id).tier.slug == "link-worker"


def test_a_decision_names_every_field_wrong_at_once(people, recommended):
    worker, _, manager, *_ = people
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, recommended, approved=True, effective_on=None, reasons="x" * 5001)
    assert refused.value.by_field() == {
        "effective_on": "Enter the date the new tier takes effect",
        "reasons": "The reasons must be 5,000 characters or fewer",
    }
    with pytest.raises(FieldError) as refused:
        service.recommend(people[1], recommended, supports=None, reasons="")
    assert refused.value.by_field() == {
        "supports": "Choose whether you support the request",
        "reasons": "Give your reasons",
    }
    assert row_counts() == before


def test_whoever_recommended_does_not_decide_and_is_not_told_of_their_own_recommendation(people, open_request):
    """Found by a helper: a supervisor who is also a manager recommended, then was offered the decision on the same
    request, and was notified of their own recommendation. The supervisor recommends; another person decides."""
    worker, _, manager, *_ = people
    lead = make_user(Role.SUPERVISOR, Role.MANAGER, name="Lee Lead")
    assign(lead, worker, SUPERVISED_SINCE)
    service.recommend(lead, open_request, supports=True, reasons="Ready")
    assert not any("Lee Lead supports" in n.message for n in notices(lead))
    assert any("Lee Lead supports" in n.message for n in notices(manager))
    # The worker is told too (found by a helper: after a "not yet" the worker heard nothing).
    assert [n.message for n in notices(worker) if "Lee Lead" in n.message] == [
        "Lee Lead supports your promotion request"
    ]
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(
            db.session.get(User, lead.id),
            db.session.get(PromotionRequest, open_request.id),
            approved=True,
            effective_on=TODAY,
            reasons="",
        )
    assert (refused.value.field, refused.value.message) == ("approved", service.RECOMMENDED_IT)
    assert row_counts() == before
    # Nothing is left waiting for them on it (their home's count and list); another manager still has it to decide.
    assert service.open_requests(db.session.get(User, lead.id)) == []
    assert [r.id for r in service.open_requests(manager)] == [open_request.id]
    service.decide_promotion(
        manager, db.session.get(PromotionRequest, open_request.id), approved=True, effective_on=TODAY, reasons=""
    )
    assert db.session.get(User, worker.id).tier.slug == "link-worker-coach"


def test_a_promotion_takes_effect_no_earlier_than_its_request(people, recommended):
    """Found by a helper: an approval dated 1 January 2020 was accepted, years before the request and the evidence."""
    worker, _, manager, *_ = people
    asked_on = recommended.requested_at.date()
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(
            manager, recommended, approved=True, effective_on=asked_on - timedelta(days=1), reasons=""
        )
    assert refused.value.field == "effective_on"
    assert refused.value.message.startswith("The date must be on or after the request, ")
    assert row_counts() == before and db.session.get(User, worker.id).tier.slug == "link-worker"


def test_approving_against_a_recommendation_that_does_not_support_it_needs_reasons(people, open_request):
    """Found by a helper: a manager approved against 'Not yet' with the reasons left empty."""
    worker, supervisor, manager, *_ = people
    service.recommend(supervisor, open_request, supports=False, reasons="One more observation first")
    request = db.session.get(PromotionRequest, open_request.id)
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, request, approved=True, effective_on=TODAY, reasons="  ")
    assert (refused.value.field, refused.value.message) == (
        "reasons",
        "Give the reasons for approving when a supervisor does not yet support it",
    )
    assert row_counts() == before
    service.decide_promotion(
        manager,
        db.session.get(PromotionRequest, open_request.id),
        approved=True,
        effective_on=TODAY,
        reasons="The observation was done last week",
    )
    assert db.session.get(User, worker.id).tier.slug == "link-worker-coach"


def test_deciding_needs_a_recommendation_first(people, open_request):
    _, _, manager, *_ = people
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, open_request, approved=True, effective_on=TODAY, reasons="")
    assert refused.value.message == "Wait for a supervisor’s recommendation before deciding"
    assert row_counts() == before


def test_deciding_twice_is_refused(people, recommended):
    worker, _, manager, other_manager, _ = people
    service.decide_promotion(manager, recommended, approved=True, effective_on=TODAY, reasons="")
    before = row_counts()
    for approved in (True, False):
        with pytest.raises(FieldError) as refused:
            service.decide_promotion(
                other_manager,
                db.session.get(PromotionRequest, recommended.id),
                approved=approved,
                effective_on=TODAY,
                reasons="No",
            )
        # Who and how (found by a helper: a stale second tab learned only that it was decided).
        assert refused.value.message == (
            f"This request has already been decided: {manager.name} approved it on {long_date(TODAY)}"
        )
    # The manager who decided it, from a stale second tab, is told it was them.
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(
            manager, db.session.get(PromotionRequest, recommended.id), approved=False, effective_on=None, reasons="No"
        )
    assert refused.value.message == f"This request has already been decided: you approved it on {long_date(TODAY)}"
    assert row_counts() == before
    assert count(TierChange) == 1


def test_only_a_manager_decides(people, recommended):
    worker, supervisor, *_ = people
    before = row_counts()
    for actor in (supervisor, db.session.get(User, worker.id)):
        with pytest.raises(Forbidden):
            service.decide_promotion(actor, recommended, approved=True, effective_on=TODAY, reasons="")
    assert row_counts() == before


def test_approval_is_refused_when_the_worker_is_no_longer_ready(people, recommended):
    worker, _, manager, *_ = people
    # Since the request, the framework data says one statement needs two items.
    by_ref("PS-LW-01").required_count = 2
    db.session.commit()
    before = row_counts()
    with pytest.raises(FieldError) as refused:
        service.decide_promotion(manager, recommended, approved=True, effective_on=TODAY, reasons="")
    assert refused.value.message == "Wren Worker is no longer ready for Link Worker Coach: see what is missing"
    assert row_counts() == before
    # Declining is still possible.
    service.decide_promotion(
        manager,
        db.session.get(PromotionRequest, recommended.id),
        approved=False,
        effective_on=None,
        reasons="DBS lapsed",
    )
    assert count(PromotionDecision) == 1


def test_open_requests_for_managers_and_supervisors(people, open_request):
    worker, supervisor, manager, other_manager, stranger = people
    assert [r.id for r in service.open_requests(manager)] == [open_request.id]
    assert [r.id for r in service.open_requests(supervisor)] == [open_request.id]
    assert service.open_requests(stranger) == []


# --- Requirement verification ----------------------------------------------------------


def test_a_verification_is_recorded_with_who_and_when_and_audited(people):
    worker, _, manager, *_ = people
    day = TODAY - timedelta(days=3)
    verification = service.verify_requirement(
        manager, worker, requirement(worker, "REQ-DRIVING"), verified_on=day, expires_on=None, note="  Saw licence  "
    )
    assert (verification.verified_by_id, verification.verified_on, verification.expires_on, verification.note) == (
        manager.id,
        day,
        None,
        "Saw licence",
    )
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "requirement.verified"))
    assert entry.subject == f"user:{worker.id}" and entry.details == {
        "requirement": "REQ-DRIVING",
        "verified_on": day.isoformat(),
        "expires_on": None,
    }
    state = progress_of(worker).requirements[0]
    assert state.state == "verified" and state.verification.verified_by.name == "Mo Manager"
    assert ledger.verify().ok


def test_a_future_verification_date_is_refused(people):
    worker, _, manager, *_ = people
    before = (count(RequirementVerification), count(AuditEntry))
    with pytest.raises(FieldError) as refused:
        service.verify_requirement(
            manager,
            worker,
            requirement(worker, "REQ-DBS"),
            verified_on=TODAY + timedelta(days=1),
            expires_on=None,
            note="",
        )
    assert (refused.value.field, refused.value.message) == (
        "verified_on",
        "The date verified must be today or in the past",
    )
    with pytest.raises(FieldError) as refused:
        service.verify_requirement(
            manager, worker, requirement(worker, "REQ-DBS"), verified_on=None, expires_on=None, note=""
        )
    assert (refused.value.field, refused.value.message) == ("verified_on", "Enter the date you verified it")
    assert (count(RequirementVerification), count(AuditEntry)) == before


def test_a_renewal_date_before_the_verification_is_refused(people):
    worker, _, manager, *_ = people
    with pytest.raises(FieldError) as refused:
        service.verify_requirement(
            manager,
            worker,
            requirement(worker, "REQ-DBS"),
            verified_on=TODAY - timedelta(days=10),
            expires_on=TODAY - timedelta(days=11),
            note="",
        )
    assert (refused.value.field, refused.value.message) == (
        "expires_on",
        "The renewal date must be after the date verified",
    )
    assert count(RequirementVerification) == 0


def test_dbs_is_renewed_after_36_months_by_default(people):
    worker, _, manager, *_ = people
    day = date(2025, 3, 14)
    v = service.verify_requirement(
        manager, worker, requirement(worker, "REQ-DBS"), verified_on=day, expires_on=None, note=""
    )
    assert v.expires_on == date(2028, 3, 14)
    # Requirements without a renewal period never lapse.
    v = service.verify_requirement(
        manager, worker, requirement(worker, "REQ-DRIVING"), verified_on=day, expires_on=None, note=""
    )
    assert v.expires_on is None
    # A renewal date the manager gives wins.
    v = service.verify_requirement(
        manager, worker, requirement(worker, "REQ-DBS"), verified_on=day, expires_on=date(2026, 12, 31), note=""
    )
    assert v.expires_on == date(2026, 12, 31)


def test_the_renewal_period_is_configurable(app, people):
    worker, _, manager, *_ = people
    app.config["REQUIREMENT_RENEWAL_MONTHS"] = 12
    v = service.verify_requirement(
        manager, worker, requirement(worker, "REQ-DBS"), verified_on=date(2025, 3, 14), expires_on=None, note=""
    )
    assert v.expires_on == date(2026, 3, 14)
    assert service.renewal_months(requirement(worker, "REQ-DBS")) == 12
    assert service.renewal_months(requirement(worker, "REQ-DRIVING")) is None  # still verified once


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2024, 2, 29), 36, date(2027, 2, 28)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 11, 30), 3, date(2026, 2, 28)),
        (date(2025, 12, 15), 12, date(2026, 12, 15)),
    ],
)
def test_add_months(day, months, expected):
    assert service.add_months(day, months) == expected


def test_only_a_manager_verifies(people):
    worker, supervisor, *_ = people
    for actor in (supervisor, db.session.get(User, worker.id)):
        with pytest.raises(Forbidden):
            service.verify_requirement(
                actor, worker, requirement(worker, "REQ-DBS"), verified_on=TODAY, expires_on=None, note=""
            )
    assert count(RequirementVerification) == 0


def test_a_requirement_of_another_framework_is_404(people, profile_worker):
    worker, _, manager, *_ = people
    profile = profile_worker[0]
    before = count(RequirementVerification)
    with pytest.raises(NotFound):
        service.verify_requirement(
            manager, profile, requirement(worker, "REQ-DBS"), verified_on=TODAY, expires_on=None, note=""
        )
    with pytest.raises(NotFound):
        service.get_requirement_or_404(profile, requirement(worker, "REQ-DBS").id)
    assert count(RequirementVerification) == before


# --- The manager's overview ------------------------------------------------------------


def test_the_ready_filter_lists_exactly_the_rows_that_say_ready(people, tmp_path):
    """The filter leaves out in SQL who has a requirement to verify; the rows decide it in Python: the two agree
    on every state a requirement's newest verification can be in, on either framework, and after a new version
    of the framework (verifications follow the requirement's ref)."""
    _, supervisor, manager, *_ = people
    long_ago = TODAY - timedelta(days=1000)

    def worker(name: str, *, all_met: bool = True) -> User:
        person = make_user(Role.WORKER, name=name, tier=tier("link-worker", "link-worker"))
        wanted = competences("link-worker", "link-worker", "link-worker-coach")
        meet(person, wanted if all_met else wanted[1:], supervisor=supervisor)
        verify_all(person, manager, skip=("REQ-DBS",))
        return person

    verification(worker("Ann Verified"), manager, "REQ-DBS", verified_on=long_ago, expires_on=None)
    worker("Bea Missing")
    newest_lapsed = worker("Cal Newest Lapsed")
    verification(newest_lapsed, manager, "REQ-DBS", verified_on=long_ago, expires_on=None)
    verification(newest_lapsed, manager, "REQ-DBS", verified_on=YESTERDAY, expires_on=YESTERDAY)
    renewed = worker("Dee Renewed")
    verification(renewed, manager, "REQ-DBS", verified_on=long_ago, expires_on=long_ago + timedelta(days=365))
    verification(renewed, manager, "REQ-DBS", verified_on=YESTERDAY, expires_on=TODAY + timedelta(days=365))
    verification(worker("Eve Expires Today"), manager, "REQ-DBS", verified_on=long_ago, expires_on=TODAY)
    same_day = worker("Fay Same Day")  # two on one day: the later written is the newest
    verification(same_day, manager, "REQ-DBS", verified_on=YESTERDAY, expires_on=None)
    verification(same_day, manager, "REQ-DBS", verified_on=YESTERDAY, expires_on=YESTERDAY)
    verification(worker("Gil One To Go", all_met=False), manager, "REQ-DBS", verified_on=long_ago, expires_on=None)
    profile = tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    for name, met in (("Hal Profile Met", True), ("Ida Profile Unmet", False)):
        person = make_user(Role.WORKER, name=name, tier=profile)
        if met:
            meet(person, competences("sfh-senior-engagement-worker"), supervisor=supervisor)
        verify_all(person, manager)

    def check(expected: list[str]) -> None:
        assert [r.worker.name for r in service.overview() if r.ready] == expected
        assert [r.worker.name for r in service.overview(only="ready")] == expected
        page = service.overview_page(1, only="ready")
        assert ([r.worker.name for r in page.items], page.total) == (expected, len(expected))
        assert all(r.ready for r in page.items)

    check(["Ann Verified", "Dee Renewed", "Eve Expires Today", "Hal Profile Met"])

    changed = tmp_path / "link-worker.yaml"
    changed.write_text(
        LINK_WORKER_FILE.read_text(encoding="utf-8").replace("summary: Three tiers", "summary: The three tiers"),
        encoding="utf-8",
    )
    assert loader.load_file(changed).created  # everyone moves to version 2; their verifications are of version 1
    db.session.expire_all()
    check(["Ann Verified", "Dee Renewed", "Eve Expires Today", "Hal Profile Met"])


def test_the_newest_verification_is_read_alone_whatever_the_history(people):
    """The newest verification of each requirement (the latest day, then the last recorded) is the one read:
    a worker's years of renewals are not loaded to find it."""
    worker, _, manager, *_ = people
    for years in range(6, 0, -1):
        verification(worker, manager, "REQ-DBS", TODAY - timedelta(days=365 * years), TODAY)
    verification(worker, manager, "REQ-DBS", YESTERDAY, None)
    newest = verification(worker, manager, "REQ-DBS", YESTERDAY, TODAY + timedelta(days=30))  # same day, later
    verification(worker, manager, "REQ-DRIVING", YESTERDAY - timedelta(days=9), None)
    worker_id, newest_id = worker.id, newest.id
    db.session.expunge_all()  # nothing already in the session: every verification the query reads is loaded
    loaded: list[int] = []

    def on_load(target: RequirementVerification, _context) -> None:
        loaded.append(target.id)

    sqlalchemy_event.listen(RequirementVerification, "load", on_load)
    try:
        found = rules.newest_verifications([worker_id], ["REQ-DBS"])
    finally:
        sqlalchemy_event.remove(RequirementVerification, "load", on_load)
    assert {key: v.id for key, v in found.items()} == {(worker_id, "REQ-DBS"): newest_id}
    assert loaded == [newest_id]
    assert {ref for _, ref in rules.newest_verifications([worker_id])} == {"REQ-DBS", "REQ-DRIVING"}


def test_the_overview_shows_progress_readiness_lapses_and_waiting_items(people, profile_worker):
    ready, supervisor, manager, *_ = people
    make_ready(ready, supervisor, manager)
    lapsed = make_user(Role.WORKER, name="Lee Lapsed", tier=tier("link-worker", "link-worker"))
    meet(lapsed, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=supervisor)
    verify_all(lapsed, manager, skip=("REQ-DBS",))
    verification(lapsed, manager, "REQ-DBS", verified_on=YESTERDAY - timedelta(days=1000), expires_on=YESTERDAY)
    waiting = make_user(Role.WORKER, name="Wai Waiting", tier=tier("link-worker", "link-worker"))
    link_draft(
        waiting, competences("link-worker", "link-worker")[:1], title="Submitted", status=EvidenceStatus.SUBMITTED
    )
    taken_back = link_draft(waiting, competences("link-worker", "link-worker")[:1], title="Withdrawn")
    db.session.add(
        Submission(evidence_id=taken_back.id, content_hash=HASH, withdrawn_at=datetime.now(UTC))
    )  # withdrawn, a draft again: not waiting
    db.session.commit()
    make_user(Role.WORKER, name="Ina Inactive", tier=tier("link-worker", "link-worker"), active=False)
    make_user(Role.WORKER, name="Nof Framework")
    profile = profile_worker[0]

    rows = {r.worker.name: r for r in service.overview()}
    assert list(rows) == [
        "Ezra Engagement",
        "Lee Lapsed",
        "Wai Waiting",
        "Wren Worker",
    ]  # by name; active workers with a framework
    assert (rows["Wren Worker"].met, rows["Wren Worker"].required, rows["Wren Worker"].ready) == (68, 68, True)
    assert rows["Wren Worker"].next_tier.slug == "link-worker-coach"
    assert (rows["Lee Lapsed"].met, rows["Lee Lapsed"].ready) == (68, False)
    assert rows["Lee Lapsed"].lapsed == [requirement(lapsed, "REQ-DBS").statement]
    assert (rows["Wai Waiting"].met, rows["Wai Waiting"].waiting, rows["Wai Waiting"].ready) == (0, 1, False)
    assert (rows["Ezra Engagement"].met, rows["Ezra Engagement"].required) == (0, 60)

    assert [r.worker.name for r in service.overview(only="ready")] == ["Wren Worker"]
    assert [r.worker.name for r in service.overview(only="lapsed")] == ["Lee Lapsed"]
    assert [r.worker.name for r in service.overview(only="waiting")] == ["Wai Waiting"]
    assert [r.worker.name for r in service.overview(q="wai")] == ["Wai Waiting"]
    assert [r.worker.name for r in service.overview(q="LEE laps")] == ["Lee Lapsed"]
    assert [r.worker.name for r in service.overview(framework_id=profile.framework_id)] == ["Ezra Engagement"]
    assert service.overview(q="nobody") == []


def test_the_overview_agrees_with_worker_progress(people):
    """Two readers of the same rule: the overview's numbers match the worker's own page."""
    worker, supervisor, manager, *_ = people
    meet(
        worker,
        competences("link-worker", "link-worker")[:30] + competences("link-worker", "link-worker-coach")[:4],
        supervisor=supervisor,
    )
    progress = progress_of(worker)
    [row] = service.overview()
    assert row.required == 68
    assert row.met == 68 - progress.readiness.missing_count == 34


def test_an_uploaded_file_item_can_be_accepted(people):
    """The helpers work on items made through the evidence service too (files included)."""
    worker, supervisor, *_ = people
    pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    item = evidence_service.create_evidence(
        db.session.get(User, worker.id),
        EvidenceKind.OTHER,
        EvidenceInput(title="Course notes", occurred_on=RECENT_DAY, description="<p>Notes</p>"),
        [FileStorage(io.BytesIO(pdf), filename="notes.pdf")],
    )
    target = competences("link-worker", "link-worker")[0]
    decide_on(worker, [target], supervisor=supervisor, evidence=item)
    assert status_by_ref(progress_of(worker))[target.ref].status == CompetenceStatus.MET


def test_an_open_request_survives_a_new_framework_version(people, tmp_path):
    """Workers move to the same tier of a new version; their open request must still be decidable."""
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    request = service.request_promotion(db.session.get(User, worker.id))
    service.recommend(supervisor, request, supports=True, reasons="Ready")

    changed = tmp_path / "link-worker.yaml"
    changed.write_text(
        LINK_WORKER_FILE.read_text(encoding="utf-8").replace("summary: Three tiers", "summary: The three tiers"),
        encoding="utf-8",
    )
    new_version = loader.load_file(changed).framework
    db.session.expire_all()
    assert progress_of(worker).readiness.ready  # evidence and verifications follow the refs
    assert progress_of(worker).open_request.id == request.id

    service.decide_promotion(
        manager, db.session.get(PromotionRequest, request.id), approved=True, effective_on=TODAY, reasons=""
    )
    db.session.expire_all()
    promoted = db.session.get(User, worker.id)
    assert promoted.tier.slug == "link-worker-coach"
    assert promoted.tier.framework_id == promoted.framework_id == new_version.id, (
        "the new tier must be of the worker's current framework version"
    )


def test_a_decision_made_by_the_factories_on_a_sent_item_closes_its_one_submission(people):
    """The kit writes what review.decide would: the open submission decided, never a second one beside it."""
    worker, supervisor, *_ = people
    target = by_ref("PS-LW-01")
    sent = link_draft(worker, [target], title="Waiting", status=EvidenceStatus.SUBMITTED)
    [submission] = db.session.scalars(select(Submission).where(Submission.evidence_id == sent.id)).all()

    decide_on(worker, [target], supervisor=supervisor, evidence=sent)

    assert db.session.scalars(select(Submission.id).where(Submission.evidence_id == sent.id)).all() == [submission.id]
    decision = db.session.scalars(select(Decision).where(Decision.evidence_id == sent.id)).one()
    assert decision.submission_id == submission.id
    assert db.session.get(Evidence, sent.id).status == EvidenceStatus.SIGNED_OFF
