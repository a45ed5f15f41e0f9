"""Framework pages, and managers' locality-specific competences."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from ..access import manager_required
from ..errors import FieldError, show_on_form
from ..extensions import db
from ..progress import versions
from ..rendering import render, wants_fragment
from . import service
from .forms import CompetenceSearchForm, ConfirmForm, LocalityCompetenceForm

bp = Blueprint("frameworks", __name__, url_prefix="/frameworks")


@bp.get("/")
@login_required
def index():
    """List the current frameworks."""
    return render("frameworks/index.html", frameworks=service.current_frameworks_with_structures())


@bp.get("/<id:framework_id>")
@login_required
def show(framework_id: int):
    """One framework: tiers or sections, groups, every statement, the requirements."""
    framework = service.get_framework_or_404(framework_id)
    form = CompetenceSearchForm(request.args, meta={"csrf": False})
    query = (form.q.data or "") if form.validate() else ""
    if query or form.errors or wants_fragment():
        outline = service.framework_outline(framework, query=query, viewer=current_user)
        return render(
            "frameworks/show.html", "competences", framework=framework, outline=outline, form=form, query=query
        )

    viewer = current_user._get_current_object()

    def whole_framework() -> Markup:
        # Read again: both were loaded before the tokens the page is kept under, and must be no older.
        db.session.refresh(framework)
        db.session.refresh(viewer)
        outline = service.framework_outline(framework, viewer=viewer)
        return Markup(render_block("frameworks/show.html", "content", framework=framework, outline=outline, form=form))

    # Unsearched, the page shows the framework, and to a worker on it where they stand: kept, rendered, until
    # either changes. Everyone else sees the same page (a manager's with links to change it): kept once for all.
    # Whether the CASE service is on decides its download link.
    owner = viewer.id if service.shows_progress(framework, viewer) else versions.FRAMEWORKS
    variant = (framework.id, owner != versions.FRAMEWORKS, viewer.is_manager, current_app.config.get("CASE_API", True))
    kept = versions.kept_for("framework-page", owner, variant, whole_framework)
    return render("frameworks/show.html", framework=framework, form=form, query="", kept_content=kept)


@bp.route("/<id:framework_id>/locality/new", methods=["GET", "POST"])
@manager_required
def add_locality(framework_id: int):
    """Add a locality-specific competence to a role profile."""
    framework = service.get_role_profile_or_404(framework_id)
    form = LocalityCompetenceForm()
    if form.validate_on_submit():
        try:
            service.add_locality_competence(
                current_user,
                framework,
                statement=form.statement.data or "",
                principle=form.principle.data or "",
                function=form.function.data or "",
                form_key=form.form_key.data,
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Locality-specific competence added", "success")
            return redirect(url_for(".show", framework_id=framework.id, _anchor="locality-specific"), code=303)
    return _locality_form(framework, form, competence=None)


@bp.route("/<id:framework_id>/locality/<id:competence_id>/edit", methods=["GET", "POST"])
@manager_required
def edit_locality(framework_id: int, competence_id: int):
    """Change a locality-specific competence."""
    framework = service.get_role_profile_or_404(framework_id)
    competence = service.get_locality_competence_or_404(framework, competence_id)
    # Submitted values win over these; they fill the form on GET.
    form = LocalityCompetenceForm(
        data={
            "statement": competence.statement,
            "principle": competence.group.parent.name if competence.group.parent else "",
            "function": competence.group.name,
        }
    )
    if form.validate_on_submit():
        try:
            service.update_locality_competence(
                current_user,
                competence,
                statement=form.statement.data or "",
                principle=form.principle.data or "",
                function=form.function.data or "",
            )
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Locality-specific competence changed", "success")
            return redirect(url_for(".show", framework_id=framework.id, _anchor="locality-specific"), code=303)
    return _locality_form(framework, form, competence=competence)


@bp.route("/<id:framework_id>/locality/<id:competence_id>/retire", methods=["GET", "POST"])
@manager_required
def retire_locality(framework_id: int, competence_id: int):
    """Confirm, then retire a locality-specific competence (it stays in the database, but cannot be brought back):
    it changes what every worker on the profile has to meet, at once."""
    framework = service.get_role_profile_or_404(framework_id)
    competence = service.get_locality_competence_or_404(framework, competence_id, retired_too=True)
    to_profile = redirect(url_for(".show", framework_id=framework.id, _anchor="locality-specific"), code=303)
    if competence.is_retired:  # the confirmation sent twice, or retired from another tab
        flash(f"Already retired: {competence.statement}", "info")
        return to_profile
    form = ConfirmForm()
    if form.validate_on_submit():
        service.retire_locality_competence(current_user, competence)
        flash(f"Retired: {competence.statement}", "success")
        return to_profile
    return render(
        "frameworks/retire_locality.html",
        framework=framework,
        competence=competence,
        form=form,
        workers=service.workers_on(framework),
    )


def _locality_form(framework, form: LocalityCompetenceForm, competence):
    principles, functions = service.group_names(framework)
    return render(
        "frameworks/locality_form.html",
        status=422 if form.errors else 200,
        framework=framework,
        form=form,
        competence=competence,
        principles=principles,
        functions=functions,
        workers=service.workers_on(framework),
    )
