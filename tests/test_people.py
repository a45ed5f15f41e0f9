"""People: inviting, accepting, changing, deactivating and reactivating; the list and its search."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portfolio import PROJECT_ROOT
from portfolio.audit import ledger
from portfolio.auth import service as auth_service
from portfolio.auth import tokens
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.models import (
    AuditEntry,
    EvidenceStatus,
    Invitation,
    Role,
    SupervisionAssignment,
    Tier,
    User,
)
from portfolio.people import service
from portfolio.review import service as review_service
from portfolio.supervision import service as supervision_service
from tests.factories import NEW_PASSWORD, TODAY
from tests.pages import audit_rows, error_next_to, error_summary, form_key, long_date, options, table_rows, words

from .conftest import QueryCounter, csrf_token
from .factories import (
    LINK_WORKER_FILE,
    PASSWORD,
    assign,
    link_draft,
    make_user,
    make_worker_manager,
    requirements_of,
    tier,
)
from .pages import status_of


@pytest.fixture
def other_manager(app):
    return make_user(Role.MANAGER, email="mo@example.org", name="Mo Manager")


@pytest.fixture
def link_worker_tier(frameworks):
    return tier("link-worker", "link-worker")


@pytest.fixture
def sam(app, frameworks):
    """Sam Supervisor, a Psychosocial Link Worker who also supervises."""
    return make_user(
        Role.WORKER,
        Role.SUPERVISOR,
        email="sam@example.org",
        name="Sam Supervisor",
        tier=tier("link-worker", "psychosocial-link-worker"),
    )


def invite_worker(manager, link_worker_tier, **overrides):
    values = {
        "name": "Wendy Worker",
        "email": "Wendy@Example.org",
        "roles": {Role.WORKER},
        "tier_id": link_worker_tier.id,
    }
    values.update(overrides)
    from flask import current_app

    with current_app.test_request_context():
        return service.invite(manager, **values)


# --- Service: inviting -------------------------------------------------------------------


def test_invite_creates_an_invited_person_an_invitation_digest_and_assignments(manager, link_worker_tier, sam):
    invited = invite_worker(manager, link_worker_tier, supervisor_ids=[sam.id])
    person = db.session.get(User, invited.person.id)
    assert person.email == "wendy@example.org" and person.status == "invited"
    assert person.active is False and person.invited is True
    assert person.tier_id == link_worker_tier.id and person.framework_id == link_worker_tier.framework_id
    invitation = db.session.scalar(select(Invitation).where(Invitation.user_id == person.id))
    assert invitation.token_digest == tokens.digest(invited.token) and invited.token not in invitation.token_digest
    expires = (
        invitation.expires_at.replace(tzinfo=UTC) if invitation.expires_at.tzinfo is None else invitation.expires_at
    )
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    assignment = db.session.scalar(select(SupervisionAssignment).where(SupervisionAssignment.worker_id == person.id))
    assert assignment.supervisor_id == sam.id and assignment.starts_on == TODAY and assignment.ends_on is None
    [entry] = audit_rows("person.invited")
    assert entry.actor_id == manager.id and entry.subject == f"user:{person.id}"
    assert entry.details["roles"] == ["worker"] and entry.details["supervisor_ids"] == [sam.id]
    assert ledger.verify().ok


def test_an_invited_person_cannot_sign_in(manager, link_worker_tier):
    invite_worker(manager, link_worker_tier)
    for password in ("", "!invited", PASSWORD):
        with pytest.raises(auth_service.AuthError) as error:
            auth_service.sign_in("wendy@example.org", password, "127.0.0.1")
        assert error.value.message == auth_service.WRONG_DETAILS


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"name": "  "}, "name", "Enter the person's name"),
        ({"email": "not-an-email"}, "email", "Enter an email address in the correct format"),
        ({"email": "  "}, "email", "Enter their email address"),  # found by a helper: "the correct format" for none
        ({"email": "w" * 243 + "@example.org"}, "email", "Email address must be 254 characters or fewer"),
        ({"roles": set()}, "roles", "Choose at least one role"),
        ({"tier_id": None}, "tier_id", "Choose the framework and tier this worker follows"),
        (
            {"roles": {Role.MANAGER}, "tier_id": None, "supervisor_ids": [1]},
            "supervisor_ids",
            "Only workers have supervisors",
        ),
    ],
)
def test_invite_refuses_bad_input_and_writes_nothing(manager, link_worker_tier, overrides, field, message):
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier, **overrides)
    assert error.value.field == field and message in error.value.message
    assert db.session.scalar(select(func.count(User.id))) == 1
    assert db.session.scalar(select(func.count(Invitation.id))) == 0
    assert audit_rows("person.invited") == []


def test_invite_names_every_problem_of_the_form_at_once(manager, link_worker_tier):
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier, name="x" * 300, email="not-an-email", roles=set())
    assert error.value.errors == {
        "name": "Name must be 120 characters or fewer",
        "email": "Enter an email address in the correct format, like name@example.org",
        "roles": "Choose at least one role",
    }
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_invite_names_a_taken_email_with_a_missing_tier(manager, link_worker_tier):
    """Found by a helper: the taken email came up only once the tier was chosen."""
    make_user(Role.WORKER, email="wendy@example.org")
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier, tier_id=None)
    assert set(error.value.errors) == {"email", "tier_id"}
    assert "already has this email address" in error.value.errors["email"]
    assert error.value.errors["tier_id"] == "Choose the framework and tier this worker follows"
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


@pytest.mark.parametrize(
    "email",
    [
        "a@b",
        "wendy@nhs",
        "wendy@nhs.",
        "wendy@.net",
        "we ndy@nhs.net",
        "wendy,sam@nhs.net",  # two addresses pasted as one
        "wendy\u200b@nhs.net",  # a zero-width space copied from a document
        "w\u00e9ndy@nhs.net",  # not every mail server delivers to letters beyond ASCII
        "wendy@b\u00fccher.de",
        "wendy@localhost",
        "wendy..worker@nhs.net",
    ],
)
def test_an_address_mail_cannot_reach_is_not_invited(manager, link_worker_tier, email):
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier, email=email)
    assert error.value.field == "email"
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_the_invite_page_shows_each_problem_next_to_its_field(client, auth, manager, link_worker_tier):
    auth.login_as(manager)
    data = wendys_invite_form(client, auth, link_worker_tier) | {"name": "x" * 300, "email": "a@b", "roles": []}
    response = client.post("/people/invite", data=data)
    assert response.status_code == 422
    page = response.text
    assert "Name must be 120 characters or fewer" in error_next_to(page, "name")
    assert "Enter an email address in the correct format" in error_next_to(page, "email")
    # The summary in the page's order: name, email, roles.
    assert [href for href, _ in error_summary(page)] == ["#name", "#email", "#roles"]
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_invite_refuses_a_taken_email_whatever_its_case(manager, link_worker_tier):
    make_user(Role.WORKER, email="wendy@example.org")
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier)
    assert error.value.field == "email" and "already has this email address" in error.value.message
    assert db.session.scalar(select(func.count(Invitation.id))) == 0


def test_inviting_twice_says_the_person_is_already_invited(manager, link_worker_tier):
    invite_worker(manager, link_worker_tier)
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier)
    assert error.value.field == "email" and "already been invited" in error.value.message
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "wendy@example.org")) == 1


def test_an_unknown_supervisor_refuses_the_whole_invitation(manager, link_worker_tier):
    worker = make_user(Role.WORKER, email="notsup@example.org")
    with pytest.raises(FieldError) as error:
        invite_worker(manager, link_worker_tier, supervisor_ids=[worker.id])
    assert error.value.field == "supervisor_ids" and error.value.message == "Choose a supervisor"
    assert db.session.scalar(select(User).where(User.email == "wendy@example.org")) is None
    assert db.session.scalar(select(func.count(SupervisionAssignment.id))) == 0


def test_resend_replaces_the_link_and_revoke_stops_it(app, manager, link_worker_tier):
    first = invite_worker(manager, link_worker_tier)
    with app.test_request_context():
        second = service.resend_invitation(manager, first.person)
    with pytest.raises(service.InvitationUnusable):
        service.usable_invitation(first.token)
    assert service.usable_invitation(second.token).user_id == first.person.id
    service.revoke_invitation(manager, first.person)
    with pytest.raises(service.InvitationUnusable):
        service.usable_invitation(second.token)
    assert db.session.get(User, first.person.id).status == "invited"
    with pytest.raises(FieldError, match="no invitation to revoke"):
        service.revoke_invitation(manager, first.person)
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == [
        "person.invited",
        "person.invitation_resent",
        "person.invitation_revoked",
    ]


# --- Service: accepting ------------------------------------------------------------------


def test_accepting_sets_the_password_uses_up_the_link_and_activates(manager, link_worker_tier):
    invited = invite_worker(manager, link_worker_tier)
    person = service.accept_invitation(invited.token, NEW_PASSWORD, NEW_PASSWORD)
    assert person.status == "active" and person.last_signed_in_at is not None
    assert auth_service.sign_in("wendy@example.org", NEW_PASSWORD, "127.0.0.1").id == person.id
    assert db.session.scalar(select(Invitation.used_at)) is not None
    with pytest.raises(service.InvitationUnusable):
        service.accept_invitation(invited.token, NEW_PASSWORD, NEW_PASSWORD)
    assert audit_rows("person.invitation_accepted")[0].actor_id == person.id


@pytest.mark.parametrize(
    "password, confirmation, field, message",
    [
        ("", "", "password", "Enter a password"),
        ("short", "short", "password", "12 characters or more"),
        ("wendy worker wendy", "wendy worker wendy", "password", "must not contain your name"),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "confirm", "The passwords do not match"),
    ],
)
def test_accepting_refuses_a_bad_password_and_keeps_the_link(
    manager, link_worker_tier, password, confirmation, field, message
):
    invited = invite_worker(manager, link_worker_tier)
    with pytest.raises(FieldError) as error:
        service.accept_invitation(invited.token, password, confirmation)
    assert error.value.field == field and message in error.value.message
    assert db.session.get(User, invited.person.id).status == "invited"
    assert service.usable_invitation(invited.token).used_at is None


def test_an_expired_link_cannot_be_used(manager, link_worker_tier):
    invited = invite_worker(manager, link_worker_tier)
    invitation = db.session.scalar(select(Invitation))
    invitation.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    with pytest.raises(service.InvitationUnusable):
        service.accept_invitation(invited.token, NEW_PASSWORD, NEW_PASSWORD)
    assert db.session.get(User, invited.person.id).status == "invited"


# --- Service: changing ---------------------------------------------------------------------


def test_change_records_before_and_after_in_the_ledger(manager, other_manager, link_worker_tier):
    person = make_user(Role.WORKER, email="pat@example.org", name="Pat Person", tier=link_worker_tier)
    coach = tier("link-worker", "link-worker-coach")
    changed = service.change(manager, person, name="Pat Jones", roles={Role.WORKER, Role.SUPERVISOR}, tier_id=coach.id)
    assert changed == {
        "name": {"before": "Pat Person", "after": "Pat Jones"},
        "roles": {"before": ["worker"], "after": ["supervisor", "worker"]},
        "tier_id": {"before": link_worker_tier.id, "after": coach.id},
    }
    person = db.session.get(User, person.id)
    assert (person.name, person.is_supervisor, person.tier_id) == ("Pat Jones", True, coach.id)
    [entry] = audit_rows("person.changed")
    assert entry.actor_id == manager.id and entry.details == changed
    assert (
        service.describe(entry)
        == "Changed name from Pat Person to Pat Jones; gave the supervisor role; changed tier from Link Worker to"
        " Link Worker Coach"
    )
    # Saving again with nothing different records nothing.
    assert (
        service.change(manager, person, name="Pat Jones", roles={Role.WORKER, Role.SUPERVISOR}, tier_id=coach.id) == {}
    )
    assert len(audit_rows("person.changed")) == 1
    # Found by a helper: roles read "from worker to supervisor, worker"; what was given and taken is said instead.
    service.change(manager, person, name="Pat Jones", roles={Role.SUPERVISOR, Role.MANAGER}, tier_id=0)
    [_, taken] = audit_rows("person.changed")
    assert service.describe(taken).startswith("Gave the manager role; took away the worker role")


def test_moving_a_worker_to_another_framework_names_the_frameworks_not_their_roles(manager, link_worker_tier):
    """A framework's short title is a role's name: the history names the framework by its title, so that it does
    not read as a change of tier (found by a new user)."""
    person = make_user(Role.WORKER, name="Ann Worker", tier=link_worker_tier)
    senior = tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    service.change(manager, person, name="Ann Worker", roles={Role.WORKER}, tier_id=senior.id)
    [entry] = audit_rows("person.changed")
    assert service.describe(entry) == (
        "Changed framework from Link Worker Competency Framework to Transferable Role Profile: Senior Engagement"
        " Worker; changed tier from Link Worker to Senior Engagement Worker"
    )


def test_a_manager_cannot_change_their_own_roles(manager, other_manager):
    with pytest.raises(FieldError) as error:
        service.change(manager, manager, name="Maya Manager", roles={Role.MANAGER, Role.SUPERVISOR}, tier_id=None)
    assert error.value.field == "roles" and "cannot change your own roles" in error.value.message
    assert db.session.get(User, manager.id).is_supervisor is False
    # Their own name is fine.
    service.change(manager, manager, name="Maya M. Manager", roles={Role.MANAGER}, tier_id=None)
    assert db.session.get(User, manager.id).name == "Maya M. Manager"


def test_a_manager_who_works_cannot_change_their_own_tier(manager, link_worker_tier):
    """A tier is a promotion: a manager who is also a worker cannot move themselves up, only another manager can."""
    mel = make_worker_manager()
    coach = tier("link-worker", "link-worker-coach")
    with pytest.raises(FieldError) as error:
        service.change(mel, mel, name=mel.name, roles=mel.roles, tier_id=coach.id)
    assert (error.value.field, error.value.message) == (
        "tier_id",
        "You cannot change your own tier: ask another manager",
    )
    assert db.session.get(User, mel.id).tier_id == link_worker_tier.id and audit_rows("person.changed") == []
    service.change(
        mel, mel, name="Mel W. Manager", roles=mel.roles, tier_id=link_worker_tier.id
    )  # their name is theirs
    service.change(manager, mel, name="Mel W. Manager", roles=mel.roles, tier_id=coach.id)
    assert db.session.get(User, mel.id).tier_id == coach.id


def test_a_manager_on_an_old_framework_version_may_move_to_the_same_tier_of_the_new_one(
    manager, link_worker_tier, tmp_path
):
    """The form offers current versions only: keeping one's own tier there is the same tier, not a promotion."""
    mel = make_worker_manager()
    old_tier_id = mel.tier_id
    assert old_tier_id == link_worker_tier.id
    changed = tmp_path / "link-worker.yaml"
    changed.write_text(
        LINK_WORKER_FILE.read_text(encoding="utf-8").replace("summary: Three tiers", "summary: The three tiers"),
        encoding="utf-8",
    )
    assert loader.load_file(changed).created
    db.session.expire_all()
    mel = db.session.get(User, mel.id)
    # The loader moves people to the new version; one left on the old one (an earlier import) is put back there.
    mel.tier_id, mel.framework_id = old_tier_id, link_worker_tier.framework_id
    db.session.commit()
    same_now = tier("link-worker", "link-worker")
    assert same_now.id != old_tier_id  # the current version's
    service.change(mel, mel, name="Mel W. Manager", roles=mel.roles, tier_id=same_now.id)
    assert db.session.get(User, mel.id).tier_id == same_now.id
    with pytest.raises(FieldError):
        service.change(mel, mel, name=mel.name, roles=mel.roles, tier_id=tier("link-worker", "link-worker-coach").id)


