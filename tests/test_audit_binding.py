"""Ledger rows bind the records they describe; verify recomputes them and names every difference.

Also: the chain's head anchored in a checkpoint file, verify runs kept for the
managers' Audit page, and records from before content binding adopted once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from portfolio.audit import binders, ledger
from portfolio.cpd import service as cpd
from portfolio.database import begin_write
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    AuditCheck,
    AuditEntry,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    NoteOutcome,
    PromotionDecision,
    PromotionRequest,
    Requirement,
    RequirementVerification,
    Role,
    TierChange,
    User,
)
from portfolio.progress import service as progress
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from portfolio.supervision import service as supervision
from tests.conftest import verify_cli
from tests.factories import HASH, TODAY, audit, competence, execute, make_user, tier
from tests.pages import text_of, words

# --- a world made by the real use cases ---------------------------------------------------------


@dataclass
class World:
    worker: User
    sam: User
    manager: User
    decision_id: int
    submission_id: int
    evidence_id: int
    first: int  # the two competences of the decision
    second: int
    note_review_id: int
    verification_id: int
    request_id: int
    promotion_decision_id: int
    approved_decision_id: int
    appraisal_id: int
    assignment_id: int


@pytest.fixture
def world(app, frameworks) -> World:
    manager = make_user(Role.MANAGER, name="Maya Manager")
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assignment = supervision.assign(
        manager, worker_id=worker.id, supervisor_id=sam.id, starts_on=date(2026, 1, 1), ends_on=None
    )

    first, second = competence("PS-LW-01").id, competence("PS-LW-02").id
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group", occurred_on=date(2026, 3, 10), description="A weekly walk."),
        link_competence_id=first,
    )
    evidence_service.link_competence(worker, evidence, second)
    evidence_service.submit(worker, db.session.get(Evidence, evidence.id))
    decision = review.decide(
        sam,
        review.open_submission_of(evidence),
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="Well shown",
        outcomes={first: CompetenceOutcome(True), second: CompetenceOutcome(False, "Not this one")},
    )

    note = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.SUPERVISION_NOTE,
        title="March supervision",
        occurred_on=date(2026, 3, 1),
        description="<p>Caseload.</p>",
        supervisor_id=sam.id,
        status=EvidenceStatus.DRAFT,
    )
    db.session.add(note)
    db.session.commit()
    note_review = review.review_note(sam, note, NoteOutcome.CONFIRMED, "")

    requirement = db.session.scalar(
        select(Requirement).where(Requirement.framework_id == worker.framework_id, Requirement.ref == "REQ-DRIVING")
    )
    verification = progress.verify_requirement(
        manager, worker, requirement, verified_on=TODAY - timedelta(days=2), expires_on=None, note="Saw licence"
    )

    # A request is only accepted from a ready worker; the rest of the promotion runs through the use cases.
    coach = tier("link-worker", "link-worker-coach")
    request = PromotionRequest(worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=coach.id)
    db.session.add(request)
    audit(worker, "promotion.requested", f"user:{worker.id}", request)
    db.session.commit()
    progress.recommend(sam, request, supports=False, reasons="More group work first")
    declined = progress.decide_promotion(
        manager, db.session.get(PromotionRequest, request.id), approved=False, effective_on=None, reasons="Agreed"
    )

    # An approved one with its tier change, as decide_promotion writes it.
    approved_request = PromotionRequest(worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=coach.id)
    db.session.add(approved_request)
    audit(worker, "promotion.requested", f"user:{worker.id}", approved_request)
    approved = PromotionDecision(
        request_id=approved_request.id, manager_id=manager.id, approved=True, effective_on=TODAY, reasons=""
    )
    db.session.add(approved)
    db.session.flush()
    db.session.add(
        TierChange(
            worker_id=worker.id,
            from_tier_id=worker.tier_id,
            to_tier_id=coach.id,
            effective_on=TODAY,
            decision_id=approved.id,
        )
    )
    audit(manager, "promotion.approved", f"user:{worker.id}", approved)
    db.session.commit()

    appraisal = cpd.start_appraisal(worker, worker, held_on=TODAY, appraiser_id=sam.id)
    cpd.update_appraisal(
        worker,
        appraisal,
        review="A good year",
        objectives="Lead groups",
        learning_needs="",
        goals=[
            cpd.GoalInput("Lead a walking group", "Shadow the lead", TODAY + timedelta(days=60), "open"),
        ],
    )
    cpd.sign(worker, db.session.get(type(appraisal), appraisal.id))

    return World(
        worker=worker,
        sam=sam,
        manager=manager,
        decision_id=decision.id,
        submission_id=decision.submission_id,
        evidence_id=decision.evidence_id,
        first=first,
        second=second,
        note_review_id=note_review.id,
        verification_id=verification.id,
        request_id=request.id,
        promotion_decision_id=declined.id,
        approved_decision_id=approved.id,
        appraisal_id=appraisal.id,
        assignment_id=assignment.id,
    )


def bound_seq(record_type: str, record_id: int) -> int:
    return db.session.scalar(
        select(func.max(AuditEntry.seq)).where(AuditEntry.record_type == record_type, AuditEntry.record_id == record_id)
    )


def assert_found(runner, problem: str) -> None:
    """Verify fails naming ``problem`` first, the CLI exits 1 with it, and the run is kept."""
    result = ledger.verify()
    assert not result.ok
    assert result.problems[0] == problem, result.problems
    assert result.first_problem == f"Audit ledger does not match: {problem}."
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert cli.output.splitlines()[0] == f"Audit ledger does not match: {problem}."
    check = db.session.scalar(select(AuditCheck).order_by(AuditCheck.id.desc()))
    assert (check.ok, check.first_problem, check.run_by_id) == (False, f"Audit ledger does not match: {problem}.", None)


# --- recording ------------------------------------------------------------------------------------


def test_each_use_case_binds_its_record(app, runner, world):
    rows = {(e.action, e.record_type) for e in db.session.scalars(select(AuditEntry))}
    assert {
        ("supervision.assigned", "supervision-assignment"),
        ("evidence.signed-off", "decision"),
        ("note.confirmed", "note-review"),
        ("requirement.verified", "requirement-verification"),
        ("promotion.requested", "promotion-request"),
        ("promotion.recommended", "promotion-recommendation"),
        ("promotion.declined", "promotion-decision"),
        ("appraisal.started", "appraisal"),
        ("appraisal.changed", "appraisal"),
        ("appraisal.signed", "appraisal"),
    } <= rows
    row = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "evidence.signed-off"))
    assert (row.format, row.record_type, row.record_id) == (2, "decision", world.decision_id)
    assert row.content == binders.decisions([world.decision_id])[world.decision_id]
    assert row.content["outcome"] == "signed-off" and row.content["supervisor"] == world.sam.id
    assert [(c["competence"], c["accepted"]) for c in row.content["competences"]] == [
        (world.first, True),
        (world.second, False),
    ]
    assert row.content["evidence_hash"] == db.session.get(Decision, world.decision_id).content_hash
    # Free text is bound by a keyed digest, never copied into the ledger.
    assert "Well shown" not in json.dumps(row.content) and row.content["comment"] == binders.text_digest("Well shown")
    assert row.content_hash == binders.content_hash(row.content)
    assert row.hash == ledger._digest(
        app.config["AUDIT_KEY"].encode(),
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        binding=ledger.Binding("decision", world.decision_id, row.content_hash),
    )


def test_every_binder_is_registered_once_and_reads_its_records(app, world):
    assert len({b.model for b in binders.BINDERS.values()}) == len(binders.BINDERS)
    for record_type, binder in binders.BINDERS.items():
        live = binder.load(None)
        assert live, f"the world has no {record_type}"
        some = next(iter(live))
        assert binder.load([some]) == {some: live[some]}
        assert binder.name(some, live[some]).startswith(record_type.replace("-", " ") + f" {some}")


def test_a_clean_ledger_verifies(app, runner, world):
    result = ledger.verify()
    assert result.ok, result.describe()
    assert (
        result.records_checked == 10
    )  # assignment, decision, note review, verification, 2 requests, recommendation, 2 decisions, appraisal
    cli = verify_cli(runner)
    assert cli.exit_code == 0, cli.output
    assert f"Audit ledger intact: {result.checked} rows checked. 10 records match the ledger." in cli.output
    check = db.session.scalar(select(AuditCheck))
    assert (check.ok, check.problem_count, check.first_problem, check.rows_checked) == (True, 0, "", result.checked)


def test_ending_an_assignment_rebinds_it(app, world):
    supervision.end_assignment(world.manager, supervision.get_assignment_or_404(world.assignment_id), TODAY)
    assert ledger.verify().ok
    row = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "supervision.ended"))
    assert row.content["ends_on"] == TODAY.isoformat()


# --- tampering with the records -------------------------------------------------------------------


def test_a_flipped_decision_outcome_is_named(app, runner, world):
    execute("UPDATE decisions SET outcome = 'returned' WHERE id = :id", id=world.decision_id)
    assert_found(
        runner, f"decision {world.decision_id} on submission {world.submission_id}: outcome differs from the ledger"
    )


def test_a_deleted_decision_is_named(app, runner, world):
    seq = bound_seq("decision", world.decision_id)
    execute("DELETE FROM competence_decisions WHERE decision_id = :id", id=world.decision_id)
    execute("DELETE FROM decisions WHERE id = :id", id=world.decision_id)
    assert_found(
        runner,
        f"decision {world.decision_id} on submission {world.submission_id}: it was deleted, but ledger row {seq} records it",
    )


def test_one_flipped_accepted_flag_is_named(app, runner, world):
    execute(
        "UPDATE competence_decisions SET accepted = :yes WHERE decision_id = :id AND competence_id = :cid",
        yes=True,
        id=world.decision_id,
        cid=world.second,
    )
    assert_found(
        runner,
        f"decision {world.decision_id} on submission {world.submission_id}: the accepted flag for competence {world.second} differs from the ledger",
    )


def test_a_removed_competence_outcome_is_named(app, runner, world):
    execute(
        "DELETE FROM competence_decisions WHERE decision_id = :id AND competence_id = :cid",
        id=world.decision_id,
        cid=world.first,
    )
    assert_found(
        runner,
        f"decision {world.decision_id} on submission {world.submission_id}: the outcome for competence {world.first} was removed",
    )


def test_a_changed_decision_comment_is_named(app, runner, world):
    execute("UPDATE decisions SET comment = 'Changed later' WHERE id = :id", id=world.decision_id)
    assert_found(
        runner, f"decision {world.decision_id} on submission {world.submission_id}: comment differs from the ledger"
    )


def test_a_changed_promotion_decision_is_named(app, runner, world):
    execute("UPDATE promotion_decisions SET approved = :yes WHERE id = :id", yes=True, id=world.promotion_decision_id)
    assert_found(
        runner,
        f"promotion decision {world.promotion_decision_id} on request {world.request_id}: approved differs from the ledger",
    )


def test_a_removed_tier_change_is_named(app, runner, world):
    approved = db.session.get(PromotionDecision, world.approved_decision_id)
    execute("DELETE FROM tier_changes WHERE decision_id = :id", id=world.approved_decision_id)
    assert_found(
        runner,
        f"promotion decision {approved.id} on request {approved.request_id}: tier change differs from the ledger",
    )


def test_a_changed_recommendation_is_named(app, runner, world):
    execute("UPDATE promotion_recommendations SET supports = :yes", yes=True)
    [rid] = db.session.scalars(text("SELECT id FROM promotion_recommendations")).all()
    assert_found(
        runner, f"promotion recommendation {rid} on request {world.request_id}: supports differs from the ledger"
    )


def test_an_unverified_requirement_is_named(app, runner, world):
    seq = bound_seq("requirement-verification", world.verification_id)
    execute("DELETE FROM requirement_verifications WHERE id = :id", id=world.verification_id)
    assert_found(
        runner,
        f"requirement verification {world.verification_id} for user {world.worker.id}: it was deleted, but ledger row {seq} records it",
    )


def test_a_moved_verification_date_is_named(app, runner, world):
    execute(
        "UPDATE requirement_verifications SET verified_on = :day WHERE id = :id",
        day=TODAY - timedelta(days=400),
        id=world.verification_id,
    )
    assert_found(
        runner,
        f"requirement verification {world.verification_id} for user {world.worker.id}: verified on differs from the ledger",
    )


def test_a_changed_note_confirmation_is_named(app, runner, world):
    execute("UPDATE note_reviews SET outcome = 'disputed' WHERE id = :id", id=world.note_review_id)
    evidence_id = db.session.scalar(text("SELECT evidence_id FROM note_reviews"))
    assert_found(
        runner, f"note review {world.note_review_id} on evidence {evidence_id}: outcome differs from the ledger"
    )


def test_a_removed_signature_is_named(app, runner, world):
    execute("UPDATE appraisals SET worker_signed_at = NULL WHERE id = :id", id=world.appraisal_id)
    assert_found(
        runner, f"appraisal {world.appraisal_id} of user {world.worker.id}: worker signed at differs from the ledger"
    )


def test_a_changed_assignment_is_named(app, runner, world):
    execute(
        "UPDATE supervision_assignments SET ends_on = :day WHERE id = :id", day=date(2030, 1, 1), id=world.assignment_id
    )
    assert_found(
        runner,
        f"supervision assignment {world.assignment_id} of user {world.worker.id}: ends on differs from the ledger",
    )


def test_a_record_inserted_without_a_ledger_row_is_named(app, runner, world):
    verification = db.session.get(RequirementVerification, world.verification_id)
    execute(
        "INSERT INTO requirement_verifications (worker_id, requirement_id, verified_by_id, verified_on, note, created_at) "
        "VALUES (:w, :r, :m, :d, '', :at)",
        w=world.worker.id,
        r=verification.requirement_id,
        m=world.manager.id,
        d=TODAY,
        at=datetime.now(UTC),
    )
    new_id = db.session.scalar(select(func.max(RequirementVerification.id)))
    assert_found(runner, f"requirement verification {new_id} for user {world.worker.id}: it has no ledger row")


def test_a_decision_inserted_without_a_ledger_row_is_named(app, runner, world):
    submission_id = world.submission_id
    execute(
        "INSERT INTO submissions (evidence_id, submitted_at, content_hash) VALUES (:e, :at, :h)",
        e=world.evidence_id,
        at=datetime.now(UTC),
        h=HASH,
    )
    new_submission = db.session.scalar(text("SELECT max(id) FROM submissions"))
    execute(
        "INSERT INTO decisions (submission_id, evidence_id, supervisor_id, outcome, comment, content_hash, decided_at) "
        "VALUES (:s, :e, :sup, 'signed-off', '', :h, :at)",
        s=new_submission,
        e=world.evidence_id,
        sup=world.sam.id,
        h=HASH,
        at=datetime.now(UTC),
    )
    new_id = db.session.scalar(select(func.max(Decision.id)))
    assert new_submission != submission_id
    assert_found(runner, f"decision {new_id} on submission {new_submission}: it has no ledger row")


def test_every_difference_is_listed(app, runner, world):
    execute("UPDATE decisions SET outcome = 'returned' WHERE id = :id", id=world.decision_id)
    execute("UPDATE note_reviews SET outcome = 'disputed' WHERE id = :id", id=world.note_review_id)
    result = ledger.verify()
    assert len(result.problems) == 2
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert "2 problems in all:" in cli.output
    assert f"- note review {world.note_review_id} on evidence" in cli.output
    assert db.session.scalar(select(AuditCheck.problem_count)) == 2


def test_changed_bound_content_in_the_ledger_breaks_the_chain(app, runner, world):
    seq = bound_seq("decision", world.decision_id)
    row = db.session.scalar(select(AuditEntry).where(AuditEntry.seq == seq))
    forged = dict(row.content, outcome="returned")
    execute("UPDATE audit_ledger SET content = :c WHERE seq = :seq", c=json.dumps(forged), seq=seq)
    execute("UPDATE decisions SET outcome = 'returned' WHERE id = :id", id=world.decision_id)
    result = ledger.verify()
    assert (result.ok, result.bad_seq, result.reason) == (False, seq, "the content it binds was changed")
    cli = verify_cli(runner)
    assert (
        cli.exit_code == 1
        and f"Audit ledger broken at row {seq} (id {row.id}): the content it binds was changed." in cli.output
    )


def test_verify_reads_each_record_type_in_a_fixed_number_of_queries(app, world, count_queries):
    with count_queries:
        assert ledger.verify().ok
    few = count_queries.count
    # Two more decisions (with their rows): the same number of queries.
    for _ in range(2):
        submission = db.session.execute(
            text("INSERT INTO submissions (evidence_id, submitted_at, content_hash) VALUES (:e, :at, :h) RETURNING id"),
            {"e": world.evidence_id, "at": datetime.now(UTC), "h": HASH},
        ).scalar()
        decision = Decision(
            submission_id=submission,
            evidence_id=world.evidence_id,
            supervisor_id=world.sam.id,
            outcome=DecisionOutcome.RETURNED,
            comment="Again",
            content_hash=HASH,
        )
        db.session.add(decision)
        audit(world.sam, "evidence.returned", "decision:{}", decision)
        db.session.commit()
    with count_queries:
        assert ledger.verify().ok
    assert count_queries.count == few


# --- rows written before content binding --------------------------------------------------------


def old_row(actor: User, number: int) -> None:
    """A format-1 row exactly as the ledger wrote them before content binding."""
    begin_write()
    last = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, ledger.GENESIS)
    at = datetime.now(UTC)
    details = {"number": number}
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_id=actor.id,
        action="old.event",
        subject=f"thing:{number}",
        details=details,
        prev_hash=prev,
        format=1,
    )
    entry.hash = ledger._digest(
        app_key(),
        seq=seq,
        at=at,
        actor_id=actor.id,
        action="old.event",
        subject=f"thing:{number}",
        details=details,
        prev_hash=prev,
    )
    db.session.add(entry)
    db.session.commit()


def app_key() -> bytes:
    from flask import current_app

    return current_app.config["AUDIT_KEY"].encode()


def test_old_rows_are_chain_checked_and_new_ones_follow_them(app, runner):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    old_row(manager, 1)
    old_row(manager, 2)
    begin_write()
    ledger.record(manager, "new.event", "thing:3")
    db.session.commit()
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [r.format for r in rows] == [1, 1, 2]
    assert ledger.verify().ok
    assert verify_cli(runner).exit_code == 0
    execute("UPDATE audit_ledger SET details = '{\"number\": 9}' WHERE seq = 2")
    result = ledger.verify()
    assert (result.ok, result.bad_seq, result.reason) == (False, 2, "its contents were changed")


def test_adopt_binds_records_from_before_content_binding(app, runner, frameworks):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    old_row(manager, 1)
    # Written by the old code: no binding.
    from portfolio.models import SupervisionAssignment

    legacy = SupervisionAssignment(
        worker_id=worker.id, supervisor_id=sam.id, starts_on=date(2025, 1, 1), ends_on=date(2025, 12, 31)
    )
    db.session.add(legacy)
    db.session.commit()
    assert ledger.verify().problems == [f"supervision assignment {legacy.id} of user {worker.id}: it has no ledger row"]
    # The first bound record, written after the upgrade.
    supervision.assign(manager, worker_id=worker.id, supervisor_id=sam.id, starts_on=date(2026, 1, 1), ends_on=None)
    # One slipped in later, without the use case: adopt does not vouch for it.
    later = SupervisionAssignment(worker_id=sam.id, supervisor_id=manager.id, starts_on=date(2026, 2, 1))
    db.session.add(later)
    db.session.commit()

    cli = runner.invoke(args=["audit", "adopt"])
    assert cli.exit_code == 0, cli.output
    assert f"Adopted supervision assignment {legacy.id} of user {worker.id}" in cli.output
    assert "1 records adopted as they stand." in cli.output
    adopted = db.session.scalar(select(AuditEntry).where(AuditEntry.action == ledger.ADOPTED))
    assert (adopted.record_type, adopted.record_id, adopted.actor_id) == ("supervision-assignment", legacy.id, None)
    assert ledger.verify().problems == [f"supervision assignment {later.id} of user {sam.id}: it has no ledger row"]
    assert runner.invoke(args=["audit", "adopt"]).output.strip() == "0 records adopted as they stand."


# --- the checkpoint: the chain's head outside the database ------------------------------------------


@pytest.fixture
def chain(app):
    manager = make_user(Role.MANAGER, name="Maya Manager")
    for number in range(5):
        begin_write()
        ledger.record(manager, "test.event", f"thing:{number}", number=number)
        db.session.commit()
    return manager


def checkpoint_lines(app) -> list[dict]:
    with open(app.config["AUDIT_CHECKPOINT_FILE"], encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_checkpoint_appends_the_signed_head(app, runner, chain):
    cli = runner.invoke(args=["audit", "checkpoint"])
    assert cli.exit_code == 0, cli.output
    head = db.session.scalar(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    assert f"Checkpoint written: row 5 ({head.hash[:12]}…)" in cli.output
    [line] = checkpoint_lines(app)
    assert (line["seq"], line["hash"]) == (5, head.hash)
    assert line["hmac"] == ledger._checkpoint_mac(app_key(), 5, head.hash, line["at"])
    runner.invoke(args=["audit", "checkpoint"])
    assert [line["seq"] for line in checkpoint_lines(app)] == [5, 5]
    result = ledger.verify()
    assert result.ok and result.checkpoint.seq == 5
    assert "The chain holds row 5 of the checkpoint of" in verify_cli(runner).output


def test_new_rows_after_a_checkpoint_verify(app, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    begin_write()
    ledger.record(chain, "test.event", "thing:later")
    db.session.commit()
    assert ledger.verify().ok


def test_deleting_the_newest_rows_is_found_against_the_checkpoint(app, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    execute("DELETE FROM audit_ledger WHERE seq >= 4")
    result = ledger.verify()
    assert not result.ok and result.bad_seq is None
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert "Audit ledger does not match: the ledger ends at row 3, but the checkpoint of" in cli.output
    assert "recorded row 5: the newest rows were removed." in cli.output


def test_emptying_the_ledger_is_found_against_the_checkpoint(app, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    execute("DELETE FROM audit_ledger")
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert (
        "the ledger is empty, but the checkpoint of" in cli.output and "recorded 5 rows: it was emptied" in cli.output
    )


def test_rewriting_the_newest_rows_is_found_against_the_checkpoint(app, runner, chain):
    """Rows removed and rewritten with the key still differ from the anchored hash."""
    runner.invoke(args=["audit", "checkpoint"])
    execute("DELETE FROM audit_ledger WHERE seq = 5")
    begin_write()
    ledger.record(chain, "test.event", "thing:rewritten")
    db.session.commit()
    result = ledger.verify()
    assert not result.ok
    assert result.problems[0].startswith("row 5 is not the row the checkpoint of")


def test_a_forged_checkpoint_line_fails(app, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    with open(app.config["AUDIT_CHECKPOINT_FILE"], "a", encoding="utf-8") as handle:
        handle.write(
            json.dumps({"seq": 2, "hash": "b" * 64, "at": "2026-01-01T00:00:00.000000", "hmac": "c" * 64}) + "\n"
        )
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert "is not signed with the audit key" in cli.output


def test_checkpoint_refuses_a_truncated_chain(app, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    execute("DELETE FROM audit_ledger WHERE seq = 5")
    cli = runner.invoke(args=["audit", "checkpoint"])
    assert cli.exit_code == 1
    assert "No checkpoint written: Audit ledger does not match: the ledger ends at row 4" in cli.output
    assert [line["seq"] for line in checkpoint_lines(app)] == [5]


def test_a_checkpoint_of_an_empty_ledger(app, runner):
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    assert checkpoint_lines(app)[0]["seq"] == 0
    assert ledger.verify().ok


# --- the managers' Audit page -----------------------------------------------------------------------


def test_the_audit_page_before_any_check(client, auth, chain):
    auth.login_as(chain)
    page = text_of(client.get("/audit/"))
    assert "<h1>Audit ledger</h1>" in page
    assert "The ledger has not been verified yet." in page
    assert "No checkpoint yet" in page and "The ledger has 5 rows." in page
    assert "flask audit" not in page  # a manager is not asked to type commands on the server
    assert 'href="/audit/"' in page  # in the managers' navigation


def test_verify_now_keeps_the_result_and_shows_it(client, auth, chain):
    auth.login_as(chain)
    response = client.post("/audit/verify", data={"csrf_token": auth.token("/audit/")})
    assert response.status_code == 303 and response.headers["Location"] == "/audit/"
    check = db.session.scalar(select(AuditCheck))
    assert (check.ok, check.rows_checked, check.run_by_id, check.first_problem) == (True, 5, chain.id, "")
    page = text_of(client.get("/audit/"))
    assert "The audit ledger is intact: 5 rows and 0 records checked, and nothing was changed or removed" in page
    assert "Held" in page and "Maya Manager" in page and "Last verified" in page
    assert "First problem None found Problems found 0" in words(page)  # a count of 0 is shown, not left blank


def test_the_page_shows_a_failed_scheduled_check(client, auth, runner, chain):
    runner.invoke(args=["audit", "checkpoint"])
    execute("DELETE FROM audit_ledger WHERE seq = 5")
    assert verify_cli(runner).exit_code == 1
    auth.login_as(chain)
    page = text_of(client.get("/audit/"))
    assert "Did not hold" in page
    assert "Audit ledger does not match: the ledger ends at row 4, but the checkpoint of" in page
    assert "A check run on the server" in page
    assert "The newest checkpoint, kept outside the database, recorded row 5" in page


def test_verify_now_reports_a_problem(client, auth, world):
    execute("UPDATE decisions SET outcome = 'returned' WHERE id = :id", id=world.decision_id)
    auth.login_as(world.manager)
    assert client.post("/audit/verify", data={"csrf_token": auth.token("/audit/")}).status_code == 303
    page = text_of(client.get("/audit/"))
    problem = f"decision {world.decision_id} on submission {world.submission_id}: outcome differs from the ledger"
    assert f"The audit ledger is not intact: Audit ledger does not match: {problem}." in page
    assert db.session.scalar(select(AuditCheck.ok)) is False


def test_verify_now_needs_the_csrf_token(client, auth, chain):
    auth.login_as(chain)
    response = client.post("/audit/verify", data={})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(AuditCheck)) == 0


def test_the_audit_page_is_for_managers_only(client, auth, app, chain):
    worker = make_user(Role.WORKER, name="Wendy Worker")
    auth.login_as(worker)
    assert client.get("/audit/").status_code == 403
    assert client.post("/audit/verify", data={"csrf_token": auth.token("/")}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(AuditCheck)) == 0
    assert 'href="/audit/"' not in text_of(client.get("/"))


# --- records a use case deletes ------------------------------------------------------------------


def disputed_draft_note(world: World) -> Evidence:
    note = Evidence(
        owner_id=world.worker.id,
        kind=EvidenceKind.SUPERVISION_NOTE,
        title="April supervision",
        occurred_on=date(2026, 4, 1),
        description="<p>Groups.</p>",
        supervisor_id=world.sam.id,
        status=EvidenceStatus.DRAFT,
    )
    db.session.add(note)
    db.session.commit()
    review.review_note(world.sam, note, NoteOutcome.DISPUTED, "We did not discuss groups")
    return db.session.get(Evidence, note.id)


def test_deleting_a_disputed_draft_note_records_the_removal(app, runner, world):
    note = disputed_draft_note(world)
    [review_id] = [r.id for r in note.note_reviews]
    evidence_service.delete_evidence(world.worker, note)
    row = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "note.review-removed"))
    assert (row.record_type, row.record_id, row.content, row.content_hash, row.actor_id) == (
        "note-review",
        review_id,
        None,
        None,
        world.worker.id,
    )
    result = ledger.verify()
    assert result.ok, result.describe()
    assert verify_cli(runner).exit_code == 0


def test_a_record_back_after_its_recorded_removal_is_named(app, runner, world):
    note = disputed_draft_note(world)
    [note_review] = note.note_reviews
    begin_write()
    ledger.record(
        world.worker,
        "note.review-removed",
        f"evidence:{note.id}",
        removes=db.session.get(type(note_review), note_review.id),
    )
    db.session.commit()  # the row says it is gone, but it is still there
    seq = db.session.scalar(select(func.max(AuditEntry.seq)))
    assert_found(
        runner,
        f"note review {note_review.id} on evidence {note.id}: it exists, but ledger row {seq} records its removal",
    )
