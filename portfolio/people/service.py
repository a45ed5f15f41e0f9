"""People: managers invite, change, deactivate and reactivate the people of the service.

Every change is written in the same transaction as its audit-ledger row.
Rules that protect the service (a manager never changes their own roles or
deactivates themselves; at least one active manager always remains) are
checked on rows locked for the transaction, so two managers acting at once
cannot both pass the check.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from flask import abort, current_app
from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.elements import ColumnElement

from .. import clock, duties, idempotency, paging
from ..audit import ledger
from ..auth import passwords, tokens
from ..auth import service as auth_service
from ..database import TURNS, begin_write, lock_all, lock_first, lock_or_404, rows_changed, take_turns
from ..errors import FieldError, Problems
from ..extensions import db
from ..models import (
    AuditEntry,
    Framework,
    Invitation,
    Requirement,
    RequirementVerification,
    Role,
    SupervisionAssignment,
    Tier,
    User,
)
from ..notifications.service import Mail, email_after_commit
from ..supervision import service as supervision
from ..templating import long_date
from .search import name_or_email_matches

INVITATION_LIFETIME = timedelta(days=7)
# Not an argon2 hash: verify_password() can never match it, so an invited
# person cannot sign in before they have set their own password.
UNUSABLE_PASSWORD = "!invited"
STATUSES = ("invited", "active", "deactivated")
ROLE_COLUMNS = {Role.WORKER: User.is_worker, Role.SUPERVISOR: User.is_supervisor, Role.MANAGER: User.is_manager}


def now() -> datetime:
    return datetime.now(UTC)


class InvitationUnusable(Exception):
    """The invitation link is expired, used, revoked or unknown (never said which)."""


# --- Reading ---------------------------------------------------------------------------


@dataclass
class PersonRow:
    user: User
    supervisors: list[User] = field(default_factory=list)


def _status_condition(status: str):
    return {
        "invited": User.invited.is_(True),
        "active": User.active.is_(True),
        "deactivated": (User.active.is_(False) & User.invited.is_(False)),
    }[status]


def _people_query(q: str, status: str, role: str):
    query = (
        select(User)
        .options(joinedload(User.framework), joinedload(User.tier))
        .order_by(func.lower(User.name), User.email, User.id)
    )
    query = query.where(*name_or_email_matches(q))
    if status in STATUSES:
        query = query.where(_status_condition(status))
    if role in {r.value for r in Role}:
        query = query.where(ROLE_COLUMNS[Role(role)].is_(True))
    return query


def _with_supervisors(people) -> list[PersonRow]:
    """Rows for ``people`` with their current supervisors (one query for them all)."""
    rows = [PersonRow(user) for user in people]
    by_id = {row.user.id: row for row in rows}
    if by_id:
        assignments = db.session.scalars(
            select(SupervisionAssignment)
            .options(joinedload(SupervisionAssignment.supervisor))
            .where(SupervisionAssignment.worker_id.in_(by_id), supervision.active_on(clock.today()))
            .order_by(SupervisionAssignment.starts_on)
        )
        for assignment in assignments:
            by_id[assignment.worker_id].supervisors.append(assignment.supervisor)
    return rows


def people(q: str = "", status: str = "", role: str = "") -> list[PersonRow]:
    """Everyone matching the search and filters, with their current supervisors.

    Two queries whatever the number of people: the people (with framework
    and tier joined), then every current supervision assignment among them.
    """
    return _with_supervisors(db.session.scalars(_people_query(q, status, role)).unique())


def people_page(number: int, q: str = "", status: str = "", role: str = "") -> paging.Page[PersonRow]:
    """One page of :func:`people` (three queries: the count, the page, its supervisors)."""
    page = paging.paginate(_people_query(q, status, role), number)
    return replace(page, items=_with_supervisors(page.items))


def get_person_or_404(person_id: int) -> User:
    """:raises 404: for a missing person."""
    person = db.session.get(User, person_id)
    if person is None:
        abort(404)
    return person


def person_details(person: User) -> PersonRow:
    """One person with their current supervisors, for their page."""
    return PersonRow(person, supervision.supervisors_of(person.id, clock.today()))


def open_invitation(person: User) -> Invitation | None:
    """The person's invitation that still works, if any."""
    invitation = db.session.scalar(
        select(Invitation)
        .where(Invitation.user_id == person.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.id.desc())
        .limit(1)
    )
    return invitation if invitation is not None and invitation.is_open(now()) else None


