"""Phones (issue 14): a link worker between home visits, at 375 and 320 CSS px. The progress chart's words are
readable, the portfolio's filters fold away so the list is near the top, the competence map has contents, jumps
and a filter by status (with and without JavaScript), and wide tables scroll on their own with the row's name in view.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from portfolio.models import Role
from tests.browser.conftest import (
    AXE,
    assert_accessible,
    chart_value,
    horizontal_overflow,
    sign_in_by_cookie,
)
from tests.factories import competence, course, link_draft, make_user, meet

pytestmark = pytest.mark.browser

PHONE_375 = {"width": 375, "height": 667}
PHONE_320 = {"width": 320, "height": 640}
FONT_SIZES = """(root) => Array.from(root.querySelectorAll('*'))
  .filter(e => e.offsetParent && Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
  .map(e => parseFloat(getComputedStyle(e).fontSize))"""


@pytest.fixture
def phone(app, browser, live_server, worker):
    """A signed-in worker's page in a phone-sized window, with axe-core ready."""
    contexts = []

    def open_page(viewport=PHONE_375, javascript=True):
        context = browser.new_context(base_url=live_server, viewport=viewport, java_script_enabled=javascript)
        context.add_init_script(path=str(AXE))
        contexts.append(context)
        sign_in_by_cookie(context, app, live_server, worker)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE_375, PHONE_320], ids=["375px", "320px"])
def test_the_progress_chart_has_readable_words_and_its_values_as_text(phone, worker, supervisor, viewport):
    meet(worker, [competence("PS-LW-01")], supervisor=supervisor)
    page = phone(viewport)
    page.goto("/progress/")
    chart = page.get_by_role("figure", name="Competences met, by tier")
    expect(chart_value(chart, "Link Worker")).to_have_text(re.compile(r"^1 of \d+ met$"))
    expect(chart_value(chart, "Link Worker Coach")).to_have_text(re.compile(r"^0 of \d+ met$"))
    sizes = chart.evaluate(FONT_SIZES)
    assert sizes and min(sizes) >= 14, sizes
    # Page text, not a scaled picture: the words are as tall as their font says.
    assert chart_value(chart, "Link Worker").bounding_box()["height"] >= 14
    assert horizontal_overflow(page) == 0
    assert_accessible(page)


def test_on_a_phone_the_portfolio_list_is_near_the_top_and_its_filters_open_on_demand(phone, worker):
    for n in range(3):
        link_draft(worker, [competence("PS-LW-01")], title=f"Home visit notes {n}")
    page = phone()
    page.goto("/portfolio/")
    expect(page.get_by_label("Search titles and text")).to_be_visible()  # search stays in view
    expect(page.get_by_label("Kind")).to_be_hidden()
    assert page.locator("#evidence-list").bounding_box()["y"] < PHONE_375["height"]  # on the first screen
    assert_accessible(page)

    page.get_by_text("Filters", exact=True).click()
    expect(page.get_by_label("Kind")).to_be_visible()
    page.get_by_label("Status").select_option(label="Draft")
    expect(page.locator("#evidence-count")).to_have_text("3 items match your filters")
    expect(page).to_have_url(re.compile(r"status=draft"))
    assert horizontal_overflow(page) == 0
    assert_accessible(page)


def test_the_competence_map_on_a_phone_has_contents_jumps_statuses_and_a_filter(phone, worker, supervisor):
    meet(worker, [competence("PS-LW-01")], supervisor=supervisor)
    link_draft(worker, [competence("PS-LW-02")])
    page = phone()
    page.goto("/portfolio/map")
    contents = page.get_by_role("navigation", name="Tiers of the competence map")
    expect(contents.get_by_role("link")).to_have_count(3)
    contents.get_by_role("link", name=re.compile(r"^Link Worker Coach \(0 of \d+ met\)$")).click()
    expect(page).to_have_url(re.compile(r"#tier-2$"))
    expect(page.get_by_role("heading", name="Link Worker Coach", exact=True)).to_be_in_viewport()
    # Each competence says where it stands, in My progress's words, on the phone's screen.
    for ref, status in (("PS-LW-01", "Met"), ("PS-LW-02", "In progress"), ("PS-LW-03", "Not started")):
        row = page.locator("#competence-map tr").filter(has_text=competence(ref).statement)
        expect(row.locator(".nhsuk-tag").last).to_have_text(status)
        expect(row.locator(".nhsuk-tag").last).to_be_visible()
    # One with no evidence is its statement and its status: not "Items 0" and "No evidence" too (found by a helper:
    # three lines a row made a 61-competence map 17,000 px long). One with evidence keeps its counts.
    untouched = page.locator("#competence-map tr").filter(has_text=competence("PS-LW-03").statement)
    expect(untouched.get_by_text("No evidence")).to_be_hidden()
    expect(untouched.locator("td").nth(1)).to_be_hidden()
    started = page.locator("#competence-map tr").filter(has_text=competence("PS-LW-02").statement)
    expect(started.get_by_text("1 draft")).to_be_visible()
    expect(started.locator("td").nth(1)).to_be_visible()
    assert horizontal_overflow(page) == 0
    wide = phone(viewport={"width": 1280, "height": 800})  # a table again: every column of every row
    wide.goto("/portfolio/map")
    expect(
        wide.locator("#competence-map tr").filter(has_text=competence("PS-LW-03").statement).get_by_text("No evidence")
    ).to_be_visible()

    page.goto("/portfolio/map")
    page.evaluate("() => { window.notReloaded = true; window.statusLine = document.getElementById('map-status'); }")
    page.get_by_text("Filters", exact=True).click()
    page.get_by_label("Show competences").select_option(label="In progress")
    expect(page.locator("#map-status")).to_have_text("1 competence with status In progress")
    expect(page.locator("#competence-map tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=in-progress"))
    assert page.evaluate("() => window.notReloaded && window.statusLine === document.getElementById('map-status')")
    assert page.title() == "Competence map: 1 competence with status In progress – Evidence portfolio"
    assert horizontal_overflow(page) == 0
    assert_accessible(page)


