"""Domain errors that belong next to a form field, and the HTTP error pages."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, make_response, request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, NotFound

from .extensions import db
from .rendering import render, wants_fragment


class FieldError(Exception):
    """A refused request, with the form field its message belongs next to."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

    def by_field(self) -> dict[str, str]:
        """Each refused field's message: this one's (:class:`FieldErrors` has several)."""
        return {self.field: self.message}


class FieldErrors(FieldError):
    """Several fields refused at once: ``errors`` maps each field to its message, in page order, and
    :func:`show_on_form` puts each next to its own field (the first is also the error's own)."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = errors

    def by_field(self) -> dict[str, str]:
        return dict(self.errors)


T = TypeVar("T")


class Problems:
    """A form's refusals gathered, so that one answer names every field that is wrong, not only the first.

    ``check(rule, otherwise)`` runs one rule and keeps the field error it raises (answering ``otherwise``);
    ``add`` keeps one found inline; ``raise_if_any`` raises them together as :class:`FieldErrors`. A field keeps
    its first message.
    """

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def check(self, rule: Callable[[], T], otherwise: T) -> T:
        try:
            return rule()
        except FieldError as error:
            for field, message in error.by_field().items():
                self.add(field, message)
            return otherwise

    def raise_if_any(self) -> None:
        if self.errors:
            raise FieldErrors(dict(self.errors))


class NotFoundHere(NotFound):
    """A 404 that says what was looked for, for a record its owner may have deleted in another tab.

    The same words for one that never existed or is someone else's, so nothing is told about whose it was.
    """

    def __init__(self, title: str, body: str, link: tuple[str, str] | None = None):
        super().__init__()
        self.title, self.body, self.link = title, body, link  # link: (endpoint, words) of where to look instead


@dataclass(frozen=True)
class Refusal:
    """A refused one-button action (delete, withdraw, sign): its message goes in
    the error summary of the page that has the button, linking to ``anchor``,
    the id of that form, or of the part of the page that says why."""

    message: str
    anchor: str


def show_on_form(form: FlaskForm, error: FieldError) -> None:
    """Put a service's error message next to the field it is about.

    ``error.field`` is a field name, or ``<list>-<row>-<field>`` for a row of
    a FieldList (an agreed action, a plan goal, a competence decision). A
    :class:`FieldErrors` (a decision or a form that breaks several rules) puts
    each message next to its own field.
    """
    for field_name, message in error.by_field().items():
        found = _field_of(form, field_name)
        if found is None:
            raise error
        field, entries = found
        field.errors = [*field.errors, message]
        if entries is not None:
            # A FieldList keeps the errors it found when validated: recount them.
            entries.errors = [entry.errors for entry in entries]


def has_errors(form: FlaskForm, field_name: str) -> bool:
    """Whether the form already shows a message next to ``field_name`` (named as :func:`show_on_form` names it)."""
    found = _field_of(form, field_name)
    return found is not None and bool(found[0].errors)


def show_the_rest(form: FlaskForm, problems: dict[str, str]) -> None:
    """Next to the fields the form let through, the service's own problems with them (from a dry run): so that
    a form refusing one value itself (a date that is not a date) still names every problem in one answer."""
    if rest := {field: message for field, message in problems.items() if not has_errors(form, field)}:
        show_on_form(form, FieldErrors(rest))


def _field_of(form: FlaskForm, field_name: str):
    """The field ``field_name`` names (``<list>-<row>-<field>`` for a row of a FieldList), with that FieldList;
    None when the form has no such field."""
    target_form, name, entries = form, field_name, None
    row = re.fullmatch(r"(\w+?)-(\d+)-(\w+)", field_name)
    if getattr(form, field_name, None) is None and row and getattr(form, row.group(1), None) is not None:
        entries = getattr(form, row.group(1))
        if int(row.group(2)) >= len(entries):
            return None
        target_form, name = entries[int(row.group(2))].form, row.group(3)
    field = getattr(target_form, name, None)
    return None if field is None else (field, entries)


ERROR_PAGES = {
    400: ("Sorry, there is a problem with the request", "Go back and try again."),
    403: ("You do not have access to this page", "If you think you should, ask a manager of this service."),
    404: (
        "Page not found",
        "If you typed the web address, check it is correct. If you pasted it, check you copied the entire address.",
    ),
    405: ("Sorry, there is a problem with the request", "Go back and try again."),
    413: ("The file is too large", "Choose a smaller file and try again."),
    500: ("Sorry, there is a problem with the service", "Try again later."),
}


def _page(
    status: int,
    title: str | None = None,
    body: str | None = None,
    link: tuple[str, str] | None = None,
    written: list[tuple[str, str]] | None = None,
):
    default_title, default_body = ERROR_PAGES.get(status, ERROR_PAGES[500])
    response = make_response(
        render(
            "error.html",
            status=status,
            title=title or default_title,
            body=body or default_body,
            link=link,
            written=written or [],
        )
    )
    if wants_fragment():
        # Asked for a part of a page (a list's filter, the suggestions as she types): the error is a whole page, and
        # takes the whole window rather than the part's place (an expired form's page inside a list, say).
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


# Anything secret or a form's own machinery, by name: never shown back (a second guard after the field types).
_NOT_WRITTEN = re.compile(r"csrf|token|password|secret|code|otp|form_key|version|seen|key", re.IGNORECASE)


@functools.cache
def _typed_fields() -> dict[str, str]:
    """Every form's fields that hold typed text (single- or multi-line, never a password or a hidden value), by
    name, with their label where every form that has one agrees on it (else one made from the name)."""
    from wtforms import Form, HiddenField, PasswordField, StringField, TextAreaField
    from wtforms.fields.core import UnboundField

    labels: dict[str, set[str]] = {}
    secret: set[str] = set()  # a name any form uses for a password or a hidden value is never shown, in any form
    classes = [Form]
    while classes:
        cls = classes.pop()
        classes.extend(cls.__subclasses__())
        for name, field in vars(cls).items():
            if not isinstance(field, UnboundField):
                continue
            kind = field.field_class
            if issubclass(kind, (PasswordField, HiddenField)):
                secret.add(name)
            elif issubclass(kind, (StringField, TextAreaField)):
                label = field.args[0] if field.args else field.kwargs.get("label")
                labels.setdefault(name, set()).add(str(label) if label else "")
    return {
        name: next(iter(found)) if len(found) == 1 and "" not in found else name.replace("_", " ").capitalize()
        for name, found in labels.items()
        if name not in secret and not _NOT_WRITTEN.search(name)
    }


def written_in_form() -> list[tuple[str, str]]:
    """What the person typed into the form that could not be saved, to copy before they start again: the text
    fields that held something, with their labels. Choices, dates, ids and anything secret are left out.

    Only for a form sent from one of our own pages (the browser says so): another site's form posted here must not
    put its words on a page of ours.
    """
    origin = request.headers.get("Origin")
    same_origin = request.headers.get("Sec-Fetch-Site") == "same-origin" or origin == request.host_url.rstrip("/")
    if request.method != "POST" or not same_origin:
        return []
    fields = _typed_fields()
    return [
        (fields[name], value.strip())
        for name, value in request.form.items(multi=True)
        if name in fields and value.strip()
    ]


def typed_in(form: FlaskForm, unchanged_from: FlaskForm | None = None) -> list[tuple[str, str]]:
    """What the person typed into a form that was checked (its CSRF token too) but could not be saved: its text
    fields that hold something, the rows of its lists too ("Action 2"), with their labels; with ``unchanged_from``
    (the same form drawn from the record as it is now), only what differs from it. Never a password or hidden value.
    """
    now = dict((name, value) for name, _, value in _text_fields(unchanged_from)) if unchanged_from else {}
    return [
        (label, value.strip())
        for name, label, value in _text_fields(form)
        if value.strip() and value.strip() != now.get(name, "").strip()
    ]


def _text_fields(form) -> list[tuple[str, str, str]]:
    """(name, label, value) of each typed text field of ``form``, those of its lists' rows numbered."""
    from wtforms import FieldList, FormField, HiddenField, PasswordField, StringField, TextAreaField

    found: list[tuple[str, str, str]] = []
    for field in form:
        if isinstance(field, FieldList):
            for number, entry in enumerate(field.entries, 1):
                inner = _text_fields(entry.form) if isinstance(entry, FormField) else _text_fields([entry])
                found += [(name, f"{label} {number}", value) for name, label, value in inner]
        elif isinstance(field, (StringField, TextAreaField)) and not isinstance(field, (HiddenField, PasswordField)):
            found.append((field.name, str(field.label.text), str(field.data or "")))
    return found


