"""Every page of the access matrix, for every role, in a 320 px wide Chromium and again with text at 200% in a
1280 px window: axe-core finds nothing (WCAG 2.2 A and AA and best practice), the page does not scroll sideways
(WCAG 1.4.10 reflow, 1.4.4 resize text) and has exactly one h1.

200% text is the browser's own text-size setting, as a person sets it (Chromium's "Font size", through the
DevTools protocol's Page.setFontSizes), not a style added to the page: it doubles every rem and em, and media
queries in em see it too, as they do for that person (the NHS.UK layout's 40em breakpoint is then 1282 px).

Pages are the matrix's GET routes a role may open (200), is refused (403) or finds missing (404),
and the error state of every form it may post (an empty or invalid form answered 422); an answer the same
as one already judged (the refusals) is judged once. One browser context per role; the findings of all pages
are reported together.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from portfolio.models import Role
from tests.browser.conftest import AXE, PHONE, axe_violations, horizontal_overflow, sign_in_by_cookie
from tests.factories import make_user
from tests.test_access_matrix import CASES, ROLES, make_world

pytestmark = pytest.mark.browser

WINDOW = {"width": 1280, "height": 900}
DEFAULT_FONT_PX = 16  # Chromium's default text size: 200% is twice it
VIEWS = ("320px", "200%-text")
SHOWN = (200, 403, 404)  # answers that are a page to read
FILES = {
    "static",
    "assets.nhsuk_asset",
    "evidence.download",
    "review.download",
    "review.note_download",
    "mfa.totp_qr",
    "credentials.download",
    "documents.download",
    "training.certificate_file",
}  # a browser downloads these: no page to check (a refusal of them is the same page as any other)

POST_FORM = """([path, fields]) => {
  const form = document.createElement('form');
  form.method = 'post';
  form.action = path;
  const token = document.querySelector('meta[name="csrf-token"]').content;
  for (const [name, value] of Object.entries({csrf_token: token, ...fields})) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = name;
    input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();  // a plain browser post: no htmx, as with JavaScript off
}"""


def page_findings(page) -> dict:
    """What is wrong with the page in view: axe violations, sideways scrolling, h1 count."""
    found: dict = {}
    for violation in axe_violations(page):
        found[violation["id"]] = [" ".join(target) for target in violation["nodes"]]
    overflow = horizontal_overflow(page)
    if overflow > 0:
        found["scrolls sideways by px"] = overflow
    h1s = page.locator("h1").count()
    if h1s != 1:
        found["h1 count"] = h1s
    return found


def more_pages(frameworks, role: str) -> list[str]:
    """Pages the matrix reaches with other data than the ones a wide table or a long list sits on."""
    if role == "anonymous":
        return []
    pages = [f"/frameworks/{frameworks['link-worker'].id}"]  # the tiers table
    if role == "manager":
        pages.append(f"/training/{frameworks['sfh-senior-engagement-worker'].key}/")  # the role profile's catalogue
    return pages


# A page's CSRF token changes with the second it was made in: two answers that differ only there are one page.
TOKENS = re.compile(r'(name="csrf[-_]token"(?: type="hidden")? (?:content|value)=")[^"]*"')


def crawl(page, ids: dict, label: str, role: str, extra: list[str]) -> tuple[dict, int]:
    """Visit every state ``role`` can reach; the findings by state (named with ``label``), and how many were checked.

    An answer the same as one already checked (a refusal is one page whatever address was refused, and a role is
    refused some twenty) is not checked again: the same document gets the same findings.
    """
    findings: dict = {}
    checked = 0
    judged: set[str] = set()
    for path in extra:
        assert page.goto(path).status == 200, path
        checked += 1
        if found := page_findings(page):
            findings[f"{label} GET {path} (200)"] = found
    for case in (case for case in CASES if case.endpoint not in FILES):
        expected = case.expected[role]
        path = case.path(ids)
        if case.method == "GET" and expected in SHOWN:
            response = page.goto(path)
        elif case.method == "POST" and expected == 422:
            page.goto("/auth/sign-in" if role == "anonymous" else "/account/")
            data = {key: str(ids.get(value, value)) for key, value in (case.data or {}).items()}
            with page.expect_navigation() as navigation:
                page.evaluate(POST_FORM, [path, data])
            response = navigation.value
        else:
            continue
        if "text/html" not in (response.headers.get("content-type") or ""):
            continue  # a file, a PDF, a zip or JSON
        assert response.status == expected, f"{role} {case.method} {path}: {response.status}"
        document = TOKENS.sub(r"\1", response.text())
        if document in judged:
            continue
        judged.add(document)
        checked += 1
        found = page_findings(page)
        if found:
            findings[f"{label} {case.method} {path} ({expected})"] = found
    return findings, checked


def text_at_200_percent(context, page) -> None:
    """Set the browser's text size to twice its default for ``page`` (it lasts across its navigations)."""
    session = context.new_cdp_session(page)
    session.send("Page.setFontSizes", {"fontSizes": {"standard": 2 * DEFAULT_FONT_PX, "fixed": 2 * 13}})


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_and_error_state_is_accessible_at_320_px_and_200_percent_text(
    app, browser, live_server, frameworks, role, view
):
    ids, people = make_world(frameworks)
    context = browser.new_context(base_url=live_server, viewport=PHONE if view == "320px" else WINDOW)
    context.add_init_script(path=str(AXE))
    try:
        if role != "anonymous":
            sign_in_by_cookie(context, app, live_server, people[role])
        page = context.new_page()
        if view == "200%-text":
            text_at_200_percent(context, page)
            page.goto("/")
            assert page.evaluate("() => getComputedStyle(document.documentElement).fontSize") == "32px"
        findings, checked = crawl(page, ids, f"{role} at {view}", role, more_pages(frameworks, role))
    finally:
        context.close()
    assert checked > (5 if role == "anonymous" else 30)
    assert findings == {}, "\n".join(f"{state}: {json.dumps(found)}" for state, found in findings.items())