def test_the_map_filter_works_with_javascript_off(phone, worker, supervisor):
    meet(worker, [competence("PS-LW-01")], supervisor=supervisor)
    page = phone(PHONE_320, javascript=False)
    page.goto("/portfolio/map")
    page.get_by_text("Filters", exact=True).click()  # the browser's own details element
    page.get_by_label("Show competences").select_option(label="Met")
    page.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_url("**/portfolio/map?status=met")
    expect(page.locator("#map-status")).to_have_text("1 competence with status Met")
    expect(page.locator("#competence-map tbody tr")).to_have_count(1)
    assert horizontal_overflow(page) == 0


def test_a_wide_table_scrolls_in_a_focusable_region_with_a_cue_and_its_first_column_in_view(phone, worker):
    page = phone(PHONE_320)
    page.goto(f"/frameworks/{worker.framework_id}")
    region = page.get_by_role("region", name="Competences by tier")
    assert region.evaluate("r => r.scrollWidth > r.clientWidth")  # wider than a 320 px phone
    assert "gradient" in region.evaluate("r => getComputedStyle(r).backgroundImage")  # the edge shadow
    first = region.locator("tbody tr").first.locator("th")
    left = first.bounding_box()["x"]
    region.focus()
    expect(region).to_be_focused()
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # the keyboard scrolls it (smoothly: wait for it to move)
    page.wait_for_function("(r) => r.scrollLeft > 0", arg=region.element_handle(), timeout=5000)
    assert first.bounding_box()["x"] == left  # the tier's name stays where it was
    assert horizontal_overflow(page) == 0
    assert_accessible(page)


def test_a_name_and_its_email_stack_in_a_table_cell_on_a_phone(app, browser, live_server, worker, manager):
    """On a phone a cell is a flex row: a <br> between the name and the email broke no line, and they ran together."""
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, manager)
    page = context.new_page()
    for path in ("/people/", "/progress/team"):
        page.goto(path)
        row = page.locator("tbody tr", has_text=worker.email)
        name = row.get_by_role("link", name="Wendy Worker").bounding_box()
        email = row.locator(".nhsuk-body-s", has_text=worker.email).bounding_box()
        assert name and email
        assert email["y"] >= name["y"] + name["height"] - 1, path  # on the next line, not beside the name
    context.close()


def test_an_items_title_and_kind_stack_in_my_portfolio_on_a_phone(app, browser, live_server, worker):
    """Found by a helper: in My portfolio at 320 px the title and the kind of evidence sat side by side, touching."""
    from tests.factories import link_draft

    link_draft(worker, [], title="Observed holistic assessment")
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, worker)
    page = context.new_page()
    page.goto("/portfolio/")
    row = page.locator("tbody tr", has_text="Observed holistic assessment")
    title = row.get_by_role("link", name="Observed holistic assessment").bounding_box()
    kind = row.locator(".nhsuk-body-s", has_text="Other evidence").bounding_box()
    assert title and kind
    assert kind["y"] >= title["y"] + title["height"] - 1  # on the next line, not beside the title
    assert horizontal_overflow(page) == 0
    context.close()


def test_a_certificates_two_tags_sit_together_in_my_portfolio_on_a_phone(app, browser, live_server, worker):
    """Found by a helper: at 320 px "Checked" sat mid-row and "Draft" at the right edge, as two separate values."""
    from tests.factories import certificate

    cert = certificate(worker, course("Safeguarding adults", 36), date(2026, 11, 1), title="Safeguarding level 2")
    link_draft(worker, [], title="Unrelated")  # a second row
    from portfolio.extensions import db
    from portfolio.models import EvidenceLink

    db.session.add(EvidenceLink(evidence_id=cert.id, competence_id=competence("PS-LW-01").id))
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, worker)
    page = context.new_page()
    page.goto("/portfolio/")
    row = page.locator("tbody tr", has_text="Safeguarding level 2")
    checked = row.locator(".nhsuk-tag", has_text="Checked").bounding_box()
    draft = row.locator(".nhsuk-tag", has_text="Draft").bounding_box()
    assert checked and draft
    assert (
        0 <= draft["x"] - (checked["x"] + checked["width"]) < 16 or draft["y"] >= checked["y"] + checked["height"] - 1
    )
    context.close()