def init_app(app: Flask) -> None:
    """Show every error on an NHS.UK-styled page."""
    from .duties import OwnDecision  # duties builds on FieldError from this module

    @app.errorhandler(OwnDecision)
    def _own_decision(error: OwnDecision):
        db.session.rollback()
        return _page(403, "You cannot decide about yourself", error.message)

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        # Mostly a form left open past the idle timeout (its token lived with the session): what was typed is
        # shown back, so that a reflection written over half an hour is not lost with it.
        from flask_login import current_user

        signed_in = current_user.is_authenticated
        written = written_in_form()
        why = "the page was open too long" + (
            "" if signed_in else ", and you were signed out to keep your portfolio safe"
        )
        then = (
            "Copy what you wrote, below, then open the form again"
            + ("" if signed_in else " once you have signed in")
            + " and paste it in."
            if written
            else "Go back, reload the page and submit the form again."
        )
        return _page(400, "Your form has expired", f"Nothing was saved: {why}. {then}", written=written)

    @app.errorhandler(413)
    def _too_large(error: HTTPException):
        limit = app.config["MAX_UPLOAD_MB"]
        return _page(
            413,
            "The file is too large",
            f"Each file must be smaller than {limit} MB. Choose a smaller file and try again.",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if isinstance(error, NotFoundHere):
            return _page(404, error.title, error.body, error.link)
        if error.code not in ERROR_PAGES:
            return error
        if error.code == 405 and request.method in ("GET", "HEAD"):
            # An address that only takes a form: with JavaScript off, a refused form's answer stays in the address
            # bar under it, and opening that address again lands here.
            response = _page(
                405,
                "This page cannot be opened again",
                "It was the answer to a form you sent, and nothing was changed by opening it. Go back to the page "
                "the form is on to see where things stand, and send the form again if you need to.",
            )
        else:
            response = _page(error.code or 500)
        allow = dict(error.get_headers()).get("Allow")
        if allow:  # a 405 must say which methods are allowed
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(500)
    def _server_error(error: Exception):
        db.session.rollback()
        return _page(500)