def pending_invitations() -> list[Invitation]:
    """Invitations not yet used or revoked (expired ones too, so they can be resent), newest first."""
    return list(
        db.session.scalars(
            select(Invitation)
            .options(joinedload(Invitation.user))
            .join(User, User.id == Invitation.user_id)
            .where(*_PENDING)
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


@functools.cache
def pending_invitations_count() -> Select:
    """How many invitations :func:`pending_invitations` lists, as a one-value statement (read with other counts:
    ``tally.read``)."""
    return select(func.count(Invitation.id)).join(User, User.id == Invitation.user_id).where(*_PENDING)


_PENDING = (Invitation.used_at.is_(None), Invitation.revoked_at.is_(None), User.invited.is_(True))


def tier_choices() -> list[tuple[int, str]]:
    """Every tier of the current frameworks, as lists name them (``Tier.label_for``)."""
    tiers = db.session.execute(
        select(Tier.id, Tier.name, Framework.short_title)
        .join(Framework, Framework.id == Tier.framework_id)
        .where(Framework.is_current.is_(True))
        .order_by(Framework.short_title, Tier.position)
    )
    return [(tier_id, Tier.label_for(name, framework)) for tier_id, name, framework in tiers]


def supervisor_choices() -> list[User]:
    return supervision.people_with_role(Role.SUPERVISOR)


def person_history(person: User, limit: int = 50) -> list[tuple[AuditEntry, str | None, str]]:
    """The ledger rows about this person, newest first, with the name of who acted and what happened in words."""
    rows = db.session.execute(
        select(AuditEntry, User.name)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(AuditEntry.subject == f"user:{person.id}")
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    ).all()
    # A verification's row keeps the requirement's reference; its words are those of the requirement it verified
    # (its framework's version, not another's with the same reference), read in one query for the page.
    verified = [entry.record_id for entry, _ in rows if entry.action == "requirement.verified" and entry.record_id]
    statements: dict[int, str] = {}
    if verified:
        statements = {
            verification_id: statement
            for verification_id, statement in db.session.execute(
                select(RequirementVerification.id, Requirement.statement)
                .join(Requirement, Requirement.id == RequirementVerification.requirement_id)
                .where(RequirementVerification.id.in_(verified))
            )
        }
    return [(entry, actor_name, describe(entry, statements)) for entry, actor_name in rows]


# Every action the ledger records about a person (subject "user:<id>"), as their page says it. A test reads
# the code for ledger.record(..., f"user:...") calls, so an action added without words here fails it.
ACTIONS = {
    "person.invited": "Invited",
    "person.invitation_resent": "Sent a new invitation",
    "person.invitation_revoked": "Revoked the invitation",
    "person.invitation_accepted": "Accepted the invitation and set a password",
    "person.deactivated": "Deactivated",
    "person.reactivated": "Reactivated",
    "person.changed": "Changed",
    "password.changed": "Changed their password",
    "password.reset": "Set a new password from a reset link",
    "mfa.reset": "Reset their sign-in second factors",
    "promotion.requested": "Asked for promotion",
    "promotion.withdrawn": "Withdrew a promotion request",
    "promotion.recommended": "Recommended on a promotion request",
    "promotion.approved": "Approved a promotion",
    "promotion.declined": "Declined a promotion",
    "requirement.verified": "Verified a requirement",
    "credential.issued": "Issued a credential",
    "credential.revoked": "Revoked a credential",
    "appraisal.started": "Started an appraisal",
    "appraisal.changed": "Changed an appraisal",
    "appraisal.signed": "Signed an appraisal",
    "cpd.activity_logged": "Logged a CPD activity",
    "cpd.activity_changed": "Changed a CPD activity",
    "cpd.activity_deleted": "Deleted a CPD activity",
}


def _shown(key: str, value) -> str:
    if value is None:
        return "none"
    if key == "tier_id":
        tier = db.session.get(Tier, value)
        return tier.name if tier else str(value)
    if key == "framework_id":
        framework = db.session.get(Framework, value)
        # Its full title: a framework's short title is a role's name ("Link Worker"), which reads as a tier.
        return framework.title if framework else str(value)
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value)


def _day(value: object) -> str:
    return long_date(date.fromisoformat(value)) if isinstance(value, str) else ""


def describe(entry: AuditEntry, statements: Mapping[int, str] | None = None) -> str:
    """A ledger row about a person, in words: "Changed name from A to B", "Asked to become Link Worker Coach".

    ``statements``: the requirement's words for a verification's row, by the verification's id (its reference
    otherwise)."""
    details = entry.details or {}
    tier = _shown("tier_id", details.get("target_tier_id")) if details.get("target_tier_id") else None
    match entry.action:
        case "person.changed":
            names = {"name": "name", "framework_id": "framework", "tier_id": "tier"}
            parts = []
            for key, change in details.items():
                if not isinstance(change, dict):
                    continue
                before, after = change.get("before"), change.get("after")
                if key == "roles" and isinstance(before, list) and isinstance(after, list):
                    # What was given and taken, not two lists to compare ("from worker to supervisor, worker").
                    parts += [f"gave the {role} role" for role in after if role not in before]
                    parts += [f"took away the {role} role" for role in before if role not in after]
                else:
                    parts.append(f"changed {names.get(key, key)} from {_shown(key, before)} to {_shown(key, after)}")
            said = "; ".join(parts) or "changed nothing"
            return said[0].upper() + said[1:]
        case "promotion.requested" if tier:
            return f"Asked to become {tier}"
        case "promotion.withdrawn" if tier:
            return f"Withdrew the request to become {tier}"
        case "promotion.recommended":
            said = "Recommended the promotion" if details.get("supports") else "Did not recommend the promotion"
            return f"Changed the recommendation: {said[0].lower()}{said[1:]}" if details.get("changes") else said
        case "promotion.approved" if tier:
            since = _day(details.get("effective_on"))
            return f"Approved the promotion to {tier}" + (f", from {since}" if since else "")
        case "promotion.declined" if tier:
            return f"Declined the promotion to {tier}"
        case "requirement.verified" if details.get("requirement"):
            until = _day(details.get("expires_on"))
            words = (statements or {}).get(entry.record_id or 0, details["requirement"])
            said = f"Verified “{words}”"
            return said + (f", in date until {until}" if until else "")
        case "credential.issued" if details.get("tier"):
            return f"Issued a credential for {details['tier']}"
    return ACTIONS.get(entry.action, entry.action.replace(".", " ").replace("_", " ").capitalize())


# --- Checks shared by invite and change -------------------------------------------------


def _require_manager(actor: User) -> None:
    if not actor.has_role(Role.MANAGER):
        abort(403)


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise FieldError("name", "Enter the person's name")
    if len(name) > 120:
        raise FieldError("name", "Name must be 120 characters or fewer")
    return name


OWN_ROLES = "You cannot change your own roles: ask another manager"


def _own_roles_unchanged(actor: User, person: User, roles: set[Role]) -> set[Role]:
    """:raises FieldError: when a manager would change their own roles (nobody decides about themselves)."""
    if person.id == actor.id and roles != person.roles:
        raise FieldError("roles", OWN_ROLES)
    return roles


def _clean_roles(roles: set[Role]) -> set[Role]:
    if not roles:
        raise FieldError("roles", "Choose at least one role")
    return roles


def _tier_for(roles: set[Role], tier_id: int | None) -> Tier | None:
    """The chosen tier; required for workers, ignored otherwise. In a write transaction, call
    :func:`_wait_for_imports` first, so that "current" is still true when the person is written.

    :raises FieldError: when a worker has no (current) tier.
    """
    if Role.WORKER not in roles:
        return None
    tier = db.session.get(Tier, tier_id) if tier_id else None
    framework = db.session.get(Framework, tier.framework_id, populate_existing=True) if tier else None
    if framework is None or not framework.is_current:
        raise FieldError("tier_id", "Choose the framework and tier this worker follows")
    return tier


def _wait_for_imports(roles: set[Role]) -> None:
    """Take turns with framework imports (portability.service.confirm), before any person is locked, as they do.

    An import moves the people on a framework's current version to its new one. A person given a tier of that
    version while an import runs, committed after its carry-over, would stay on a version that is no longer
    current: waiting here, either the import is done and the tier is refused as not current, or it has not begun
    and carries the person over with the others.
    """
    if Role.WORKER in roles:
        take_turns(TURNS["framework import"])


def _lock_for_change(actor: User, person: User, *, with_managers: bool = True) -> tuple[list[User], User]:
    """The person, the actor and (``with_managers``) every active manager, locked in one statement in id order:
    the order every transaction that locks several people keeps (supervision's too), so none waits for another
    that waits for it. Returns the active managers and the person.

    :raises 403: when the actor is no longer an active manager (deactivated a moment ago).
    :raises 404: when the person is gone.
    """
    chosen: ColumnElement[bool] = User.id.in_([actor.id, person.id])
    if with_managers:
        chosen = or_(chosen, and_(User.is_manager.is_(True), User.active.is_(True)))
    by_id = {u.id: u for u in lock_all(select(User).where(chosen).order_by(User.id))}
    locked_actor, locked_person = by_id.get(actor.id), by_id.get(person.id)
    if locked_actor is None or not (locked_actor.active and locked_actor.is_manager):
        db.session.rollback()
        abort(403)
    if locked_person is None:
        db.session.rollback()
        abort(404)
    return [u for u in by_id.values() if u.is_manager and u.active], locked_person


def _lock_person(person_id: int) -> User:
    return lock_or_404(User, person_id)


# --- Invitations ----------------------------------------------------------------------


def invitation_url(token: str) -> str:
    from ..notifications.service import path_for

    return current_app.config["PUBLIC_URL"].rstrip("/") + path_for("invitations.accept", token=token)


def _new_invitation(actor: User, person: User) -> str:
    """Add an invitation for ``person`` to the transaction; email it after commit when SMTP is set up.

    Returns the token: the only place it exists in clear.
    """
    token, token_digest = tokens.new_token()
    db.session.add(
        Invitation(
            user_id=person.id, token_digest=token_digest, created_by_id=actor.id, expires_at=now() + INVITATION_LIFETIME
        )
    )
    if current_app.config.get("SMTP_HOST"):
        days = INVITATION_LIFETIME.days
        body = (
            f"Hello {person.name},\n\n{actor.name} has invited you to the evidence portfolio.\n\n"
            f"Set your password here (the link works once, for {days} days):\n{invitation_url(token)}\n\n"
            "If you did not expect this email, you can ignore it.\n"
        )
        email_after_commit(Mail(person.email, "You are invited to the evidence portfolio", body))
    return token


@dataclass
class Invited:
    person: User
    token: str


def invite(
    actor: User,
    *,
    name: str | None,
    email: str | None,
    roles: set[Role],
    tier_id: int | None = None,
    supervisor_ids: list[int] | None = None,
    form_key: str | None = None,
) -> Invited:
    """Create a person in status "invited", their supervision assignments and an invitation.

    A repeated submission of the same form (``form_key``) creates nobody:
    :class:`idempotency.AlreadyCreated` carries the person the first one invited.

    :raises FieldError: for a missing name, a bad or taken email, no role, a
        worker without a tier, or a supervisor who cannot be chosen.
    """
    _require_manager(actor)
    problems = Problems()  # every field's problem in one answer, in the form's order
    name = problems.check(lambda: _clean_name(name), "")
    email = auth_service.normalise_email(email or "")
    if not email:  # the GOV.UK pattern: "enter" for nothing typed, "the correct format" for something wrong
        problems.add("email", "Enter their email address")
    elif len(email) > 254:
        problems.add("email", "Email address must be 254 characters or fewer")
    elif not auth_service.is_email_address(email):
        problems.add("email", "Enter an email address in the correct format, like name@example.org")
    roles = problems.check(lambda: _clean_roles(roles), roles)
    problems.check(lambda: _tier_for(roles, tier_id), None)
    supervisor_ids = [i for i in dict.fromkeys(supervisor_ids or []) if i]
    if supervisor_ids and Role.WORKER not in roles:
        problems.add("supervisor_ids", "Only workers have supervisors: untick the supervisors or add the worker role")
    if problems.errors and "email" not in problems.errors:
        # Refused anyway: a taken email is said now too, not on the next try. Otherwise it is asked in the
        # transaction below, after the same form sent twice has found the person its first sending invited.
        problems.check(lambda: _refuse_taken_email(email), None)
    problems.raise_if_any()
    begin_write()
    _wait_for_imports(roles)
    idempotency.check(User, form_key, actor)
    try:
        tier = _tier_for(roles, tier_id)
        _refuse_taken_email(email)
        person = User(
            email=email,
            name=name,
            password_hash=UNUSABLE_PASSWORD,
            is_worker=Role.WORKER in roles,
            is_supervisor=Role.SUPERVISOR in roles,
            is_manager=Role.MANAGER in roles,
            framework_id=tier.framework_id if tier else None,
            tier_id=tier.id if tier else None,
            active=False,
            invited=True,
        )
        db.session.add(person)
        db.session.flush()
        idempotency.remember(form_key, actor, person)
        # Every supervisor locked at once, in id order, before any assignment writes to the ledger: one at a time
        # (in the form's order, by name) each would be locked while holding the ledger's lock, and a request
        # holding one of them that then writes to the ledger would wait for this one as it waited for that.
        lock_all(select(User).where(User.id.in_(list(supervisor_ids))).order_by(User.id))
        for supervisor_id in supervisor_ids:
            try:
                supervision.add_assignment(
                    actor, worker_id=person.id, supervisor_id=supervisor_id, starts_on=clock.today(), ends_on=None
                )
            except FieldError as error:
                raise FieldError("supervisor_ids", error.message) from error
        token = _new_invitation(actor, person)
        ledger.record(
            actor,
            "person.invited",
            f"user:{person.id}",
            email=email,
            name=name,
            roles=sorted(r.value for r in roles),
            tier_id=person.tier_id,
            supervisor_ids=supervisor_ids,
        )
        db.session.commit()
    except FieldError:
        db.session.rollback()
        raise
    except IntegrityError:
        # Two submissions at once on PostgreSQL: the unique email stops the second.
        db.session.rollback()
        earlier = idempotency.created_before(User, form_key, actor)
        if earlier is not None:  # the same form, clicked twice: show what the first click made
            raise idempotency.AlreadyCreated(earlier) from None
        raise FieldError("email", _taken_message(email)) from None
    return Invited(person, token)


def _taken_message(email: str) -> str:
    existing = db.session.scalar(select(User).where(User.email == email))
    if existing is not None and existing.invited:
        return (
            f"{existing.name} has already been invited with this email address: resend the invitation from their page"
        )
    return "Someone in the service already has this email address"


def _refuse_taken_email(email: str, except_id: int | None = None) -> None:
    query = select(User.id).where(User.email == email)
    if except_id is not None:
        query = query.where(User.id != except_id)
    if db.session.scalar(query) is not None:
        raise FieldError("email", _taken_message(email))


def _revoke_open(person: User, at: datetime) -> int:
    return rows_changed(
        update(Invitation)
        .where(Invitation.user_id == person.id, Invitation.used_at.is_(None), Invitation.revoked_at.is_(None))
        .values(revoked_at=at)
    )


def resend_invitation(actor: User, person: User) -> Invited:
    """A new link for an invited person; the old one stops working.

    :raises FieldError: when the person is no longer invited (they accepted meanwhile).
    """
    _require_manager(actor)
    begin_write()
    person = _lock_person(person.id)
    if not person.invited:
        db.session.rollback()
        raise FieldError("invitation", f"{person.name} has already accepted their invitation")
    _revoke_open(person, now())
    token = _new_invitation(actor, person)
    ledger.record(actor, "person.invitation_resent", f"user:{person.id}")
    db.session.commit()
    return Invited(person, token)


def revoke_invitation(actor: User, person: User) -> User:
    """Stop the person's invitation link working; they stay invited until a new one is sent.

    :raises FieldError: when there is no invitation to revoke.
    """
    _require_manager(actor)
    begin_write()
    person = _lock_person(person.id)
    if not person.invited or not _revoke_open(person, now()):
        db.session.rollback()
        raise FieldError("invitation", f"{person.name} has no invitation to revoke")
    ledger.record(actor, "person.invitation_revoked", f"user:{person.id}")
    db.session.commit()
    return person


def usable_invitation(token: str) -> Invitation:
    """The invitation a link's token belongs to, if it still works.

    :raises InvitationUnusable: for an unknown, expired, used or revoked token.
    """
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_digest == tokens.digest(token)))
    if invitation is None or not invitation.is_open(now()) or not invitation.user.invited:
        raise InvitationUnusable()
    return invitation