def supervised(manager: User, worker: User, supervisor: User, starts_on) -> SupervisionAssignment:
    """An assignment made as the Supervision page makes it (with its bound ledger row)."""
    assignment = supervision_service.assign(
        manager, worker_id=worker.id, supervisor_id=supervisor.id, starts_on=starts_on, ends_on=None
    )
    db.session.commit()
    return assignment


@pytest.mark.parametrize("role", [Role.WORKER, Role.SUPERVISOR])
def test_taking_away_a_role_ends_the_supervision_it_is_part_of_and_the_ledger_holds(
    manager, link_worker_tier, sam, role
):
    xena = make_user(Role.WORKER, Role.SUPERVISOR, email="x@example.org", name="Xena Both", tier=link_worker_tier)
    sue = make_user(Role.SUPERVISOR, email="sue@example.org", name="Sue Supervisor")
    sol, tom = (make_user(Role.WORKER, email=f"{n}@example.org", name=n, tier=link_worker_tier) for n in ("sol", "tom"))
    # Each pair: one begun (it ends yesterday, its history kept), one not begun (removed).
    as_worker = [supervised(manager, xena, sam, TODAY - timedelta(days=30)), supervised(manager, xena, sue, TODAY)]
    as_supervisor = [supervised(manager, sol, xena, TODAY - timedelta(days=9)), supervised(manager, tom, xena, TODAY)]
    ending, staying = (as_worker, as_supervisor) if role == Role.WORKER else (as_supervisor, as_worker)
    ending_ids, staying_ids = [a.id for a in ending], [a.id for a in staying]

    kept_tier = None if role == Role.WORKER else link_worker_tier.id
    changed = service.change(
        manager, xena, name=xena.name, roles={Role.WORKER, Role.SUPERVISOR} - {role}, tier_id=kept_tier
    )

    assert sorted(changed["ended_assignments"]) == sorted(ending_ids)
    db.session.expire_all()
    began, not_begun = (db.session.get(SupervisionAssignment, i) for i in ending_ids)
    assert began.ends_on == TODAY - timedelta(days=1)
    assert not_begun is None
    assert all(db.session.get(SupervisionAssignment, i).ends_on is None for i in staying_ids)
    assert ledger.verify().ok, ledger.verify().problems


