"""Training catalogue (managers) and team compliance."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, Response, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from .. import paging
from ..access import manager_required, role_required
from ..components import Components
from ..csvexport import csv_response
from ..errors import FieldError, Problems, Refusal, show_on_form
from ..evidence import files
from ..evidence import service as evidence_service
from ..evidence.forms import ConfirmForm
from ..extensions import db
from ..fields import choices
from ..frameworks import service as frameworks_service
from ..models import Role, Submission
from ..params import parse_id
from ..rendering import render
from . import service
from .forms import ComplianceFilterForm, SendBackForm, TrainingItemForm
from .service import TrainingStatus

bp = Blueprint("training", __name__, url_prefix="/training")

# Each training status as an NHS.UK tag: red when expired, yellow when due soon, and so on.
TAG_CLASSES = {
    TrainingStatus.EXPIRED: "nhsuk-tag--red",
    TrainingStatus.DUE: "nhsuk-tag--yellow",
    TrainingStatus.MISSING: "nhsuk-tag--grey",
    TrainingStatus.UNCHECKED: "nhsuk-tag--blue",
    TrainingStatus.VALID: "nhsuk-tag--green",
}


class _DrawnTags(dict[TrainingStatus, Markup]):
    """Each status's tag, drawn the first time it is asked for. The markup never varies, so an app draws it once:
    the compliance matrix shows a tag in each of up to 200 cells, and drawing one costs more than a cell."""

    def __missing__(self, status: TrainingStatus) -> Markup:
        components = cast(Components, current_app.jinja_env.globals["nhsuk"])
        drawn = self[status] = components.tag({"text": status.label, "classes": TAG_CLASSES[status]})
        return drawn


def training_tags() -> _DrawnTags:
    """The app's tags by status (a template reads them as ``tags[status]``, without a call per cell)."""
    return current_app.extensions.setdefault("training_tags", _DrawnTags())


@bp.app_template_global("training_tag")
def training_tag(status: TrainingStatus) -> Markup:
    return training_tags()[status]


@bp.get("/")
@manager_required
def index():
    """Start at the first framework's catalogue."""
    frameworks = frameworks_service.current_frameworks()
    return redirect(url_for(".catalogue", key=frameworks[0].key) if frameworks else url_for("frameworks.index"))


def _tier_choices(form: TrainingItemForm, framework) -> None:
    form.tiers.choices = choices([(t.slug, t.name) for t in service.framework_tiers(framework)])


def _save(form: TrainingItemForm, framework, item=None):
    title, statutory, tier_slugs = form.title.data or "", bool(form.statutory.data), form.tiers.data or []
    try:
        problems = Problems()
        months = problems.check(lambda: service.parse_renewal(form.renews.data, form.renewal_months.data), None)
        if problems.errors:  # say what else is wrong in the same answer
            problems.check(lambda: service.check_item(framework, title, tier_slugs, item), None)
        problems.raise_if_any()
        if item is None:
            return service.add_item(
                current_user,
                framework,
                title=title,
                statutory=statutory,
                renewal_months=months,
                tier_slugs=tier_slugs,
                form_key=form.form_key.data,
            )
        return service.update_item(
            current_user, item, title=title, statutory=statutory, renewal_months=months, tier_slugs=tier_slugs
        )
    except FieldError as error:
        show_on_form(form, error)
        return None


@bp.route("/<key>/", methods=["GET", "POST"])
@manager_required
def catalogue(key: str):
    """A framework's training catalogue and the form to add a course."""
    framework = service.current_framework_or_404(key)
    form = TrainingItemForm()
    _tier_choices(form, framework)
    if form.validate_on_submit() and _save(form, framework):
        flash(f"Added: {(form.title.data or '').strip()}", "success")
        return redirect(url_for(".catalogue", key=key), code=303)
    return _catalogue_page(framework, form)


