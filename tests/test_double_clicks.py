"""A double click on each creating form, over real HTTP: one record, and the answers one click gives.

Every creating form carries a one-time key (portfolio/idempotency.py). Two submissions of one form that arrive
together take turns on it (a lock on the key on PostgreSQL, the write transaction on SQLite), so the second
finds what the first made instead of making another, or refusing its own click as a duplicate of the first.
Each test signs in through the real form, draws the form, and sends it twice at once from one browser (the same
cookies, token and key, on two connections), for rounds until enough of them truly overlapped. Each round
fills the form with new values, so that its record can be told from the rounds before.

Assigning a supervisor and saving a new draft are raced beside their areas (test_supervision.py,
test_races_concurrency.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    Appraisal,
    Competence,
    CpdActivity,
    Invitation,
    Notification,
    PromotionRequest,
    RequirementVerification,
    TrainingItem,
    User,
)
from portfolio.people.routes import LINK_SHOWN_ONCE
from portfolio.progress import service as progress
from tests.conftest import csrf_token
from tests.factories import TODAY, make_ready, make_supervisor_of, requirement, tier
from tests.pages import audit_rows, count, date_fields, form_key, long_date, table_rows, words
from tests.racing import Answer, HttpClient, Rounds, no_server_errors, race, signed_in


def double_clicks(
    browser: HttpClient, form_page: str, fields: Callable[[int], dict], action: str | None = None
) -> Iterator[tuple[int, list[Answer]]]:
    """Rounds of one form drawn at ``form_page`` and posted to ``action`` (else the same address) twice at once,
    with ``fields(round number)``, until enough rounds overlapped: yields each round's number and two answers,
    neither a server error."""
    rounds = Rounds()
    for number in rounds:
        page = browser.get(form_page, follow_redirects=True)  # a form whose key is in its address adds one
        assert page.status == 200, page.describe()
        data = {"csrf_token": csrf_token(page.text), "form_key": form_key(page.text), **fields(number)}
        answers = race([browser.start_post(action or form_page, data) for _ in range(2)])
        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        yield number, answers
        rounds.record(answers)
    rounds.assert_enough(f"on {form_page}")


def both_lead_to(answers: list[Answer], location: str, number: int) -> None:
    """Both clicks are answered as one is: 303 to ``location``."""
    described = f"round {number}: " + "; ".join(a.describe() for a in answers)
    assert [(a.status, a.headers.get("location")) for a in answers] == [(303, location)] * 2, described


def test_a_double_click_on_add_locality_competence_adds_one(app, server, frameworks, manager):
    profile = frameworks["sfh-senior-engagement-worker"]
    [browser] = signed_in(server, ("maya", manager.email))

    def fields(number: int) -> dict:
        return {
            "statement": f"Work with housing providers to sustain tenancies, round {number:02d}",
            "principle": "C. Health Promotion and Protection",
            "function": "Work with housing partners",
        }

    for number, answers in double_clicks(browser, f"/frameworks/{profile.id}/locality/new", fields):
        statement = fields(number)["statement"]
        both_lead_to(answers, f"/frameworks/{profile.id}#locality-specific", number)
        assert count(Competence, Competence.statement == statement) == 1  # the use case writes no ledger row
        page = browser.get(f"/frameworks/{profile.id}").text
        assert len(re.findall(rf'<li id="competence-\d+">{re.escape(statement)}', page)) == 1


def test_a_double_click_on_start_appraisal_starts_one(app, server, worker, manager):
    [browser] = signed_in(server, ("wendy", worker.email))

    def held_on(number: int) -> date:  # one appraisal a year: each round starts an earlier year's
        return date(TODAY.year - number, 1, 1)

    def fields(number: int) -> dict:
        return {**date_fields("held_on", held_on(number)), "appraiser_id": str(manager.id)}

    for number, answers in double_clicks(browser, "/cpd/appraisals/new", fields):
        year = held_on(number).year
        assert count(Appraisal, Appraisal.year == year) == 1
        [appraisal_id] = [row.details["appraisal_id"] for row in audit_rows("appraisal.started", year=year)]
        both_lead_to(answers, f"/cpd/appraisals/{appraisal_id}", number)
        assert words(browser.get("/cpd/").text).count(f"{year} appraisal with Maya Manager") == 1


def test_a_double_click_on_add_cpd_activity_records_one(app, server, worker):
    [browser] = signed_in(server, ("wendy", worker.email))

    def fields(number: int) -> dict:
        return {
            **date_fields("done_on", TODAY),
            "title": f"Trauma-informed practice workshop, round {number:02d}",
            "hours": "1.5",
            "learned": "How past trauma shapes the first meeting.",
            "impact": "I now offer a choice of meeting place.",
            "goal_id": "0",
        }

    for number, answers in double_clicks(browser, "/cpd/activities/new", fields):
        title = fields(number)["title"]
        both_lead_to(answers, "/cpd/", number)
        assert count(CpdActivity, CpdActivity.title == title) == 1  # the use case writes no ledger row
        page = browser.get("/cpd/").text
        assert page.count(f'<h3 class="nhsuk-card__heading nhsuk-heading-s">{title}</h3>') == 1
        assert f"{TODAY.year} {1.5 * (number + 1):.2f}" in words(page)  # the year's hours count it once


def test_a_double_click_on_ask_for_promotion_asks_once(app, server, worker, manager):
    supervisor = make_supervisor_of(worker)
    make_ready(worker, supervisor, manager)
    [browser] = signed_in(server, ("wendy", worker.email))
    asked = "You asked to become Link Worker Coach"
    for number, answers in double_clicks(browser, "/progress/", lambda number: {}, action="/progress/request"):
        both_lead_to(answers, "/progress/", number)
        assert count(PromotionRequest) == number + 1
        assert len(audit_rows("promotion.requested")) == number + 1
        # Each request asks the supervisor for a recommendation: one notice, not two.
        assert count(Notification, Notification.user_id == supervisor.id) == number + 1
        assert words(browser.get("/progress/").text).count(asked) == 1
        # Declined, so that the worker can ask again in the next round.
        [request] = progress.open_requests(manager)
        progress.recommend(supervisor, request, supports=True, reasons="Ready.")
        progress.decide_promotion(manager, request, approved=False, effective_on=None, reasons="Not this year.")


def test_a_double_click_on_verify_requirement_records_one_verification(app, server, worker, manager):
    dbs = requirement(worker, "REQ-DBS")
    [browser] = signed_in(server, ("maya", manager.email))

    def verified_on(number: int) -> date:  # later each round: the page shows the newest verification
        return TODAY - timedelta(days=30 - number)

    def fields(number: int) -> dict:
        return {
            **date_fields("verified_on", verified_on(number)),
            **date_fields("expires_on", None),
            "note": f"Certificate {number:06d}",
        }

    path = f"/progress/workers/{worker.id}/requirements/{dbs.id}"
    for number, answers in double_clicks(browser, path, fields):
        day = verified_on(number)
        both_lead_to(answers, f"/progress/workers/{worker.id}#requirements", number)
        assert count(RequirementVerification, RequirementVerification.note == fields(number)["note"]) == 1
        assert len(audit_rows("requirement.verified", verified_on=day.isoformat())) == 1
        page = browser.get(f"/progress/workers/{worker.id}").text
        [row] = [r for r in table_rows(page, "requirements-table") if r[0] == dbs.statement]
        assert f"Verified by Maya Manager on {long_date(day)}" in row[1]


def test_a_double_click_on_add_training_adds_one_course(app, server, frameworks, manager):
    [browser] = signed_in(server, ("maya", manager.email))

    def fields(number: int) -> dict:
        return {
            "title": f"Lone working, round {number:02d}",
            "statutory": "y",
            "renews": "months",
            "renewal_months": "12",
        }

    for number, answers in double_clicks(browser, "/training/link-worker/", fields):
        title = fields(number)["title"]
        both_lead_to(answers, "/training/link-worker/", number)
        assert count(TrainingItem, TrainingItem.title == title) == 1
        assert len(audit_rows("training.added", title=title)) == 1
        page = browser.get("/training/link-worker/").text
        assert page.count(f'aria-hidden="true">Training </span><span>{title}') == 1


def test_a_double_click_on_invite_invites_once(app, server, frameworks, manager):
    [browser] = signed_in(server, ("maya", manager.email))

    def fields(number: int) -> dict:
        return {
            "name": f"Rowan Round {number:02d}",
            "email": f"rowan{number:02d}@example.org",
            "roles": ["worker"],
            "tier_id": str(tier("link-worker", "link-worker").id),
        }

    for number, answers in double_clicks(browser, "/people/invite", fields):
        name, email = fields(number)["name"], fields(number)["email"]
        assert count(User, User.email == email) == 1
        person_id = db.session.scalar(select(User.id).where(User.email == email))
        assert count(Invitation, Invitation.user_id == person_id) == 1
        assert len(audit_rows("person.invited", email=email)) == 1
        # Not the same answer twice: with no email set up, the click that invited them is answered with the
        # link, shown this once and never again; the other is sent to the person's page, as a form sent again is,
        # which says where the link went (the browser shows the answer that came last).
        invited, again = sorted(answers, key=lambda a: a.status)
        described = f"round {number}: {invited.describe()}; {again.describe()}"
        assert invited.status == 200 and f"<h1>{name} is invited</h1>" in invited.text, described
        assert re.search(r'<code id="invitation-link">[^<]+/invitation/[^<]+</code>', invited.text), described
        assert (again.status, again.headers.get("location")) == (303, f"/people/{person_id}"), described
        page = browser.get(f"/people/{person_id}").text
        assert words(LINK_SHOWN_ONCE.format(name=name)) in words(page), described
        assert [row[2] for row in table_rows(page, "person-history")].count("Invited") == 1  # the history: invited once