@pytest.mark.parametrize("how", ["deactivate", "take the supervisor role"])
def test_a_manager_cannot_end_their_own_supervision_by_acting_on_their_supervisor(manager, link_worker_tier, sam, how):
    """Found by a review: ending an assignment is refused to its worker, but deactivating their supervisor or
    taking the supervisor role away ended it all the same. Nobody decides about their own supervision."""
    mel = make_worker_manager()
    mine = supervised(manager, mel, sam, TODAY - timedelta(days=30))
    others = supervised(manager, make_user(Role.WORKER, email="w@example.org", tier=link_worker_tier), sam, TODAY)
    assert service.supervises_actor(mel, sam) and not service.supervises_actor(manager, sam)
    rows_before = db.session.scalar(select(func.count(AuditEntry.id)))
    with pytest.raises(FieldError) as error:
        if how == "deactivate":
            service.deactivate(mel, sam)
        else:
            service.change(mel, sam, name=sam.name, roles={Role.WORKER}, tier_id=sam.tier_id)
    assert error.value.field == ("confirm" if how == "deactivate" else "roles")
    assert error.value.message == "Sam Supervisor supervises you: another manager must end that supervision"
    db.session.expire_all()
    assert db.session.get(User, sam.id).active and db.session.get(User, sam.id).is_supervisor
    assert [db.session.get(SupervisionAssignment, a.id).ends_on for a in (mine, others)] == [None, None]
    assert db.session.scalar(select(func.count(AuditEntry.id))) == rows_before
    # Another manager may: the leaver leaves, and the ledger says which supervision ended with the role.
    if how == "deactivate":
        service.deactivate(manager, sam)
    else:
        changed = service.change(manager, sam, name=sam.name, roles={Role.WORKER}, tier_id=sam.tier_id)
        [entry] = audit_rows("person.changed")
        assert sorted(entry.details["ended_assignments"]) == sorted(changed["ended_assignments"])
        assert sorted(changed["ended_assignments"]) == sorted([mine.id, others.id])
    assert not service.supervises_actor(mel, sam)
    assert ledger.verify().ok


