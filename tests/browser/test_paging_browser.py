"""Paged lists in headless Chromium: a supervisor pages through a long review queue and filters it in place;
the result count is one lasting status element that htmx updates out of band, and Back returns to the page before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Notification, Role, utcnow
from tests.browser.conftest import PHONE, assert_accessible, horizontal_overflow, settled, sign_in
from tests.factories import (
    LONG_NAME,
    PASSWORD,
    TODAY,
    assign,
    competences,
    link_draft,
    make_user,
    many_users,
    tier,
    waiting_items,
)

pytestmark = pytest.mark.browser


def queue_of_sixty(page):
    """Sam's review queue of 60 submissions (20 workers, 3 each), open at its first page; its status line."""
    supervisor = make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    waiting_items(supervisor, many_users(20, tier=tier("link-worker", "link-worker")), 3)
    sign_in(page, "sam@example.org", PASSWORD)
    page.goto("/review/")
    status = page.locator("#queue-status")
    expect(status).to_have_text("60 submissions, showing 1 to 25 (page 1 of 3)")
    return status


def test_a_supervisor_pages_through_the_queue_and_filters_it_in_place(page, live_server, frameworks):
    status = queue_of_sixty(page)
    assert_accessible(page)
    # Marks that survive only if nothing reloads and the status element is never replaced.
    page.evaluate("window.notReloaded = true; document.getElementById('queue-status').dataset.lasting = 'yes'")

    page.get_by_role("link", name="Next page").click()
    expect(status).to_have_text("60 submissions, showing 26 to 50 (page 2 of 3)")
    page.wait_for_url("**/review/?page=2")
    expect(page.locator("table.review-queue tbody tr")).to_have_count(25)
    expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.getElementById('queue-status').dataset.lasting") == "yes"
    assert page.locator("[role=status]#queue-status").count() == 1

    page.get_by_label("Title or worker's name").press_sequentially(f"{LONG_NAME.split()[0]} 007", delay=20)
    expect(status).to_have_text("3 submissions match your filters")
    expect(page.locator("table.review-queue tbody tr")).to_have_count(3)
    assert "page=" not in page.url and "q=" in page.url  # a new filter starts at page 1
    assert page.evaluate("window.notReloaded") is True
    assert page.evaluate("document.getElementById('queue-status').dataset.lasting") == "yes"
    assert_accessible(page)

    page.go_back()
    page.wait_for_url("**/review/?page=2")
    expect(page.locator("table.review-queue tbody tr")).to_have_count(25)


def test_typing_a_search_in_pauses_leaves_one_step_in_the_history(page, live_server, frameworks):
    """Each pause in the typing brings its answer, but only the first adds a step: Back leaves the search."""
    status = queue_of_sixty(page)
    search = page.get_by_label("Title or worker's name")
    first_name = LONG_NAME.split()[0]

    search.press_sequentially(first_name, delay=20)
    expect(status).to_have_text("60 submissions match your filters, showing 1 to 25 (page 1 of 3)")
    settled(page)
    search.press_sequentially(" 007", delay=20)  # after a pause: a second answer
    expect(status).to_have_text("3 submissions match your filters")
    settled(page)
    assert "q=" in page.url and "007" in page.url

    page.go_back()
    page.wait_for_url("**/review/")
    expect(status).to_have_text("60 submissions, showing 1 to 25 (page 1 of 3)")


def test_the_queue_pages_with_javascript_off(browser, live_server, frameworks):
    supervisor = make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    waiting_items(supervisor, many_users(10, tier=tier("link-worker", "link-worker")), 3)
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "sam@example.org", PASSWORD)
        page.goto("/review/")
        page.get_by_role("link", name="Next page").click()
        page.wait_for_url("**/review/?page=2")
        expect(page.locator("#queue-status")).to_have_text("30 submissions, showing 26 to 30 (page 2 of 2)")
        page.get_by_text("Filters", exact=True).click()  # the filters are in a details section, closed at first
        page.get_by_label("Kind").select_option(label="Other evidence")
        page.get_by_role("button", name="Apply filters").click()
        page.wait_for_url("**/review/?q=&kind=other")
        expect(page.locator("#queue-status")).to_have_text(
            "30 submissions match your filters, showing 1 to 25 (page 1 of 2)"
        )
    finally:
        context.close()


