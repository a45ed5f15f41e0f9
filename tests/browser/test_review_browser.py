"""Review journeys in headless Chromium: the worker submits, the supervisor decides per competence
and moves straight on to the next item, the worker sees the outcome."""

from __future__ import annotations

import re
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import Competence, Decision, DecisionOutcome, EvidenceKind, Submission, User
from portfolio.review import service as review
from tests.browser.conftest import PageErrors, assert_accessible, sign_in
from tests.factories import PASSWORD, make_supervisor_of, make_worker

pytestmark = pytest.mark.browser

REASON = "The leaflet does not show how people were involved in writing it."


@pytest.fixture
def supervisor_page(browser, live_server):
    """A second browser with its own cookies, failing the test on console errors like ``page``."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors = PageErrors()
    page.on("console", errors.record)
    page.on("pageerror", lambda exc: errors.messages.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors.messages == [], f"the supervisor's page logged errors: {errors.messages}"


def _worker_and_supervisor():
    """Wendy and Fatima, her supervisor."""
    worker = make_worker()
    return worker, make_supervisor_of(worker, name="Fatima First")


def _two_competences(worker: User) -> list[Competence]:
    return list(
        db.session.scalars(
            select(Competence)
            .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
            .order_by(Competence.position, Competence.id)
            .limit(2)
        )
    )


def _draft(worker: User, title: str, competences: list[Competence]):
    """A draft of the worker's linked to ``competences`` (a note on the second link)."""
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(
            title=title, occurred_on=date(2026, 10, 1), description="A leaflet for the walking group."
        ),
        link_competence_id=competences[0].id,
    )
    for competence in competences[1:]:
        evidence_service.link_competence(
            worker, evidence, competence.id, note="Written with two people from the group."
        )
    db.session.commit()
    return evidence


def _submitted(app, worker: User, title: str, competences: list[Competence]) -> Submission:
    """Submitted through the service (the reviewers' notice links need a request context)."""
    with app.test_request_context():
        evidence = _draft(worker, title, competences)
        evidence_service.submit(worker, evidence)
        submission = review.open_submission_of(evidence)
        db.session.commit()
    return submission


def test_worker_submits_supervisor_decides_per_competence_and_worker_sees_the_outcome(
    app, page, supervisor_page, frameworks
):
    worker, supervisor = _worker_and_supervisor()
    competences = _two_competences(worker)
    accepted, not_accepted = competences
    evidence = _draft(worker, "Walking group leaflet", competences)
    evidence_id = evidence.id

    # The worker submits from the item page.
    sign_in(page, "worker@example.org", PASSWORD)
    page.goto(f"/portfolio/{evidence_id}")
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_url(f"**/portfolio/{evidence_id}/submit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit “Walking group leaflet” for review")
    assert page.get_by_text("the 2 competences you linked it to").is_visible()
    page.get_by_role("button", name="Send for review").click()
    page.wait_for_url(re.compile(rf"/portfolio/{evidence_id}$"))
    expect(page.get_by_role("alert", name="Success")).to_contain_text("Submitted for review")
    expect(page.locator("#maincontent .nhsuk-tag").first).to_have_text("Submitted for review")
    expect(page.get_by_role("button", name="Withdraw submission")).to_be_visible()

    # The supervisor sees it waiting, in the navigation and the queue.
    reviewer = supervisor_page
    sign_in(reviewer, "supervisor@example.org", PASSWORD)
    reviews = reviewer.get_by_role("link", name="Reviews (1)").first
    expect(reviews).to_be_visible()
    reviews.click()
    reviewer.wait_for_url("**/review/")
    expect(reviewer.get_by_role("heading", name="Waiting for your decision")).to_be_visible()
    expect(reviewer.locator("#queue-status")).to_have_text("1 submission")
    row = reviewer.locator("table.review-queue tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Walking group leaflet")
    expect(row).to_contain_text("Wendy Worker")
    assert_accessible(reviewer)

    reviewer.get_by_role("link", name="Walking group leaflet").click()
    db.session.commit()  # end this test's snapshot: see what the server wrote
    first = db.session.scalar(select(Submission).where(Submission.evidence_id == evidence_id))
    reviewer.wait_for_url(f"**/review/{first.id}")
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Walking group leaflet")
    expect(reviewer.get_by_text("The worker’s note: Written with two people from the group.")).to_be_visible()
    assert_accessible(reviewer)

    # Meanwhile another item arrives, so there is a next one to go to.
    following = _submitted(app, worker, "Community cafe poster", competences[:1])

    # One "Your decision" heading; signing off with nothing chosen: every competence shows its error at once.
    expect(reviewer.get_by_role("heading", name="Your decision")).to_have_count(1)
    reviewer.get_by_role("button", name="Sign off", exact=True).click()
    summary = reviewer.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    # At the top, above the item, and where focus is: the first thing read says what is wrong.
    assert summary.bounding_box()["y"] < reviewer.get_by_role("heading", level=1).bounding_box()["y"]
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(2)
    expect(summary.get_by_role("link", name="Choose accepted or not accepted")).to_have_count(2)
    for competence in competences:
        error = reviewer.locator(f"#competence-{competence.id}-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("Choose accepted or not accepted")
    expect(reviewer).to_have_title(re.compile(r"^Error: Review: Walking group leaflet"))
    assert_accessible(reviewer)
    db.session.commit()
    assert db.session.scalars(select(Decision)).all() == []

    # The decision, competence by competence.
    reviewer.get_by_role("group", name=accepted.statement).get_by_label("Accepted", exact=True).check()
    reviewer.get_by_role("group", name=not_accepted.statement).get_by_label("Not accepted", exact=True).check()
    reviewer.locator(f"#reason-{not_accepted.id}").fill(REASON)
    reviewer.get_by_role("button", name="Sign off", exact=True).click()

    # Straight on to the next item in the queue.
    reviewer.wait_for_url(f"**/review/{following.id}")
    expect(reviewer.get_by_role("heading", level=1)).to_have_text("Community cafe poster")
    expect(reviewer.get_by_role("alert", name="Success")).to_contain_text("Signed off: Walking group leaflet")
    expect(reviewer.get_by_role("link", name="Reviews (1)").first).to_be_visible()
    assert_accessible(reviewer)

    db.session.commit()
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == first.id))
    assert decision.outcome == DecisionOutcome.SIGNED_OFF and decision.supervisor_id == supervisor.id
    assert [(o.competence_id, o.accepted, o.comment) for o in decision.outcomes] == [
        (accepted.id, True, ""),
        (not_accepted.id, False, REASON),
    ]

    # The worker sees the notice, and from it the signed-off item with its history.
    page.goto("/notifications/")
    notice = page.get_by_role("button", name="Fatima First signed off “Walking group leaflet”")
    expect(notice).to_be_visible()
    assert_accessible(page)
    notice.click()
    page.wait_for_url(re.compile(rf"/portfolio/{evidence_id}$"))
    main = page.locator("#maincontent")
    expect(main.locator(".nhsuk-tag").first).to_have_text("Signed off")
    history = main.locator(".review-history")
    expect(history).to_contain_text("Signed off by Fatima First")
    expect(history).to_contain_text(f"Accepted: {accepted.statement}")
    expect(history).to_contain_text(f"Not accepted: {not_accepted.statement} – {REASON}")
    expect(page.get_by_role("button", name="Withdraw submission")).to_have_count(0)
    expect(page.get_by_role("button", name="Change")).to_have_count(0)
    assert_accessible(page)