def test_deactivating_a_leaver_keeps_the_ledger_holding(manager, link_worker_tier, sam):
    """Found by a helper: the assignments a leaver's deactivation ended or removed were reported as tampering."""
    worker = make_user(Role.WORKER, email="w@example.org", name="Wendy Worker", tier=link_worker_tier)
    begun = supervised(manager, worker, sam, TODAY - timedelta(days=30))
    starting_today = supervised(manager, worker, make_user(Role.SUPERVISOR, email="s@example.org"), TODAY)
    begun_id, starting_today_id = begun.id, starting_today.id
    service.deactivate(manager, worker)
    db.session.expire_all()
    assert db.session.get(SupervisionAssignment, begun_id).ends_on == TODAY - timedelta(days=1)
    assert db.session.get(SupervisionAssignment, starting_today_id) is None
    result = ledger.verify()
    assert result.ok, result.problems


def test_taking_the_manager_role_from_another_manager_is_audited(manager, other_manager):
    service.change(manager, other_manager, name=other_manager.name, roles={Role.SUPERVISOR}, tier_id=None)
    assert db.session.get(User, other_manager.id).roles == {Role.SUPERVISOR}
    [entry] = audit_rows("person.changed")
    assert entry.details == {"roles": {"before": ["manager"], "after": ["supervisor"]}}


def test_change_refuses_a_worker_without_a_tier(manager, link_worker_tier):
    person = make_user(Role.SUPERVISOR, email="s2@example.org")
    with pytest.raises(FieldError) as error:
        service.change(manager, person, name="S", roles={Role.WORKER}, tier_id=None)
    assert error.value.field == "tier_id"
    assert db.session.get(User, person.id).is_worker is False


# --- Service: deactivating -----------------------------------------------------------------


def test_deactivating_ends_sessions_and_supervision_and_is_audited(app, manager, link_worker_tier, sam):
    worker = make_user(Role.WORKER, email="w@example.org", name="Wendy Worker", tier=link_worker_tier)
    assign(sam, worker, starts_on=TODAY - timedelta(days=30))
    future = SupervisionAssignment(supervisor_id=sam.id, worker_id=worker.id, starts_on=TODAY + timedelta(days=5))
    db.session.add(future)
    db.session.commit()
    version = worker.session_version
    service.deactivate(manager, worker)
    worker = db.session.get(User, worker.id)
    assert worker.status == "deactivated" and worker.session_version == version + 1
    [kept] = db.session.scalars(select(SupervisionAssignment)).all()
    assert kept.ends_on == TODAY - timedelta(days=1)
    assert all(not row.supervisors for row in service.people())
    [entry] = audit_rows("person.deactivated")
    assert entry.actor_id == manager.id and len(entry.details["ended_assignments"]) == 2
    assert [e.action for e in audit_rows("supervision.ended")] == ["supervision.ended"]
    assert [e.action for e in audit_rows("supervision.cancelled")] == ["supervision.cancelled"]
    with pytest.raises(auth_service.AuthError):
        auth_service.sign_in("w@example.org", PASSWORD, "127.0.0.1")


def test_a_deactivated_workers_items_leave_the_review_queue(app, manager, link_worker_tier, sam):
    worker = make_user(Role.WORKER, email="w@example.org", name="Wendy Worker", tier=link_worker_tier)
    assign(sam, worker, starts_on=TODAY - timedelta(days=30))
    link_draft(worker, [], "Leaflet", status=EvidenceStatus.SUBMITTED)
    assert review_service.queue_count(sam) == 1
    service.deactivate(manager, worker)
    assert review_service.queue_count(db.session.get(User, sam.id)) == 0


@pytest.mark.parametrize("who", ["self", "already"])
def test_deactivate_refusals(manager, other_manager, who):
    if who == "self":
        target, message = manager, "You cannot deactivate yourself: ask another manager"
    else:
        target, message = make_user(Role.WORKER, email="gone@example.org", active=False), "is not active"
    with pytest.raises(FieldError) as error:
        service.deactivate(manager, target)
    assert error.value.field == "confirm" and message in error.value.message
    assert db.session.get(User, target.id).active is (who == "self")
    assert db.session.scalar(select(func.count(AuditEntry.id))) == 0


def test_a_manager_deactivated_a_moment_ago_can_no_longer_act(manager, other_manager):
    """The check runs on the locked rows: the second of two crossed deactivations finds its actor gone."""
    service.deactivate(other_manager, manager)
    with pytest.raises(Exception) as error:
        service.deactivate(manager, other_manager)  # Maya's copy was loaded before she was deactivated
    assert getattr(error.value, "code", None) == 403
    assert db.session.get(User, other_manager.id).active is True
    assert [e.action for e in db.session.scalars(select(AuditEntry))] == ["person.deactivated"]


def test_reactivating_restores_sign_in(manager, link_worker_tier):
    worker = make_user(Role.WORKER, email="w@example.org", tier=link_worker_tier)
    service.deactivate(manager, worker)
    service.reactivate(manager, worker)
    assert db.session.get(User, worker.id).status == "active"
    assert auth_service.sign_in("w@example.org", PASSWORD, "127.0.0.1").id == worker.id
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == [
        "person.deactivated",
        "person.reactivated",
    ]
    with pytest.raises(FieldError, match="is not deactivated"):
        service.reactivate(manager, worker)


# --- Reading -------------------------------------------------------------------------------


def test_people_search_and_filters(manager, link_worker_tier, sam):
    worker = make_user(Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=link_worker_tier)
    assign(sam, worker, starts_on=TODAY - timedelta(days=1))
    make_user(Role.WORKER, email="gone@example.org", name="Gone Person", active=False, tier=link_worker_tier)
    assert [r.user.email for r in service.people("WENDY")] == ["wendy@example.org"]
    assert [r.user.email for r in service.people("example.org", status="deactivated")] == ["gone@example.org"]
    assert [r.user.email for r in service.people(role="supervisor")] == ["sam@example.org"]
    assert [r.user.email for r in service.people("100%_")] == []
    [row] = service.people("wendy")
    assert row.supervisors == [sam]