def header_is_set_up(page) -> bool:
    """The NHS.UK header's script ran: at 320 px the items that do not fit are under its menu button."""
    return page.locator(".nhsuk-header__menu-toggle").is_visible()


def test_after_boosted_navigation_and_a_422_answer_the_page_reflows_and_focus_is_on_the_page(
    app, browser, live_server, frameworks
):
    manager = make_user(Role.MANAGER, email="manager@example.org")
    context = browser.new_context(base_url=live_server, viewport=PHONE)
    context.add_init_script(path=str(AXE))
    sign_in_by_cookie(context, app, live_server, manager)
    page = context.new_page()
    try:
        page.goto("/people/")
        assert header_is_set_up(page) and horizontal_overflow(page) == 0
        page.evaluate("() => { window.sameDocument = true; }")  # gone if the browser loads a new document

        page.get_by_role("button", name="Invite a person").click()  # a boosted link: htmx swaps the body
        page.wait_for_url("**/people/invite")
        assert page.evaluate("() => window.sameDocument") is True  # htmx swapped the page in
        # Focus moves once htmx has settled the swap: after that the header must be set up again.
        expect(page.get_by_role("heading", level=1)).to_be_focused()
        expect(page.locator(".nhsuk-header__menu-toggle")).to_be_visible()
        assert header_is_set_up(page) and horizontal_overflow(page) == 0
        assert page_findings(page) == {}

        page.get_by_role("button", name="Send invitation").click()  # empty: answered 422, swapped in by htmx
        expect(page.locator(".nhsuk-error-summary")).to_be_focused()
        assert page.evaluate("() => window.sameDocument") is True
        assert page.title().startswith("Error:")
        assert header_is_set_up(page) and horizontal_overflow(page) == 0
        assert page_findings(page) == {}
    finally:
        context.close()


