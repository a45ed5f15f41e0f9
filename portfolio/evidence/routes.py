"""My portfolio: evidence items, their files and links, the competence map."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from .. import clock, paging
from ..access import role_required
from ..errors import FieldError, FieldErrors, Refusal, has_errors, show_on_form, show_the_rest, typed_in
from ..fields import choices
from ..idempotency import key_from_address, to_a_fresh_key
from ..models import CertificateState, EvidenceKind, EvidenceStatus, Role
from ..params import parse_id
from ..progress import versions
from ..progress.rules import CompetenceStatus
from ..rendering import render, wants_fragment
from ..review import service as review
from . import files, kinds, service, suggest
from .forms import (
    ChooseKindForm,
    CompetenceChoiceForm,
    ConfirmForm,
    FilterForm,
    LinkAllForm,
    LinkForm,
    LinkItemForm,
    LinkNoteForm,
    MapFilterForm,
    PickerForm,
    SubmitForm,
)

bp = Blueprint("evidence", __name__, url_prefix="/portfolio")
worker_required = role_required(Role.WORKER)


@bp.app_template_global("evidence_kind")
def _evidence_kind(kind: EvidenceKind) -> kinds.Kind:
    """A kind's registry entry, for the pages (its partials, labels and flags)."""
    return kinds.get(kind)


@bp.before_request
def _only_workers_with_a_framework():
    """Every page here is a worker's own portfolio."""
    if current_user.is_authenticated and current_user.has_role(Role.WORKER) and current_user.framework_id is None:
        abort(403)


def _kind_or_404(value: str) -> EvidenceKind:
    """A registered kind. :raises 404: for any other value."""
    try:
        return kinds.get(value).kind
    except (ValueError, KeyError):
        abort(404)


def _filters_from(form: FilterForm) -> service.PortfolioFilters:
    """Valid filters only: a bad value is reported next to its field and ignored."""
    form.validate()
    ok = lambda name: not getattr(form, name).errors  # noqa: E731
    return service.PortfolioFilters(
        q=(form.q.data or "") if ok("q") else "",
        kind=EvidenceKind(form.kind.data) if ok("kind") and form.kind.data else None,
        status=EvidenceStatus(form.status.data) if ok("status") and form.status.data else None,
        competence_id=form.competence.data if ok("competence") else None,
        date_from=form.date_from.data if ok("date_from") and ok("date_to") else None,
        date_to=form.date_to.data if ok("date_from") and ok("date_to") else None,
        page=paging.requested_page(),
    )


@bp.get("/")
@worker_required
def index():
    """My portfolio: every item, newest first, filtered and paginated."""
    form = FilterForm(request.args)
    filters = _filters_from(form)
    # "match your filters" only when a filter applies: a refused one is ignored, and said so above the list.
    filtered = filters.applied
    # Kept only for the plain address (no filter given, so none applies): the page links keep every value of every
    # parameter (paging.list_url).
    if form.errors or any(value for key, value in request.args.items(multi=True) if key != "page"):
        result, kept_list = _portfolio_listing(form, filters, filtered)
    else:
        # A page of the whole portfolio shows nothing but the portfolio: kept, rendered, until it changes.
        listing = functools.partial(_portfolio_listing, form, filters, filtered)
        result, kept_list = versions.kept_for("portfolio-list", current_user.id, filters.page, listing)
    return render(
        "evidence/index.html",
        "evidence_list",
        oob=("evidence_status",),
        form=form,
        result=result,
        kept_list=kept_list,
        filtered=filtered,
    )


def _portfolio_listing(
    form: FilterForm, filters: service.PortfolioFilters, filtered: bool
) -> tuple[service.PortfolioPage, Markup]:
    """A page of the portfolio and its list rendered (the page's block); of the page, its numbers only (for the
    status line), so that no item outlives this request's session."""
    result = service.portfolio_page(current_user, filters)
    html = Markup(render_block("evidence/index.html", "evidence_list", form=form, result=result, filtered=filtered))
    return replace(result, items=[], link_counts={}, file_counts={}, accepted_counts={}), html


