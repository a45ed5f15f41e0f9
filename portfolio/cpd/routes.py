"""CPD pages: the log with hours per year, and annual appraisals."""

from __future__ import annotations

import itertools

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from ..access import role_required
from ..errors import FieldError, Refusal, show_on_form, show_the_rest
from ..evidence.forms import ConfirmForm
from ..fields import choices
from ..idempotency import key_from_address, to_a_fresh_key
from ..models import Role
from ..rendering import render
from . import service
from .forms import ActivityForm, AppraisalForm, SignAppraisalForm, StartAppraisalForm

bp = Blueprint("cpd", __name__, url_prefix="/cpd")


def form_posted() -> bool:
    return request.method == "POST"


worker_required = role_required(Role.WORKER)


@bp.get("/")
@worker_required
def index():
    """My CPD: hours per year (and how many from training certificates), activities, certificates, appraisals."""
    appraisals = service.appraisals_of(current_user)
    activities = service.activities_of(current_user)
    return render(
        "cpd/index.html",
        hours=service.hours_by_year(current_user),
        certificates=service.certificates_with_hours(current_user),
        activities=activities,
        signed=service.signed_appraisals(activities),
        appraisals=appraisals,
        this_years=service.this_years(appraisals),
    )


@bp.route("/activities/new", methods=["GET", "POST"])
@worker_required
def new_activity():
    """Log a CPD activity: what, when, hours, what I learned and its impact.

    The form's one-time key is in its address: Back after logging returns to it and says it is logged, rather
    than a fresh form that would log it twice.
    """
    key = key_from_address()
    if request.method == "GET" and key is None:
        return to_a_fresh_key(".new_activity")
    if request.method == "GET" and (logged := service.logged_by_form(current_user, key)) is not None:
        return render(
            "already_saved.html",
            caption="My CPD",
            saved=(logged.title, url_for(".edit_activity", activity_id=logged.id)),
            what_next="It is in your CPD log: open it to change it.",
            again=("Log a CPD activity", url_for(".new_activity")),
            back=("My CPD", url_for(".index")),
        )
    form = _activity_form()
    if not form.is_submitted():
        form.form_key.data = key
    activity = _activity_input(form)
    if form.validate_on_submit():
        try:
            service.log_activity(current_user, activity, form_key=form.form_key.data)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("CPD activity logged", "success")
            return redirect(url_for(".index"), code=303)
    elif form.is_submitted() and not form.csrf_token.errors:
        show_the_rest(form, service.problems_of_activity(current_user, activity))
    return _activity_page(form)


@bp.route("/activities/<id:activity_id>/edit", methods=["GET", "POST"])
@worker_required
def edit_activity(activity_id: int):
    """Correct a CPD activity (not one that is part of an appraisal signed by both)."""
    activity = service.get_activity_or_404(current_user, activity_id)
    form = _activity_form(activity)
    signed = _signed(activity)
    changes = _activity_input(form)
    if signed is None and form.validate_on_submit():
        try:
            service.change_activity(current_user, activity, changes)
        except service.Signed as error:  # signed meanwhile
            signed = error.message
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("CPD activity changed", "success")
            return redirect(url_for(".index"), code=303)
    elif signed is None and form.is_submitted() and not form.csrf_token.errors:
        show_the_rest(form, service.problems_of_activity(current_user, changes, activity))
    return _activity_page(form, activity, signed)


@bp.route("/activities/<id:activity_id>/delete", methods=["GET", "POST"])
@worker_required
def delete_activity(activity_id: int):
    """Confirm, then delete a CPD activity (not one that is part of an appraisal signed by both)."""
    activity = service.get_activity_or_404(current_user, activity_id)
    title, form, signed = activity.title, ConfirmForm(), _signed(activity)
    if signed is None and form.validate_on_submit():
        try:
            service.delete_activity(current_user, activity)
        except service.Signed as error:  # signed meanwhile
            signed = error.message
        else:
            flash(f"CPD activity deleted: {title}", "success")
            return redirect(url_for(".index"), code=303)
    refusal = Refusal(signed, "activity") if signed and form_posted() else None
    return render(
        "cpd/delete_activity.html",
        status=422 if refusal else 200,
        activity=activity,
        form=form,
        signed=signed,
        refusal=refusal,
    )


def _signed(activity) -> str | None:
    """Why the activity cannot be changed or deleted (part of an appraisal signed by both), or None."""
    appraisal = service.signed_appraisals([activity]).get(activity.id)
    return service.Signed(appraisal).message if appraisal is not None else None


def _activity_form(activity=None) -> ActivityForm:
    """The activity form, filled with ``activity`` (one being changed) and offering its goal and competences."""
    data = None
    if activity is not None:
        data = {
            "done_on": activity.done_on,
            "title": activity.title,
            "hours": f"{activity.hours.normalize():f}",
            "learned": activity.learned,
            "impact": activity.impact,
            "goal_id": activity.goal_id or 0,
            "competence_ids": [c.id for c in activity.competences],
        }
    form = ActivityForm(data=data)
    goals = service.open_goals(current_user, activity)
    form.goal_id.choices = choices([(0, "None")] + [(g.id, g.description) for g in goals])
    competences = service.competences_for(current_user, activity)
    form.competence_ids.choices = choices([(c.id, c.statement) for c in competences])
    # Ticked in groups, a tier at a time: a list of 85 long statements is no control for a phone.
    by_tier = sorted(competences, key=lambda c: (c.tier.position, c.position))
    form.competence_groups = [
        (tier_name, list(group)) for tier_name, group in itertools.groupby(by_tier, key=lambda c: c.tier.name)
    ]
    return form


