"""Reading a response as a person does: the page text, the message next to a field, a list's options, the error summary.

The kit's page half (domain data is made by ``tests/factories.py``, fixtures live in ``tests/conftest.py``):

- ``text_of(response)``: the page with entities decoded; ``words(html)``: a piece of HTML as plain words.
- ``error_next_to(page, field)``, ``summary_links(page)``, ``assert_error_shown(response, field, message)``:
  the NHS.UK error message and error summary; ``field_error`` / ``error_summary`` read the same, tolerating absence.
- ``options(page, name)``, ``selected_options(page, name)``, ``table_rows(page, table_class)``: what a form or table offers.
- ``form_values(form)``: what a browser would send from a form's fields as the page shows them (no button).
- ``date_fields(name, day)``: the day/month/year fields of a date input; ``long_date(day)``: "5 March 2026".
- ``row_counts(*models)``: rows per table, to prove a refusal wrote nothing; ``count(model, *where)``: one count;
  ``reload(row)`` / ``reload(Model, id)``: a row as the database holds it now; ``pdf_text(data)``: a PDF's words.
- ``audit_rows(action, **details)``: the ledger's rows; ``form_key(page)``: a form's one-time key;
  ``seen_on(page)``: the hash of what a confirming page shows (a note's, an appraisal's), which its answer binds.
- ``files_on_disk(app)``, ``upload_folder(app)``: what the upload folder holds.
- ``is_signed_in(client)``: whether the client's session reaches the home page.
- ``escaped_markup(page)``: our own tags printed as text (escaped twice), which ``text_of`` and ``words`` hide.
"""

from __future__ import annotations

import html
import io
import re
from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

from pypdf import PdfReader
from sqlalchemy import func, select

from portfolio import clock
from portfolio.extensions import db
from portfolio.models import AuditEntry

# Messages the app shows that several test files look for.
TOO_MANY = "Too many failed attempts to sign in"
UNUSABLE = "This link no longer works"
WRONG_KIND = "The selected file must be a PDF, PNG, JPEG or DOCX"


def text_of(response) -> str:
    """The page as a person reads it: entities decoded."""
    return html.unescape(response.get_data(as_text=True))


# A tag of ours escaped into text ("&lt;span class=..."): people see the markup. No test data holds "<".
_ESCAPED_TAG = re.compile(r"&lt;/?(?:a|p|span|strong|em|br|div|ul|ol|li|h[1-6]|form|input|button)\b[^&]{0,80}")


def duplicate_ids(page: str) -> list[str]:
    """The ids that more than one element of ``page`` carries (a form's field rendered once per row did that)."""
    ids = re.findall(r'\bid="([^"]+)"', page)
    return sorted({i for i in ids if ids.count(i) > 1})


def escaped_markup(page: str) -> list[str]:
    """Markup printed as text in ``page``'s raw HTML (a template joined a string to escaped markup, say)."""
    return _ESCAPED_TAG.findall(page)


def words(fragment: str) -> str:
    """A piece of HTML as a person reads it: tags gone, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def map_row(page: str, statement: str) -> str:
    """A row of the competence map as a screen reader reads it (the headings a phone shows in each cell are
    aria-hidden)."""
    row = next(r for r in page.split("<tr")[1:] if statement in r)  # [1:]: not a flash message above the map
    return words(re.sub(r'<span[^>]*aria-hidden="true">[^<]*</span>', "", "<tr" + row.split("</tr>")[0]))


#: Request headers: htmx asking for a fragment, and htmx's boosted navigation (which gets the whole page).
HTMX = {"HX-Request": "true"}
BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}


def error_next_to(page: str, field: str) -> str:
    """The inline error message of a field (the NHS.UK error-message pattern), as read."""
    assert f'id="{field}-error"' in page, f"no error message next to {field}"
    after = page.split(f'id="{field}-error"', 1)[1]
    message = "</span>".join(after.split("</span>", 2)[:2])
    return words(message.split(">", 1)[1])


def selected(page: str, name: str) -> list[str]:
    """The values of the options chosen in the <select> named ``name``."""
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select named {name}"
    return re.findall(r'<option value="([^"]*)"[^>]*\bselected\b[^>]*>', found.group(1))


def checkboxes(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, label) of each checkbox named ``name``, in page order."""
    found = re.findall(
        rf'<input[^>]*id="([^"]*)"[^>]*name="{name}"[^>]*type="checkbox"[^>]*value="([^"]*)"[^>]*>', page
    )
    assert found, f"no checkboxes named {name}"
    labels = dict(re.findall(r'<label[^>]*for="([^"]*)"[^>]*>([^<]*)</label>', page))
    return [(value, labels.get(box_id, "").strip()) for box_id, value in found]