def _catalogue_page(framework, form: TrainingItemForm, refusal: Refusal | None = None):
    """The catalogue with its retired courses: 422 with the form's errors, or with a refused restore."""
    return render(
        "training/catalogue.html",
        status=422 if form.errors or refusal else 200,
        framework=framework,
        frameworks=frameworks_service.current_frameworks(),
        items=service.catalogue(framework.key),
        retired=service.retired_courses(framework.key),
        form=form,
        refusal=refusal,
    )


@bp.route("/items/<id:item_id>/edit", methods=["GET", "POST"])
@manager_required
def edit(item_id: int):
    """Change a course."""
    item = service.get_item_or_404(item_id)
    framework = service.current_framework_or_404(item.framework_key)
    form = TrainingItemForm(
        data={
            "title": item.title,
            "statutory": item.statutory,
            "renews": "months" if item.renewal_months else "never",
            "renewal_months": str(item.renewal_months or ""),
            "tiers": item.tier_slugs,
        }
    )
    _tier_choices(form, framework)
    if form.validate_on_submit() and _save(form, framework, item):
        flash(f"Changed: {item.title}", "success")
        return redirect(url_for(".catalogue", key=item.framework_key), code=303)
    return render(
        "training/edit.html",
        status=422 if form.errors else 200,
        framework=framework,
        item=item,
        form=form,
    )


@bp.route("/items/<id:item_id>/retire", methods=["GET", "POST"])
@manager_required
def retire(item_id: int):
    """Confirm, then take a course out of the catalogue (it can be restored)."""
    # A second click, Back, or another manager finds it retired: told it is done, not "Page not found".
    item = service.get_item_or_404(item_id, retired=True)
    form = ConfirmForm()
    if form.validate_on_submit():
        service.retire_item(current_user, item)
        flash(f"Retired: {item.title}", "success")
        return redirect(url_for(".catalogue", key=item.framework_key), code=303)
    return render(
        "training/retire.html",
        status=422 if form.errors else 200,
        item=item,
        form=form,
        holders=service.certificate_holders(item),
    )


@bp.post("/items/<id:item_id>/restore")
@manager_required
def restore(item_id: int):
    """Bring a retired course back into the catalogue: its certificates count again."""
    item = service.get_item_or_404(item_id, retired=True)
    if ConfirmForm().validate_on_submit():
        try:
            service.restore_item(current_user, item)
        except FieldError as error:
            framework = service.current_framework_or_404(item.framework_key)
            form = TrainingItemForm(formdata=None)
            _tier_choices(form, framework)
            return _catalogue_page(framework, form, Refusal(error.message, f"retired-{item.id}"))
        flash(f"Restored: {item.title}", "success")
    return redirect(url_for(".catalogue", key=item.framework_key), code=303)


@bp.get("/<key>/compliance")
@manager_required
def compliance(key: str):
    """Workers by required training: valid, due soon, expired or missing."""
    # The page links to each current framework's matrix: the one asked for is among them (no query of its own).
    frameworks = frameworks_service.current_frameworks()
    framework = next((fw for fw in frameworks if fw.key == key), None)
    if framework is None:
        abort(404)
    form = ComplianceFilterForm(request.args)
    form.validate()  # a bad value is reported next to its field and ignored
    status = (form.status.data or "") if not form.status.errors else ""
    q = (form.q.data or "") if not form.q.errors else ""
    if request.args.get("format") == "csv":
        return _csv(service.compliance(framework, status=status, q=q, page=None))
    # Totals count every worker who matches, not only this page's. The rows are most of the page's cost: kept,
    # rendered, while nothing they show has changed.
    tags = training_tags()
    matrix, kept_rows = service.compliance_page(
        framework,
        current_user,
        status=status,
        q=q,
        page=paging.requested_page(),
        draw=lambda shown: Markup(render_block("training/compliance.html", "compliance_rows", matrix=shown, tags=tags)),
    )
    return render(
        "training/compliance.html",
        "compliance_table",
        oob=("compliance_status",),
        form=form,
        matrix=matrix,
        page=matrix.page,
        kept_rows=kept_rows,
        filtered=bool(q or status),
        frameworks=frameworks,
        csv_url=paging.list_url(format="csv"),
    )


