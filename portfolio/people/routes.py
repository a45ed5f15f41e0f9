"""People (managers): the list, inviting, changing, deactivating; and accepting an invitation (public)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_user

from .. import duties, idempotency, paging
from ..access import manager_required
from ..auth.sessions import start_session
from ..errors import FieldError, show_on_form
from ..mfa import service as mfa
from ..rendering import render
from ..supervision import service as supervision
from ..templating import plural
from . import service
from .forms import AcceptForm, ConfirmForm, InviteForm, PeopleFilterForm, PersonForm

bp = Blueprint("people", __name__, url_prefix="/people")
invitations_bp = Blueprint("invitations", __name__, url_prefix="/invitation")


@bp.context_processor
def _helpers() -> dict:
    return {"now": service.now()}


@bp.get("/")
@manager_required
def index():
    """Everyone in the service, searchable; the search list swaps in place with htmx."""
    form = PeopleFilterForm(request.args)
    form.validate()
    q = form.q.data if not form.q.errors else ""
    page = service.people_page(paging.requested_page(), q or "", form.status.data or "", form.role.data or "")
    filtered = bool(q or form.status.data or form.role.data)
    return render(
        "people/index.html",
        "people_list",
        oob=("people_status",),
        form=form,
        page=page,
        filtered=filtered,
        invitations=service.pending_invitations(),
    )


LINK_SHOWN_ONCE = (
    "{name} is invited. The sign-up link was shown once, in the answer to your first click: "
    "if you did not copy it, choose Resend invitation for a new one."
)


def _invited_answer(invited: service.Invited, heading: str):
    """Without SMTP the manager is given the link, once, in this answer (never stored or flashed)."""
    if current_app.config.get("SMTP_HOST"):
        flash(f"{heading}: an email with the link is on its way to {invited.person.email}", "success")
        return redirect(url_for(".show", person_id=invited.person.id), code=303)
    return render(
        "people/invited.html", person=invited.person, heading=heading, link=service.invitation_url(invited.token)
    )


@bp.route("/invite", methods=["GET", "POST"])
@manager_required
def invite():
    """Invite a person: they set their own password from the link."""
    form = InviteForm()
    form.fill_choices()
    if form.validate_on_submit():
        try:
            invited = service.invite(
                current_user,
                name=form.name.data,
                email=form.email.data,
                roles=form.chosen_roles(),
                tier_id=form.tier_id.data,
                supervisor_ids=form.supervisor_ids.data,
                form_key=form.form_key.data,
            )
        except idempotency.AlreadyCreated as done:
            # A double click: the first submission invited them; show that person.
            if not current_app.config.get("SMTP_HOST") and done.record.status == "invited":
                # The browser shows whichever answer came last, so this one may hide the link the first showed.
                # (Not once they have signed up or left: the form sent again much later, from the history.)
                flash(LINK_SHOWN_ONCE.format(name=done.record.name), "info")
            return redirect(url_for(".show", person_id=done.record.id), code=303)
        except FieldError as error:
            show_on_form(form, error)
        else:
            return _invited_answer(invited, f"{invited.person.name} is invited")
    return render("people/invite.html", status=422 if form.errors else 200, form=form)


@bp.get("/<id:person_id>")
@manager_required
def show(person_id: int):
    """One person: roles, framework, supervisors, status, history and actions."""
    person = service.get_person_or_404(person_id)
    return _show(person, ConfirmForm())


def _show(person, form: ConfirmForm, status: int = 200):
    return render(
        "people/show.html",
        status=status,
        row=service.person_details(person),
        invitation=service.open_invitation(person),
        history=service.person_history(person),
        form=form,
        # Someone else's, who may be given a supervisor (a new starter before they sign in included).
        can_assign=supervision.assignable(person) and not duties.is_own(current_user, person.id),
        # A reset is offered only for second factors there are (found by a helper: offered to someone invited).
        has_second_factor=mfa.has_second_factor(person.id),
    )


@bp.route("/<id:person_id>/edit", methods=["GET", "POST"])
@manager_required
def edit(person_id: int):
    """Change a person's name, roles, framework and tier."""
    person = service.get_person_or_404(person_id)
    form = PersonForm(
        data={"name": person.name, "roles": [r.value for r in person.roles], "tier_id": person.tier_id or 0}
    )
    form.fill_choices()
    if form.validate_on_submit():
        try:
            changed = service.change(
                current_user, person, name=form.name.data, roles=form.chosen_roles(), tier_id=form.tier_id.data
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            ended = len(changed.get("ended_assignments", []))
            ending = f": {plural(ended, 'supervision assignment')} ended with the role" if ended else ""
            flash(f"Saved the changes to {person.name}{ending}" if changed else "Nothing was changed", "success")
            return redirect(url_for(".show", person_id=person.id), code=303)
    return render("people/edit.html", status=422 if form.errors else 200, form=form, person=person)


@bp.route("/<id:person_id>/deactivate", methods=["GET", "POST"])
@manager_required
def deactivate(person_id: int):
    """Confirm, then stop the person signing in and end their sessions and supervision."""
    person = service.get_person_or_404(person_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            service.deactivate(current_user, person)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(
                f"{person.name} is deactivated: they cannot sign in, and every session of theirs has ended", "success"
            )
            return redirect(url_for(".show", person_id=person.id), code=303)
    return render(
        "people/deactivate.html",
        status=422 if form.errors else 200,
        form=form,
        person=person,
        refusal=_deactivate_refusal(person),
        supervisees=service.supervisees_of(person) if person.active else [],
    )


def _deactivate_refusal(person) -> str | None:
    """Why the signed-in manager cannot deactivate ``person``, said before any button (the service decides)."""
    if person.id == current_user.id:
        return service.DEACTIVATE_YOURSELF
    if person.active and service.supervises_actor(current_user, person):
        return service.own_supervision_message(person)
    return None


def _action(person_id: int, use_case, message: str):
    """A confirmed POST from the person's page: PRG on success, their page with the message otherwise."""
    person = service.get_person_or_404(person_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            result = use_case(current_user, person)
        except FieldError as error:
            show_on_form(form, error)
        else:
            if isinstance(result, service.Invited):
                return _invited_answer(result, message.format(name=person.name))
            flash(message.format(name=person.name), "success")
            return redirect(url_for(".show", person_id=person.id), code=303)
    return _show(person, form, status=422)


@bp.post("/<id:person_id>/reactivate")
@manager_required
def reactivate(person_id: int):
    """Let a deactivated person sign in again."""
    return _action(
        person_id, service.reactivate, "{name} can sign in again. Assign their supervision again if they need it."
    )


@bp.post("/<id:person_id>/invitation/resend")
@manager_required
def resend(person_id: int):
    """A new invitation link; the old one stops working."""
    return _action(person_id, service.resend_invitation, "A new invitation for {name}")


@bp.post("/<id:person_id>/invitation/revoke")
@manager_required
def revoke(person_id: int):
    """Stop the invitation link working."""
    return _action(person_id, service.revoke_invitation, "The invitation for {name} no longer works")


@invitations_bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str):
    """Set one's own password from an invitation link, then start a first session."""
    try:
        invitation = service.usable_invitation(token)
    except service.InvitationUnusable:
        return _unusable()
    form = AcceptForm()
    if form.validate_on_submit():
        try:
            person = service.accept_invitation(token, form.password.data, form.confirm.data)
        except service.InvitationUnusable:
            return _unusable()
        except FieldError as error:
            show_on_form(form, error)
        else:
            session.clear()  # a new session identity for the new sign-in
            start_session(person)
            login_user(person)
            flash(f"Welcome, {person.name}: your password is set", "success")
            return redirect(url_for("home.index"), code=303)
    return render(
        "people/accept.html", status=422 if form.errors else 200, form=form, person=invitation.user, token=token
    )


def _unusable():
    # The same page for an unknown, expired, used or revoked link: it says nothing about any account.
    return render("people/unusable.html", status=404)
