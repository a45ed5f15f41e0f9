"""Reading a response as a person does: the page text, the message next to a field, a list's options, the error summary."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from portfolio.extensions import db


def text_of(response) -> str:
    """The page as a person reads it: entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def error_next_to(page: str, field: str) -> str:
    """The inline error message of a field (the NHS.UK error-message pattern), as read."""
    assert f'id="{field}-error"' in page, f"no error message next to {field}"
    after = page.split(f'id="{field}-error"', 1)[1]
    message = "</span>".join(after.split("</span>", 2)[:2])
    return " ".join(re.sub(r"<[^>]+>", " ", message.split(">", 1)[1]).split())


def options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) options of the <select> named ``name``."""
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select named {name}"
    return [(v, t.strip()) for v, t in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found.group(1))]


def selected(page: str, name: str) -> list[str]:
    """The values of the options chosen in the <select> named ``name``."""
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select named {name}"
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b[^>]*>', found.group(1))


def summary_links(page: str) -> dict[str, str]:
    """The NHS.UK error summary's messages and the ids they link to."""
    assert "There is a problem" in page, "no error summary"
    summary = page.split('class="nhsuk-error-summary', 1)[1].split("</ul>", 1)[0]
    return {
        " ".join(re.sub(r"<[^>]+>", " ", m).split()): href
        for href, m in re.findall(r'<a href="#([^"]+)"[^>]*>(.*?)</a>', summary, re.S)
    }


def row_counts() -> dict[str, int]:
    """How many rows every table holds: the same before and after means nothing was written."""
    db.session.expire_all()
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables
    }


def status_line(page: str, element_id: str) -> tuple[str, bool]:
    """The text of a page's lasting ``role="status"`` line, and whether it comes out of band (an htmx answer
    that updates the text inside the line the page already has: templates/_live.html)."""
    found = re.search(rf'<p id="{element_id}"[^>]*role="status"([^>]*)>(.*?)</p>', page, re.S)
    assert found, f"no status line {element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(2)).split()), 'hx-swap-oob="innerHTML"' in found.group(1)


def page_title(page: str) -> str:
    """The page's <title>, as a browser tab shows it."""
    found = re.search(r"<title>(.*?)</title>", page, re.S)
    assert found, "no <title>"
    return " ".join(found.group(1).split())
def status_of(page: str, element_id: str) -> str:
    """The words of the lasting ``role="status"`` element ``element_id`` (a paged list's result count)."""
    found = re.search(rf'<p[^>]*\bid="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    assert found, f"no element {element_id}"
    assert 'role="status"' in found.group(0), f"{element_id} is not a status element"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def swapped_parts(fragment: str, region_id: str) -> tuple[str, list[str]]:
    """An htmx answer split into the region it swaps and its out-of-band elements (their opening tags).

    :raises AssertionError: when the answer does not start with the region, or carries a whole page.
    """
    body = fragment.strip()
    assert "<html" not in body and "<h1" not in body, "a whole page, not a fragment"
    assert body.startswith(f'<div id="{region_id}"'), f"the answer does not start with #{region_id}"
    oob = re.findall(r"<[a-z]+[^>]*\bhx-swap-oob=[^>]*>", body)
    return body, oob