@bp.route("/new", methods=["GET", "POST"])
@worker_required
def choose_kind():
    """Step 1 of adding evidence: what kind is it?"""
    form = ChooseKindForm(competence=request.args.get("competence", ""))
    if form.validate_on_submit():
        # Straight to the form's address with its key (one redirect, not two); url_for leaves out a None value,
        # so no competence means no ?competence=
        return to_a_fresh_key(".new", kind=form.kind.data, competence=form.competence.data or None)
    hints = {k.value: k.hint for k in kinds.KINDS.values()}
    competence = _preselected_competence(form.competence.data)
    return render(
        "evidence/choose_kind.html",
        form=form,
        kind_hints=hints,
        competence=competence,
        status=422 if form.errors else 200,
    )


def _preselected_competence(value):
    """The competence new evidence will be linked to (from "Add evidence for this"), if any.

    :raises NotFound: for a competence of another framework or a retired one, as step 2 does.
    """
    try:
        competence_id = parse_id(value) if value else None
    except ValueError:
        return None
    return service.get_competence_for_worker_or_404(current_user, competence_id, active=True) if competence_id else None


def _input_from(form) -> service.EvidenceInput:
    """Copy what the form holds into the service's input."""
    data = service.EvidenceInput()
    for name in vars(data):
        if name in form and name not in ("actions", "confirm_anonymous"):
            setattr(data, name, form[name].data)
    if "visibility" in form:
        data.is_private = form.visibility.data == "private"
    if "confirm_anonymous" in form:
        data.confirm_anonymous = bool(form.confirm_anonymous.data)
    if "actions" in form:
        data.actions = [
            service.ActionInput(row.form.description.data or "", row.form.owner.data or "", row.form.due_on.data)
            for row in form.actions
        ]
    return data


def _supervisor_choices(form, evidence=None) -> None:
    if "training_item_id" in form:
        from ..training import service as training

        options = [(i.id, i.title) for i in training.options_for(current_user)]
        current = evidence.training_item if evidence is not None else None
        if current is not None and current.retired_at is not None:
            options.append((current.id, f"{current.title} (retired)"))  # keep the match on saving
        form.training_item_id.choices = choices([(0, "Not in the catalogue")] + options)
    if "supervisor_id" in form:
        supervisors = service.supervisors_of(current_user)
        form.supervisor_id.choices = choices([(0, "Choose a supervisor")] + [(s.id, s.label) for s in supervisors])
        if len(supervisors) == 1 and not form.supervisor_id.data and not form.is_submitted():
            form.supervisor_id.data = supervisors[0].id  # the only supervisor there is: already chosen


def _show_error(form, error: FieldError):
    """Put the service's message on its field, keeping any anonymity findings for the page."""
    show_on_form(form, error)
    return getattr(error, "findings", None)