def accept_invitation(token: str, password: str | None, confirmation: str | None) -> User:
    """Set the invited person's password, use up the link and make them active.

    :raises InvitationUnusable: for a link that no longer works.
    :raises FieldError: for a weak password or a confirmation that differs.
    """
    invited = usable_invitation(token).user
    password = password or ""
    if not password:
        raise FieldError("password", "Enter a password")
    problem = passwords.password_problem(password, name=invited.name, email=invited.email)
    if problem:
        raise FieldError("password", problem)
    if password != (confirmation or ""):
        raise FieldError("confirm", "The passwords do not match: type the same password twice")
    password_hash = passwords.hash_password(password)  # slow on purpose: before taking the write lock
    begin_write()
    invitation = lock_first(select(Invitation).where(Invitation.token_digest == tokens.digest(token)))
    person = _lock_person(invitation.user_id) if invitation is not None else None
    if invitation is None or person is None or not invitation.is_open(now()) or not person.invited:
        db.session.rollback()
        raise InvitationUnusable()
    at = now()
    invitation.used_at = at
    person.password_hash = password_hash
    person.invited = False
    person.active = True
    person.last_signed_in_at = at
    ledger.record(person, "person.invitation_accepted", f"user:{person.id}")
    db.session.commit()
    return person


# --- Changes --------------------------------------------------------------------------


