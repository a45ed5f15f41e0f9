"""Reading pages as a person does: the text, the error summary, the message next to a field."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from portfolio.extensions import db


def text_of(response) -> str:
    """The page as a person reads it: entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def words(fragment: str) -> str:
    """HTML as plain words."""
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def summary_links(page: str) -> dict[str, str]:
    """The NHS.UK error summary's messages and the ids they link to."""
    assert "There is a problem" in page, "no error summary"
    summary = page.split('class="nhsuk-error-summary', 1)[1].split("</ul>", 1)[0]
    return {words(m): href for href, m in re.findall(r'<a href="#([^"]+)"[^>]*>(.*?)</a>', summary, re.S)}


def error_next_to(page: str, field: str) -> str:
    """The inline error message with id ``<field>-error``, as read."""
    assert f'id="{field}-error"' in page, f"no error message next to {field}"
    after = page.split(f'id="{field}-error"', 1)[1]
    return words("</span>".join(after.split("</span>", 2)[:2]).split(">", 1)[1])


def row_counts() -> dict[str, int]:
    """How many rows every table holds: equal before and after means nothing was written."""
    db.session.expire_all()
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables}
