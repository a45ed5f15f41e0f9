"""Jinja filters and helpers shared by the templates."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from markupsafe import Markup


def long_date(value: date | datetime | None) -> str:
    """15 March 2026, as the NHS.UK style guide writes dates."""
    if value is None:
        return ""
    return f"{value.day} {value:%B %Y}"


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


def summarise_findings(findings) -> str:
    """ "1 possible NHS number and 2 possible dates of birth"."""
    from .evidence import anonymity

    return anonymity.counted(findings)


def init_app(app: Flask) -> None:
    from . import components, rendering
    from .evidence import files
    from .training.service import certificate_expiry

    app.jinja_env.filters.update(
        plural=plural,
        long_date=long_date,
        filesize=filesize,
        user_html=user_html,
    )
    app.jinja_env.globals.update(
        flag_identifiers=flag_identifiers,
        summarise_findings=summarise_findings,
        upload_accept=files.ACCEPT,
        upload_types=files.ACCEPTED_DESCRIPTION,
        htmx_fragment=rendering.wants_fragment,
        certificate_expiry=certificate_expiry,
        nhsuk=components.Components(app.jinja_env),
    )