def change(actor: User, person: User, *, name: str | None, roles: set[Role], tier_id: int | None) -> dict:
    """Change a person's name, roles, framework and tier; returns what changed (before, after), with the ids of
    the supervision assignments that ended because the role they need was taken away (``ended_assignments``).

    :raises FieldError: for a missing name, no role, a worker without a tier,
        a manager changing their own roles or tier (a tier is a promotion:
        nobody decides about themselves), taking the manager role from
        the last active manager, or taking a role whose supervision is the
        actor's own (on ``roles``).
    """
    _require_manager(actor)
    problems = Problems()
    name = problems.check(lambda: _clean_name(name), "")
    # Their own roles first: a manager who unticked every box on their own record is told why it cannot change,
    # not asked to choose a role.
    roles = problems.check(lambda: _clean_roles(_own_roles_unchanged(actor, person, roles)), roles)
    problems.raise_if_any()
    begin_write()
    _wait_for_imports(roles)
    try:
        managers, person = _lock_for_change(actor, person)
        _own_roles_unchanged(actor, person, roles)  # on the locked row
        if person.is_manager and person.active and Role.MANAGER not in roles and len(managers) <= 1:
            raise FieldError("roles", f"{person.name} is the only active manager: make someone else a manager first")
        tier = _tier_for(roles, tier_id)
        if person.id == actor.id and not _same_tier(person.tier, tier):
            raise FieldError("tier_id", "You cannot change your own tier: ask another manager")
    except FieldError:
        db.session.rollback()
        raise
    before = _snapshot(person)
    # Supervision needs a worker and a supervisor: the assignments a role held end with it, as when a person leaves.
    ended = _end_assignments(
        actor,
        person,
        field="roles",
        as_worker=person.is_worker and Role.WORKER not in roles,
        as_supervisor=person.is_supervisor and Role.SUPERVISOR not in roles,
    )
    person.name = name
    person.is_worker = Role.WORKER in roles
    person.is_supervisor = Role.SUPERVISOR in roles
    person.is_manager = Role.MANAGER in roles
    person.framework_id = tier.framework_id if tier else None
    person.tier_id = tier.id if tier else None
    after = _snapshot(person)
    changed = {key: {"before": before[key], "after": after[key]} for key in before if before[key] != after[key]}
    if not changed:
        db.session.rollback()
        return {}
    ended_part = {"ended_assignments": ended} if ended else {}
    ledger.record(actor, "person.changed", f"user:{person.id}", **changed, **ended_part)
    db.session.commit()
    return changed | ended_part