class Interactions:
    """Counts what a person does (a click or a choice), the way the issue counts them."""

    def __init__(self, page):
        self.page = page
        self.count = 0

    def check(self, locator) -> None:
        locator.check()
        self.count += 1

    def click(self, locator) -> None:
        locator.click()
        self.count += 1


def test_ten_items_with_one_competence_each_take_two_interactions_each(app, page, frameworks):
    worker, supervisor = _worker_and_supervisor()
    competence = _two_competences(worker)[0]
    submissions = [_submitted(app, worker, f"Group session {n}", [competence]) for n in range(1, 11)]
    ids = [s.id for s in submissions]
    sign_in(page, "supervisor@example.org", PASSWORD)
    page.goto(f"/review/{ids[0]}")
    me = Interactions(page)
    for n in range(1, len(ids) + 1):
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Group session {n}")
        me.check(page.get_by_role("group", name=competence.statement).get_by_label("Accepted", exact=True))
        me.click(page.get_by_role("button", name="Sign off", exact=True))
        # Straight on to the next item, with nothing in between.
        page.wait_for_url(f"**/review/{ids[n]}" if n < len(ids) else "**/review/")
    expect(page.get_by_role("alert", name="Success")).to_contain_text("Signed off: Group session 10")
    assert me.count <= 2 * len(ids)

    db.session.commit()
    decisions = db.session.scalars(select(Decision).order_by(Decision.id)).all()
    assert [d.submission_id for d in decisions] == ids
    assert all(d.outcome == DecisionOutcome.SIGNED_OFF and d.supervisor_id == supervisor.id for d in decisions)
    assert all([(o.competence_id, o.accepted) for o in d.outcomes] == [(competence.id, True)] for d in decisions)


def test_accept_all_keeps_what_the_supervisor_typed(app, page, frameworks):
    """With JavaScript the button ticks every choice in place: no request, the comments stay."""
    worker, supervisor = _worker_and_supervisor()
    first, second = _two_competences(worker)
    submission = _submitted(app, worker, "Walking group", [first, second])
    sign_in(page, "supervisor@example.org", PASSWORD)
    page.goto(f"/review/{submission.id}")
    page.locator(f"#reason-{second.id}").fill("Strong on the first part")
    page.get_by_label("Comment for the worker").fill("Thank you, a clear account")
    requests = []
    page.on("request", lambda request: requests.append(request.url))

    page.get_by_role("button", name="Accept all 2 competences").click()

    expect(page.locator("input[value=accepted]:checked")).to_have_count(2)
    expect(
        page.get_by_role("status").filter(has_text="Every competence you had not chosen is marked Accepted")
    ).to_have_count(1)
    expect(page.locator(f"#reason-{second.id}")).to_have_value("Strong on the first part")
    expect(page.get_by_label("Comment for the worker")).to_have_value("Thank you, a clear account")
    assert requests == []
    page.get_by_role("button", name="Sign off", exact=True).click()
    page.wait_for_url("**/review/")
    db.session.commit()
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == submission.id))
    assert decision.comment == "Thank you, a clear account"
    assert {(o.competence_id, o.accepted, o.comment) for o in decision.outcomes} == {
        (first.id, True, ""),
        (second.id, True, "Strong on the first part"),
    }


