"""Two managers acting on the same people at the same moment, over real HTTP.

- Deactivating each other: one manager stays active. The rows are locked (every
  active manager, in id order) before the rule is checked, so the second request
  sees the first one's change: its actor is no longer an active manager, and it
  is refused instead of leaving no manager.
- Taking a person's supervisor role while another manager assigns them a worker:
  both lock the person's row, so either the assignment is refused (no longer a
  supervisor) or it is made first and ends with the role. Never a supervision
  by someone who is not a supervisor.
"""

from __future__ import annotations

from sqlalchemy import func, select

from portfolio import clock
from portfolio.extensions import db
from portfolio.models import AuditEntry, Role, SupervisionAssignment, User

from . import factories
from .conftest import csrf_token
from .pages import date_fields, form_key
from .racing import HttpClient, Rounds, no_server_errors, overlapped, race

DEACTIVATION_ROUNDS = 3  # fewer than racing.ROUNDS: each round makes two more managers


def start_assigning(client: HttpClient, page, worker: User, supervisor: User):
    """Send the Supervision page's form (``page``, as read) assigning ``supervisor`` to ``worker`` from today."""
    return client.start_post(
        "/supervision/assign",
        {
            "csrf_token": csrf_token(page.text),
            "form_key": form_key(page.text),
            "worker_id": str(worker.id),
            "supervisor_id": str(supervisor.id),
            **date_fields("starts_on", clock.today()),
        },
    )


def test_two_managers_deactivating_each_other_leave_one_active(app, server):
    outcomes = []
    for round_ in range(DEACTIVATION_ROUNDS):
        first = factories.make_user(Role.MANAGER, email=f"ann{round_}@example.org", name=f"Ann {round_}")
        second = factories.make_user(Role.MANAGER, email=f"bob{round_}@example.org", name=f"Bob {round_}")
        # Earlier rounds' winners stay managers: make them plain workers so these two are the only managers.
        for user in db.session.scalars(select(User).where(User.id.not_in([first.id, second.id]))):
            user.is_manager = False
        db.session.commit()
        ann, bob = HttpClient(server, "ann"), HttpClient(server, "bob")
        ann.sign_in(first.email)
        bob.sign_in(second.email)
        ann_page = ann.get(f"/people/{second.id}/deactivate")
        bob_page = bob.get(f"/people/{first.id}/deactivate")
        assert ann_page.status == 200 and f"Deactivate Bob {round_}" in ann_page.text
        pending = [
            ann.start_post(f"/people/{second.id}/deactivate", {"csrf_token": csrf_token(ann_page.text)}),
            bob.start_post(f"/people/{first.id}/deactivate", {"csrf_token": csrf_token(bob_page.text)}),
        ]
        answers = race(pending)
        winners = [a for a in answers if a.status == 303 and "/people/" in a.headers.get("location", "")]
        losers = [a for a in answers if a not in winners]
        assert len(winners) == 1, [a.describe() for a in answers]
        # The loser is refused: its actor was deactivated while it waited for the lock (403), or
        # before its request was read, when its session is refused (a redirect to sign in).
        [loser] = losers
        assert loser.status == 403 or (loser.status == 302 and "/auth/sign-in" in loser.headers["location"]), (
            loser.describe()
        )
        db.session.rollback()  # a fresh snapshot: see what the server committed
        active = db.session.scalars(
            select(User).where(User.id.in_([first.id, second.id]), User.active.is_(True), User.is_manager.is_(True))
        ).all()
        assert len(active) == 1
        winner = winners[0]
        assert winner.headers["location"].endswith(f"/people/{(second if winner is answers[0] else first).id}")
        assert (
            db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "person.deactivated"))
            == round_ + 1
        )
        outcomes.append(overlapped(answers))
    # At least one round had both requests in flight together (the lock, not luck, decided).
    assert any(outcomes)