def test_the_list_takes_the_same_number_of_queries_for_5_and_100_people(
    app, client, auth, manager, link_worker_tier, sam
):
    auth.login_as(manager)

    def add(n):
        for _ in range(n):
            w = make_user(Role.WORKER, tier=link_worker_tier)
            assign(sam, w, starts_on=TODAY - timedelta(days=1))

    add(3)
    with QueryCounter(db.engine) as small:
        page = client.get("/people/")
    assert page.text.count('class="nhsuk-table__row" role="row"') == 6  # header + 5 people
    add(95)
    with QueryCounter(db.engine) as large:
        page = client.get("/people/")
    assert page.text.count('class="nhsuk-table__row" role="row"') == 26  # header + a page of 25
    assert status_of(page.text, "people-count") == "100 people, showing 1 to 25 (page 1 of 4)"
    assert large.count == small.count


# --- Routes ----------------------------------------------------------------------------------


def test_people_page_lists_everyone_and_htmx_gets_only_the_list(client, auth, manager, link_worker_tier, sam):
    worker = make_user(Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=link_worker_tier)
    assign(sam, worker, starts_on=TODAY - timedelta(days=1))
    auth.login_as(manager)
    page = client.get("/people/")
    assert page.status_code == 200 and "<h1>People</h1>" in page.text
    assert "Sam Supervisor (sam@example.org)" in page.text and "Wendy Worker" in page.text
    fragment = client.get("/people/?q=wendy", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="people-list"' in fragment.text
    assert "wendy@example.org" in fragment.text and "manager@example.org" not in fragment.text
    assert "1 person matches your search" in fragment.text
    assert "HX-Request" in fragment.headers["Vary"]
    plain = client.get("/people/?status=active&role=manager")
    assert "<html" in plain.text and "manager@example.org" in plain.text and "wendy@example.org" not in plain.text


def test_people_say_in_words_what_a_person_has_not(client, auth, manager, link_worker_tier, sam):
    """A cell never reads "None": a manager is not a worker, a worker may have no supervisor yet."""
    worker = make_user(Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=link_worker_tier)
    auth.login_as(manager)
    rows = {row[0].split()[0]: row for row in table_rows(client.get("/people/").text, "people-table")}
    assert rows["Maya"][2:4] == ["Not a worker", "Not a worker"]
    assert rows["Wendy"][2:4] == ["Link Worker", "No supervisor"]
    shown = words(client.get(f"/people/{manager.id}").text)
    assert "Framework Not a worker Tier Not a worker Supervisors Not a worker" in shown
    shown = words(client.get(f"/people/{worker.id}").text)
    assert "Tier Link Worker Supervisors No supervisor" in shown
    assert not any(cell.endswith(" None") for row in rows.values() for cell in row)


def test_people_is_in_the_managers_header_only(client, auth, manager, link_worker_tier):
    auth.login_as(manager)
    assert 'href="/people/"' in client.get("/").text
    worker = make_user(Role.WORKER, email="w@example.org", tier=link_worker_tier)
    auth.login_as(worker)
    assert 'href="/people/"' not in client.get("/").text


def post_invite(client, auth, **data):
    token = auth.token("/people/invite")
    return client.post("/people/invite", data={"csrf_token": token, **data})


def test_invite_without_smtp_shows_the_link_once(app, client, auth, manager, link_worker_tier, sam):
    auth.login_as(manager)
    form = client.get("/people/invite")
    assert "Sam Supervisor (sam@example.org)" in form.text
    answer = post_invite(
        client,
        auth,
        name="Wendy Worker",
        email="wendy@example.org",
        roles=["worker"],
        tier_id=str(link_worker_tier.id),
        supervisor_ids=[str(sam.id)],
    )
    assert answer.status_code == 200 and "Wendy Worker is invited" in answer.text
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', answer.text).group(1)
    token = link.rsplit("/", 1)[1]
    person = db.session.scalar(select(User).where(User.email == "wendy@example.org"))
    assert person.status == "invited"
    assert db.session.scalar(select(Invitation.token_digest)) == tokens.digest(token)
    assert token not in str(answer.headers)  # not in a cookie, flash or otherwise
    # The person's page never shows the link again.
    page = client.get(f"/people/{person.id}")
    assert token not in page.text and "Invited" in page.text and "Resend invitation" in page.text
    assert "Sam Supervisor (sam@example.org)" in page.text
    # The pending list names them, with Resend and Revoke.
    listing = client.get("/people/").text
    pending = listing.split('id="pending-invitations"', 1)[1].split("</ul>", 1)[0]
    assert "Pending invitations" in listing and "Wendy Worker (wendy@example.org)" in pending
    assert (
        f'action="/people/{person.id}/invitation/resend"' in pending
        and f'action="/people/{person.id}/invitation/revoke"' in pending
    )
    assert 'Resend<span class="nhsuk-u-visually-hidden"> the invitation to Wendy Worker</span>' in pending


def test_invite_twice_shows_a_message_not_a_second_person(client, auth, manager, link_worker_tier):
    auth.login_as(manager)
    data = dict(name="Wendy Worker", email="wendy@example.org", roles=["worker"], tier_id=str(link_worker_tier.id))
    assert post_invite(client, auth, **data).status_code == 200
    again = post_invite(client, auth, **data)
    assert again.status_code == 422
    assert "Wendy Worker has already been invited with this email address" in again.text
    assert 'href="#email"' in again.text and "nhsuk-error-message" in again.text
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "wendy@example.org")) == 1


def test_invite_with_errors_answers_422_with_messages_by_the_fields(client, auth, manager):
    auth.login_as(manager)
    answer = post_invite(client, auth, name="", email="x", roles=[])
    assert answer.status_code == 422
    assert "There is a problem" in answer.text and "Enter the person&#39;s name" in answer.text
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_invite_by_email_sends_the_link_and_redirects(app, client, auth, manager, link_worker_tier, smtp):
    auth.login_as(manager)
    answer = post_invite(
        client, auth, name="Wendy Worker", email="wendy@example.org", roles=["worker"], tier_id=str(link_worker_tier.id)
    )
    person = db.session.scalar(select(User).where(User.email == "wendy@example.org"))
    assert answer.status_code == 303 and answer.headers["Location"] == f"/people/{person.id}"
    [message] = smtp.to("wendy@example.org")
    body = message.get_body(preferencelist=("plain",)).get_content()
    token = re.search(r"https://portfolio.example.org/invitation/(\S+)", body).group(1)
    assert db.session.scalar(select(Invitation.token_digest)) == tokens.digest(token)
    assert "an email with the link is on its way" in client.get(f"/people/{person.id}").text