@bp.route("/new/<kind>", methods=["GET", "POST"])
@worker_required
def new(kind: str):
    """Step 2: the form for that kind of evidence, with suggested competences to tick, then save or send.

    The form's one-time key is in its address, so that Back after saving returns to the same key: the page then
    says the item is saved, rather than offering a fresh form that would save it twice.
    """
    evidence_kind = _kind_or_404(kind)
    key = key_from_address()
    if request.method == "GET" and key is None:
        return to_a_fresh_key(".new", **_new_item_args(), kind=evidence_kind.value)
    competence = _preselected_competence(request.args.get("competence"))
    entry = kinds.get(evidence_kind)
    if request.method == "GET" and (saved := service.saved_by_form(current_user, key)) is not None:
        return render(
            "already_saved.html",
            caption=evidence_kind.label,
            saved=(saved.title, url_for(".show", evidence_id=saved.id)),
            what_next="Open it to change it, link competences or send it for review.",
            again=(entry.add_heading, url_for(".new", kind=evidence_kind.value)),
            back=("Back to my portfolio", url_for(".index")),
        )
    form = entry.form()
    if not form.is_submitted():
        form.form_key.data = key
    if not form.is_submitted() and entry.dated_today:
        form.occurred_on.process(None, clock.today())
    ticked = CompetenceChoiceForm()
    _supervisor_choices(form)
    if not form.is_submitted():
        _preselect_course(form)
    findings = None
    action = request.form.get("action", "draft")
    if form.is_submitted() and action == "suggest":
        pass  # nothing saved or checked: the page comes back with suggestions (JavaScript off)
    elif form.is_submitted():
        valid = form.validate() & ticked.validate()  # both: each form shows its own messages

        def as_sent(use_case, **more):
            """``use_case`` (creating, or only checking) on what the form holds."""
            return use_case(
                current_user,
                evidence_kind,
                _input_from(form),
                request.files.getlist("files"),
                link_competence_id=competence.id if competence else None,
                link_competence_ids=ticked.ids(),
                to_send=action == "send",
                **more,
            )

        if not valid and not form.csrf_token.errors:
            # The service's own rules (a date in the future, the files, the competences...) for the fields the
            # form let through: the page names every problem at once, not one batch a submission.
            problems = as_sent(service.problems_of_new)
            _show_new_problems(form, ticked, {f: m for f, m in problems.items() if not _has_errors(form, ticked, f)})
        elif valid:
            try:
                repeats: list[tuple[str, str]] = []
                evidence = as_sent(service.create_evidence, form_key=form.form_key.data, not_attached=repeats)
            except FieldError as error:
                _show_new_problems(form, ticked, error.by_field())
                findings = getattr(error, "findings", None)  # anonymity findings, for the page
            else:
                if action == "send":  # check your answers, then send
                    if repeats:
                        flash("; ".join(_not_added(repeats, new=True)), "info")
                    return redirect(url_for(".submit", evidence_id=evidence.id), code=303)
                flash("; ".join([_saved_message(entry, evidence), *_not_added(repeats, new=True)]), "success")
                return redirect(url_for(".links", evidence_id=evidence.id), code=303)
    # From a course's row on the home page: back there. One known value, never an address.
    from_home = request.args.get("back") == "home"
    return render(
        "evidence/form.html",
        status=422 if form.errors or ticked.errors else 200,
        form=form,
        ticked=ticked,
        kind=evidence_kind,
        evidence=None,
        competence=competence,
        findings=findings,
        back="home" if from_home else None,
        back_url=url_for("home.index", _anchor="training") if from_home else None,
        **_suggestions_for(entry, request.form if form.is_submitted() else _shown_values(form), ticked.ids()),
    )


def _new_item_args() -> dict[str, Any]:
    """What a new item's address says besides its key: the competence to link, the course, where Back goes."""
    return {name: value for name in ("competence", "course", "back") if (value := request.args.get(name))}


def _shown_values(form) -> MultiDict:
    """What a form not sent yet holds (a course chosen from the address and its title), as a submission would: its
    suggestions are for what the page shows."""
    return MultiDict(
        {field.name: str(field.data) for field in form if field.data and isinstance(field.data, str | int)}
    )


def _has_checkers_word(evidence) -> bool:
    """Whether a certificate is checked or sent back: a change to it clears that (``Evidence.forget_check``)."""
    return evidence.certificate_state in (CertificateState.CHECKED, CertificateState.SENT_BACK)


def _change_saved(saved: service.SavedChange) -> str:
    """The notice of a saved change, naming the files it removed and those the item already held."""
    done = "Changes saved"
    if saved.removed:
        done += f"; removed {', '.join(saved.removed)}"
    return "; ".join([done, *_not_added(saved.already_attached)])


def _not_added(repeats: list[tuple[str, str]], *, new: bool = False) -> list[str]:
    """The files a save did not attach, each with the one the item holds (or, ``new``, took) with the same content."""
    same_name = "chosen twice, attached once" if new else "already attached, not added again"
    return [
        f"{upload} {same_name}" if upload == held else f"{upload} not added: it is the same file as {held}"
        for upload, held in repeats
    ]


def _after_change(done: str, decided: bool, evidence) -> str:
    """The notice of a change (``done``), saying when it cleared a certificate's check or sending back."""
    if decided and evidence.certificate_state == CertificateState.UNCHECKED:
        return f"{done}: the certificate waits for a supervisor or manager to check it"
    return done