def _csv(matrix: service.Matrix) -> Response:
    def text(cell: service.Cell | None) -> str:
        if cell is None:
            return "Not required"
        due = f" ({cell.due_on.isoformat()})" if cell.due_on else ""
        return cell.status.label + due + ("; certificate sent back" if cell.sent_back else "")

    return csv_response(
        f"training-{matrix.framework.key}.csv",
        ["Name", "Email", "Tier"] + [i.title for i in matrix.items],
        ([w.name, w.email, w.tier.name if w.tier else ""] + [text(c) for c in cells] for w, cells in matrix.rows),
    )


@bp.post("/certificates/<id:evidence_id>/check")
@role_required(Role.SUPERVISOR, Role.MANAGER)
def check_certificate(evidence_id: int):
    """Mark a worker's training certificate as checked, from the home page's list: it then counts."""
    from ..home.routes import home_page

    evidence = service.get_certificate_to_check_or_404(current_user, evidence_id)
    if ConfirmForm().validate_on_submit():
        try:
            service.check_certificate(current_user, evidence, request.form.get("version"))
        except service.Conflict as error:  # another supervisor or manager got there first
            return home_page(status=409, conflict=error.message)
        flash(f"Checked {evidence.owner.name}’s certificate: {evidence.title}", "success")
    return redirect(_back_to_list(_review_of(evidence)), code=303)


def _review_of(certificate) -> int | None:
    """The submission whose review page the check or sending back was made from (``?review=``), when it is this
    certificate's: anything else is ignored."""
    review = request.args.get("review", type=parse_id)
    submission = db.session.get(Submission, review) if review is not None else None
    return submission.id if submission is not None and submission.evidence_id == certificate.id else None


def _back_to_list(review: int | None) -> str:
    """Where a check or a sending back returns: the review page it was made from (:func:`_review_of`), or the
    home's list."""
    if review is not None:
        return url_for("review.decide", submission_id=review)
    return url_for("home.index", _anchor="certificates-to-check")


@bp.route("/certificates/<id:evidence_id>/send-back", methods=["GET", "POST"])
@role_required(Role.SUPERVISOR, Role.MANAGER)
def send_back_certificate(evidence_id: int):
    """Send a worker's certificate back, saying what is wrong, instead of checking it.

    Back, a second click or another checker's old tab finds the page saying who checked it or sent it back.
    """
    evidence = service.get_certificate_to_check_or_404(current_user, evidence_id)
    form = SendBackForm()
    conflict = None
    if form.validate_on_submit():
        try:
            service.send_back_certificate(current_user, evidence, form.reason.data or "", form.version.data or None)
        except FieldError as error:
            show_on_form(form, error)
        except service.Conflict as error:
            conflict = error.message
        else:
            flash(f"Sent back {evidence.owner.name}’s certificate: {evidence.title}", "success")
            return redirect(_back_to_list(_review_of(evidence)), code=303)
    if conflict or not form.errors:
        form.version.data = service.version_of(evidence)  # what this page shows now
    review = _review_of(evidence)
    return render(
        "training/send_back.html",
        status=409 if conflict else 422 if form.errors else 200,
        certificate=evidence,
        form=form,
        conflict=conflict,
        back=_back_to_list(review),
        review=review,
    )


@bp.get("/certificates/<id:evidence_id>/files/<id:file_id>")
@role_required(Role.SUPERVISOR, Role.MANAGER)
def certificate_file(evidence_id: int, file_id: int):
    """A file of a certificate I may check (a draft's too: checking means reading the document), as a download."""
    evidence = service.get_certificate_to_check_or_404(current_user, evidence_id)
    stored = evidence_service.get_file_or_404(evidence, file_id)
    return files.send_evidence_file(stored)
