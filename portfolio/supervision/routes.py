"""Managers assign supervisors to workers and end assignments."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from .. import clock, paging
from ..access import manager_required
from ..errors import FieldError, show_on_form
from ..fields import choices
from ..models import Role
from ..params import parse_id
from ..rendering import render
from . import service
from .forms import AssignmentFilterForm, AssignmentForm, EndAssignmentForm

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


def _people(form: AssignmentForm) -> None:
    # A manager who is also a worker does not choose their own supervisor; a new starter is there before they
    # have signed in.
    workers = service.assignable_workers(current_user)
    form.worker_id.choices = choices(
        [(0, "Choose a worker")] + [(u.id, u.label + (" – invited" if u.invited else "")) for u in workers]
    )
    form.supervisor_id.choices = choices(
        [(0, "Choose a supervisor")] + [(u.id, u.label) for u in service.people_with_role(Role.SUPERVISOR)]
    )


@bp.get("/")
@manager_required
def index():
    """The supervision assignments, paged and searchable (the list swaps in place with htmx)."""
    today = clock.today()
    filters = AssignmentFilterForm(request.args)
    filters.validate()
    q = filters.q.data if not filters.q.errors else ""
    state = filters.state.data if not filters.state.errors else ""
    return render(
        "supervision/index.html",
        "assignments_list",
        oob=("assignments_status",),
        filters=filters,
        filtered=bool(q or state),
        page=service.assignments_page(paging.requested_page(), on=today, q=q or "", state=state or ""),
        state_of=lambda assignment: service.state_on(assignment, today),
    )


@bp.route("/assign", methods=["GET", "POST"])
@manager_required
def assign():
    """Assign a supervisor to a worker (its own page: the lists of people grow with the service)."""
    # From a person's page, "Assign a supervisor" names the worker already.
    form = AssignmentForm(data={"starts_on": clock.today(), "worker_id": request.args.get("worker_id", type=parse_id)})
    _people(form)
    if form.validate_on_submit():
        try:
            assignment = service.assign(
                current_user,
                worker_id=form.worker_id.data,
                supervisor_id=form.supervisor_id.data,
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                form_key=form.form_key.data,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"{assignment.supervisor.name} now supervises {assignment.worker.name}", "success")
            return redirect(url_for(".index"), code=303)
    return render("supervision/assign.html", status=422 if form.errors else 200, form=form)


@bp.route("/<id:assignment_id>/end", methods=["GET", "POST"])
@manager_required
def end(assignment_id: int):
    """Set the last day of an assignment."""
    assignment = service.get_assignment_to_change_or_404(current_user, assignment_id)
    form = EndAssignmentForm(data={"ends_on": assignment.ends_on or clock.today()})
    if form.validate_on_submit():
        try:
            service.end_assignment(current_user, assignment, form.ends_on.data)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(
                f"Supervision of {assignment.worker.name} by {assignment.supervisor.name} ends on {form.ends_on.data:%-d %B %Y}",
                "success",
            )
            return redirect(url_for(".index"), code=303)
    return render("supervision/end.html", status=422 if form.errors else 200, form=form, assignment=assignment)