def test_a_manager_filters_the_supervision_list_in_place_and_assigns_from_its_own_page(page, live_server, frameworks):
    """The list narrows as the state is chosen and a name typed, without a reload; the form is a page of its own,
    and the new assignment is on the list it returns to."""
    make_user(Role.MANAGER, email="maya@example.org", name="Maya Manager")
    supervisor = make_user(Role.SUPERVISOR, email="sam@example.org", name="Sam Supervisor")
    workers = many_users(30, tier=tier("link-worker", "link-worker"))
    for worker in workers[:28]:
        assign(supervisor, worker, starts_on=TODAY - timedelta(days=10))
    ended = assign(supervisor, workers[28], starts_on=TODAY - timedelta(days=100))
    ended.ends_on = TODAY - timedelta(days=1)
    db.session.commit()
    sign_in(page, "maya@example.org", PASSWORD)
    page.get_by_role("link", name="Supervision", exact=True).click()
    page.wait_for_url("**/supervision/")
    status = page.locator("#assignments-count")
    expect(status).to_have_text("29 assignments, showing 1 to 25 (page 1 of 2)")
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")

    page.get_by_text("Filters").click()
    page.get_by_label("Assignments").select_option("ended")
    expect(status).to_have_text("1 assignment matches your search")
    expect(page.locator("table.assignments tbody tr")).to_have_count(1)
    assert "state=ended" in page.url
    page.get_by_label("Assignments").select_option("")
    page.get_by_label("Worker or supervisor").press_sequentially(f"{LONG_NAME.split()[0]} 007", delay=20)
    expect(status).to_have_text("1 assignment matches your search")
    assert page.evaluate("window.notReloaded") is True
    assert_accessible(page)

    page.get_by_role("button", name="Assign a supervisor").click()
    page.wait_for_url("**/supervision/assign")
    assert_accessible(page)
    page.get_by_label("Worker").select_option(str(workers[29].id))
    page.get_by_label("Supervisor").select_option(str(supervisor.id))
    page.get_by_role("button", name="Assign supervisor").click()
    page.wait_for_url("**/supervision/")
    expect(page.locator("main")).to_contain_text(f"Sam Supervisor now supervises {workers[29].name}")
    expect(status).to_have_text("30 assignments, showing 1 to 25 (page 1 of 2)")


def test_a_worker_pages_through_her_notifications_in_place_and_opens_an_old_one(page, live_server, frameworks):
    """Every notice can be reached: the next page swaps the list in place, and a notice on it opens as on the first."""
    worker = make_user(
        Role.WORKER, email="wren@example.org", name="Wren Worker", tier=tier("link-worker", "link-worker")
    )
    now = utcnow()
    db.session.add_all(
        Notification(user_id=worker.id, message=f"Notice {n}", url="/portfolio/", created_at=now - timedelta(minutes=n))
        for n in range(30)
    )
    db.session.commit()
    sign_in(page, "wren@example.org", PASSWORD)
    page.goto("/notifications/")
    status = page.locator("#notifications-count")
    expect(status).to_have_text("30 notifications, showing 1 to 25 (page 1 of 2)")
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")

    page.get_by_role("link", name="Next page").click()
    expect(status).to_have_text("30 notifications, showing 26 to 30 (page 2 of 2)")
    page.wait_for_url("**/notifications/?page=2")
    expect(page.locator("li.notification")).to_have_count(5)
    assert page.evaluate("window.notReloaded") is True
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert horizontal_overflow(page) == 0
    assert_accessible(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("button", name="Notice 29").click()
    page.wait_for_url("**/portfolio/")
    oldest = db.session.scalar(select(Notification).where(Notification.message == "Notice 29"))
    db.session.refresh(oldest)
    assert oldest.read_at is not None


def test_a_competences_items_page_in_place_on_a_phone(page, live_server, frameworks):
    """At 320 px: the next page of a competence's items swaps in without a reload, reflows, and axe finds nothing."""
    worker = make_user(
        Role.WORKER, email="wren@example.org", name="Wren Worker", tier=tier("link-worker", "link-worker")
    )
    [target] = competences("link-worker", refs=["PS-LW-06"])
    for n in range(30):
        link_draft(worker, [target], title=f"Item {n:02}")
    page.set_viewport_size(PHONE)
    sign_in(page, "wren@example.org", PASSWORD)
    page.goto(f"/portfolio/competences/{target.id}")
    status = page.locator("#linked-count")
    expect(status).to_have_text("30 items, showing 1 to 25 (page 1 of 2)")
    assert horizontal_overflow(page) == 0
    assert_accessible(page)
    page.evaluate("window.notReloaded = true")

    page.get_by_role("link", name="Next page").click()
    expect(status).to_have_text("30 items, showing 26 to 30 (page 2 of 2)")
    page.wait_for_url(f"**/portfolio/competences/{target.id}?page=2")
    expect(page.locator("#linked-items > ul > li")).to_have_count(5)
    assert page.evaluate("window.notReloaded") is True
    assert horizontal_overflow(page) == 0
    assert_accessible(page)