def _preselect_course(form) -> None:
    """A certificate's form opened for a course (``?course=``, from the course's row on the home page or a certificate
    sent back) has it chosen and its title written; anything not among the form's courses is ignored."""
    course = request.args.get("course", type=parse_id)
    titles = {c.value: c.label for c in form.training_item_id.choices} if "training_item_id" in form else {}
    if course is not None and course in titles:
        form.training_item_id.data = course
        form.title.data = titles[course]  # the course's title, to change if the certificate words it otherwise


def _saved_message(entry, evidence) -> str:
    """What saving a new item did: a draft, or (a supervision note) a record its supervisor is asked to confirm."""
    if entry.supervisor_confirms and evidence.supervisor is not None:
        return f"{evidence.kind.label} saved: {evidence.supervisor.name} is asked to confirm it"
    if evidence.certificate_state is not None:
        return (
            f"{evidence.kind.label} saved: it counts towards your training once a supervisor or manager has checked it"
        )
    return f"{evidence.kind.label} saved as a draft"


def _has_errors(form, ticked, field: str) -> bool:
    """Whether the form (or the ticked competences) already says something about ``field``."""
    return has_errors(ticked if field == "competence_ids" else form, field)


def _show_new_problems(form, ticked, errors: dict[str, str]) -> None:
    """A new item's refusals next to their fields: the ticked competences are a form of their own."""
    errors = dict(errors)
    if "competence_ids" in errors:
        show_on_form(ticked, FieldError("competence_ids", errors.pop("competence_ids")))
    if errors:
        show_on_form(form, FieldErrors(errors))


@bp.route("/new/<kind>/suggestions", methods=["GET", "POST"])
@worker_required
def suggestions(kind: str):
    """The suggested competences for what the new item's form holds so far (htmx posts it as the worker types:
    her text is private, and longer than an address may be)."""
    entry = kinds.get(_kind_or_404(kind))
    if request.method == "GET" and wants_fragment():
        # A form's page from before the suggestions were posted: reloaded, rather than the whole form drawn in place
        # of its list (htmx would follow a redirect into the region).
        return Response(status=204, headers={"HX-Refresh": "true"})
    if request.method == "GET" or not wants_fragment():  # opened on its own (a bookmark, a crawler): its form
        return redirect(url_for(".new", kind=entry.kind.value), code=303)
    ticked = CompetenceChoiceForm(request.form)
    ticked.validate()
    return render(
        "evidence/form.html",
        "suggested_competences",
        kind=entry.kind,
        ticked=ticked,
        **_suggestions_for(entry, request.form, ticked.ids()),
    )


def _suggestions_for(entry, values, ticked_ids: list[int]) -> dict:
    """The ticked competences (kept ticked) and up to five more suggested from the typed title and text (and a
    certificate's catalogue course)."""
    typed = [str(values.get(name, "")) for name in ("title", *entry.text_columns)]
    course = values.get("training_item_id", type=parse_id) if "training_item_id" in values else None
    text = " ".join([*typed, service.course_title(course)])
    chosen = service.competences_by_id(current_user, ticked_ids)
    suggested = suggest.suggest(current_user, text, linked_ids={c.id for c in chosen})
    return {"chosen": chosen, "suggested": suggested}


@bp.get("/<id:evidence_id>")
@worker_required
def show(evidence_id: int):
    """Everything about one item: its text, files, links and status."""
    return _show_page(service.get_evidence_or_404(evidence_id, current_user))


def _show_page(evidence, refusal: Refusal | None = None):
    """The item's page; with a refusal, its message in the error summary (422)."""
    history = review.history(evidence)
    return render(
        "evidence/show.html",
        status=422 if refusal else 200,
        evidence=evidence,
        refusal=refusal,
        confirm_form=ConfirmForm(),
        history=history,
        returned=review.returned_by(evidence, history),
        signed_off=review.signed_off_outcomes(evidence, history),
        open_submission=review.open_submission_of(evidence),
        download_url=lambda f: url_for(".download", evidence_id=evidence.id, file_id=f.id),
    )