SWAPS = {
    # role: [(page, search box label, words, status line id, what it then says)]
    "worker": [
        ("/portfolio/", "Search titles and text", "Asset", "evidence-count", "1 item matches your filters"),
        ("/frameworks/{sfh}", "Find a competence", "Quality", "search-summary", "4 competences match “Quality”"),
        ("/portfolio/{evidence}/links", "Search competences", "safeguarding", "picker-count", "1 competence to link"),
    ],
    "manager": [("/people/", "Name or email", "worker@", "people-count", "1 person matches your search")],
}


@pytest.mark.parametrize("role", SWAPS)
def test_htmx_searches_update_a_lasting_status_line_and_stay_accessible(app, browser, live_server, frameworks, role):
    ids, people = make_world(frameworks)
    context = browser.new_context(base_url=live_server, viewport=PHONE)
    context.add_init_script(path=str(AXE))
    sign_in_by_cookie(context, app, live_server, people[role])
    page = context.new_page()
    try:
        for path, label, words, status_id, said in SWAPS[role]:
            page.goto(path.format(**ids))
            title = page.title()
            page.evaluate("(id) => { window.statusLine = document.getElementById(id); }", status_id)
            page.get_by_label(label, exact=True).press_sequentially(words, delay=20)
            expect(page.locator(f"#{status_id}")).to_have_text(said)
            # The same element, updated inside: a screen reader hears the new count once.
            assert page.evaluate("(id) => window.statusLine === document.getElementById(id)", status_id), path
            assert page.get_by_role("status").filter(has_text=said).count() == 1
            assert page.locator("[aria-live]:has(table, ul, li)").count() == 0  # no live region round a list
            assert page.title() != title and said in page.title()
            assert page_findings(page) == {}, path
    finally:
        context.close()


SELECTS_OVERFLOWING = """() => Array.from(document.querySelectorAll('main select'))
  .filter(select => select.getBoundingClientRect().right > select.closest('[class*="nhsuk-grid-column"], form')
    .getBoundingClientRect().right + 1)
  .map(select => select.id)"""


@pytest.mark.parametrize(
    "role, paths", [("manager", ["/people/"]), ("worker", ["/portfolio/", "/portfolio/{evidence}/links"])]
)
def test_filter_selects_stay_in_their_column_with_text_at_200_percent(
    app, browser, live_server, frameworks, role, paths
):
    ids, people = make_world(frameworks)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    sign_in_by_cookie(context, app, live_server, people[role])
    page = context.new_page()
    try:
        for path in paths:
            page.goto(path.format(**ids))
            page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
            page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")  # filters
            assert page.evaluate(SELECTS_OVERFLOWING) == [], path
    finally:
        context.close()


BROKEN_PAGE = """<!doctype html><html lang="en"><head><title>Broken</title></head><body>
<main><h1>One</h1><h1>Two</h1>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" id="no-alt">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" id="no-alt-either">
<input type="text" id="no-label">
<div style="width: 2000px">Too wide for a phone</div></main></body></html>"""


def test_the_checks_find_what_is_wrong_with_a_page(browser):
    """The crawl's checks are not silent: missing alt text and label, two h1s, a page wider than a phone."""
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.set_content(BROKEN_PAGE)
        found = page_findings(page)
    finally:
        context.close()
    assert found["image-alt"] == ["#no-alt", "#no-alt-either"]  # every node of a violation, not only the first
    assert found["label"] == ["#no-label"]
    assert found["h1 count"] == 2
    assert found["scrolls sideways by px"] > 1000


def test_answers_that_differ_only_in_their_csrf_token_are_one_page():
    def answer(token: str, heading: str) -> str:
        return (
            f'<meta name="csrf-token" content="{token}"><h1>{heading}</h1>'
            f'<input id="csrf_token" name="csrf_token" type="hidden" value="{token}">'
        )

    assert TOKENS.sub(r"\1", answer("IjAb.1", "Refused")) == TOKENS.sub(r"\1", answer("IjCd.2", "Refused"))
    assert TOKENS.sub(r"\1", answer("IjAb.1", "Refused")) != TOKENS.sub(r"\1", answer("IjAb.1", "Not found"))