def _same_tier(held: Tier | None, chosen: Tier | None) -> bool:
    """The same tier of the same framework, on any of its versions (moving to a framework's new version is not a
    promotion; the form offers current versions only)."""
    if held is None or chosen is None:
        return held is chosen
    return (held.framework.key, held.slug) == (chosen.framework.key, chosen.slug)


def _snapshot(person: User) -> dict:
    return {
        "name": person.name,
        "roles": sorted(r.value for r in person.roles),
        "framework_id": person.framework_id,
        "tier_id": person.tier_id,
    }


DEACTIVATE_YOURSELF = "You cannot deactivate yourself: ask another manager"


def deactivate(actor: User, person: User) -> User:
    """Stop a person signing in, end all their sessions and their open supervision assignments.

    Their assignments end yesterday (or, not begun yet, are removed), so
    they leave supervisors' review queues and the assignment lists at once,
    while the history and their portfolio stay for managers to read.

    :raises FieldError: for oneself, someone not active, the last active manager, or the actor's own supervisor
        (their supervision is for another manager to end).
    """
    _require_manager(actor)
    begin_write()
    try:
        managers, person = _lock_for_change(actor, person)
        if person.id == actor.id:
            raise FieldError("confirm", DEACTIVATE_YOURSELF)
        if not person.active:
            raise FieldError("confirm", f"{person.name} is not active")
        if person.is_manager and len(managers) <= 1:
            raise FieldError("confirm", f"{person.name} is the only active manager: make someone else a manager first")
    except FieldError:
        db.session.rollback()
        raise
    person.active = False
    person.session_version = person.session_version + 1
    ended = _end_assignments(actor, person, field="confirm")
    ledger.record(actor, "person.deactivated", f"user:{person.id}", ended_assignments=ended)
    db.session.commit()
    return person