@bp.post("/<id:evidence_id>/withdraw")
@worker_required
def withdraw(evidence_id: int):
    """Take back a submission nobody has decided on."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            review.withdraw(current_user, evidence)
        except review.Conflict as error:
            return _show_page(evidence, Refusal(error.message, "status"))
        flash("Submission withdrawn: you can change the item and submit it again", "success")
    return redirect(url_for(".show", evidence_id=evidence.id), code=303)


@bp.route("/<id:evidence_id>/edit", methods=["GET", "POST"])
@worker_required
def edit(evidence_id: int):
    """Change a draft or returned item."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    if not evidence.is_editable:  # a Change link from a page opened before it was submitted
        return _show_page(evidence, Refusal(service.NotEditable(evidence).message, "status"))
    entry = kinds.get(evidence.kind)
    form = entry.form(data=entry.form_data(evidence))
    _supervisor_choices(form, evidence)
    findings = None
    # From a Change link of the check-and-send page: back there once saved. One known value, never an address.
    back = "check" if request.args.get("back") == "check" else None
    back_url = url_for(".submit" if back else ".show", evidence_id=evidence.id)
    refusal, written, files_dropped = None, [], False
    if form.validate_on_submit():
        decided = _has_checkers_word(evidence)
        try:
            saved = service.update_evidence(
                current_user,
                evidence,
                _input_from(form),
                request.files.getlist("files"),
                seen=form.seen.data or None,  # none from a page drawn before pages carried it: saved as before
            )
        except service.ChangedMeanwhile as error:  # from another tab since this page was drawn: shown as it is now
            refusal = Refusal(error.message, "item-form")
            evidence = service.get_evidence_or_404(evidence_id, current_user)
            typed, form = form, entry.form(formdata=None, data=entry.form_data(evidence))
            _supervisor_choices(form, evidence)
            # What she typed in this tab and the item does not hold, to copy: the form shows the item as it is now.
            written = typed_in(typed, unchanged_from=form)
            files_dropped = any(upload.filename for upload in request.files.getlist("files"))
        except FieldError as error:  # submitted meanwhile too: said next to the title, the changes still in the form
            findings = _show_error(form, error)
        else:
            flash(_after_change(_change_saved(saved), decided, saved.evidence), "success")
            if request.form.get("action") == "send":  # check your answers, then send (as a new item)
                return redirect(url_for(".submit", evidence_id=evidence.id), code=303)
            return redirect(back_url, code=303)
    elif form.is_submitted() and not form.csrf_token.errors:
        # The service's own rules for the fields the form let through: every problem in one answer, as on a new item.
        uploads = request.files.getlist("files")
        show_the_rest(form, service.problems_of_update(current_user, evidence, _input_from(form), uploads))
    if refusal or not form.is_submitted():  # what this page shows; a page refused for its errors keeps what it had
        form.seen.data = service.drawn_from(evidence)
    return render(
        "evidence/form.html",
        status=409 if refusal else 422 if form.errors else 200,
        form=form,
        back=back,
        back_url=back_url,
        kind=evidence.kind,
        evidence=evidence,
        competence=None,
        findings=findings,
        refusal=refusal,
        written=written,
        files_dropped=files_dropped,
        returned=review.returned_by(evidence),  # the supervisor's comments, read while changing the item
    )


