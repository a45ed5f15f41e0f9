"""Two managers deactivating each other at the same moment over real HTTP: one manager stays active.

The rows are locked (every active manager, in id order) before the rule is
checked, so the second request sees the first one's change: its actor is no
longer an active manager, and it is refused instead of leaving no manager.
"""

from __future__ import annotations

from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import AuditEntry, Role, User

from . import factories
from .conftest import csrf_token
from .racing import HttpClient, overlapped, race

DEACTIVATION_ROUNDS = 3  # fewer than racing.ROUNDS: each round makes two more managers


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