def test_accept_page_sets_the_password_and_signs_in(client, auth, manager, link_worker_tier):
    invited = invite_worker(manager, link_worker_tier)
    page = client.get(f"/invitation/{invited.token}")
    assert "Set your password" in page.text and "wendy@example.org" in page.text
    bad = client.post(
        f"/invitation/{invited.token}",
        data={"csrf_token": csrf_token(page.text), "password": "short", "confirm": "short"},
    )
    assert (
        bad.status_code == 422
        and "Password must be 12 characters or more" in bad.text
        and 'href="#password"' in bad.text
    )
    done = client.post(
        f"/invitation/{invited.token}",
        data={"csrf_token": csrf_token(page.text), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 303 and done.headers["Location"] == "/"
    home = client.get("/")
    assert "Wendy Worker" in home.text and "your password is set" in home.text
    assert db.session.get(User, invited.person.id).status == "active"
    used = client.get(f"/invitation/{invited.token}")
    assert used.status_code == 404 and "This invitation link does not work" in used.text


def test_edit_page_refuses_ones_own_tier_next_to_the_field_and_says_what_supervision_ended(
    client, auth, manager, link_worker_tier, sam
):
    mel = make_worker_manager()
    coach = tier("link-worker", "link-worker-coach")
    auth.login_as(mel)
    form = client.get(f"/people/{mel.id}/edit")
    assert "Your own tier is for another manager to change" in words(form.text)
    data = {"csrf_token": csrf_token(form.text), "name": mel.name, "roles": ["manager", "worker"]}
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):  # a full page either way
        answer = client.post(f"/people/{mel.id}/edit", data=data | {"tier_id": str(coach.id)}, headers=headers)
        assert answer.status_code == 422 and "<h1>Change Mel Worker-Manager</h1>" in answer.text
        assert error_next_to(answer.text, "tier_id") == "Error: You cannot change your own tier: ask another manager"
    assert db.session.get(User, mel.id).tier_id == link_worker_tier.id

    auth.login_as(manager)
    supervised(manager, mel, sam, TODAY - timedelta(days=3))
    form = client.get(f"/people/{mel.id}/edit")
    answer = client.post(
        f"/people/{mel.id}/edit",
        data={"csrf_token": csrf_token(form.text), "name": mel.name, "roles": ["manager"], "tier_id": "0"},
    )
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"])
    assert "Saved the changes to Mel Worker-Manager: 1 supervision assignment ended with the role" in words(page.text)
    assert db.session.scalar(select(SupervisionAssignment.ends_on)) == TODAY - timedelta(days=1)


def test_unknown_expired_and_revoked_links_show_the_same_page(client, manager, link_worker_tier):
    invited = invite_worker(manager, link_worker_tier)
    service.revoke_invitation(manager, invited.person)
    for token in ("nonsense", invited.token):
        page = client.get(f"/invitation/{token}")
        assert page.status_code == 404 and "This invitation link does not work" in page.text
        assert "wendy" not in page.text.lower()


def test_edit_page_changes_and_refuses_own_roles(client, auth, manager, other_manager, link_worker_tier):
    person = make_user(Role.WORKER, email="pat@example.org", name="Pat Person", tier=link_worker_tier)
    auth.login_as(manager)
    form = client.get(f"/people/{person.id}/edit")
    assert "Change Pat Person" in form.text
    answer = client.post(
        f"/people/{person.id}/edit",
        data={
            "csrf_token": csrf_token(form.text),
            "name": "Pat Jones",
            "roles": ["worker"],
            "tier_id": str(link_worker_tier.id),
        },
    )
    assert answer.status_code == 303
    page = client.get(f"/people/{person.id}")
    assert (
        "Saved the changes to Pat Jones" in page.text
        and "Changed name from Pat Person to Pat Jones" in page.text
        and "Maya Manager" in page.text
    )
    mine = client.post(
        f"/people/{manager.id}/edit",
        data={
            "csrf_token": csrf_token(form.text),
            "name": "Maya Manager",
            "roles": ["manager", "worker"],
            "tier_id": str(link_worker_tier.id),
        },
    )
    assert mine.status_code == 422 and "You cannot change your own roles: ask another manager" in mine.text
    assert db.session.get(User, manager.id).is_worker is False
    # Found by a helper: the boxes were offered with no word that they cannot change, and unticking them all was
    # answered "Choose at least one role".
    own_form = client.get(f"/people/{manager.id}/edit").text
    assert "Your own roles are for another manager to change." in own_form
    none_ticked = client.post(
        f"/people/{manager.id}/edit",
        data={"csrf_token": csrf_token(form.text), "name": "Maya Manager", "tier_id": "0"},
        headers={"HX-Request": "true", "HX-Boosted": "true"},
    )
    assert none_ticked.status_code == 422 and "</html>" in none_ticked.text
    assert error_summary(none_ticked.text) == [("#roles", "You cannot change your own roles: ask another manager")]
    fieldset = none_ticked.text.split('name="roles"', 1)[0].rsplit("<fieldset", 1)[1]  # up to the first box
    assert "You cannot change your own roles: ask another manager" in words(fieldset)
    assert db.session.get(User, manager.id).roles == {Role.MANAGER}
    # A tier that is not one of the list (a hand-made request) is said in words.
    junk = client.post(
        f"/people/{manager.id}/edit",
        data={"csrf_token": csrf_token(form.text), "name": "Maya Manager", "roles": ["manager"], "tier_id": "x"},
    )
    assert junk.status_code == 422
    assert error_summary(junk.text) == [("#tier_id", "Choose a framework and tier from the list")]


def test_deactivate_confirm_then_reactivate(client, auth, manager, link_worker_tier):
    person = make_user(Role.WORKER, email="pat@example.org", name="Pat Person", tier=link_worker_tier)
    auth.login_as(manager)
    confirm = client.get(f"/people/{person.id}/deactivate")
    assert "Deactivate Pat Person (pat@example.org)?" in confirm.text
    # What happens to supervision, said as it is: nothing comes back by itself.
    assert "one starting today or later is removed (the audit log keeps it)" in words(confirm.text)
    assert "then assign their supervision again: it is not restored by itself" in words(confirm.text)
    assert db.session.get(User, person.id).active is True  # GET changes nothing
    done = client.post(f"/people/{person.id}/deactivate", data={"csrf_token": csrf_token(confirm.text)})
    assert done.status_code == 303
    page = client.get(f"/people/{person.id}")
    assert (
        "Pat Person is deactivated" in page.text and "Reactivate Pat Person" in page.text and "Deactivated" in page.text
    )
    assert db.session.get(User, person.id).active is False
    again = client.post(f"/people/{person.id}/reactivate", data={"csrf_token": csrf_token(page.text)})
    after = words(client.get(f"/people/{person.id}").text)
    assert again.status_code == 303
    assert "Pat Person can sign in again. Assign their supervision again if they need it." in after
    assert db.session.get(User, person.id).active is True


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_deactivating_a_supervisor_names_who_would_be_left_without_one(
    client, auth, manager, link_worker_tier, sam, headers
):
    """Found by a helper: the page said only "Their supervision assignments end", not that two workers would be
    left with nobody to review their work."""
    wendy = make_user(Role.WORKER, email="wendy@example.org", name="Wendy Worker", tier=link_worker_tier)
    sol = make_user(Role.WORKER, email="sol@example.org", name="Sol Worker", tier=link_worker_tier)
    cleo = make_user(Role.SUPERVISOR, email="cleo@example.org", name="Cleo Colleague")
    pip = make_user(Role.WORKER, email="pip@example.org", name="Pip Worker", tier=link_worker_tier)
    assign(sam, wendy)
    assign(sam, sol, TODAY + timedelta(days=7))  # from next week: ends too (removed)
    assign(cleo, sol)
    assign(sam, pip)
    assign(cleo, pip, TODAY + timedelta(days=14))  # nobody else until then (found by a review)
    auth.login_as(manager)
    page = client.get(f"/people/{sam.id}/deactivate", headers=headers).text
    assert "</html>" in page
    part = words(page.split('id="supervisees">', 1)[1].split("</ul>", 1)[0])
    assert part == (
        "Who Sam Supervisor supervises Their supervision of 3 workers ends; 2 of them will have no supervisor, so"
        f" their items and promotion requests wait until you assign someone . Pip Worker : no other supervisor until"
        f" {long_date(TODAY + timedelta(days=14))} Sol Worker Wendy Worker : no other supervisor"
    )
    assert f'href="/people/{wendy.id}"' in page and 'href="/supervision/"' in page
    # Someone who supervises nobody: nothing to say.
    assert 'id="supervisees"' not in client.get(f"/people/{wendy.id}/deactivate").text


def test_deactivating_oneself_is_refused_on_the_page(client, auth, manager, other_manager):
    auth.login_as(manager)
    confirm = client.get(f"/people/{manager.id}/deactivate")
    # Said before anything is pressed: no button that would only be refused.
    assert "You cannot deactivate yourself: ask another manager." in words(confirm.text)
    assert 'action="/people/' not in confirm.text.split("<h1>", 1)[1] and "nhsuk-button--warning" not in confirm.text
    answer = client.post(f"/people/{manager.id}/deactivate", data={"csrf_token": csrf_token(confirm.text)})
    assert answer.status_code == 422 and "You cannot deactivate yourself: ask another manager" in answer.text
    # A stale page's POST: the summary's link leads to the message (no form to lead to).
    assert [href for href, _ in error_summary(answer.text)] == ["#confirm"]
    assert 'id="confirm"><p class="nhsuk-error-message" id="confirm-error">' in answer.text
    assert db.session.get(User, manager.id).active is True


def test_deactivating_ones_own_supervisor_is_refused_on_the_page(client, auth, manager, link_worker_tier, sam):
    mel = make_worker_manager()
    supervised(manager, mel, sam, TODAY - timedelta(days=30))
    auth.login_as(mel)
    message = "Sam Supervisor supervises you: another manager must end that supervision"
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        confirm = client.get(f"/people/{sam.id}/deactivate", headers=headers)
        assert confirm.status_code == 200 and f"{message}." in words(confirm.text)
        assert (
            f'action="/people/{sam.id}/deactivate"' not in confirm.text and "nhsuk-button--warning" not in confirm.text
        )
    answer = client.post(f"/people/{sam.id}/deactivate", data={"csrf_token": csrf_token(confirm.text)})
    assert answer.status_code == 422 and f"Error: {message}" in words(answer.text)
    assert [href for href, _ in error_summary(answer.text)] == ["#confirm"]
    assert 'id="confirm"><p class="nhsuk-error-message" id="confirm-error">' in answer.text
    assert db.session.get(User, sam.id).active is True
    # The edit page: taking the supervisor role away is refused next to the roles.
    form = client.get(f"/people/{sam.id}/edit")
    data = {"csrf_token": csrf_token(form.text), "name": sam.name, "roles": ["worker"], "tier_id": str(sam.tier_id)}
    changed = client.post(f"/people/{sam.id}/edit", data=data)
    assert changed.status_code == 422 and error_next_to(changed.text, "roles") == f"Error: {message}"
    assert db.session.get(User, sam.id).is_supervisor is True
    # Another manager sees the button.
    auth.login_as(manager)
    page = client.get(f"/people/{sam.id}/deactivate").text
    assert f'action="/people/{sam.id}/deactivate"' in page and "nhsuk-button--warning" in page
    assert "supervises you" not in page


def test_resend_and_revoke_from_the_page(client, auth, manager, link_worker_tier):
    invited = invite_worker(manager, link_worker_tier)
    auth.login_as(manager)
    page = client.get(f"/people/{invited.person.id}")
    resent = client.post(f"/people/{invited.person.id}/invitation/resend", data={"csrf_token": csrf_token(page.text)})
    assert resent.status_code == 200 and "A new invitation for Wendy Worker" in resent.text
    new_token = re.search(r'<code id="invitation-link">[^<]+/invitation/([^<]+)</code>', resent.text).group(1)
    assert client.get(f"/invitation/{invited.token}").status_code == 404
    revoked = client.post(f"/people/{invited.person.id}/invitation/revoke", data={"csrf_token": csrf_token(page.text)})
    assert revoked.status_code == 303
    assert "The invitation for Wendy Worker no longer works" in client.get(f"/people/{invited.person.id}").text
    assert client.get(f"/invitation/{new_token}").status_code == 404
    again = client.post(f"/people/{invited.person.id}/invitation/revoke", data={"csrf_token": csrf_token(page.text)})
    assert again.status_code == 422 and "Wendy Worker has no invitation to revoke" in again.text


def test_missing_people_answer_404(client, auth, manager):
    auth.login_as(manager)
    for path in ("/people/999", "/people/999/edit", "/people/999/deactivate"):
        page = client.get(path)
        assert page.status_code == 404 and "Page not found" in page.text


def test_a_deactivated_persons_open_session_is_refused_on_its_next_request(
    app, client, auth, manager, link_worker_tier
):
    worker = make_user(Role.WORKER, email="w@example.org", name="Wendy Worker", tier=link_worker_tier)
    auth.sign_in("w@example.org", remember=True)
    remember = client.get_cookie("remember_token")
    assert remember is not None
    assert "Wendy Worker" in client.get("/portfolio/").text
    # The remember-me cookie alone (the session cookie gone) still works before deactivation.
    other_device = app.test_client()
    other_device.set_cookie("remember_token", remember.value)
    assert other_device.get("/portfolio/").status_code == 200

    service.deactivate(manager, worker)

    answer = client.get("/portfolio/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/sign-in")
    replay = app.test_client()
    replay.set_cookie("remember_token", remember.value)
    answer = replay.get("/portfolio/")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/auth/sign-in")
    assert "Sign in" in replay.get(answer.headers["Location"]).text


def test_a_deactivated_workers_portfolio_stays_readable_to_managers(client, auth, manager, link_worker_tier):
    worker = make_user(Role.WORKER, email="w@example.org", name="Wendy Worker", tier=link_worker_tier)
    service.deactivate(manager, worker)
    auth.login_as(manager)
    page = client.get(f"/progress/workers/{worker.id}")
    assert page.status_code == 200 and "Wendy Worker" in page.text


def test_a_tier_is_named_once_with_its_framework_only_where_its_name_does_not_say_it(client, auth, manager, frameworks):
    """Not "Link Worker: Link Worker" (as the people list, the workers list and this form said)."""
    auth.login_as(manager)
    labels = [label for _, label in options(client.get("/people/invite").text, "tier_id")]
    assert labels == [
        "Not a worker",
        "Link Worker",
        "Link Worker Coach",
        "Psychosocial Link Worker",
        "Senior Engagement Worker",
    ]
    assert Tier.label_for("Level 2", "Community Connectors") == "Level 2 (Community Connectors)"


def wendys_invite_form(client, auth, tier) -> dict:
    """The invitation form for Wendy Worker as the browser would send it, with its one-time key."""
    page = client.get("/people/invite").text
    return {
        "csrf_token": auth.token("/people/invite"),
        "form_key": form_key(page),
        "name": "Wendy Worker",
        "email": "wendy@example.org",
        "roles": ["worker"],
        "tier_id": str(tier.id),
    }


def test_the_same_invite_form_sent_twice_invites_once_and_the_second_answer_shows_the_person(
    client, auth, manager, link_worker_tier
):
    auth.login_as(manager)
    data = wendys_invite_form(client, auth, link_worker_tier)
    first = client.post("/people/invite", data=data)
    assert first.status_code == 200 and "Wendy Worker is invited" in first.text
    person = db.session.scalar(select(User).where(User.email == "wendy@example.org"))
    again = client.post("/people/invite", data=data)  # a double click: the same form, the same key
    assert again.status_code == 303 and again.headers["Location"] == f"/people/{person.id}"
    shown = client.get(again.headers["Location"]).text
    assert "Wendy Worker" in shown and "wendy@example.org" in shown
    # No email is set up: the link was in the first answer only, which the browser may have replaced by this one.
    assert (
        "Wendy Worker is invited. The sign-up link was shown once, in the answer to your first click: "
        "if you did not copy it, choose Resend invitation for a new one." in words(shown)
    )
    assert "Resend invitation" in shown and 'id="invitation-link"' not in shown  # the link is never shown again
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "wendy@example.org")) == 1
    assert db.session.scalar(select(func.count(Invitation.id)).where(Invitation.user_id == person.id)) == 1