@bp.route("/<id:evidence_id>/delete", methods=["GET", "POST"])
@worker_required
def delete(evidence_id: int):
    """Confirm, then delete a draft with its files."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            service.delete_evidence(current_user, evidence)
        except FieldError as error:
            return render(
                "evidence/delete.html",
                status=422,
                evidence=evidence,
                form=form,
                refusal=Refusal(error.message, "delete"),
            )
        flash(f"Deleted: {evidence.title}", "success")
        return redirect(url_for(".index"), code=303)
    return render("evidence/delete.html", evidence=evidence, form=form, refusal=None)


@bp.route("/<id:evidence_id>/submit", methods=["GET", "POST"])
@worker_required
def submit(evidence_id: int):
    """Check, then send an item for review."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    form = SubmitForm()
    if not form.is_submitted() and not evidence.is_editable:
        # Back to the check page after sending (the back button, an old tab): nothing is left to send there.
        if evidence.status == EvidenceStatus.SUBMITTED:  # the usual case: said as done, not as a refusal
            flash("You have sent this item for review: there is nothing more to do until it is reviewed", "info")
        else:
            flash(f"{service.NotEditable(evidence).message}, so there is nothing to send.", "info")
        return redirect(url_for(".show", evidence_id=evidence.id), code=303)
    findings, refusal, changed = _findings_to_confirm(evidence), None, False
    if form.validate_on_submit():
        try:
            service.submit(
                current_user,
                evidence,
                confirm_anonymous=bool(form.confirm_anonymous.data),
                seen=form.seen.data or None,  # none from a page drawn before pages carried it: sent as before
            )
        except service.NotEditable as error:  # submitted from another tab meanwhile
            refusal = Refusal(error.message, "submit")
        except service.ChangedMeanwhile as error:  # changed in another tab since: the page shows it as it is now
            refusal, changed = Refusal(error.message, "submit"), True
            evidence = service.get_evidence_or_404(evidence_id, current_user)
            findings = _findings_to_confirm(evidence)
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Submitted for review", "success")
            return redirect(url_for(".show", evidence_id=evidence.id), code=303)
    form.seen.data = review.content_hash(evidence)  # what this page shows, sent back with Send
    status = 409 if changed else 422 if form.errors or refusal else 200
    supervised, upcoming = service.who_reviews(current_user, clock.today())
    return render(
        "evidence/submit.html",
        status=status,
        evidence=evidence,
        form=form,
        findings=findings,
        refusal=refusal,
        supervised=supervised,
        upcoming=upcoming,
        unchanged=_returned_unchanged(evidence),
    )


def _findings_to_confirm(evidence):
    """What the check page asks her to confirm is not about a person she supports, if anything."""
    if kinds.get(evidence.kind).confirmable and evidence.anonymity_confirmed_at is None and not evidence.is_private:
        return service.find_identifiers_in(evidence) or None
    return None


def _returned_unchanged(evidence):
    """The decision that returned the item, if it has not changed since: sending it as it is asks for the same
    decision again (said before it is sent, not refused: the worker may have talked it through)."""
    returned = review.returned_by(evidence)  # None unless the item stands returned (its history read only then)
    return returned if returned is not None and returned.content_hash == review.content_hash(evidence) else None


@bp.get("/<id:evidence_id>/files/<id:file_id>")
@worker_required
def download(evidence_id: int, file_id: int):
    """A file of one of my items, always as a download."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    stored = service.get_file_or_404(evidence, file_id)
    return files.send_evidence_file(stored)


@bp.post("/<id:evidence_id>/files/<id:file_id>/delete")
@worker_required
def remove_file(evidence_id: int, file_id: int):
    """Remove a file from a draft or returned item."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    stored = service.get_file_or_404(evidence, file_id)
    if ConfirmForm().validate_on_submit():
        decided = _has_checkers_word(evidence)
        try:
            service.remove_file(current_user, evidence, stored)
        except FieldError as error:
            return _show_page(
                evidence, Refusal(error.message, "status" if isinstance(error, service.NotEditable) else "files")
            )
        flash(_after_change(f"Removed {stored.original_name}", decided, evidence), "success")
    return redirect(url_for(".show", evidence_id=evidence.id), code=303)


