"""Ids and filter values from the address, parsed in one place so bad ones answer 404 or 400, never 500.

Ids are database integers: 1 to 2,147,483,647 (PostgreSQL's ``integer``).
A larger number would fail inside the database, so it is refused before any
query: in a path it matches no route (404, as for a missing record); in a
filter it is reported next to its field and ignored, like any other bad
filter value, so the rest of the page still works.

A NUL character cannot be stored or compared by PostgreSQL, and no person
types one: a request carrying one in its address or form gets a 400 page
that says so, rather than a filter silently dropped.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.routing import BaseConverter, ValidationError
from wtforms import IntegerField, SelectMultipleField

ID_MAX = 2_147_483_647


def parse_id(value: object) -> int:
    """An id from text: a whole number from 1 to ID_MAX.

    :raises ValueError: for anything else (so ``request.args.get(name, type=parse_id)`` gives None).
    """
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(ID_MAX)):
        raise ValueError(f"not an id: {text[:20]!r}")
    number = int(text)
    if not 1 <= number <= ID_MAX:
        raise ValueError(f"not an id: {number}")
    return number


def optional_id(value: object) -> int | None:
    """An id, or None for an empty, malformed or out-of-range value."""
    try:
        return parse_id(value)
    except ValueError:
        return None


def _range_pattern(top: int) -> str:
    """A regular expression for the whole numbers 1..top, without leading zeros."""
    digits = str(top)
    shorter = f"[1-9][0-9]{{0,{len(digits) - 2}}}"
    same_length = []
    for i, d in enumerate(digits):
        rest = len(digits) - i - 1
        low = "1" if i == 0 else "0"
        if int(d) > int(low):
            same_length.append(f"{digits[:i]}[{low}-{int(d) - 1}][0-9]{{{rest}}}")
    same_length.append(digits)
    return "(?:" + "|".join([shorter, *same_length]) + ")"


class IdConverter(BaseConverter):
    """``<id:name>`` in a route: only 1..ID_MAX match; anything else is a 404."""

    # The range is in the pattern itself: a value the converter refused after
    # matching would make Werkzeug answer 405 where another method's rule shares the path.
    regex = _range_pattern(ID_MAX)

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > ID_MAX:
            raise ValidationError()
        return number

    def to_url(self, value: object) -> str:
        return str(int(value))  # type: ignore[call-overload]


class IdField(IntegerField):
    """An optional id in a form or filter; a bad one is reported on the field and reads as None."""

    def __init__(self, label=None, validators=None, *, message: str = "Choose from the list", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and str(valuelist[0]).strip():
            self.data = optional_id(valuelist[0])
            if self.data is None:
                raise ValueError(self.message)


class IdsField(SelectMultipleField):
    """Several ids in a form (one input name, repeated); any bad one is reported on the field and none is read."""

    def __init__(self, label=None, validators=None, *, message: str = "Choose from the list", **kwargs):
        super().__init__(label, validators, coerce=int, validate_choice=False, **kwargs)
        self.message = message

    def process_formdata(self, valuelist):
        ids = [optional_id(value) for value in valuelist]
        self.data = [i for i in ids if i is not None]
        if len(self.data) != len(ids):
            self.data = []
            raise ValueError(self.message)


def _has_nul() -> bool:
    values = [*request.args.keys(), *request.args.values()]
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values()]
    return any("\x00" in value for value in values)


def init_app(app: Flask) -> None:
    """Register the ``id`` converter (before any blueprint) and the NUL check."""
    app.url_map.converters["id"] = IdConverter

    @app.before_request
    def _refuse_nul():
        if _has_nul():
            from .rendering import render

            return render(
                "error.html",
                status=400,
                title="Sorry, there is a problem with the request",
                body="The web address or form contains a character that is not allowed (a null character). Go back, remove it and try again.",
            )