def test_the_invite_form_sent_again_after_they_signed_up_says_nothing_of_a_link(
    client, auth, manager, link_worker_tier
):
    auth.login_as(manager)
    data = wendys_invite_form(client, auth, link_worker_tier)
    assert client.post("/people/invite", data=data).status_code == 200
    person = db.session.scalar(select(User).where(User.email == "wendy@example.org"))
    person.invited = False  # she has signed up since
    db.session.commit()
    again = client.post("/people/invite", data=data)  # Back, then Send again
    assert again.status_code == 303 and again.headers["Location"] == f"/people/{person.id}"
    shown = words(client.get(again.headers["Location"]).text)
    assert "Wendy Worker" in shown and "The sign-up link was shown once" not in shown


def test_the_same_invite_form_sent_twice_with_email_set_up_says_nothing_of_a_link(
    smtp, client, auth, manager, link_worker_tier
):
    auth.login_as(manager)
    data = wendys_invite_form(client, auth, link_worker_tier)
    assert client.post("/people/invite", data=data).status_code == 303
    again = client.post("/people/invite", data=data)
    assert again.status_code == 303
    shown = words(client.get(again.headers["Location"]).text)
    assert "an email with the link is on its way to wendy@example.org" in shown
    assert "The sign-up link was shown once" not in shown
    assert len(smtp.to("wendy@example.org")) == 1  # one invitation, emailed once