def test_accept_all_with_javascript_leaves_a_not_accepted_choice_as_it_is(app, page, frameworks):
    """Found by two helpers: "Accept all" ticked Accepted over a competence just marked "Not accepted", and the
    sign-off recorded it accepted. It ticks only those not chosen yet, in place as without JavaScript."""
    worker, supervisor = _worker_and_supervisor()
    first, second = _two_competences(worker)
    submission = _submitted(app, worker, "Walking group", [first, second])
    sign_in(page, "supervisor@example.org", PASSWORD)
    page.goto(f"/review/{submission.id}")
    page.locator(f"#competence-{first.id}-not-accepted").check()
    page.get_by_role("button", name="Accept all 2 competences").click()
    expect(page.locator(f"#competence-{first.id}-not-accepted")).to_be_checked()
    expect(page.locator(f"#competence-{second.id}-accepted")).to_be_checked()
    page.get_by_role("button", name="Accept all 2 competences").click()  # nothing left to tick: it says so
    expect(page.get_by_role("status").filter(has_text="Every competence is chosen already")).to_have_count(1)
    expect(page.locator(f"#competence-{first.id}-not-accepted")).to_be_checked()


def test_accept_all_with_javascript_off_keeps_what_the_supervisor_typed(app, browser, live_server, frameworks):
    """Without JavaScript the button sends the form: it comes back with every choice ticked and the typing kept.
    Enter in a choice still signs off (the form's first button), never accepts all."""
    worker, supervisor = _worker_and_supervisor()
    first, second = _two_competences(worker)
    submission = _submitted(app, worker, "Walking group", [first, second])
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "supervisor@example.org", PASSWORD)
        page.goto(f"/review/{submission.id}")
        page.locator(f"#competence-{first.id}-not-accepted").check()
        page.locator(f"#reason-{first.id}").fill("No plan is described")
        page.locator(f"#reason-{second.id}").fill("Strong on the first part")
        page.get_by_label("Comment for the worker").fill("Thank you, a clear account")

        page.get_by_role("button", name="Accept all 2 competences").click()

        page.wait_for_url(f"**/review/{submission.id}#decision-form")
        # The one left unchosen is ticked; the "Not accepted" chosen stays (found by two helpers).
        expect(page.locator("input[value=accepted]:checked")).to_have_count(1)
        expect(page.locator(f"#competence-{first.id}-not-accepted")).to_be_checked()
        expect(page.locator(f"#reason-{second.id}")).to_have_value("Strong on the first part")
        expect(page.get_by_label("Comment for the worker")).to_have_value("Thank you, a clear account")
        assert db.session.scalar(select(Decision).where(Decision.submission_id == submission.id)) is None
        page.locator(f"#competence-{first.id}-accepted").press("Enter")
        page.wait_for_url("**/review/")
    finally:
        context.close()
    db.session.commit()
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == submission.id))
    assert decision.outcome == DecisionOutcome.SIGNED_OFF
    assert decision.comment == "Thank you, a clear account"
    assert {(o.competence_id, o.accepted, o.comment) for o in decision.outcomes} == {
        (first.id, False, "No plan is described"),
        (second.id, True, "Strong on the first part"),
    }


def test_accepting_every_competence_of_a_tier_takes_two_interactions(app, page, frameworks):
    worker, supervisor = _worker_and_supervisor()
    everything = list(
        db.session.scalars(
            select(Competence)
            .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
            .where(Competence.tier_id == worker.tier_id)
            .order_by(Competence.position, Competence.id)
        )
    )
    assert len(everything) > 10
    submission = _submitted(app, worker, "A year of community work", everything)
    sign_in(page, "supervisor@example.org", PASSWORD)
    page.goto(f"/review/{submission.id}")
    assert_accessible(page)
    me = Interactions(page)
    me.click(page.get_by_role("button", name=f"Accept all {len(everything)} competences"))
    expect(page.locator("input[value=accepted]:checked")).to_have_count(len(everything))
    me.click(page.get_by_role("button", name="Sign off", exact=True))
    page.wait_for_url("**/review/")
    expect(page.get_by_role("alert", name="Success")).to_contain_text("Signed off: A year of community work")
    assert me.count == 2

    db.session.commit()
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == submission.id))
    assert sorted(o.competence_id for o in decision.outcomes if o.accepted) == sorted(c.id for c in everything)