def _activity_input(form: ActivityForm) -> service.ActivityInput:
    return service.ActivityInput(
        done_on=form.done_on.data,
        title=form.title.data or "",
        hours=form.hours.data or "",
        learned=form.learned.data or "",
        impact=form.impact.data or "",
        goal_id=form.goal_id.data or None,
        competence_ids=form.competence_ids.data or [],
    )


def _activity_page(form: ActivityForm, activity=None, signed: str | None = None):
    """The form to log (or change) an activity: 422 with its errors, or with a change refused because the
    activity is part of a signed appraisal (said instead of the form)."""
    refusal = Refusal(signed, "activity") if signed and form_posted() else None
    return render(
        "cpd/activity.html",
        status=422 if form.errors or refusal else 200,
        form=form,
        activity=activity,
        signed=signed,
        refusal=refusal,
    )


@bp.route("/appraisals/new", methods=["GET", "POST"])
@worker_required
def new_appraisal():
    """Start this year's appraisal (open goals of last year's plan come with it)."""
    form = StartAppraisalForm(data={"held_on": service.today()})
    form.appraiser_id.choices = choices(
        [(0, "Choose")] + [(u.id, u.label) for u in service.appraisers_for(current_user)]
    )
    if form.validate_on_submit():
        try:
            appraisal = service.start_appraisal(
                current_user,
                current_user,
                held_on=form.held_on.data,
                appraiser_id=form.appraiser_id.data,
                form_key=form.form_key.data,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            return redirect(url_for(".appraisal", appraisal_id=appraisal.id), code=303)
    return render("cpd/start.html", status=422 if form.errors else 200, form=form)


@bp.route("/appraisals/<id:appraisal_id>", methods=["GET", "POST"])
@login_required
def appraisal(appraisal_id: int):
    """An appraisal: review, objectives, learning needs and the CPD plan; signatures."""
    item = service.get_appraisal_or_404(current_user, appraisal_id)
    if item.is_locked and form_posted():
        # Someone still had the form open: nothing to fill in any more.
        return _appraisal_page(
            item,
            refusal=Refusal(
                "This appraisal is signed by both of you and locked: your changes were not saved", "signatures"
            ),
        )
    form = _appraisal_form(item)
    valid = form.validate_on_submit()
    goals = [
        service.GoalInput(
            r.form.description.data or "", r.form.method.data or "", r.form.target_on.data, r.form.status.data
        )
        for r in form.goals
    ]
    if not valid and form.errors:  # the form refused a value itself (a date): every goal's problem too, at once
        show_the_rest(
            form,
            service.problems_of_appraisal(
                item, form.review.data, form.objectives.data, form.learning_needs.data, goals
            ),
        )
    if valid:
        try:
            service.update_appraisal(
                current_user,
                item,
                review=form.review.data or "",
                objectives=form.objectives.data or "",
                learning_needs=form.learning_needs.data or "",
                goals=goals,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Appraisal saved", "success")
            return redirect(url_for(".appraisal", appraisal_id=item.id), code=303)
    return _appraisal_page(item, form)


def _appraisal_form(item, **kwargs) -> AppraisalForm:
    """The appraisal's form filled with what it holds (and what was posted, unless ``formdata=None``)."""
    rows = [
        {"description": g.description, "method": g.method, "target_on": g.target_on, "status": g.status.value}
        for g in item.goals
    ]
    form = AppraisalForm(
        data={
            "review": item.review,
            "objectives": item.objectives,
            "learning_needs": item.learning_needs,
            "goals": rows + [{}] * max(1, 3 - len(rows)),
        },
        **kwargs,
    )
    for number, row in enumerate(form.goals, start=1):  # a date that is not one is said of its goal
        target_on = row.form.target_on
        target_on.description_name = f"The target date of goal {number}"
        # Read from the post as the form was made, under the field's general name: said again of its goal.
        target_on.process_errors = [
            message.replace("The target date", target_on.description_name, 1) for message in target_on.process_errors
        ]
    return form


def _appraisal_page(item, form: AppraisalForm | None = None, refusal: Refusal | None = None):
    """The appraisal's page: 422 with the form's errors, or with a refused signature or change in the summary."""
    if form is None:  # a refused signature: the form as saved, not the sign button's post
        form = _appraisal_form(item, formdata=None)
    editable = not item.is_locked and current_user.id in (item.worker_id, item.appraiser_id)
    status = 422 if form.errors or refusal else 200
    return render(
        "cpd/appraisal.html",
        status=status,
        appraisal=item,
        form=form,
        editable=editable,
        sign_form=SignAppraisalForm(formdata=None, data={"seen": service.signed_content_hash(item)}),
        refusal=refusal,
        reviewed=service.reviewed_activities(item),
    )


@bp.post("/appraisals/<id:appraisal_id>/sign")
@login_required
def sign(appraisal_id: int):
    """Sign the appraisal (worker or appraiser)."""
    item = service.get_appraisal_or_404(current_user, appraisal_id)
    form = SignAppraisalForm()
    if form.validate_on_submit():
        try:
            service.sign(current_user, item, seen=form.seen.data or "")
        except FieldError as error:  # shown as it is now, to read again
            item = service.get_appraisal_or_404(current_user, appraisal_id)
            return _appraisal_page(item, refusal=Refusal(error.message, "signatures"))
        flash("Signed" + (": the appraisal is now locked" if item.is_locked else ""), "success")
    return redirect(url_for(".appraisal", appraisal_id=item.id), code=303)
