"""Jinja filters and helpers shared by the templates."""

from __future__ import annotations

from collections import ChainMap
from collections.abc import MutableMapping
from datetime import date, datetime
from typing import Any

from flask import Flask
from flask.templating import Environment as FlaskEnvironment
from markupsafe import Markup

from .clock import on_the_clock


class _TemplateGlobals(ChainMap):
    """A template's globals over the environment's, as Jinja keeps them, with their names as a plain set.

    Each ``{% import %}`` and ``{% from ... import %}`` asks which of the importing page's globals the imported
    template lacks (Jinja's Template._get_default_module): a set less ChainMap.keys(), which looks each of our 30
    names up in both maps in Python, some 20 µs an import and half a dozen imports a page. The union of the
    maps' keys is built in C, and is as current as the view it replaces.
    """

    def keys(self):
        return set().union(*self.maps)


class Environment(FlaskEnvironment):
    """Flask's Jinja environment, with globals whose names are cheap to compare (:class:`_TemplateGlobals`)."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return _TemplateGlobals({} if d is None else d, self.globals)


def long_date(value: date | datetime | None) -> str:
    """15 March 2026, as the NHS.UK style guide writes dates.

    A moment (a datetime; naive ones are UTC, as SQLite gives them back) is shown on the service's clock: 00:30
    on 1 June in London is stored as 23:30 on 31 May UTC, and the person did it on 1 June.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = on_the_clock(value)
    return f"{value.day} {value:%B %Y}"


def date_and_time(value: datetime | None) -> str:
    """15 March 2026 at 9:05am, on the service's clock (the NHS.UK style guide's times: midday and midnight by
    name), for moments that may fall on the same day and must read apart."""
    if value is None:
        return ""
    moment = on_the_clock(value)
    if moment.minute == 0 and moment.hour in (0, 12):
        time_of_day = "midnight" if moment.hour == 0 else "midday"
    else:
        time_of_day = f"{(moment.hour - 1) % 12 + 1}:{moment:%M}{'am' if moment.hour < 12 else 'pm'}"
    return f"{long_date(moment)} at {time_of_day}"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and the word for it: "1 tier", "3 tiers" (``words``: a plural not made with an "s")."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def count_up_to(count: int, shown_up_to: int) -> str:
    """A count the database stopped at ``shown_up_to + 1``, as pages say it: "3", or "99+" beyond."""
    return f"{shown_up_to}+" if count > shown_up_to else str(count)


def filesize(size: int) -> str:
    """A file size people can read: 820 bytes, 14 KB, 3.2 MB."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def flag_identifiers(html: str) -> Markup:
    """Clean HTML's text with possible identifying details highlighted."""
    from .evidence import anonymity

    text = anonymity.plain_text(html or "")
    return anonymity.highlight(text, anonymity.find_identifiers(text))


def user_html(text: str | None) -> Markup:
    """What a user typed, as the clean HTML the app stores (richtext.from_user): sanitised, so it is markup, and
    ``{{ text | user_html }}`` shows it formatted rather than its tags as text."""
    from . import richtext

    return Markup(richtext.from_user(text))


def quoted(words: str) -> str:
    """Someone's words ending a sentence: “The file is blank”. The full stop outside, unless their words end one
    already: “The file is blank.” (not “…blank.”.)."""
    return f"“{words}”" if words.rstrip().endswith((".", "!", "?")) else f"“{words}”."


def summarise_findings(findings) -> str:
    """ "1 possible NHS number and 2 possible dates of birth"."""
    from .evidence import anonymity

    return anonymity.counted(findings)


def init_app(app: Flask) -> None:
    from . import components, rendering
    from .evidence import files
    from .progress.rules import SUPERVISION_NOTES
    from .training.service import certificate_expiry, version_of

    app.jinja_env.filters.update(
        plural=plural,
        long_date=long_date,
        date_and_time=date_and_time,
        filesize=filesize,
        user_html=user_html,
        quoted=quoted,
        # A part kept rendered with forms in it (the certificates to check on a home): this request's token in.
        with_csrf_token=components.with_csrf_token,
    )
    app.jinja_env.globals.update(
        flag_identifiers=flag_identifiers,
        summarise_findings=summarise_findings,
        upload_accept=files.ACCEPT,
        upload_types=files.ACCEPTED_DESCRIPTION,
        htmx_fragment=rendering.wants_fragment,
        certificate_expiry=certificate_expiry,
        certificate_version=version_of,  # what a check or a sending back is bound to (home, review page)
        SUPERVISION_NOTES=SUPERVISION_NOTES,  # the key of notes in a statement's linked counts (the map)
        nhsuk=components.Components(app.jinja_env),
    )