@bp.get("/<id:evidence_id>/links")
@worker_required
def links(evidence_id: int):
    """Link an item to competences: the picker, and the links already made."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    # ?change=<link>: "Change note" opens that link's note box (a link, so it works with JavaScript off).
    change = request.args.get("change", type=parse_id)
    return _links_page(evidence, LinkForm(formdata=None), note_link_id=change)


def _links_page(
    evidence,
    link_form: LinkForm,
    status: int = 200,
    *,
    note_form: LinkNoteForm | None = None,
    note_link_id: int | None = None,
    refusal: Refusal | None = None,
    link_all_form: LinkAllForm | None = None,
):
    """The links page; a refused note shows next to the note of link ``note_link_id``, other refusals in the summary.

    The picker shows the search in the address or, for a form refused, the one it was sent from (its hidden
    fields: PICKER_STATE), so a refused note is shown again under its own competence."""
    picker_form = PickerForm(request.values)
    picker_form.validate()
    q = (picker_form.q.data or "") if not picker_form.q.errors else ""
    results = service.picker(
        current_user,
        evidence,
        q=q,
        group_id=picker_form.group.data or None,
        tier_id=picker_form.tier.data or None,
        page=paging.page_number(request.values.get("page")),
    )
    service.load_links(evidence)
    groups, tiers = service.picker_choices(current_user)
    return render(
        "evidence/links.html",
        # The picker's results for a search; a refused note, unlink or locked item is said at the top, so the whole page.
        "picker_results" if not (refusal or note_link_id) else None,
        status=status,
        evidence=evidence,
        picker_form=picker_form,
        results=results,
        groups=groups,
        tiers=tiers,
        link_form=link_form,
        link_all_form=link_all_form or LinkAllForm(formdata=None),
        note_form=note_form or LinkNoteForm(formdata=None),
        note_link_id=note_link_id,
        refusal=refusal,
        suggestions=suggest.suggest(
            current_user,
            f"{evidence.search_text} {service.course_title(evidence.training_item_id)}",
            linked_ids={link.competence_id for link in evidence.links},
        )
        if evidence.is_editable
        else [],
    )


# The picker's search, kept on the forms in its results so the next competence is one click away.
PICKER_STATE = ("q", "group", "tier", "page")


def _back_to_picker(evidence):
    """303 to the links page, at the search (and page of results) the person linked from."""
    kept: dict[str, Any] = {name: request.values.get(name) or None for name in PICKER_STATE}  # None: left out
    return redirect(url_for(".links", evidence_id=evidence.id, _anchor="find", **kept), code=303)


@bp.post("/<id:evidence_id>/links")
@worker_required
def add_link(evidence_id: int):
    """Link the item to one competence (from the picker)."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    form = LinkForm()
    if form.validate_on_submit() and form.competence_id.data is not None:  # InputRequired: it is there once valid
        try:
            link = service.link_competence(current_user, evidence, form.competence_id.data, form.note.data or "")
        except service.NotEditable as error:
            return _links_page(evidence, form, status=422, refusal=Refusal(error.message, "linked"))
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash(f"Linked to: {link.competence.statement}", "success")
            return _back_to_picker(evidence)
    if form.note.errors and form.competence_id.data is not None:
        # A refused note is shown again in its own box, under its competence: the summary links there.
        form.note.id = f"note-new-{form.competence_id.data}"
    return _links_page(evidence, form, status=422)


@bp.post("/<id:evidence_id>/links/all")
@worker_required
def link_all(evidence_id: int):
    """Link the item to every competence shown on a page of the picker's results ("Link all shown")."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    form = LinkAllForm()
    if form.validate_on_submit():
        try:
            added = service.link_competences(current_user, evidence, form.competence_ids.data or [])
        except service.NotEditable as error:
            return _links_page(evidence, LinkForm(formdata=None), 422, refusal=Refusal(error.message, "linked"))
        except FieldError as error:
            show_on_form(form, error)
        else:
            n = len(added)
            # Linked ones move to the end of the results (service.picker): said, so that nobody pages on past the
            # next ones to link (a new user did, and skipped ten).
            flash(
                f"Linked to {n} {'competence' if n == 1 else 'competences'}. Linked competences move to the end of "
                "the list, so the next ones to link are now shown here."
                if n
                else "These competences were already linked",
                "success",
            )
            return _back_to_picker(evidence)
    return _links_page(evidence, LinkForm(formdata=None), 422, link_all_form=form)


@bp.get("/<id:evidence_id>/links/all")
@worker_required
def link_all_results(evidence_id: int):
    """Opened on its own (another page of results after a refused "Link all shown"): the picker, at that search."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    return _back_to_picker(evidence)