def ticked(page: str, name: str) -> list[str]:
    """The values of the checkboxes named ``name`` that are ticked."""
    return re.findall(rf'<input[^>]*name="{name}"[^>]*type="checkbox"[^>]*value="([^"]*)"[^>]*\bchecked\b', page)


def link_buttons(page: str) -> dict[str, str]:
    """The links drawn as NHS.UK buttons on ``page``: text -> where each goes."""
    found = {}
    for tag, text in re.findall(r'<a\s([^>]*\bclass="nhsuk-button[^"]*"[^>]*)>(.*?)</a>', page, re.S):
        href = re.search(r'\bhref="([^"]*)"', tag)
        found[words(text)] = href.group(1) if href else ""
    return found


def summary_links(page: str) -> dict[str, str]:
    """The NHS.UK error summary's messages and the ids they link to."""
    assert "There is a problem" in page, "no error summary"
    summary = page.split('class="nhsuk-error-summary', 1)[1].split("</ul>", 1)[0]
    return {words(m): href for href, m in re.findall(r'<a href="#([^"]+)"[^>]*>(.*?)</a>', summary, re.S)}


def assert_error_shown(response, field: str, message: str, *, anchor: str | None = None) -> str:
    """422, the error summary linking to the field (which is on the page), and the message next to it; the page."""
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: " in page
    links = summary_links(page)
    hrefs = [href for text, href in links.items() if message in text]
    assert hrefs, f"{message!r} is not in the error summary: {links}"
    assert hrefs[0] == (anchor or field)
    assert f'id="{hrefs[0]}"' in page, f"the error summary links to #{hrefs[0]}, which is not on the page"
    assert message in error_next_to(page, field)
    return page


def field_error(page: str, field_id: str) -> str | None:
    """The text of the NHS.UK error message shown next to ``field_id``, or None."""
    match = re.search(
        rf'<span class="nhsuk-error-message" id="{re.escape(field_id)}-error"[^>]*>\s*'
        r'<span class="nhsuk-u-visually-hidden">Error: </span>(.*?)\s*</span>',
        page,
        re.S,
    )
    return html.unescape(match.group(1).strip()) if match else None


def error_summary(page: str) -> list[tuple[str, str]]:
    """The (link target, message) pairs listed in the NHS.UK error summary; empty when there is none."""
    match = re.search(r'class="nhsuk-error-summary".*?<ul[^>]*nhsuk-error-summary__list[^>]*>(.*?)</ul>', page, re.S)
    if not match:
        return []
    return [
        (href, html.unescape(re.sub(r"\s+", " ", text).strip()))
        for href, text in re.findall(r'<a href="([^"]+)"\s*>(.*?)</a>', match.group(1), re.S)
    ]


def _select(page: str, name: str) -> str:
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select named {name}"
    return found.group(1)


def options(page: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) options of the <select> named ``name``."""
    return [
        (v, t.strip()) for v, t in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', _select(page, name))
    ]


def selected_options(page: str, name: str) -> list[str]:
    """The values of the selected options of the <select> named ``name``."""
    return re.findall(r'<option value="([^"]*)"\s*selected\s*>', _select(page, name))


RESPONSIVE_HEADING = re.compile(r'<span class="nhsuk-table-responsive__heading" aria-hidden="true">[^<]*</span>')


def table_rows(fragment: str, table_class: str) -> list[list[str]]:
    """The body rows of the table with ``table_class``, each cell as its words (as read: a responsive table's
    headings in each cell, shown on a phone, are hidden from screen readers)."""
    opening = re.search(rf'<table class="[^"]*\b{re.escape(table_class)}\b[^"]*"', fragment)
    assert opening, f"no table {table_class}"
    table = fragment[opening.end() :].split("</table>", 1)[0]
    body = RESPONSIVE_HEADING.sub("", table.split("<tbody", 1)[1].split("</tbody>", 1)[0])
    return [
        [words(re.sub(r"<br\s*/?>", " ", cell)) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def date_fields(name: str, day: date | None) -> dict[str, str]:
    """The day, month and year fields of the NHS.UK date input ``name`` (all empty for None)."""
    if day is None:
        return {f"{name}-day": "", f"{name}-month": "", f"{name}-year": ""}
    return {f"{name}-day": str(day.day), f"{name}-month": str(day.month), f"{name}-year": str(day.year)}


def long_date(day: date | datetime) -> str:
    """A date as pages show it: "5 March 2026"; a moment's day on the service's clock (``TZ``)."""
    if isinstance(day, datetime):
        day = clock.day_of(day)
    return f"{day.day} {day:%B %Y}"


def pdf_text(data: bytes) -> str:
    """The text of a PDF, whitespace collapsed (lines wrap where the page ends)."""
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def row_counts(*models) -> dict[str, int]:
    """Rows per table (every table, or those of ``models``): the same before and after means nothing was written."""
    db.session.expire_all()
    tables = [model.__table__ for model in models] or db.metadata.sorted_tables
    counts = db.session.execute(select(*(select(func.count()).select_from(t).scalar_subquery() for t in tables)))
    return {table.name: count for table, count in zip(tables, counts.one(), strict=True)}


def status_line(page: str, element_id: str) -> tuple[str, bool]:
    """The text of a page's lasting ``role="status"`` line, and whether it comes out of band (an htmx answer
    that updates the text inside the line the page already has: templates/_live.html)."""
    found = re.search(rf'(<p[^>]*\bid="{element_id}"[^>]*>)(.*?)</p>', page, re.S)
    assert found and 'role="status"' in found.group(1), f"no status line {element_id}"
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


def is_signed_in(client) -> bool:
    """Whether ``client``'s session reaches the home page (else it is sent to sign in)."""
    response = client.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/auth/sign-in"
    return False