@dataclass(frozen=True)
class Supervisee:
    """A worker whose supervision by someone would end, and whether anyone else supervises them: today (``others``),
    or from a later day (``others_from``)."""

    worker: User
    others: bool
    others_from: date | None = None


def supervisees_of(person: User) -> list[Supervisee]:
    """Who ``person`` supervises today or from a later day (the assignments deactivating them ends), by name: said
    before it is done, so that a manager sees who would be left with nobody to review their work. Two queries."""
    today = clock.today()
    workers = db.session.scalars(
        select(User)
        .join(SupervisionAssignment, SupervisionAssignment.worker_id == User.id)
        .where(SupervisionAssignment.supervisor_id == person.id, supervision.not_ended_before(today))
        .order_by(User.name, User.id)
        .distinct()
    ).all()
    if not workers:
        return []
    starts = dict(
        db.session.execute(
            select(SupervisionAssignment.worker_id, func.min(SupervisionAssignment.starts_on))
            .where(
                SupervisionAssignment.worker_id.in_([w.id for w in workers]),
                SupervisionAssignment.supervisor_id != person.id,
                supervision.not_ended_before(today),
            )
            .group_by(SupervisionAssignment.worker_id)
        ).all()
    )
    supervisees = []
    for worker in workers:
        start = starts.get(worker.id)  # someone else's earliest assignment that has not ended
        later = start is not None and start > today
        supervisees.append(
            Supervisee(worker, others=start is not None and not later, others_from=start if later else None)
        )
    return supervisees