def test_the_training_catalogue_fits_a_320px_phone(app, browser, live_server, manager, frameworks):
    """Found by a helper: a long title beside its "Statutory or mandatory" tag made the row 330px wide at 320px,
    cutting off "Every 12 months" and "Every tier" at the screen's edge."""
    course("Statutory/Mandatory training within the service", 12, key="sfh-senior-engagement-worker")
    course("Prevention and management of violence and aggression", 12, key="sfh-senior-engagement-worker")
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, manager)
    page = context.new_page()
    page.goto("/training/sfh-senior-engagement-worker/")
    expect(page.get_by_text("Every 12 months").first).to_be_visible()
    assert horizontal_overflow(page) == 0
    context.close()


def test_a_long_reason_for_sending_a_certificate_back_fits_a_320px_phone(app, browser, live_server, worker, frameworks):
    """Found by a helper: a reason holding a long link widened the worker's training table to 556 px and her
    notices to 401 px at 320 px."""
    from portfolio.training import service as training
    from tests.factories import certificate, make_supervisor_of

    sam = make_supervisor_of(worker)
    cert = certificate(worker, course("Safeguarding adults", 36), date(2026, 11, 1), checked=False)
    link = "https://www.example.org/" + "a-very-long-address-without-a-break" * 3
    training.send_back_certificate(sam, cert, f"The file is another course's certificate: see {link}")
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, worker)
    page = context.new_page()
    for path in ("/", "/notifications/", f"/portfolio/{cert.id}"):
        page.goto(path)
        expect(page.get_by_text("a-very-long-address").first).to_be_visible()
        assert horizontal_overflow(page) == 0, path
    context.close()


def test_a_supervisees_evidence_and_the_team_fit_a_320px_phone(app, browser, live_server, worker, supervisor):
    """The new list of what a worker has sent, and the team list whose names now carry a link to it."""
    from tests.factories import waiting_item

    waiting_item(worker, title="Community garden visit with a long title that has to wrap on a phone")
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, supervisor)
    page = context.new_page()
    page.goto("/review/team")
    page.get_by_role("link", name="Evidence of Wendy Worker").click()
    expect(page.get_by_role("heading", level=1, name="Wendy Worker’s evidence")).to_be_visible()
    assert_accessible(page)
    row = page.locator("tbody tr", has_text="Community garden visit")
    title = row.get_by_role("link", name=re.compile("Community garden visit")).bounding_box()
    kind = row.locator(".nhsuk-body-s", has_text="Other evidence").bounding_box()
    assert title and kind and kind["y"] >= title["y"] + title["height"] - 1
    assert horizontal_overflow(page) == 0
    page.get_by_role("link", name=re.compile("Community garden visit")).click()
    expect(page.get_by_role("heading", level=2, name="Your decision")).to_be_visible()
    context.close()


def test_the_homes_training_table_stacks_each_course_on_a_320px_phone(app, browser, live_server, worker, frameworks):
    """Noticed in a helper's trial: the worker's training table kept three narrow columns at 320 px, a course's
    title and its "Add a certificate" link squeezed into a third of the screen each. Each course is a block now,
    each value beside its heading, and the headings stay hidden from screen readers."""
    from tests.factories import certificate

    course("Prevention and management of violence and aggression", 12)
    certificate(worker, course("Safeguarding adults", 36), date(2026, 11, 1), checked=False)
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    context.add_init_script(path=str(AXE))
    sign_in_by_cookie(context, app, live_server, worker)
    page = context.new_page()
    page.goto("/")
    rows = page.locator(".my-training tbody tr")
    expect(rows).to_have_count(2)
    missing = rows.filter(has_text="Prevention and management")
    title = missing.get_by_text("Prevention and management of violence and aggression", exact=True).bounding_box()
    add = missing.get_by_role("link", name="Add a certificate for Prevention and management").bounding_box()
    assert add["y"] >= title["y"] + title["height"]  # the status under the title, not beside it
    assert add["width"] > 100
    expect(missing.locator(".nhsuk-table-responsive__heading", has_text="Status")).to_be_visible()
    assert horizontal_overflow(page) == 0
    assert_accessible(page)
    context.close()


def test_a_persons_history_fits_a_320px_phone(app, browser, live_server, manager, worker):
    """Found by a helper: the three-column history made a worker's page 324 px wide at 320 px."""
    from portfolio.audit import ledger
    from portfolio.extensions import db

    supervisor = make_user(Role.SUPERVISOR, name="Bartholomew Featherstonehaugh-Montgomery")
    ledger.record(supervisor, "promotion.recommended", f"user:{worker.id}", supports=False, changes=True)
    db.session.commit()
    context = browser.new_context(base_url=live_server, viewport=PHONE_320)
    sign_in_by_cookie(context, app, live_server, manager)
    page = context.new_page()
    page.goto(f"/people/{worker.id}")
    expect(page.get_by_text("Changed the recommendation: did not recommend the promotion")).to_be_visible()
    assert horizontal_overflow(page) == 0
    context.close()
