"""The audit ledger: an HMAC hash chain that `flask audit verify` checks, naming the first bad row."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portfolio.audit import ledger
from portfolio.database import begin_write
from portfolio.errors import FieldError
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import AuditEntry, DecisionOutcome, EvidenceKind, Role
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome, Conflict, InvalidDecision
from portfolio.supervision import service as supervision
from tests.conftest import verify_cli
from tests.factories import TODAY, competence, execute, make_user, tier
from tests.pages import audit_rows

# --- helpers --------------------------------------------------------------------


def ledger_size() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry))


def record_rows(actor, n: int) -> list[AuditEntry]:
    """Append ``n`` rows, each in its own committed write transaction."""
    for number in range(n):
        begin_write()
        ledger.record(actor, "test.event", f"thing:{number}", number=number, note="Überprüfung – ok")
        db.session.commit()
    return audit_rows()


@pytest.fixture
def chain(app, manager):
    """Five rows."""
    return record_rows(manager, 5)


# --- appending ------------------------------------------------------------------------


def test_record_appends_a_contiguous_chain(app, manager):
    rows = record_rows(manager, 4)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert rows[0].prev_hash == ledger.GENESIS == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    assert len({r.hash for r in rows}) == 4
    assert all(len(r.hash) == 64 for r in rows)
    assert [(r.actor_id, r.action, r.subject, r.details) for r in rows[:2]] == [
        (manager.id, "test.event", "thing:0", {"number": 0, "note": "Überprüfung – ok"}),
        (manager.id, "test.event", "thing:1", {"number": 1, "note": "Überprüfung – ok"}),
    ]


def test_the_hash_is_an_hmac_of_the_row_and_the_one_before(app, manager):
    [row] = record_rows(manager, 1)
    assert row.hash == ledger._digest(
        app.config["AUDIT_KEY"].encode(),
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        binding=ledger.Binding(None, None, None),
    )
    assert row.format == 2 and ledger.binding_of(row) == ledger.Binding(None, None, None)
    assert row.hash != ledger._digest(
        b"another key",
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        binding=ledger.binding_of(row),
    )


def test_a_rolled_back_record_leaves_no_row(app, manager):
    record_rows(manager, 2)
    begin_write()
    ledger.record(manager, "test.event", "thing:gone")
    db.session.rollback()
    rows = record_rows(manager, 1)
    assert [r.seq for r in rows] == [1, 2, 3]
    assert ledger.verify().ok


# --- verifying an intact chain ------------------------------------------------------------


def test_verify_an_intact_chain(app, runner, chain):
    result = ledger.verify()
    assert (result.ok, result.checked, result.bad_seq) == (True, 5, None)
    cli = verify_cli(runner)
    assert cli.exit_code == 0, cli.output
    assert "intact" in cli.output
    assert "Audit ledger intact: 5 rows checked." in cli.output


def test_verify_an_empty_ledger(app, runner):
    assert ledger.verify().ok
    cli = verify_cli(runner)
    assert cli.exit_code == 0
    assert "Audit ledger intact: 0 rows checked." in cli.output


def test_verify_walks_in_batches(app, chain):
    result = ledger.verify(batch=2)
    assert (result.ok, result.checked) == (True, 5)


def test_the_real_use_cases_write_a_chain_that_verifies(app, runner, frameworks, manager):
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assignment = supervision.assign(
        manager, worker_id=worker.id, supervisor_id=sam.id, starts_on=date(2026, 1, 1), ends_on=None
    )
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group", occurred_on=date(2026, 3, 10), description="A weekly walk."),
        link_competence_id=competence("PS-LW-01").id,
    )
    evidence_service.submit(worker, evidence)
    review.withdraw(worker, evidence)
    evidence_service.submit(worker, db.session.get(type(evidence), evidence.id))
    submission = review.open_submission_of(evidence)
    review.decide(
        sam,
        submission,
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="",
        outcomes={competence("PS-LW-01").id: CompetenceOutcome(True)},
    )
    supervision.end_assignment(manager, assignment, TODAY)

    assert [e.action for e in audit_rows()] == [
        "supervision.assigned",
        "evidence.submitted",
        "evidence.withdrawn",
        "evidence.submitted",
        "evidence.signed-off",
        "supervision.ended",
    ]
    result = ledger.verify()
    assert (result.ok, result.checked) == (True, 6)
    assert verify_cli(runner).exit_code == 0


# --- tampering ------------------------------------------------------------------------------


def assert_broken_at(runner, seq: int, reason: str) -> None:
    result = ledger.verify()
    assert not result.ok
    assert result.bad_seq == seq
    assert reason in result.reason
    cli = verify_cli(runner)
    assert cli.exit_code == 1
    assert f"Audit ledger broken at row {seq}" in cli.output
    assert reason in cli.output


def test_changed_details_are_found(app, runner, chain):
    execute("""UPDATE audit_ledger SET details = '{"number": 99, "note": "Überprüfung – ok"}' WHERE seq = 3""")
    assert audit_rows()[2].details["number"] == 99
    assert_broken_at(runner, 3, "changed")
    assert ledger.verify().checked == 2


def test_a_changed_action_is_found(app, runner, chain):
    execute("UPDATE audit_ledger SET action = 'evidence.signed-off' WHERE seq = 2")
    assert_broken_at(runner, 2, "changed")


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("UPDATE audit_ledger SET subject = 'thing:99' WHERE seq = 4", id="subject"),
        pytest.param("UPDATE audit_ledger SET actor_id = NULL WHERE seq = 4", id="actor"),
        pytest.param("UPDATE audit_ledger SET at = :at WHERE seq = 4", id="time"),
    ],
)
def test_any_changed_field_is_found(app, runner, chain, sql):
    execute(sql, at=audit_rows()[3].at - timedelta(days=1))
    assert_broken_at(runner, 4, "changed")


def test_a_recomputed_hash_without_the_key_breaks_the_next_row(app, runner, chain):
    """Changing a row and re-hashing it with a guessed key still breaks it."""
    row = audit_rows()[1]
    forged = ledger._digest(
        b"guessed",
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action="forged",
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        binding=ledger.binding_of(row),
    )
    execute("UPDATE audit_ledger SET action = 'forged', hash = :h WHERE seq = 2", h=forged)
    assert_broken_at(runner, 2, "changed")


def test_a_deleted_middle_row_is_found_at_the_next_row(app, runner, chain):
    execute("DELETE FROM audit_ledger WHERE seq = 3")
    assert_broken_at(runner, 4, "removed")
    assert ledger.verify().checked == 2


def test_a_deleted_first_row_is_found(app, runner, chain):
    execute("DELETE FROM audit_ledger WHERE seq = 1")
    assert_broken_at(runner, 2, "removed")


def copy_row_sql() -> str:
    return (
        "INSERT INTO audit_ledger (seq, at, actor_id, action, subject, details, prev_hash, hash) "
        "SELECT :seq, at, actor_id, action, subject, details, prev_hash, hash FROM audit_ledger WHERE seq = :source"
    )


def test_an_inserted_copy_at_the_end_is_found(app, runner, chain):
    execute(copy_row_sql(), seq=6, source=3)
    assert_broken_at(runner, 6, "does not follow")


def test_an_inserted_row_with_a_renumbered_tail_is_found(app, runner, chain):
    # Make room after row 2 (from the top down, to keep seq unique), then slip in a copy.
    for seq in (5, 4, 3):
        execute("UPDATE audit_ledger SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    execute(copy_row_sql(), seq=3, source=2)
    result = ledger.verify()
    assert not result.ok
    assert result.bad_seq == 4  # the first renumbered row, in the order the rows were written
    assert verify_cli(runner).exit_code == 1


def test_a_renumbered_row_is_found(app, runner, chain):
    execute("UPDATE audit_ledger SET seq = 9 WHERE seq = 5")
    assert_broken_at(runner, 9, "removed")


def test_a_different_key_fails_at_the_first_row(app, runner, chain):
    app.config["AUDIT_KEY"] = "a-different-key"
    assert_broken_at(runner, 1, "changed")
    assert ledger.verify().checked == 0


# --- failed use cases leave no row ----------------------------------------------------------


def test_a_refused_use_case_writes_no_ledger_row(app, frameworks, manager):
    worker = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assignment = supervision.assign(
        manager, worker_id=worker.id, supervisor_id=sam.id, starts_on=date(2026, 1, 1), ends_on=None
    )
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group", occurred_on=date(2026, 3, 10), description="A weekly walk."),
        link_competence_id=competence("PS-LW-01").id,
    )
    evidence_service.submit(worker, evidence)
    submission = review.open_submission_of(evidence)
    size = ledger_size()
    cid = competence("PS-LW-01").id

    with pytest.raises(InvalidDecision):  # returned without a comment
        review.decide(
            sam, submission, outcome=DecisionOutcome.RETURNED, comment="", outcomes={cid: CompetenceOutcome(True)}
        )
    with pytest.raises(FieldError):  # the same pair again
        supervision.assign(manager, worker_id=worker.id, supervisor_id=sam.id, starts_on=TODAY, ends_on=None)
    with pytest.raises(FieldError):
        supervision.end_assignment(manager, assignment, date(2025, 1, 1))
    assert ledger_size() == size

    review.decide(
        sam, submission, outcome=DecisionOutcome.SIGNED_OFF, comment="", outcomes={cid: CompetenceOutcome(True)}
    )
    size = ledger_size()
    with pytest.raises(Conflict):  # already decided
        review.decide(
            sam, submission, outcome=DecisionOutcome.SIGNED_OFF, comment="", outcomes={cid: CompetenceOutcome(True)}
        )
    with pytest.raises(Conflict):  # nothing left to withdraw
        review.withdraw(worker, evidence)
    assert ledger_size() == size
    assert ledger.verify().ok