def supervises_actor(actor: User, person: User) -> bool:
    """True when ``person`` supervises ``actor`` now or from a later day: deactivating them, or taking their
    supervisor role away, would end the actor's own supervision, which another manager must do."""
    statement = select(SupervisionAssignment.id).where(
        SupervisionAssignment.worker_id == actor.id,
        SupervisionAssignment.supervisor_id == person.id,
        supervision.not_ended_before(clock.today()),
    )
    return db.session.scalar(statement.limit(1)) is not None


def own_supervision_message(person: User) -> str:
    """Why ending ``person``'s supervision of the actor is refused (``duties``: nobody decides about themselves)."""
    return f"{person.name} supervises you: another manager must end that supervision"


def _end_assignments(
    actor: User, person: User, *, field: str, as_worker: bool = True, as_supervisor: bool = True
) -> list[int]:
    """End every open assignment where ``person`` is supervised (``as_worker``) or supervises (``as_supervisor``):
    yesterday, or removed when not begun. Returns their ids.

    :raises FieldError: on ``field`` when one of them is the actor's own supervision (nothing written).
    """
    sides = [SupervisionAssignment.worker_id == person.id] if as_worker else []
    sides += [SupervisionAssignment.supervisor_id == person.id] if as_supervisor else []
    if not sides:
        return []
    today = clock.today()
    yesterday = today - timedelta(days=1)
    open_ones = lock_all(select(SupervisionAssignment).where(or_(*sides), supervision.not_ended_before(today)))
    for assignment in open_ones:
        duties.refuse_own(actor, assignment.worker_id, own_supervision_message(person), field=field)
    ids = []
    for assignment in open_ones:
        ids.append(assignment.id)
        if assignment.starts_on <= yesterday:
            supervision.set_last_day(actor, assignment, yesterday)
        else:
            supervision.cancel_unbegun(actor, assignment)
    db.session.flush()
    return ids


def reactivate(actor: User, person: User) -> User:
    """Let a deactivated person sign in again (their supervision is assigned afresh).

    :raises FieldError: when the person is not deactivated.
    """
    _require_manager(actor)
    begin_write()
    _, person = _lock_for_change(actor, person, with_managers=False)
    if person.active or person.invited:
        db.session.rollback()
        raise FieldError("confirm", f"{person.name} is not deactivated")
    person.active = True
    ledger.record(actor, "person.reactivated", f"user:{person.id}")
    db.session.commit()
    return person