def count(model, *where) -> int:
    """How many rows of ``model`` (matching ``where``) the database holds, as a fresh snapshot sees it."""
    db.session.commit()  # a new snapshot: see what the app (or another connection) wrote
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def reload(row_or_model, row_id=None):
    """The row as the database holds it now: ``reload(row)`` or ``reload(Model, id)``; None once deleted."""
    db.session.expire_all()
    if row_id is None:
        return db.session.get(type(row_or_model), row_or_model.id)
    return db.session.get(row_or_model, row_id)


def form_values(form: str) -> dict[str, str]:
    """What a browser sends from the fields of ``form`` (a form's raw HTML) as the page shows them, buttons left out:
    each input's value (a radio or checkbox only when ticked) and each textarea's text."""
    values: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", form):
        name = re.search(r'\sname="([^"]*)"', tag)
        kind = re.search(r'\stype="([^"]*)"', tag)
        kind_of = kind.group(1) if kind else "text"
        if not name or kind_of in ("submit", "button", "file", "image", "reset"):
            continue
        if kind_of in ("radio", "checkbox") and not re.search(r"\schecked\b", tag):
            continue
        value = re.search(r'\svalue="([^"]*)"', tag)
        values[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    for name, text in re.findall(r'<textarea\b[^>]*\sname="([^"]*)"[^>]*>(.*?)</textarea>', form, re.S):
        values[html.unescape(name)] = html.unescape(text.removeprefix("\n"))  # a browser drops one leading newline
    return values


KEY_RE = re.compile(r'name="form_key" type="hidden" value="([^"]+)"|name="form_key" value="([^"]+)"')


def seen_on(page: str) -> str:
    """The hash of what the page shows, which its confirmation or signature binds; "" when it has no such form."""
    found = re.search(r'name="seen" type="hidden" value="([0-9a-f]{64})"', page)
    return found.group(1) if found else ""


def form_key(page: str) -> str:
    """The one-time form key of the form on ``page`` (it makes a double submission land once)."""
    match = KEY_RE.search(page)
    assert match, "no one-time form key on the page"
    return match.group(1) or match.group(2)


def audit_rows(action: str | None = None, **details) -> list[AuditEntry]:
    """The ledger's rows in order, of ``action`` if given, whose details hold ``details`` (``submission_id=3``)."""
    db.session.expire_all()
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    rows = db.session.scalars(query).all()
    return [row for row in rows if all((row.details or {}).get(key) == value for key, value in details.items())]


def upload_folder(app) -> Path:
    """Where the app keeps uploaded files."""
    return Path(app.config["UPLOAD_FOLDER"])


def files_on_disk(app) -> list[str]:
    """Every path in the upload folder, finished or staged, relative to it."""
    folder = upload_folder(app)
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")) if folder.exists() else []


def date_shown(page: str, name: str) -> tuple[str, str, str]:
    """The day, month and year a date input shows, as typed."""
    return tuple(  # type: ignore[return-value]
        re.search(rf'<input[^>]*name="{name}-{part}"[^>]*>', page)[0].partition('value="')[2].partition('"')[0]
        for part in ("day", "month", "year")
    )
