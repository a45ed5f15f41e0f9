"""Team compliance in headless Chromium: a manager filters the matrix to expired training and searches by name,
in place; the catalogue, the compliance page and a worker's home page with training due have no axe-core violations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from portfolio.models import Role, User
from tests.browser.conftest import assert_accessible
from tests.factories import TODAY, certificate, course, make_user, tier

pytestmark = pytest.mark.browser


@pytest.fixture
def team(frameworks):
    """Alice and Dan have something expired, Wendy something due soon, Ben is up to date, Cara is missing a course."""
    safeguarding = course("Safeguarding adults", 36, position=1)
    lone = course("Lone working", 12, position=2)
    course("Coaching supervision", None, position=3, tiers=["link-worker-coach"])
    lw = tier("link-worker", "link-worker")
    manager = make_user(Role.MANAGER, email="manager@example.org", name="Mo Manager")
    people = {
        name: make_user(Role.WORKER, name=name, tier=lw)
        for name in ("Alice Able", "Ben Brown", "Cara Cole", "Dan Dale", "Wendy Worker")
    }
    recent = TODAY - timedelta(days=30)
    for name, person in people.items():
        if name in ("Alice Able", "Dan Dale"):
            certificate(person, safeguarding, TODAY - timedelta(days=3 * 365 + 40), TODAY - timedelta(days=40))
        elif name == "Wendy Worker":
            certificate(person, safeguarding, TODAY - timedelta(days=3 * 365 - 20), TODAY + timedelta(days=20))
        else:
            certificate(person, safeguarding, recent, recent + timedelta(days=3 * 365))
        if name != "Cara Cole":
            certificate(person, lone, recent)
    return manager, people


def _sign_in_as(page, client, auth, live_server: str, user: User) -> None:
    """auth.login_as on the test client, then the same session cookie in the browser (no slow password hashing)."""
    auth.login_as(user)
    cookie = client.get_cookie("session")
    assert cookie is not None
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "session", "value": cookie.value, "url": live_server}])


def _worker_names(page) -> list[str]:
    # The first line: each name has the person's email under it.
    return [text.split("\n")[0] for text in page.locator(".compliance-matrix tbody th[scope=row]").all_inner_texts()]


def test_manager_filters_the_matrix_to_expired_training_in_place(page, client, auth, live_server, team):
    manager, people = team
    _sign_in_as(page, client, auth, live_server, manager)

    page.goto("/training/link-worker/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Training catalogue")
    assert_accessible(page)

    page.get_by_role("link", name="Team compliance").click()
    page.wait_for_url("**/training/link-worker/compliance")
    expect(page.get_by_role("heading", level=1)).to_have_text("Team compliance")
    assert _worker_names(page) == ["Alice Able", "Ben Brown", "Cara Cole", "Dan Dale", "Wendy Worker", "Totals"]
    # The matrix is wider than the reading column's 960 pixels, and stays inside the window.
    width = page.viewport_size["width"]
    box = page.locator(".portfolio-table-scroll").bounding_box()
    assert box["width"] > min(width - 100, 960) and box["x"] > 0 and box["x"] + box["width"] < width
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    # The rest of the page keeps the reading column, lined up with the header (the whole page made fluid did not).
    heading, header = page.locator("h1").bounding_box(), page.locator(".nhsuk-header__container").bounding_box()
    assert heading["x"] == header["x"], (heading["x"], header["x"])
    # Each status is a tag with words, not a colour alone.
    alice = page.locator(".compliance-matrix tbody tr").filter(has=page.get_by_role("rowheader", name="Alice Able"))
    expect(alice.locator(".nhsuk-tag")).to_have_text(["Expired", "Valid"])
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")

    page.get_by_text("Filters", exact=True).click()  # the filters are in a details section, closed at first
    page.get_by_label("Show workers with").select_option(label="Something expired")
    expect(page.locator("#compliance-status")).to_have_text("2 workers match your filters")
    assert _worker_names(page) == ["Alice Able", "Dan Dale", "Totals"]
    expect(page.locator(".compliance-totals td").first).to_have_text("2 expired")
    assert page.evaluate("window.notReloaded") is True  # swapped in place, no reload
    assert "status=expired" in page.url  # kept in the address for the back button and links
    csv_href = page.get_by_role("link", name="Download as CSV").get_attribute("href")
    assert "status=expired" in csv_href and csv_href.endswith("format=csv")  # the export follows the filter

    page.get_by_label("Name").press_sequentially("dan", delay=20)
    expect(page.locator("#compliance-status")).to_have_text("1 worker matches your filters")
    assert _worker_names(page) == ["Dan Dale", "Totals"]
    assert page.evaluate("window.notReloaded") is True
    assert "q=dan" in page.url and "status=expired" in page.url
    assert_accessible(page)


def test_a_worker_with_training_due_sees_it_first_on_home_with_no_accessibility_violations(
    page, client, auth, live_server, team
):
    _, people = team
    _sign_in_as(page, client, auth, live_server, people["Wendy Worker"])
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Wendy Worker")
    warning = page.locator("#training-due")
    expect(warning).to_contain_text("Training to renew")
    expect(warning.locator("li")).to_have_text(
        [
            f"Due soon Safeguarding adults: renew by {(TODAY + timedelta(days=20)).day} {(TODAY + timedelta(days=20)):%B %Y}"
        ]
    )
    # The title's own span: each cell also holds the heading a phone shows beside it.
    expect(page.locator(".my-training tbody tr td:first-child > span:last-child")).to_have_text(
        ["Safeguarding adults", "Lone working"]
    )
    assert_accessible(page)