@bp.post("/<id:evidence_id>/links/<id:link_id>")
@worker_required
def update_link(evidence_id: int, link_id: int):
    """Change the note on a link."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    link = service.get_link_or_404(evidence, link_id)
    form = LinkNoteForm()
    if form.validate_on_submit():
        try:
            service.update_link_note(current_user, evidence, link, form.note.data or "")
        except service.NotEditable as error:
            return _links_page(evidence, LinkForm(formdata=None), 422, refusal=Refusal(error.message, "linked"))
        except FieldError as error:
            show_on_form(form, error)
        else:
            flash("Note saved", "success")
            return redirect(url_for(".links", evidence_id=evidence.id), code=303)
    return _links_page(evidence, LinkForm(formdata=None), 422, note_form=form, note_link_id=link_id)


@bp.post("/<id:evidence_id>/links/<id:link_id>/delete")
@worker_required
def remove_link(evidence_id: int, link_id: int):
    """Unlink a competence."""
    evidence = service.get_evidence_or_404(evidence_id, current_user)
    link = service.get_link_or_404(evidence, link_id)
    if ConfirmForm().validate_on_submit():
        try:
            service.unlink(current_user, evidence, link)
        except FieldError as error:
            return _links_page(evidence, LinkForm(formdata=None), 422, refusal=Refusal(error.message, "linked"))
        flash("Link removed", "success")
    return redirect(url_for(".links", evidence_id=evidence.id), code=303)


@bp.get("/map")
@worker_required
def competence_map():
    """Every competence of my framework with the evidence linked to it, filtered by status.

    A status that is not one of the choices is ignored (every competence shown) and said next to the filter.
    """
    form = MapFilterForm(request.args)
    status = CompetenceStatus(form.status.data) if form.validate() and form.status.data else None
    tiers = service.competence_map(current_user)
    shown = service.with_status(tiers, status)
    # The map itself (most of the page's rendering) shows only the portfolio and the frameworks: kept, rendered,
    # until either changes.
    kept_map = versions.kept_for(
        "competence-map",
        current_user.id,
        status,
        lambda: Markup(render_block("evidence/map.html", "competence_map", shown=shown, chosen=status)),
    )
    return render(
        "evidence/map.html",
        "competence_map",
        oob=("map_status",),
        form=form,
        tiers=tiers,
        shown=shown,
        chosen=status,
        kept_map=kept_map,
    )


@bp.get("/competences/<id:competence_id>")
@worker_required
def competence(competence_id: int):
    """The items linked to one competence, a page at a time (the list swaps in place with htmx), and a way to add
    more."""
    item = service.get_competence_for_worker_or_404(current_user, competence_id)
    return render(
        "evidence/competence.html",
        "linked_list",
        oob=("linked_status",),
        competence=item,
        progress=service.competence_status(current_user, item) if not item.is_retired else None,
        page=service.evidence_for_competence(current_user, item, paging.requested_page()),
    )


@bp.get("/competences/<id:competence_id>/link")
@worker_required
def link_existing(competence_id: int):
    """Link an existing item to a competence: my items that can still be linked to it, one button each."""
    item = service.get_competence_for_worker_or_404(current_user, competence_id, active=True)
    return _link_existing_page(item, LinkItemForm(formdata=None))


def _link_existing_page(competence, form: LinkItemForm, status: int = 200, refusal: Refusal | None = None):
    """The items that can still be linked to ``competence``; a refusal or a bad choice said at the top."""
    return render(
        "evidence/link_existing.html",
        "linkable_items",
        oob=("linkable_status",),
        status=status,
        competence=competence,
        form=form,
        refusal=refusal,
        page=service.linkable_items(current_user, competence, paging.requested_page()),
    )


@bp.post("/competences/<id:competence_id>/link")
@worker_required
def link_item(competence_id: int):
    """Link one of my items to the competence, then back to the list for the next."""
    item = service.get_competence_for_worker_or_404(current_user, competence_id, active=True)
    form = LinkItemForm()
    if form.validate_on_submit() and form.evidence_id.data is not None:  # InputRequired: it is there once valid
        evidence = service.get_evidence_or_404(form.evidence_id.data, current_user)
        try:
            service.link_competences(current_user, evidence, [item.id])  # sent twice: linked once
        except FieldError as error:  # sent for review (or confirmed) meanwhile
            return _link_existing_page(item, form, 422, Refusal(error.message, "linkable-items"))
        flash(f"Linked “{evidence.title}” to this competence", "success")
        return redirect(url_for(".link_existing", competence_id=item.id), code=303)
    return _link_existing_page(item, form, 422)