def _actions_recorded_about_a_person() -> set[str]:
    """Every ledger action the code records with a person as its subject (f"user:..."), read from the source."""
    found: set[str] = set()
    for path in (PROJECT_ROOT / "portfolio").rglob("*.py"):
        for first, second in re.findall(
            r'"([a-z_]+\.[a-z_]+)"(?:\s+if\s[^,]*?\selse\s+"([a-z_]+\.[a-z_]+)")?,\s*f"user:', path.read_text()
        ):
            found |= {first, second} - {""}
    return found


def test_every_action_about_a_person_reads_as_words_in_their_history():
    actions = _actions_recorded_about_a_person()
    assert {"person.invited", "promotion.approved", "promotion.declined", "credential.issued"} <= actions
    for action in actions:
        assert action in service.ACTIONS, f"{action} has no words in people.service.ACTIONS"
        assert "." not in service.describe(AuditEntry(action=action, details={})), action


def test_the_history_says_what_happened_to_a_worker_in_words(client, auth, manager, link_worker_tier):
    from portfolio.progress import service as progress

    worker = make_user(Role.WORKER, email="pat@example.org", name="Pat Person", tier=link_worker_tier)
    coach = tier("link-worker", "link-worker-coach")
    dbs = next(r for r in requirements_of(worker) if r.ref == "REQ-DBS")
    dbs_statement = dbs.statement
    progress.verify_requirement(
        manager, worker, dbs, verified_on=TODAY, expires_on=TODAY + timedelta(days=1095), note=""
    )
    entries = [
        AuditEntry(action="promotion.requested", details={"target_tier_id": coach.id}),
        AuditEntry(action="promotion.recommended", details={"supports": False}),
        AuditEntry(action="promotion.approved", details={"target_tier_id": coach.id, "effective_on": "2026-04-01"}),
        AuditEntry(action="credential.issued", details={"tier": "Link Worker Coach"}),
    ]
    assert [service.describe(e) for e in entries] == [
        "Asked to become Link Worker Coach",
        "Did not recommend the promotion",
        "Approved the promotion to Link Worker Coach, from 1 April 2026",
        "Issued a credential for Link Worker Coach",
    ]
    auth.login_as(manager)
    page = " ".join(" ".join(row) for row in table_rows(client.get(f"/people/{worker.id}").text, "person-history"))
    until = long_date(TODAY + timedelta(days=1095))
    # Found by a helper: the row said "Verified requirement REQ-DBS", the ledger's reference, not its words.
    assert f"Maya Manager Verified “{dbs_statement}”, in date until {until}" in page
    assert "REQ-DBS" not in page
    assert "requirement.verified" not in page