def test_taking_the_supervisor_role_while_another_manager_assigns_leaves_no_supervision_without_it(
    app, server, frameworks
):
    ann_user = factories.make_user(Role.MANAGER, email="ann@example.org", name="Ann Manager")
    bob_user = factories.make_user(Role.MANAGER, email="bob@example.org", name="Bob Manager")
    tier = factories.tier("link-worker", "link-worker")
    ann, bob = HttpClient(server, "ann"), HttpClient(server, "bob")
    ann.sign_in(ann_user.email)
    bob.sign_in(bob_user.email)
    db.session.rollback()  # a snapshot newer than the sign-ins' writes (SQLite refuses a write from an older one)
    outcomes = {"refused": 0, "ended with the role": 0}
    rounds = Rounds()
    for number in rounds:
        sam = factories.make_user(
            Role.WORKER, Role.SUPERVISOR, email=f"sam{number}@example.org", name=f"Sam {number}", tier=tier
        )
        wendy = factories.make_user(Role.WORKER, email=f"wendy{number}@example.org", name=f"Wendy {number}", tier=tier)
        edit_page, assign_page = ann.get(f"/people/{sam.id}/edit"), bob.get("/supervision/assign")
        assert edit_page.status == assign_page.status == 200
        answers = race(
            [
                ann.start_post(
                    f"/people/{sam.id}/edit",
                    {
                        "csrf_token": csrf_token(edit_page.text),
                        "name": sam.name,
                        "roles": ["worker"],
                        "tier_id": str(tier.id),
                    },
                ),
                start_assigning(bob, assign_page, wendy, sam),
            ]
        )
        no_server_errors({"change": answers[0], "assign": answers[1]}, number)
        rounds.record(answers)
        change, assign = answers
        assert change.status == 303, change.describe()
        db.session.rollback()  # a fresh snapshot: see what the server committed
        assert db.session.get(User, sam.id).is_supervisor is False
        still_open = db.session.scalars(
            select(SupervisionAssignment).where(
                SupervisionAssignment.supervisor_id == sam.id,
                (SupervisionAssignment.ends_on.is_(None)) | (SupervisionAssignment.ends_on >= clock.today()),
            )
        ).all()
        assert still_open == [], [(a.id, a.starts_on, a.ends_on) for a in still_open]
        if assign.status == 422:
            assert "Choose a supervisor" in assign.text
            outcomes["refused"] += 1
        else:
            assert assign.status == 303, assign.describe()
            outcomes["ended with the role"] += 1
    rounds.assert_enough(outcomes)


def test_deactivating_a_worker_while_another_manager_assigns_them_a_manager_as_supervisor(app, server, frameworks):
    """Found by a review: deactivation locked the managers, then the worker; the assignment the worker, then
    their supervisor, who was a manager too: each request waited for the other (a deadlock, a 500, on
    PostgreSQL). Every transaction now locks people in id order."""
    ann_user = factories.make_user(Role.MANAGER, email="ann@example.org", name="Ann Manager")
    bob_user = factories.make_user(Role.MANAGER, email="bob@example.org", name="Bob Manager")
    tier = factories.tier("link-worker", "link-worker")
    ann, bob = HttpClient(server, "ann"), HttpClient(server, "bob")
    ann.sign_in(ann_user.email)
    bob.sign_in(bob_user.email)
    db.session.rollback()  # a snapshot newer than the sign-ins' writes (SQLite refuses a write from an older one)
    outcomes = {"refused": 0, "made, then removed": 0}
    rounds = Rounds()
    for number in rounds:
        # The supervisor first: a lower id than the worker's, the order the deadlock needed.
        lead = factories.make_user(Role.MANAGER, Role.SUPERVISOR, email=f"lead{number}@example.org", name="Lead")
        wendy = factories.make_user(Role.WORKER, email=f"wendy{number}@example.org", name=f"Wendy {number}", tier=tier)
        confirm_page, assign_page = ann.get(f"/people/{wendy.id}/deactivate"), bob.get("/supervision/assign")
        assert confirm_page.status == assign_page.status == 200
        answers = race(
            [
                ann.start_post(f"/people/{wendy.id}/deactivate", {"csrf_token": csrf_token(confirm_page.text)}),
                start_assigning(bob, assign_page, wendy, lead),
            ]
        )
        no_server_errors({"deactivate": answers[0], "assign": answers[1]}, number)
        rounds.record(answers)
        deactivated, assign = answers
        assert deactivated.status == 303, deactivated.describe()
        db.session.rollback()  # a fresh snapshot: see what the server committed
        assert db.session.get(User, wendy.id).active is False
        # Begun today: removed by the deactivation if it came first (the ledger keeps it).
        assert (
            db.session.scalars(select(SupervisionAssignment).where(SupervisionAssignment.worker_id == wendy.id)).all()
            == []
        )
        if assign.status == 422:
            assert "Choose the worker" in assign.text
            outcomes["refused"] += 1
        else:
            assert assign.status == 303, assign.describe()
            outcomes["made, then removed"] += 1
    rounds.assert_enough(outcomes)
