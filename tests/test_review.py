"""Reviewing evidence: the queue, decisions per competence, withdrawal, supervision notes, the team page."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update
from werkzeug.exceptions import NotFound

from portfolio import clock
from portfolio.audit import ledger
from portfolio.duties import OwnDecision
from portfolio.errors import FieldError
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.home import service as home
from portfolio.models import (
    Competence,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceLink,
    EvidenceStatus,
    Framework,
    NoteOutcome,
    NoteReview,
    Notification,
    Role,
    Submission,
    SupervisionAssignment,
    Tier,
    User,
)
from portfolio.progress import service as progress_service
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome, Conflict, InvalidDecision
from tests.factories import (
    ASSIGNED_ON,
    EVENT_DAY,
    TODAY,
    YESTERDAY,
    appraisal,
    assign,
    competence,
    make_user,
    promotion_request,
    sent_at,
    sent_days_ago,
    supervision_note,
    tier,
)
from tests.pages import (
    BOOSTED,
    audit_rows,
    date_fields,
    error_next_to,
    form_values,
    long_date,
    reload,
    row_counts,
    seen_on,
    status_of,
    summary_links,
    text_of,
    words,
)

DESCRIPTION = "I set up a weekly walking group with the local allotment society."


# --- helpers --------------------------------------------------------------------


def summary_of(page: str) -> str:
    """The NHS.UK error summary's words."""
    assert "nhsuk-error-summary" in page, "no error summary"
    return words(page.split('class="nhsuk-error-summary"', 1)[1].split("</ul>", 1)[0])


def submission_of(evidence: Evidence) -> Submission:
    """The item's newest submission."""
    db.session.expire_all()
    return db.session.scalars(
        select(Submission).where(Submission.evidence_id == evidence.id).order_by(Submission.id.desc())
    ).first()


def backdate(evidence: Evidence, days: int) -> Submission:
    """Pretend the item's latest submission was made ``days`` days ago."""
    return sent_days_ago(submission_of(evidence), days)


def notices_of(user: User) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id))
    )


def new_worker(name: str, slug: str = "link-worker", *also: Role) -> User:
    return make_user(Role.WORKER, *also, name=name, tier=tier("link-worker", slug))


def submitted_evidence(
    worker: User,
    *,
    title: str = "Community walking group",
    refs: tuple[str, ...] = ("PS-LW-01", "PS-LW-02"),
    days_ago: int | None = None,
) -> Evidence:
    """An "other evidence" item, linked to ``refs`` (notes on all but the first), submitted."""
    first, *rest = refs
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title=title, occurred_on=EVENT_DAY, description=DESCRIPTION),
        link_competence_id=competence(first).id,
    )
    for ref in rest:
        evidence_service.link_competence(worker, reload(evidence), competence(ref).id, f"How this shows {ref}")
    evidence_service.submit(worker, reload(evidence))
    if days_ago is not None:
        backdate(evidence, days_ago)
    return reload(evidence)


def note_through_service(
    worker: User, supervisor: User, *, title: str = "Supervision in March", on: date = EVENT_DAY
) -> Evidence:
    return evidence_service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            title=title, occurred_on=on, description="We discussed lone working.", supervisor_id=supervisor.id
        ),
    )


@dataclass
class Scene:
    worker: User
    supervisor: User
    evidence: Evidence
    submission: Submission
    first: Competence
    second: Competence


def scene(title: str = "Community walking group", **kwargs) -> Scene:
    """A worker with a submitted item linked to two competences, and a supervisor assigned."""
    worker = new_worker("Wendy Worker")
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker, starts_on=ASSIGNED_ON, audited=True)
    evidence = submitted_evidence(worker, title=title, **kwargs)
    return Scene(worker, supervisor, evidence, submission_of(evidence), competence("PS-LW-01"), competence("PS-LW-02"))


def rows_of(submission: Submission) -> list[int]:
    """The item's linked competence ids in the order of the decision form's rows."""
    return list(
        db.session.scalars(
            select(EvidenceLink.competence_id)
            .where(EvidenceLink.evidence_id == submission.evidence_id)
            .order_by(EvidenceLink.id)
        )
    )


def decision_data(
    token: str,
    rows: list[int],
    choices: dict[int, str | None],
    *,
    reasons: dict[int, str] | None = None,
    outcome: str | None = None,
    comment: str = "",
) -> dict:
    data = {"csrf_token": token, "comment": comment}
    for competence_id, choice in choices.items():
        row = rows.index(competence_id)
        if choice is not None:
            data[f"decisions-{row}-accepted"] = choice
        data[f"decisions-{row}-comment"] = (reasons or {}).get(competence_id, "")
    if outcome is not None:
        data["outcome"] = outcome
    return data


def post_decision(client, auth, submission: Submission, choices, **kwargs):
    headers = kwargs.pop("headers", None)
    token = auth.token("/")
    return client.post(
        f"/review/{submission.id}", data=decision_data(token, rows_of(submission), choices, **kwargs), headers=headers
    )


def accept_first_not_second(client, auth, s: Scene, *, reason: str, **kwargs):
    """Decide on the scene's item: the first competence accepted, the second not (for ``reason``)."""
    choices = {s.first.id: "accepted", s.second.id: "not-accepted"}
    return post_decision(client, auth, s.submission, choices, reasons={s.second.id: reason}, **kwargs)


SIGN_OFF = {"reason": "The plan has no review points.", "outcome": "signed-off", "comment": "Good, thorough work."}
RETURN = {"reason": "Say how you listened.", "outcome": "returned", "comment": "Add the dates of each session."}


def sign_off(client, auth, s: Scene, **kwargs):
    return accept_first_not_second(client, auth, s, **SIGN_OFF, **kwargs)


def return_for_changes(client, auth, s: Scene, **kwargs):
    return accept_first_not_second(client, auth, s, **RETURN, **kwargs)


def queue_rows(page: str) -> list[list[str]]:
    """The queue table's rows: [title and kind, worker, submitted, days waiting]."""
    if 'class="nhsuk-table-responsive review-queue"' not in page:
        return []
    body = page.split('class="nhsuk-table-responsive review-queue"', 1)[1].split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append(
            [
                words(re.sub(r'<span class="nhsuk-table-responsive__heading".*?</span>', "", c, flags=re.S))
                for c in cells
            ]
        )
    return rows


def team_rows(page: str) -> dict[str, list[str]]:
    body = page.split('class="nhsuk-table-responsive team-table"', 1)[1].split("<tbody", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [
            words(re.sub(r'<span class="nhsuk-table-responsive__heading".*?</span>', "", c, flags=re.S))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        rows[cells[0].split(" Evidence of ", 1)[0]] = cells[1:]  # the name, without its evidence link's words
    return rows


def nav_texts(page: str) -> list[str]:
    nav = page.split('<nav class="nhsuk-header__navigation', 1)[1].split("</nav>", 1)[0]
    return [words(item) for item in re.findall(r"<a\b[^>]*>(.*?)</a>", nav, re.S)]


# --- the queue -----------------------------------------------------------------------


def test_queue_lists_submissions_oldest_first_with_days_waiting(client, auth, frameworks):
    s = scene("Newest item", days_ago=1)
    walter = new_worker("Walter Worker")
    assign(s.supervisor, walter, starts_on=ASSIGNED_ON)
    submitted_evidence(walter, title="Oldest item", days_ago=10)
    submitted_evidence(s.worker, title="Middle item", days_ago=3)
    auth.login_as(s.supervisor)

    response = client.get("/review/")
    assert response.status_code == 200
    page = text_of(response)
    assert status_of(page, "queue-status") == "3 submissions"
    rows = queue_rows(page)
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("Oldest item Other evidence", "Walter Worker", "10"),
        ("Middle item Other evidence", "Wendy Worker", "3"),
        ("Newest item Other evidence", "Wendy Worker", "1"),
    ]
    assert rows[0][2] == long_date(TODAY - timedelta(days=10))
    assert f'href="/review/{s.submission.id}"' in page
    assert "Reviews (3)" in nav_texts(page)


def test_an_item_sent_after_midnight_on_the_services_clock_was_sent_today(client, auth, frameworks, in_tokyo):
    """Found by a review: "Submitted" said the day on the service's clock, "days waiting" counted from the UTC
    day, so an item sent at 00:30 read "Submitted" today and waiting 1 day. Both are the clock's now: on the
    queue, the supervisor's home and the worker's."""
    s = scene("Sent after midnight")
    today = clock.today()
    sent_at(s.submission, datetime.combine(today, time(0, 30)).astimezone().astimezone(UTC))  # 15:30 UTC the day before
    auth.login_as(s.supervisor)
    [row] = queue_rows(text_of(client.get("/review/")))
    assert (row[2], row[3]) == (long_date(today), "0")
    home = text_of(client.get("/"))
    assert words(home.split('id="items-waiting">', 1)[1].split("</li>", 1)[0]) == (
        "1 item waiting for your decision , sent today"
    )
    auth.login_as(s.worker)
    home = text_of(client.get("/"))
    assert " ".join(words(home.split('class="nhsuk-list waiting-items">', 1)[1].split("</ul>", 1)[0]).split()) == (
        "Sent after midnight : with Sam Supervisor, sent today"
    )


def test_the_whole_queue_is_counted_once_and_a_filter_leaves_the_navigation_count_whole(
    client, auth, frameworks, count_queries
):
    s = scene("A reflection", days_ago=1)
    submitted_evidence(s.worker, title="Another item", days_ago=3)
    auth.login_as(s.supervisor)
    client.get("/review/")

    with count_queries(keep=True):
        page = text_of(client.get("/review/"))
    assert "Reviews (2)" in nav_texts(page)
    # The page's own count is the navigation's: counted once, not twice (with the page kept, by the statement that
    # reads what the page shows).
    # (The notes to confirm and appraisals to sign beside it are counted together in a query of their own.)
    beside = [q for q in count_queries.statements if "AS notes_to_confirm" in q]
    counts = [
        q
        for q in count_queries.statements
        if "FROM notifications" not in q and q not in beside and "count(" in q.lower()
    ]
    assert len(counts) == 1 and len(beside) == 1, count_queries.statements

    filtered = text_of(client.get("/review/?q=another"))
    assert [r[0] for r in queue_rows(filtered)] == ["Another item Other evidence"]
    assert "Reviews (2)" in nav_texts(filtered)  # the navigation still counts the whole queue


def test_the_notes_to_confirm_beside_the_queue_are_counted_with_their_kind_written_out(
    client, auth, frameworks, count_queries
):
    """The statement that counts them says the kind itself: as a parameter, PostgreSQL planned it again on every
    view (a custom plan, its planning several times its work), as it does when a generic plan cannot see a
    partial index or a value's few rows. The count and the list are right."""
    s = scene("A reflection")
    supervision_note(s.worker, s.supervisor, title="Supervision in May")
    auth.login_as(s.supervisor)
    with count_queries(keep=True):
        page = client.get("/review/")
    assert "Supervision notes to confirm (1)" in text_of(page) and "Supervision in May" in text_of(page)
    beside = [q for q in count_queries.statements if "AS notes_to_confirm" in q]
    assert len(beside) == 1 and "evidence.kind = 'supervision-note'" in beside[0], count_queries.statements


def test_a_page_of_the_queue_is_kept_rendered_until_something_it_shows_changes(
    client, auth, frameworks, count_queries, monkeypatch
):
    """The list is kept rendered between views, read again only when it would read otherwise: an item sent, one
    withdrawn, a worker renamed, an assignment ended, the next day (days waiting) each show on the very next view;
    what was wrong with the address's filter is said under that address only."""
    s = scene("Walking group", days_ago=1)
    walter = new_worker("Walter Worker")
    walters = SupervisionAssignment(supervisor_id=s.supervisor.id, worker_id=walter.id, starts_on=ASSIGNED_ON)
    db.session.add(walters)
    db.session.commit()
    auth.login_as(s.supervisor)

    def rows(query: str = "", headers: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
        return [(r[0], r[1], r[3]) for r in queue_rows(text_of(client.get(f"/review/{query}", headers=headers or {})))]

    assert rows() == [("Walking group Other evidence", "Wendy Worker", "1")]
    with count_queries(keep=True):
        assert rows() == [("Walking group Other evidence", "Wendy Worker", "1")]
    assert not any("FROM submissions" in statement for statement in count_queries.statements)

    sent = submitted_evidence(walter, title="Allotment", days_ago=3)
    assert rows() == [
        ("Allotment Other evidence", "Walter Worker", "3"),
        ("Walking group Other evidence", "Wendy Worker", "1"),
    ]
    s.worker.name = "Wendy Renamed"
    db.session.commit()
    assert rows("?kind=other", {"HX-Request": "true"})[1][1] == rows()[1][1] == "Wendy Renamed"
    review.withdraw(s.worker, reload(s.evidence))
    assert rows() == [("Allotment Other evidence", "Walter Worker", "3")]
    assert "Kind: Not a valid choice" in text_of(client.get("/review/?kind=bogus"))
    assert "Not a valid choice" not in text_of(client.get("/review/"))

    submitted_evidence(s.worker, title="Second try", days_ago=0)
    walters.ends_on = YESTERDAY  # written directly: no token is written for an assignment
    db.session.commit()
    assert rows() == [("Second try Other evidence", "Wendy Renamed", "0")]
    the_day_after = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: the_day_after)
    assert rows() == [("Second try Other evidence", "Wendy Renamed", "1")]
    assert reload(sent).status == EvidenceStatus.SUBMITTED


def test_the_queue_counts_the_rows_each_filter_shows(client, auth, frameworks, count_queries):
    """The queue is counted and paged from the waiting items alone, and only the page's rows are read with
    their submissions: under every filter it says as many submissions as the rows shown, leaving out what was
    decided or withdrawn and other people's workers."""
    s = scene("A reflection", days_ago=1)
    submitted_evidence(s.worker, title="Another item", days_ago=3)
    olive = new_worker("Olive Other")
    assign(s.supervisor, olive)
    submitted_evidence(olive, title="Olive's walking group", days_ago=2)
    review.withdraw(olive, submitted_evidence(olive, title="Withdrawn group"))
    decided = submitted_evidence(olive, title="Decided group")
    stranger = new_worker("Stella Stranger")
    submitted_evidence(stranger, title="Stella's walking group")
    auth.login_as(s.supervisor)
    assert sign_off(client, auth, replace(s, evidence=decided, submission=submission_of(decided))).status_code == 303

    def counted(address: str) -> tuple[str, list[str]]:
        page = text_of(client.get(address))
        return status_of(page, "queue-status"), [row[0] for row in queue_rows(page)]

    with count_queries(keep=True):
        assert counted("/review/") == (
            "3 submissions",
            ["Another item Other evidence", "Olive's walking group Other evidence", "A reflection Other evidence"],
        )
    [count] = [q for q in count_queries.statements if q.lstrip().lower().startswith("select count(")]
    assert "submissions" not in count, count  # the items' status says they wait
    [rows] = [q for q in count_queries.statements if "FROM submissions" in q]
    assert re.search(r"LIMIT 25\b", rows), rows  # only a page of them, chosen before the join
    assert counted("/review/?q=walking") == (
        "1 submission matches your filters",
        ["Olive's walking group Other evidence"],
    )
    assert counted("/review/?q=walking-group") == (  # searching.py: a hyphenated word as its words too
        "1 submission matches your filters",
        ["Olive's walking group Other evidence"],
    )
    assert counted("/review/?q=wendy") == (
        "2 submissions match your filters",
        ["Another item Other evidence", "A reflection Other evidence"],
    )
    assert counted(f"/review/?worker={olive.id}")[0] == "1 submission matches your filters"
    assert counted("/review/?kind=other")[0] == "3 submissions match your filters"
    assert counted("/review/?kind=reflection") == ("No submissions match your filters", [])
    assert counted(f"/review/?worker={stranger.id}") == ("No submissions match your filters", [])


def test_nav_shows_the_count_only_to_supervisors(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    assert "Reviews (1)" in nav_texts(text_of(client.get("/")))
    auth.login_as(s.worker)
    texts = nav_texts(text_of(client.get("/")))
    assert not [t for t in texts if t.startswith("Reviews")]
    assert client.get("/review/").status_code == 403


def test_other_pages_count_a_long_queue_no_further_than_they_show_it(
    client, auth, frameworks, count_queries, monkeypatch
):
    """Beyond ``SHOWN_UP_TO`` the navigation and a decision's back link say "99+"; the queue's page says it all."""
    monkeypatch.setattr(review, "SHOWN_UP_TO", 2)
    s = scene("A reflection", days_ago=1)
    submitted_evidence(s.worker, title="Another item", days_ago=3)
    submitted_evidence(s.worker, title="A third item", days_ago=5)
    auth.login_as(s.supervisor)
    client.get(f"/review/{s.submission.id}")

    with count_queries(keep=True):
        decision = text_of(client.get(f"/review/{s.submission.id}"))
    assert "Reviews (2+)" in nav_texts(decision)
    assert "Reviews (2+ waiting)" in decision
    # Counted once for both, with the signed-in supervisor, and the database stops at one more than it shows.
    [count] = [q for q in count_queries.statements if "count(" in q and "evidence.status =" in q]
    assert count.lstrip().startswith("SELECT users.id") and re.search(r"\blimit\b", count, re.I), count

    with count_queries(keep=True):
        home = text_of(client.get("/"))
    assert "3 items waiting for your decision" in words(home)  # the home counts all, for its own words
    # The queue's counts: of the waiting items (their status) of the people the supervisor supervises.
    counts = [q for q in count_queries.statements if "count(" in q and "evidence.status =" in q and "supervision" in q]
    # One for the home's words; the navigation's, no further than it shows, was read with the signed-in supervisor.
    assert [q.lstrip().startswith("SELECT users.id") for q in counts] == [True, False], counts
    assert "Reviews (2+)" in nav_texts(home)
    queue = text_of(client.get("/review/"))
    assert status_of(queue, "queue-status") == "3 submissions"
    assert "Reviews (2+)" in nav_texts(queue)

    assert sign_off(client, auth, s).status_code == 303
    assert "Reviews (2)" in nav_texts(text_of(client.get("/frameworks/")))
    assert review.queue_count(s.supervisor) == 2


def test_a_page_reads_the_navigations_queue_count_with_the_supervisor_and_a_fragment_or_form_answer_does_not(
    client, auth, frameworks, count_queries
):
    """A page (fresh or boosted) says how long the queue is with no query of its own: counted in the statement that
    reads the signed-in supervisor. A fragment has no navigation and counts nothing; a form's answer counts after
    what it did, never before."""
    s = scene()
    auth.login_as(s.supervisor)

    def user_statement() -> str:
        # Read with her unread count; the last request's (a form's helper asks a page for its token first).
        return [q for q in count_queries.statements if "FROM notifications" in q][-1]

    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        with count_queries(keep=True):
            page = text_of(client.get(f"/progress/workers/{s.worker.id}", headers=headers))
        assert "Reviews (1)" in nav_texts(page)
        assert "evidence.status =" in user_statement()
        assert [q for q in count_queries.statements if "evidence.status =" in q] == [user_statement()]

    with count_queries(keep=True):
        fragment = client.get("/review/?q=walking", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "Reviews (" not in fragment.text
    assert "evidence.status =" not in user_statement()

    with count_queries(keep=True):
        refused = post_decision(client, auth, s.submission, {s.first.id: "accepted"}, outcome="returned", comment="")
    assert refused.status_code == 422 and "Reviews (1)" in nav_texts(text_of(refused))
    assert "evidence.status =" not in user_statement()
    # The navigation's, counted as the page was drawn, after the user's.
    read = count_queries.statements
    assert [q for q in read[read.index(user_statement()) :] if "evidence.status =" in q and "LIMIT" in q]


def test_queue_is_empty_without_items(client, auth, frameworks):
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    auth.login_as(supervisor)
    page = text_of(client.get("/review/"))
    assert "Nothing is waiting for you." in page
    assert "Reviews" in nav_texts(page) and "Reviews (0)" not in nav_texts(page)


@pytest.mark.parametrize(
    ("starts_on", "ends_on"),
    [
        pytest.param(ASSIGNED_ON, TODAY - timedelta(days=1), id="ended-yesterday"),
        pytest.param(TODAY + timedelta(days=1), None, id="starts-tomorrow"),
    ],
)
def test_only_current_supervisors_see_an_item(client, auth, frameworks, starts_on, ends_on):
    s = scene()
    other = make_user(Role.SUPERVISOR, name="Olga Other")
    assignment = SupervisionAssignment(
        supervisor_id=other.id, worker_id=s.worker.id, starts_on=starts_on, ends_on=ends_on
    )
    db.session.add(assignment)
    db.session.commit()
    auth.login_as(other)
    before = row_counts()

    page = text_of(client.get("/review/"))
    assert queue_rows(page) == []
    assert "Reviews" in nav_texts(page) and "Reviews (1)" not in nav_texts(page)
    assert client.get(f"/review/{s.submission.id}").status_code == 404
    response = sign_off(client, auth, s)
    assert response.status_code == 404
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SUBMITTED
    with pytest.raises(NotFound):
        review.get_submission_for_review_or_404(other, s.submission.id)
    # The current supervisor still sees it.
    auth.login_as(s.supervisor)
    assert len(queue_rows(text_of(client.get("/review/")))) == 1


def test_an_item_submitted_goes_only_to_current_supervisors(app, frameworks):
    s = scene()
    [notice] = notices_of(s.supervisor)
    assert notice.url == f"/review/{s.submission.id}"
    assert notice.message == "Wendy Worker submitted “Community walking group” for review"
    former = make_user(Role.SUPERVISOR, name="Fred Former")
    db.session.add(
        SupervisionAssignment(
            supervisor_id=former.id, worker_id=s.worker.id, starts_on=ASSIGNED_ON, ends_on=TODAY - timedelta(days=1)
        )
    )
    db.session.commit()
    submitted_evidence(s.worker, title="Second item")
    assert notices_of(former) == []
    [line] = notices_of(s.supervisor)  # one line for the worker's submissions of the day
    assert (line.items, line.message) == (2, "Wendy Worker sent 2 items")
    [entry, _] = audit_rows("evidence.submitted")[::-1]
    assert entry.details["reviewers"] == [s.supervisor.id]


def test_nobody_reviews_their_own_items(client, auth, frameworks):
    both = new_worker("Bo Both", "link-worker", Role.SUPERVISOR)
    their_supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(their_supervisor, both, starts_on=ASSIGNED_ON)
    walter = new_worker("Walter Worker")
    assign(both, walter, starts_on=ASSIGNED_ON)
    own = submitted_evidence(both, title="My own item")
    theirs = submitted_evidence(walter, title="Walter's item")
    auth.login_as(both)
    before = row_counts()

    rows = queue_rows(text_of(client.get("/review/")))
    assert [r[0] for r in rows] == ["Walter's item Other evidence"]
    own_submission = submission_of(own)
    # Separation of duties: a 403 that says why (see tests/test_duties.py).
    response = client.get(f"/review/{own_submission.id}")
    assert response.status_code == 403
    assert review.OWN_EVIDENCE in text_of(response)
    response = post_decision(
        client,
        auth,
        own_submission,
        {competence("PS-LW-01").id: "accepted", competence("PS-LW-02").id: "accepted"},
        outcome="signed-off",
    )
    assert response.status_code == 403
    with pytest.raises(OwnDecision):
        review.decide(
            both,
            own_submission,
            outcome=DecisionOutcome.SIGNED_OFF,
            comment="",
            outcomes={
                competence("PS-LW-01").id: CompetenceOutcome(True),
                competence("PS-LW-02").id: CompetenceOutcome(True),
            },
        )
    assert row_counts() == before
    assert reload(own).status == EvidenceStatus.SUBMITTED
    # Their own supervisor has it.
    auth.login_as(their_supervisor)
    assert [r[0] for r in queue_rows(text_of(client.get("/review/")))] == ["My own item Other evidence"]
    assert client.get(f"/review/{submission_of(theirs).id}").status_code == 404


def test_a_supervision_note_goes_only_to_the_supervisor_it_names(client, auth, frameworks):
    worker = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    sue = make_user(Role.SUPERVISOR, name="Sue Supervisor")
    assign(sam, worker, starts_on=ASSIGNED_ON)
    assign(sue, worker, starts_on=ASSIGNED_ON)
    note = note_through_service(worker, sam)
    evidence_service.link_competence(worker, note, competence("PS-LW-06").id)
    evidence_service.submit(worker, reload(note))
    submission = submission_of(note)
    assert [n.user_id for n in db.session.scalars(select(Notification))] == [sam.id]

    auth.login_as(sue)
    page = text_of(client.get("/review/"))
    assert queue_rows(page) == []
    assert "Supervision in March" not in page
    assert "No notes to confirm." in page
    assert client.get(f"/review/{submission.id}").status_code == 404
    assert client.get(f"/review/notes/{note.id}").status_code == 404

    auth.login_as(sam)
    page = text_of(client.get("/review/"))
    assert [r[0] for r in queue_rows(page)] == ["Supervision in March Supervision note"]
    assert "Supervision notes to confirm (1)" in page
    assert client.get(f"/review/{submission.id}").status_code == 200


# --- the decision page ---------------------------------------------------------------------


def test_the_decision_page_shows_the_item_and_each_competence_with_its_note(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    response = client.get(f"/review/{s.submission.id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Community walking group</h1>" in page
    assert "Other evidence from Wendy Worker" in page
    assert DESCRIPTION in page
    for row, c in enumerate((s.first, s.second)):
        assert c.statement in page
        assert re.search(rf'id="competence-{c.id}-accepted" name="decisions-{row}-accepted"', page)
    assert "The worker added no note." in page
    assert "The worker’s note: How this shows PS-LW-02" in page
    assert "Reviews (1 waiting)" in page


def test_sign_off_per_competence(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    expected_hash = review.content_hash(reload(s.evidence))
    response = sign_off(client, auth, s)
    assert response.status_code == 303
    assert response.headers["Location"] == "/review/"

    [decision] = db.session.scalars(select(Decision)).all()
    assert (decision.submission_id, decision.evidence_id, decision.supervisor_id) == (
        s.submission.id,
        s.evidence.id,
        s.supervisor.id,
    )
    assert decision.outcome == DecisionOutcome.SIGNED_OFF
    assert decision.comment == "Good, thorough work."
    assert decision.content_hash == expected_hash == s.submission.content_hash
    assert sorted((o.competence_id, o.accepted, o.comment) for o in decision.outcomes) == sorted(
        [(s.first.id, True, ""), (s.second.id, False, "The plan has no review points.")]
    )
    assert reload(s.evidence).status == EvidenceStatus.SIGNED_OFF

    [entry] = audit_rows("evidence.signed-off")
    assert (entry.actor_id, entry.subject) == (s.supervisor.id, f"evidence:{s.evidence.id}")
    assert entry.details == {
        "submission_id": s.submission.id,
        "decision_id": decision.id,
        "content_hash": expected_hash,
        "accepted": [s.first.id],
        "not_accepted": [s.second.id],
    }
    [notice] = notices_of(s.worker)
    # The competence left open is said, so the worker knows to evidence it again.
    assert notice.message == "Sam Supervisor signed off “Community walking group”: 1 competence not accepted"
    assert notice.url == f"/portfolio/{s.evidence.id}"
    assert ledger.verify().ok

    page = text_of(client.get("/review/"))
    assert "Signed off: Community walking group" in page
    assert "Nothing is waiting for you." in page


def test_after_deciding_the_supervisor_goes_to_the_next_item(client, auth, frameworks):
    s = scene("First item", days_ago=5)
    later = submitted_evidence(s.worker, title="Second item", days_ago=2)
    auth.login_as(s.supervisor)
    response = sign_off(client, auth, s)
    assert response.status_code == 303
    following = submission_of(later)
    assert response.headers["Location"] == f"/review/{following.id}"
    page = text_of(client.get(response.headers["Location"]))
    assert "Signed off: First item" in page
    assert "<h1>Second item</h1>" in page

    response = post_decision(
        client, auth, following, {s.first.id: "accepted", s.second.id: "accepted"}, outcome="signed-off"
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/review/"


def decision_controls(page: str) -> str:
    """The decision form's words and buttons, from its one heading to the end of the form."""
    return page.split('id="decision-form"', 1)[1].split("</form>", 1)[0]


def test_one_heading_and_two_buttons_decide_no_outcome_choice(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{s.submission.id}"))
    assert page.count("Your decision") == 1
    form = decision_controls(page)
    assert 'type="radio" value="signed-off"' not in form and 'type="radio" value="returned"' not in form
    buttons = re.findall(r'<button[^>]*name="outcome" value="([\w-]+)"[^>]*>([^<]+)</button>', visible(form))
    assert buttons == [("signed-off", "Sign off"), ("returned", "Return for changes")]
    # Enter in a field presses the form's first button: it signs off, never returns (nor accepts all).
    first = re.search(r"<button\b[^>]*>[^<]*</button>", form).group(0)
    assert 'type="submit" name="outcome" value="signed-off"' in first and first.endswith(">Sign off</button>")


def visible(form: str) -> str:
    """The form without what is hidden from sight and from screen readers."""
    return re.sub(r'<button\b[^>]*aria-hidden="true"[^>]*>[^<]*</button>', "", form)


def test_when_everything_is_accepted_sign_off_is_the_one_action(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    response = post_decision(
        client, auth, s.submission, {s.first.id: "accepted", s.second.id: "accepted"}, outcome="signed-off"
    )
    assert response.status_code == 303
    [decision] = db.session.scalars(select(Decision)).all()
    assert decision.outcome == DecisionOutcome.SIGNED_OFF
    assert sorted(o.accepted for o in decision.outcomes) == [True, True]
    assert reload(s.evidence).status == EvidenceStatus.SIGNED_OFF


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_accept_all_without_javascript_keeps_what_was_typed_and_sign_off_saves_it(client, auth, frameworks, headers):
    """Found by a helper: with JavaScript off, "Accept all" was a link to a new copy of the page, and the comments
    the supervisor had typed were lost. It is a button of the form now: the form comes back ticked, as typed."""
    s = scene(refs=("PS-LW-01", "PS-LW-02", "PS-LW-03"))
    rows = rows_of(s.submission)
    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{s.submission.id}"))
    button = re.search(r'<p id="accept-all"><button ([^>]*)>([^<]+)</button>', page)
    assert button.group(2) == "Accept all 3 competences"
    assert f'type="submit" name="accept" value="all" formaction="/review/{s.submission.id}#decision-form"' in (
        button.group(1)
    )
    assert not re.search(r'value="accepted"[^>]*checked', page)

    before = row_counts()
    typed = {
        "csrf_token": auth.token("/"),
        "comment": "Thank you, a clear account",
        # A choice made before stays (found by two helpers: accepting all ticked Accepted over it).
        "decisions-0-accepted": "not-accepted",
        "decisions-0-comment": "No plan is described",
        "decisions-1-comment": "Strong on the first part",
        "accept": "all",
    }
    response = client.post(f"/review/{s.submission.id}", data=typed, headers=headers)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<html" in page
    form = decision_controls(page)
    for competence_id in rows[1:]:
        assert re.search(rf'id="competence-{competence_id}-accepted"[^>]*checked', form)
    assert re.search(rf'id="competence-{rows[0]}-not-accepted"[^>]*checked', form)
    assert not re.search(rf'id="competence-{rows[0]}-accepted"[^>]*checked', form)
    assert re.search(r'<textarea[^>]*name="comment"[^>]*>Thank you, a clear account</textarea>', form)
    assert re.search(rf'<textarea[^>]*id="reason-{rows[1]}"[^>]*>Strong on the first part</textarea>', form)
    assert (
        "Every competence you had not chosen is marked Accepted; any you chose stay as they were. Nothing is decided"
        " until you sign off." in words(form)
    )
    assert "nhsuk-error-summary" not in page
    assert row_counts() == before  # nothing is decided until Sign off
    assert reload(s.evidence).status == EvidenceStatus.SUBMITTED

    # Sign off sends the form as it came back: the comments typed before "Accept all" are saved.
    signed = client.post(f"/review/{s.submission.id}", data=form_values(form) | {"outcome": "signed-off"})
    assert signed.status_code == 303
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == s.submission.id))
    assert decision.outcome == DecisionOutcome.SIGNED_OFF
    assert decision.comment == "Thank you, a clear account"
    assert sorted((o.competence_id, o.accepted, o.comment) for o in decision.outcomes) == sorted(
        [(rows[0], False, "No plan is described"), (rows[1], True, "Strong on the first part"), (rows[2], True, "")]
    )
    assert reload(s.evidence).status == EvidenceStatus.SIGNED_OFF


def test_accept_all_is_not_offered_for_a_single_competence(client, auth, frameworks):
    s = scene(refs=("PS-LW-01",))
    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{s.submission.id}"))
    assert 'id="accept-all"' not in page
    assert "Your decision" in page


def worker_page_after(client, auth, decide) -> tuple[Scene, str]:
    """The scene's item decided by ``decide``, then its page as the worker sees it."""
    s = scene()
    auth.login_as(s.supervisor)
    assert decide(client, auth, s).status_code == 303
    auth.login_as(s.worker)
    return s, text_of(client.get(f"/portfolio/{s.evidence.id}"))


def test_a_returned_item_shows_why_at_the_top_with_change_and_resubmit(client, auth, frameworks):
    s, page = worker_page_after(client, auth, return_for_changes)
    top = page.split('id="returned"', 1)[1].split("</div>", 1)[0]
    # Above the item itself, not only in the history at the bottom.
    assert page.index('id="returned"') < page.index(DESCRIPTION) < page.index('id="history"')
    assert f"Sam Supervisor returned this item on {long_date(TODAY)}:" in words(top)
    assert "Add the dates of each session." in words(top)
    [not_accepted] = re.findall(
        r"<li>(.*?)</li>", top.split('class="nhsuk-list nhsuk-list--bullet not-accepted"', 1)[1], re.S
    )
    assert re.sub(r"<[^>]+>", "", not_accepted).strip() == f"{s.second.statement}: Say how you listened."
    assert s.first.statement not in top  # accepted ones are not listed as a problem
    assert f'href="/portfolio/competences/{s.second.id}"' in top
    assert re.search(rf'href="/portfolio/{s.evidence.id}/edit"[^>]*>\s*Change and resubmit', top)

    # Once it is submitted again the box goes: the history keeps the story.
    evidence_service.submit(s.worker, reload(s.evidence))
    page = text_of(client.get(f"/portfolio/{s.evidence.id}"))
    assert 'id="returned"' not in page
    assert "Add the dates of each session." in page.split('id="history"', 1)[1]


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_change_page_of_a_returned_item_shows_why_above_the_form(client, auth, frameworks, headers):
    """Found by a helper: "Change and resubmit" led to a form without the supervisor's comments, so the worker
    went back to the item to read them. The change page shows the same box as the item's page, minus its button."""
    s = scene()
    auth.login_as(s.supervisor)
    returned = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: "accepted", s.second.id: "not-accepted"},
        reasons={s.first.id: "Good detail on the route.", s.second.id: "Say how you listened."},
        outcome="returned",
        comment="Add the dates of each session.",
    )
    assert returned.status_code == 303
    auth.login_as(s.worker)
    before = row_counts()

    response = client.get(f"/portfolio/{s.evidence.id}/edit", headers=headers)

    assert response.status_code == 200
    page = text_of(response)
    assert "<html" in page and "<h1>Change: Community walking group</h1>" in page
    box = page.split('id="returned"', 1)[1].split("</div>", 1)[0]
    # At the top, under the heading, before the first field.
    assert page.index("<h1>") < page.index('id="returned"') < page.index(f'action="/portfolio/{s.evidence.id}/edit')
    said = " ".join(re.sub(r"<[^>]+>", "", box).split())  # as read: a link's text runs on into its comment
    assert f"Sam Supervisor returned this item on {long_date(TODAY)}: Add the dates of each session." in said
    assert f"Not accepted {s.second.statement}: Say how you listened." in said
    assert f"Fine as it is {s.first.statement}: Good detail on the route." in said
    assert "Change and resubmit" not in box  # this is the change page
    assert row_counts() == before  # reading it writes nothing

    # The item's own page shows the same box, with its button.
    item = text_of(client.get(f"/portfolio/{s.evidence.id}"))
    assert words(item.split('id="returned"', 1)[1].split("</div>", 1)[0]) == words(box) + " Change and resubmit"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_change_page_of_a_draft_never_sent_has_no_returned_box(client, auth, frameworks, headers):
    worker = new_worker("Wendy Worker")
    draft = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Leaflet drop", occurred_on=EVENT_DAY, description=DESCRIPTION),
        link_competence_id=competence("PS-LW-01").id,
    )
    auth.login_as(worker)
    response = client.get(f"/portfolio/{draft.id}/edit", headers=headers)
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Change: Leaflet drop</h1>" in page
    assert 'id="returned"' not in page and "Returned for changes" not in page


def test_a_signed_off_item_has_no_returned_box(client, auth, frameworks):
    _, page = worker_page_after(client, auth, sign_off)
    assert 'id="returned"' not in page and "Change and resubmit" not in page


def test_return_for_changes_needs_a_comment(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    choices = {s.first.id: "accepted", s.second.id: "accepted"}
    response = post_decision(client, auth, s.submission, choices, outcome="returned", comment="   ")
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: Review: Community walking group" in page
    assert "Say what needs to change before it is submitted again" in error_next_to(page, "comment")
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SUBMITTED

    response = post_decision(
        client, auth, s.submission, choices, outcome="returned", comment="Add the dates of each session."
    )
    assert response.status_code == 303
    [decision] = db.session.scalars(select(Decision)).all()
    assert decision.outcome == DecisionOutcome.RETURNED
    assert decision.comment == "Add the dates of each session."
    assert reload(s.evidence).status == EvidenceStatus.RETURNED
    assert len(audit_rows("evidence.returned")) == 1
    [notice] = notices_of(s.worker)
    # Not "1 competence not accepted": on a returned item every competence is still open.
    assert notice.message == "Sam Supervisor returned “Community walking group”"


def test_not_accepted_needs_a_comment(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    response = post_decision(
        client, auth, s.submission, {s.first.id: "accepted", s.second.id: "not-accepted"}, outcome="signed-off"
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "Explain why this competence is not accepted" in error_next_to(page, f"reason-{s.second.id}")
    assert f'id="reason-{s.first.id}-error"' not in page
    # What was chosen is kept.
    assert re.search(rf'id="competence-{s.first.id}-accepted"[^>]*checked', page)
    assert re.search(rf'id="competence-{s.second.id}-not-accepted"[^>]*checked', page)
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_over_long_comment_does_not_hide_the_rows_problems(client, auth, frameworks, headers):
    """Found by a helper: the form refused the long comment itself, so the competences' problems came a round
    later. The service's dry run names them in the same answer."""
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    response = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: None, s.second.id: "not-accepted"},
        outcome="signed-off",  # a return need not judge every competence: a sign-off must
        comment="x" * 5001,
        headers=headers,
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "<html" in page
    assert error_next_to(page, "comment") == "Error: The comment must be 5,000 characters or fewer"
    assert error_next_to(page, f"competence-{s.first.id}") == "Error: Choose accepted or not accepted"
    assert "Explain why this competence is not accepted" in error_next_to(page, f"reason-{s.second.id}")
    assert row_counts() == before


def test_sign_off_needs_at_least_one_accepted(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    response = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: "not-accepted", s.second.id: "not-accepted"},
        reasons={s.first.id: "No.", s.second.id: "Not yet."},
        outcome="signed-off",
    )
    assert response.status_code == 422
    assert "Accept at least one competence to sign off, or return the item for changes" in error_next_to(
        text_of(response), "outcome"
    )
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_many_competences_left_unchosen_are_one_line_of_the_summary(client, auth, frameworks, headers):
    """Found by a helper: signing off an item linked to 68 competences with none chosen listed 68 lines of the same
    words, and never the "Accept all" button just above. Each row still says it next to its radios."""
    refs = ("PS-LW-01", "PS-LW-02", "PS-LW-03", "PS-LW-04", "PS-LW-05")
    s = scene(refs=refs)
    auth.login_as(s.supervisor)
    before = row_counts()
    unchosen = dict.fromkeys((competence(ref).id for ref in refs), None)
    response = post_decision(
        client, auth, s.submission, unchosen | {s.first.id: "not-accepted"}, outcome="signed-off", headers=headers
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "</html>" in page
    [(summed_up, first_href), (not_explained, second_href)] = summary_links(page).items()
    # Not "Accept all" while one is "Not accepted": it would tick Accepted over it (found by a review).
    assert (summed_up, first_href) == (
        "Choose accepted or not accepted for each of the 4 competences not chosen yet",
        f"competence-{competence(refs[1]).id}-accepted",
    )
    # Any other problem still names its competence.
    assert not_explained.startswith(f"Explain why this competence is not accepted: {s.first.statement[:30]}")
    assert second_href == f"reason-{s.first.id}"
    assert 'id="accept-all"' in page
    for ref in refs[1:]:
        assert error_next_to(page, f"competence-{competence(ref).id}") == "Error: Choose accepted or not accepted"
    assert row_counts() == before
    # None chosen at all: "Accept all" can undo nothing, and the summary points to it.
    response = post_decision(client, auth, s.submission, unchosen, outcome="signed-off", headers=headers)
    assert response.status_code == 422
    assert summary_links(text_of(response)) == {
        "Choose accepted or not accepted for each of the 5 competences, or accept them all": "accept-all"
    }
    assert row_counts() == before


def test_every_missing_choice_is_shown_at_once(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    response = post_decision(client, auth, s.submission, {s.first.id: None, s.second.id: None})
    assert response.status_code == 422
    page = text_of(response)
    for c in (s.first, s.second):
        assert error_next_to(page, f"competence-{c.id}") == "Error: Choose accepted or not accepted"
        # The message sits inside that competence's own group.
        group = page.split(f'id="decision-{c.id}"', 1)[1].split('class="nhsuk-form-group competence-decision', 1)[0]
        assert f'id="competence-{c.id}-error"' in group
    assert "Choose whether to sign off the item or return it for changes" in error_next_to(page, "outcome")
    summary = page.split("There is a problem", 1)[1].split("</ul>", 1)[0]
    assert f'href="#competence-{s.first.id}-accepted"' in summary
    # Each line of the summary names its competence: not the same words twice.
    named = [m for m in summary_links(page) if m.startswith("Choose accepted or not accepted: ")]
    assert len(set(named)) == 2
    assert {m.split(": ", 1)[1][:25] for m in named} == {c.statement[:25] for c in (s.first, s.second)}
    assert f'href="#competence-{s.second.id}-accepted"' in summary
    assert row_counts() == before

    # A missing choice (for a comment: a return need not judge every competence) and a missing reason are shown
    # together too.
    response = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: "not-accepted", s.second.id: None},
        reasons={s.second.id: "Good listening."},
        outcome="returned",
    )
    page = text_of(response)
    assert response.status_code == 422
    assert "Explain why" in error_next_to(page, f"reason-{s.first.id}")
    assert "Choose accepted" in error_next_to(page, f"competence-{s.second.id}")
    assert "Say what needs to change" in error_next_to(page, "comment")
    assert row_counts() == before


def test_deciding_on_a_non_supervisees_item_is_404(client, auth, frameworks):
    s = scene()
    stranger = make_user(Role.SUPERVISOR, name="Stan Stranger")
    auth.login_as(stranger)
    before = row_counts()
    assert client.get(f"/review/{s.submission.id}").status_code == 404
    assert sign_off(client, auth, s).status_code == 404
    with pytest.raises(NotFound):
        review.decide(
            stranger,
            s.submission,
            outcome=DecisionOutcome.SIGNED_OFF,
            comment="",
            outcomes={s.first.id: CompetenceOutcome(True), s.second.id: CompetenceOutcome(True)},
        )
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SUBMITTED
    assert client.get("/review/999999").status_code == 404


def test_deciding_on_an_item_already_decided_is_a_conflict(client, auth, frameworks):
    s = scene()
    colleague = make_user(Role.SUPERVISOR, name="Sue Supervisor")
    assign(colleague, s.worker, starts_on=ASSIGNED_ON)
    auth.login_as(s.supervisor)
    assert sign_off(client, auth, s).status_code == 303
    before = row_counts()

    auth.login_as(colleague)
    response = sign_off(client, auth, s)
    assert response.status_code == 409
    page = text_of(response)
    assert "<html" in page
    assert "This item has already been dealt with" in page
    assert "This item was already decided by Sam Supervisor: signed off." in page

    response = sign_off(client, auth, s, headers={"HX-Request": "true"})
    assert response.status_code == 409
    fragment = text_of(response)
    assert "<html" not in fragment
    assert fragment.strip().startswith('<div id="decision-form">')
    assert fragment.strip().endswith("</div>")
    assert "already decided by Sam Supervisor" in fragment
    assert "HX-Request" in response.headers["Vary"]

    # The one who decided sees the same refusal, naming themselves.
    auth.login_as(s.supervisor)
    response = sign_off(client, auth, s)
    assert response.status_code == 409
    assert "This item was already decided by you: signed off." in text_of(response)
    with pytest.raises(Conflict):
        review.decide(
            colleague,
            s.submission,
            outcome=DecisionOutcome.RETURNED,
            comment="Again",
            outcomes={s.first.id: CompetenceOutcome(True), s.second.id: CompetenceOutcome(True)},
        )
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SIGNED_OFF

    # Looking at it afterwards says who decided, with no form.
    page = text_of(client.get(f"/review/{s.submission.id}"))
    assert "This submission has been decided: signed off by Sam Supervisor." in page
    assert 'name="outcome"' not in page


def test_deciding_on_a_withdrawn_submission_is_a_conflict(client, auth, frameworks):
    s = scene()
    review.withdraw(s.worker, reload(s.evidence))
    auth.login_as(s.supervisor)
    before = row_counts()
    response = sign_off(client, auth, s)
    assert response.status_code == 409
    assert "The worker withdrew this submission, so there is nothing to decide" in text_of(response)
    response = sign_off(client, auth, s, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert text_of(response).strip().startswith('<div id="decision-form">')
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.DRAFT


def test_an_items_status_says_it_waits_exactly_while_a_submission_is_open(client, auth, frameworks):
    """The queue finds waiting items by their status as well as their open submission (``review._waiting``):
    through submitting, withdrawing, returning and signing off, the two always agree."""
    s = scene()
    auth.login_as(s.supervisor)

    def agree(expected_waiting: bool) -> None:
        item = reload(s.evidence)
        is_open = review.open_submission_of(item) is not None
        assert (is_open, item.status == EvidenceStatus.SUBMITTED) == (expected_waiting, expected_waiting)
        # Every reader of "waiting": the queue (submission and status), the counts and the filter (status).
        assert review.queue_count(reload(s.supervisor)) == int(expected_waiting)
        assert review.waiting_counts([s.worker.id]).get(s.worker.id, 0) == int(expected_waiting)
        assert db.session.scalar(select(review.has_waiting_items(s.worker.id))) is expected_waiting

    agree(True)
    review.withdraw(s.worker, reload(s.evidence))
    agree(False)
    evidence_service.submit(s.worker, reload(s.evidence))
    agree(True)
    s.submission = review.open_submission_of(reload(s.evidence))
    assert return_for_changes(client, auth, s).status_code == 303
    agree(False)
    assert reload(s.evidence).status == EvidenceStatus.RETURNED
    evidence_service.submit(s.worker, reload(s.evidence))
    agree(True)
    s.submission = review.open_submission_of(reload(s.evidence))
    assert sign_off(client, auth, s).status_code == 303
    agree(False)


def test_the_page_of_a_withdrawn_submission_says_so_instead_of_offering_a_form(client, auth, frameworks):
    """The supervisor's notice still links here after a withdrawal.

    Bug: the page offers the decision form as if the item were waiting, and
    only the POST says it was withdrawn (the decided case already says so on
    GET). Fix: in ``review.routes.decide`` (or decide.html) treat
    ``submission.withdrawn_at`` like ``decided``: say "The worker withdrew this
    submission" and render no form.
    """
    s = scene()
    review.withdraw(s.worker, reload(s.evidence))
    auth.login_as(s.supervisor)
    response = client.get(f"/review/{s.submission.id}")
    page = text_of(response)
    assert "withdrew this submission" in page
    assert 'name="outcome"' not in page


def test_a_competence_that_was_not_linked_is_refused(app, frameworks):
    s = scene()
    unlinked = competence("PS-LW-03")
    before = row_counts()
    with pytest.raises(InvalidDecision) as error:
        review.decide(
            s.supervisor,
            s.submission,
            outcome=DecisionOutcome.SIGNED_OFF,
            comment="",
            outcomes={
                s.first.id: CompetenceOutcome(True),
                s.second.id: CompetenceOutcome(True),
                unlinked.id: CompetenceOutcome(True),
            },
        )
    assert error.value.errors == {"outcome": "You can only decide on the competences this item is linked to"}
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SUBMITTED


def test_the_service_reports_every_broken_rule(app, frameworks):
    s = scene()
    with pytest.raises(InvalidDecision) as error:
        review.decide(
            s.supervisor,
            s.submission,
            outcome=None,
            comment="",
            outcomes={s.first.id: CompetenceOutcome(None), s.second.id: CompetenceOutcome(False, " ")},
        )
    assert error.value.errors == {
        "decisions-0-accepted": "Choose accepted or not accepted",
        "decisions-1-comment": "Explain why this competence is not accepted",
        "outcome": "Choose whether to sign off the item or return it for changes",
    }
    with pytest.raises(InvalidDecision) as error:
        review.decide(
            s.supervisor,
            s.submission,
            outcome=DecisionOutcome.RETURNED,
            comment="x" * 5001,
            outcomes={s.first.id: CompetenceOutcome(True), s.second.id: CompetenceOutcome(True)},
        )
    assert error.value.errors == {"comment": "The comment must be 5,000 characters or fewer"}
    assert row_counts()["decisions"] == 0


# --- locked and returned items ---------------------------------------------------------------


def test_a_signed_off_item_cannot_be_edited_or_deleted(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    assert sign_off(client, auth, s).status_code == 303
    evidence = reload(s.evidence)

    with pytest.raises(FieldError) as error:
        evidence_service.update_evidence(
            s.worker, evidence, EvidenceInput(title="Changed", occurred_on=EVENT_DAY, description="Changed")
        )
    assert error.value.message == "This item is signed off and cannot be changed"
    with pytest.raises(FieldError) as error:
        evidence_service.delete_evidence(s.worker, evidence)
    assert error.value.message == "Only a draft can be deleted"
    with pytest.raises(FieldError):
        evidence_service.link_competence(s.worker, evidence, competence("PS-LW-03").id)
    with pytest.raises(FieldError):
        evidence_service.submit(s.worker, evidence)

    auth.login_as(s.worker)
    response = client.get(f"/portfolio/{evidence.id}/edit")
    assert response.status_code == 422  # the item's page, saying why in its error summary
    page = text_of(response)
    assert "This item is signed off and cannot be changed" in summary_of(page)
    assert f'href="/portfolio/{evidence.id}/edit"' not in page
    response = client.post(f"/portfolio/{evidence.id}/delete", data={"csrf_token": auth.token("/")})
    assert response.status_code == 422
    assert "Only a draft can be deleted" in summary_of(text_of(response))

    stored = reload(evidence)
    assert stored.title == "Community walking group"
    assert stored.status == EvidenceStatus.SIGNED_OFF
    assert len(stored.links) == 2
    assert review.content_hash(stored) == db.session.scalar(select(Decision.content_hash))


def test_a_returned_item_is_changed_resubmitted_and_shows_its_history(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    assert return_for_changes(client, auth, s).status_code == 303
    first_hash = db.session.scalar(select(Decision.content_hash))

    auth.login_as(s.worker)
    assert client.get(f"/portfolio/{s.evidence.id}/edit").status_code == 200
    evidence_service.update_evidence(
        s.worker,
        reload(s.evidence),
        EvidenceInput(
            title="Community walking group",
            occurred_on=EVENT_DAY,
            description=DESCRIPTION + " Sessions ran on 3, 10 and 17 March.",
        ),
    )
    evidence_service.submit(s.worker, reload(s.evidence))
    evidence = reload(s.evidence)
    assert evidence.status == EvidenceStatus.SUBMITTED
    submissions = db.session.scalars(
        select(Submission).where(Submission.evidence_id == evidence.id).order_by(Submission.id)
    ).all()
    assert len(submissions) == 2
    assert submissions[1].content_hash == review.content_hash(evidence) != first_hash

    page = text_of(client.get(f"/portfolio/{evidence.id}"))
    history = words(page.split('id="history"', 1)[1].split("</ol>", 1)[0])
    assert history.count("Submitted ") == 2
    assert "Waiting for a decision." in history
    assert f"Returned for changes by Sam Supervisor on {long_date(TODAY)}." in history
    assert "Add the dates of each session." in history
    # Returned: nothing counts yet, and the line says so (found by a helper, who read "Fine as it is" as counted).
    assert f"Fine as it is (it counts once the item is signed off): {s.first.statement}" in history
    assert f"Not accepted: {s.second.statement} – Say how you listened." in history
    # Newest first: the waiting submission before the decided one.
    assert history.index("Waiting for a decision.") < history.index("Returned for changes")

    # The supervisor sees the earlier decision on the new submission's page.
    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{submissions[1].id}"))
    assert "Add the dates of each session." in page.split('id="history"', 1)[1]
    assert "Sessions ran on 3, 10 and 17 March." in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_change_and_resubmit_is_one_save_then_the_check_page(client, auth, frameworks, headers):
    """Found by a helper: changing a returned item took Save changes, then Send for review on its page, then
    Send on the check page. Saving and sending are one button now, as on a new item; the check page stays."""
    s = scene()
    auth.login_as(s.supervisor)
    assert return_for_changes(client, auth, s).status_code == 303
    auth.login_as(s.worker)
    item = text_of(client.get(f"/portfolio/{s.evidence.id}"))
    assert re.search(rf'href="/portfolio/{s.evidence.id}/edit"[^>]*>\s*Change and resubmit', item)
    edit = client.get(f"/portfolio/{s.evidence.id}/edit", headers=headers)
    assert ">Save and send for review</button>" in edit.text and ">Save changes</button>" in edit.text
    changed = DESCRIPTION + " Sessions ran on 3, 10 and 17 March."
    data = {
        "csrf_token": auth.token("/"),
        "title": "Community walking group",
        **date_fields("occurred_on", EVENT_DAY),
        "description": changed,
        "action": "send",
    }
    saved = client.post(f"/portfolio/{s.evidence.id}/edit", data=data, headers=headers)
    assert saved.status_code == 303 and saved.headers["Location"] == f"/portfolio/{s.evidence.id}/submit"
    check = text_of(client.get(saved.headers["Location"]))
    assert "Success Changes saved" in words(check) and "Check your answers before sending" in words(check)
    assert "Sessions ran on 3, 10 and 17 March." in reload(s.evidence).description
    assert reload(s.evidence).status == EvidenceStatus.RETURNED  # saved, not yet sent: the check page sends
    sent = client.post(f"/portfolio/{s.evidence.id}/submit", data={"csrf_token": auth.token("/")})
    assert sent.status_code == 303 and reload(s.evidence).status == EvidenceStatus.SUBMITTED

    # Saving only goes back to the item, as before; from the check page's Change links, back to the check page.
    draft = submitted_evidence(s.worker, title="Leaflet drop")
    review.withdraw(s.worker, reload(draft))
    only_saved = client.post(f"/portfolio/{draft.id}/edit", data=data | {"title": "Leaflet drop", "action": "save"})
    assert only_saved.headers["Location"] == f"/portfolio/{draft.id}"
    from_check = client.get(f"/portfolio/{draft.id}/edit?back=check").text
    assert ">Save and send for review</button>" not in from_check
    assert reload(draft).status == EvidenceStatus.DRAFT


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_item_sent_again_unchanged_is_said_to_the_worker_before_and_to_the_supervisor_after(
    client, auth, frameworks, headers
):
    """Noticed in a helper's trial: a returned item could be sent back exactly as it was, and its supervisor read it
    as new. The check page warns first (not refused: they may have talked it through); the review page says."""
    s = scene()
    auth.login_as(s.supervisor)
    assert return_for_changes(client, auth, s).status_code == 303
    auth.login_as(s.worker)
    check = text_of(client.get(f"/portfolio/{s.evidence.id}/submit", headers=headers))
    assert "</html>" in check
    warning = words(check.split('id="unchanged">', 1)[1].split("</div>", 1)[0])
    assert warning == (
        f"Important: Not changed since it was returned Sam Supervisor returned this item on {long_date(TODAY)}:"
        " Add the dates of each session. You have not changed it since, so sending it now asks Sam Supervisor to"
        " decide on the same thing again. Read what they said about Community walking group and change it first,"
        " unless you have talked it through with them."
    )
    assert check.index('id="unchanged"') < check.index("Check your answers before sending")
    sent = client.post(f"/portfolio/{s.evidence.id}/submit", data={"csrf_token": auth.token("/")}, headers=headers)
    assert sent.status_code == 303 and reload(s.evidence).status == EvidenceStatus.SUBMITTED
    again = review.open_submission_of(reload(s.evidence))
    assert again.content_hash == db.session.scalar(select(Decision.content_hash))

    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{again.id}", headers=headers))
    since = words(page.split('id="since-returned">', 1)[1].split("</div>", 1)[0])
    assert since == (
        f"Information: Not changed since you returned it on {long_date(TODAY)}: Wendy Worker sent it again as it was."
    )


def test_an_item_changed_after_its_return_says_so_and_no_warning(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    assert return_for_changes(client, auth, s).status_code == 303
    evidence_service.update_evidence(
        s.worker,
        reload(s.evidence),
        EvidenceInput(title="Community walking group", occurred_on=EVENT_DAY, description=DESCRIPTION + " 3 March."),
    )
    auth.login_as(s.worker)
    check = text_of(client.get(f"/portfolio/{s.evidence.id}/submit"))
    assert "Check your answers before sending" in check and 'id="unchanged"' not in check
    evidence_service.submit(s.worker, reload(s.evidence))
    again = review.open_submission_of(reload(s.evidence))
    colleague = make_user(Role.SUPERVISOR, name="Cleo Colleague")
    assign(colleague, s.worker, starts_on=ASSIGNED_ON)
    auth.login_as(colleague)
    page = text_of(client.get(f"/review/{again.id}"))
    since = words(page.split('id="since-returned">', 1)[1].split("</div>", 1)[0])
    assert since == f"Information: Changed since Sam Supervisor returned it on {long_date(TODAY)}."
    # A first submission, or one decided since, has nothing to compare.
    first = client.get(f"/review/{s.submission.id}")
    assert first.status_code == 200 and 'id="since-returned"' not in text_of(first)
    # A never-returned draft's check page has no warning.
    auth.login_as(s.worker)
    draft = evidence_service.create_evidence(
        s.worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Leaflet drop", occurred_on=EVENT_DAY, description=DESCRIPTION),
        link_competence_id=s.first.id,
    )
    check = text_of(client.get(f"/portfolio/{draft.id}/submit"))
    assert "Check your answers before sending" in check and 'id="unchanged"' not in check


# --- withdrawing ------------------------------------------------------------------------


def test_the_worker_withdraws_a_submission(client, auth, frameworks):
    s = scene()
    auth.login_as(s.worker)
    page = text_of(client.get(f"/portfolio/{s.evidence.id}"))
    assert "Withdraw submission" in page
    response = client.post(f"/portfolio/{s.evidence.id}/withdraw", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/portfolio/{s.evidence.id}"
    page = text_of(client.get(response.headers["Location"]))
    assert "Submission withdrawn: you can change the item and submit it again" in page
    assert f"Withdrawn {long_date(TODAY)}." in page

    submission = submission_of(s.evidence)
    assert submission.withdrawn_at is not None
    assert reload(s.evidence).status == EvidenceStatus.DRAFT
    [entry] = audit_rows("evidence.withdrawn")
    assert (entry.actor_id, entry.subject, entry.details) == (
        s.worker.id,
        f"evidence:{s.evidence.id}",
        {"submission_id": submission.id},
    )

    auth.login_as(s.supervisor)
    assert queue_rows(text_of(client.get("/review/"))) == []
    assert ledger.verify().ok


def test_withdrawing_after_an_earlier_decision_goes_back_to_returned(client, auth, frameworks):
    s = scene()
    review.decide(
        s.supervisor,
        s.submission,
        outcome=DecisionOutcome.RETURNED,
        comment="More detail, please.",
        outcomes={s.first.id: CompetenceOutcome(True), s.second.id: CompetenceOutcome(True)},
    )
    evidence_service.submit(s.worker, reload(s.evidence))
    auth.login_as(s.worker)
    response = client.post(f"/portfolio/{s.evidence.id}/withdraw", data={"csrf_token": auth.token("/")})
    assert response.status_code == 303
    assert reload(s.evidence).status == EvidenceStatus.RETURNED
    assert submission_of(s.evidence).withdrawn_at is not None


def test_a_decided_submission_cannot_be_withdrawn(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    assert sign_off(client, auth, s).status_code == 303
    before = row_counts()
    auth.login_as(s.worker)
    page = text_of(client.get(f"/portfolio/{s.evidence.id}"))
    assert "Withdraw submission" not in page
    response = client.post(f"/portfolio/{s.evidence.id}/withdraw", data={"csrf_token": auth.token("/")})
    assert response.status_code == 422
    assert "This item is not waiting for review any more, so it cannot be withdrawn" in summary_of(text_of(response))
    with pytest.raises(Conflict):
        review.withdraw(s.worker, reload(s.evidence))
    assert row_counts() == before
    assert reload(s.evidence).status == EvidenceStatus.SIGNED_OFF
    assert submission_of(s.evidence).withdrawn_at is None


def test_only_the_owner_withdraws(client, auth, frameworks):
    s = scene()
    other = new_worker("Olive Other")
    auth.login_as(other)
    response = client.post(f"/portfolio/{s.evidence.id}/withdraw", data={"csrf_token": auth.token("/")})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        review.withdraw(other, s.evidence)
    assert submission_of(s.evidence).withdrawn_at is None
    assert audit_rows("evidence.withdrawn") == []


# --- supervision notes --------------------------------------------------------------------


@pytest.fixture
def note_scene(app, frameworks):
    worker = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    sue = make_user(Role.SUPERVISOR, name="Sue Supervisor")
    assign(sam, worker, starts_on=ASSIGNED_ON)
    assign(sue, worker, starts_on=ASSIGNED_ON)
    return worker, sam, sue, note_through_service(worker, sam)


def post_note(client, auth, note, **data):
    """Answer the note from its page, as read now (unless ``seen`` is given)."""
    page = client.get(f"/review/notes/{note.id}")
    seen = seen_on(page.text) if page.status_code == 200 else ""
    return client.post(f"/review/notes/{note.id}", data={"csrf_token": auth.token("/"), "seen": seen, **data})


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_note_changed_after_the_supervisor_opened_it_is_not_confirmed_unread(client, auth, note_scene, headers):
    """Found by a helper: the worker changed the note while its page was open, and 'Yes, confirm it' confirmed and
    locked the new words, unread. The page carries what was read; a confirmation binds that or nothing."""
    worker, sam, _, note = note_scene
    auth.login_as(sam)
    opened = client.get(f"/review/notes/{note.id}").text
    read = seen_on(opened)
    assert read == review.content_hash(reload(note))
    evidence_service.update_evidence(
        worker,
        reload(note),
        EvidenceInput(
            title=note.title,
            occurred_on=EVENT_DAY,
            description="We agreed that my supervisor takes two of my hardest cases.",
            supervisor_id=sam.id,
        ),
    )
    before = row_counts()
    answer = client.post(
        f"/review/notes/{note.id}",
        data={"csrf_token": auth.token("/"), "seen": read, "outcome": "confirmed"},
        headers=headers,
    )
    assert answer.status_code == 409 and "<html" in answer.text
    message = "Wendy Worker changed this note after you opened it: read it again, then confirm or dispute it"
    assert summary_links(answer.text) == {message: "note-review"}
    assert "We agreed that my supervisor takes two of my hardest cases." in answer.text  # shown as it is now
    assert row_counts() == before and not reload(note).note_confirmed
    # Read again, then confirmed: the confirmation binds the words read.
    again = seen_on(answer.text)
    assert again == review.content_hash(reload(note)) != read
    done = client.post(
        f"/review/notes/{note.id}", data={"csrf_token": auth.token("/"), "seen": again, "outcome": "confirmed"}
    )
    assert done.status_code == 303 and reload(note).note_confirmed
    assert db.session.scalar(select(NoteReview.content_hash).where(NoteReview.evidence_id == note.id)) == again


def test_the_named_supervisor_confirms_a_note(client, auth, note_scene):
    worker, sam, _, note = note_scene
    auth.login_as(sam)
    page = text_of(client.get("/review/"))
    assert "Supervision notes to confirm (1)" in page
    assert f"Supervision in March – Wendy Worker, session on {long_date(EVENT_DAY)}" in words(page)
    page = text_of(client.get(f"/review/notes/{note.id}"))
    assert "We discussed lone working." in page

    response = post_note(client, auth, note, outcome="confirmed")
    assert response.status_code == 303
    assert response.headers["Location"] == "/review/"
    assert "Confirmed as an accurate record: Supervision in March" in text_of(client.get("/review/"))

    [row] = db.session.scalars(select(NoteReview)).all()
    assert (row.evidence_id, row.supervisor_id, row.outcome, row.comment) == (
        note.id,
        sam.id,
        NoteOutcome.CONFIRMED,
        "",
    )
    assert row.content_hash == review.content_hash(reload(note))
    [entry] = audit_rows("note.confirmed")
    assert (entry.actor_id, entry.subject, entry.details["note_review_id"]) == (sam.id, f"evidence:{note.id}", row.id)
    [notice] = notices_of(worker)
    assert notice.message == "Sam Supervisor confirmed your supervision note “Supervision in March”"
    assert notice.url == f"/portfolio/{note.id}"

    # Locked.
    locked = reload(note)
    assert locked.note_confirmed and not locked.is_editable
    with pytest.raises(FieldError) as error:
        evidence_service.update_evidence(
            worker,
            locked,
            EvidenceInput(title="Changed", occurred_on=EVENT_DAY, description="Changed", supervisor_id=sam.id),
        )
    assert error.value.message == "This item is a confirmed supervision note and cannot be changed"
    with pytest.raises(FieldError):
        evidence_service.delete_evidence(worker, locked)
    # No longer waiting, and cannot be confirmed twice.
    assert "No notes to confirm." in text_of(client.get("/review/"))
    assert "You confirmed this note. It is locked." in text_of(client.get(f"/review/notes/{note.id}"))
    before = row_counts()
    response = post_note(client, auth, note, outcome="disputed", comment="On second thoughts")
    assert response.status_code == 422
    assert "This note is already confirmed" in text_of(response)
    assert row_counts() == before

    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{note.id}"))
    assert "Confirmed as an accurate record" in page
    assert reload(note).title == "Supervision in March"


def test_the_named_supervisor_disputes_a_note_with_a_comment(client, auth, note_scene):
    worker, sam, _, note = note_scene
    auth.login_as(sam)
    before = row_counts()
    response = post_note(client, auth, note, outcome="disputed", comment="  ")
    assert response.status_code == 422
    assert "Say what is not accurate" in error_next_to(text_of(response), "comment")
    response = post_note(client, auth, note)
    assert response.status_code == 422
    assert "Choose whether the note is an accurate record" in error_next_to(text_of(response), "outcome")
    assert row_counts() == before

    response = post_note(client, auth, note, outcome="disputed", comment="We also agreed a home-visit plan.")
    assert response.status_code == 303
    [row] = db.session.scalars(select(NoteReview)).all()
    assert (row.outcome, row.comment) == (NoteOutcome.DISPUTED, "We also agreed a home-visit plan.")
    assert len(audit_rows("note.disputed")) == 1
    assert notices_of(worker)[-1].message == "Sam Supervisor disputed your supervision note “Supervision in March”"
    # Still waiting for confirmation, marked as disputed; the worker can still change it.
    assert "Disputed" in text_of(client.get("/review/"))
    assert reload(note).is_editable
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{note.id}"))
    assert "Disputed" in page and "We also agreed a home-visit plan." in page


def test_a_former_supervisor_can_no_longer_see_or_confirm_a_note(client, auth, note_scene):
    """SECURITY.md: a supervisor sees and decides only for workers assigned to them *at that moment*.

    Bug: ``get_note_for_supervisor_or_404``, ``review_note`` and ``notes_to_confirm``
    check only ``evidence.supervisor_id``, so the named supervisor keeps reading
    (and confirming, and downloading the files of) the worker's supervision
    notes after their assignment has ended. Fix: also require
    ``supervision.is_supervising(actor.id, evidence.owner_id, today())`` in the
    guard and in ``review_note``, and the same ``exists()`` condition in
    ``notes_to_confirm``.
    """
    worker, sam, _, note = note_scene
    assignment = db.session.scalar(select(SupervisionAssignment).where(SupervisionAssignment.supervisor_id == sam.id))
    assignment.ends_on = TODAY - timedelta(days=1)
    db.session.commit()
    auth.login_as(sam)
    before = row_counts()
    assert "Supervision in March" not in text_of(client.get("/review/"))
    assert client.get(f"/review/notes/{note.id}").status_code == 404
    assert post_note(client, auth, note, outcome="confirmed").status_code == 404
    assert row_counts() == before


def test_another_supervisor_cannot_confirm_a_note(client, auth, note_scene):
    worker, sam, sue, note = note_scene
    manager = make_user(Role.MANAGER, Role.SUPERVISOR, name="Maya Manager")
    auth.login_as(sue)
    before = row_counts()
    assert client.get(f"/review/notes/{note.id}").status_code == 404
    assert post_note(client, auth, note, outcome="confirmed").status_code == 404
    with pytest.raises(NotFound):
        review.review_note(sue, note, NoteOutcome.CONFIRMED, "")
    # Nor a manager, nor the worker.
    auth.login_as(manager)
    assert post_note(client, auth, note, outcome="confirmed").status_code == 404
    auth.login_as(worker)
    assert post_note(client, auth, note, outcome="confirmed").status_code == 403
    assert row_counts() == before
    assert not reload(note).note_confirmed


# --- the team page ------------------------------------------------------------------------


def required_for_next_tier() -> int:
    """Competences to meet for Link Worker Coach: those of both first tiers."""
    position = tier("link-worker", "link-worker-coach").position
    return db.session.scalar(
        select(func.count(Competence.id))
        .join(Tier, Tier.id == Competence.tier_id)
        .join(Framework, Framework.id == Competence.framework_id)
        .where(
            Framework.key == "link-worker",
            Framework.is_current.is_(True),
            Tier.position <= position,
            Competence.retired_at.is_(None),
        )
    )


def test_the_team_page(client, auth, frameworks):
    s = scene()
    submitted_evidence(s.worker, title="Second item")
    note_through_service(s.worker, s.supervisor, title="March supervision", on=EVENT_DAY)
    note_through_service(s.worker, s.supervisor, title="April supervision", on=date(2026, 4, 2))
    top = new_worker("Tom Top", "psychosocial-link-worker")
    assign(s.supervisor, top, starts_on=ASSIGNED_ON)
    gone = new_worker("Gina Gone")
    db.session.add(
        SupervisionAssignment(
            supervisor_id=s.supervisor.id, worker_id=gone.id, starts_on=ASSIGNED_ON, ends_on=TODAY - timedelta(days=1)
        )
    )
    db.session.commit()
    required = required_for_next_tier()
    assert required == 68

    auth.login_as(s.supervisor)
    page = text_of(client.get("/review/team"))
    rows = team_rows(page)
    assert rows == {
        "Tom Top": ["Psychosocial Link Worker", "Top tier", "0", "No notes yet", "None waiting for you"],
        "Wendy Worker": [
            "Link Worker",
            f"0 of {required} for Link Worker Coach",
            "2",
            long_date(date(2026, 4, 2)),
            "None waiting for you",
        ],
    }
    # Each worker's name opens their progress.
    assert f'<a href="/progress/workers/{s.worker.id}">Wendy Worker</a>' in page
    assert f'<a href="/progress/workers/{top.id}">Tom Top</a>' in page

    assert sign_off(client, auth, s).status_code == 303
    rows = team_rows(text_of(client.get("/review/team")))
    assert rows["Wendy Worker"] == [
        "Link Worker",
        f"1 of {required} for Link Worker Coach",
        "1",
        long_date(date(2026, 4, 2)),
        "None waiting for you",
    ]


def test_the_team_page_shows_promotion_requests_waiting_for_my_recommendation(client, auth, frameworks):
    s = scene()
    waiting = promotion_request(s.worker)
    recommended = new_worker("Rita Recommended")
    assign(s.supervisor, recommended, starts_on=ASSIGNED_ON)
    promotion_request(recommended, recommended_by=s.supervisor)  # already recommended by me: nothing to do
    auth.login_as(s.supervisor)
    page = text_of(client.get("/review/team"))
    rows = team_rows(page)
    assert rows["Wendy Worker"][-1] == (
        f"Asked to become Link Worker Coach on {long_date(waiting.requested_at)}: recommend Wendy Worker"
    )
    assert f'href="/progress/workers/{s.worker.id}#promotion"' in page
    assert rows["Rita Recommended"][-1] == "None waiting for you"


def test_the_team_page_names_a_role_profile_not_a_next_tier(client, auth, frameworks):
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    sol = make_user(
        Role.WORKER, name="Sol Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    assign(supervisor, sol, starts_on=ASSIGNED_ON)
    auth.login_as(supervisor)
    [cells] = team_rows(text_of(client.get("/review/team"))).values()
    assert re.fullmatch(r"0 of \d+ for the Senior Engagement Worker role", cells[1]), cells


def test_the_team_page_without_supervisees(client, auth, frameworks):
    auth.login_as(make_user(Role.SUPERVISOR))
    assert "Nobody is assigned to you today." in text_of(client.get("/review/team"))


def test_the_team_page_is_kept_rendered_until_something_its_rows_show_changes(
    client, auth, frameworks, count_queries, monkeypatch
):
    """The rows are kept rendered between views, read again only when one would read otherwise: an item sent, a
    supervision note, a promotion request asked and recommended on, a worker assigned or an assignment ended, the
    next day (an assignment that starts tomorrow) each show on the very next view."""
    s = scene()
    auth.login_as(s.supervisor)

    def rows() -> dict[str, list[str]]:
        return team_rows(text_of(client.get("/review/team")))

    required = required_for_next_tier()
    wendy = ["Link Worker", f"0 of {required} for Link Worker Coach", "1", "No notes yet", "None waiting for you"]
    assert rows() == {"Wendy Worker": wendy}
    with count_queries(keep=True):
        assert rows() == {"Wendy Worker": wendy}
    # The signed-in supervisor with the navigation's count of her queue, and what the rows depend on: nobody's
    # items, notes or requests are read.
    assert len(count_queries.statements) == 2

    submitted_evidence(s.worker, title="Second item")
    assert rows()["Wendy Worker"][2] == "2"
    note_through_service(s.worker, s.supervisor, on=EVENT_DAY)
    assert rows()["Wendy Worker"][3] == long_date(EVENT_DAY)
    request = promotion_request(s.worker)
    db.session.commit()
    assert rows()["Wendy Worker"][4].startswith("Asked to become Link Worker Coach")
    progress_service.recommend(s.supervisor, request, supports=True, reasons="Ready.")
    assert rows()["Wendy Worker"][4] == "None waiting for you"

    tom = new_worker("Tom Top", "psychosocial-link-worker")
    tomorrow = SupervisionAssignment(supervisor_id=s.supervisor.id, worker_id=tom.id, starts_on=TODAY + timedelta(1))
    db.session.add(tomorrow)
    db.session.commit()
    assert set(rows()) == {"Wendy Worker"}
    the_day_after = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: the_day_after)
    assert set(rows()) == {"Wendy Worker", "Tom Top"}
    db.session.execute(  # written directly: no token is written for an assignment
        update(SupervisionAssignment)
        .where(SupervisionAssignment.worker_id == s.worker.id)
        .values(ends_on=TODAY)  # ended yesterday, as the clock reads now
    )
    db.session.commit()
    assert set(rows()) == {"Tom Top"}


# --- fixed query counts --------------------------------------------------------------------


def add_supervisees(supervisor: User, start: int, count: int, *, items: int = 2, notes: bool = False) -> None:
    for number in range(start, start + count):
        worker = new_worker(f"Worker {number:02d}")
        assign(supervisor, worker, starts_on=ASSIGNED_ON)
        for item in range(items):
            submitted_evidence(worker, title=f"Item {item} of worker {number}")
        if notes:
            note_through_service(worker, supervisor, title=f"Supervision of worker {number}")


def test_team_and_queue_pages_run_a_fixed_number_of_queries(client, auth, frameworks, count_queries):
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    add_supervisees(supervisor, 0, 2, items=1)
    auth.login_as(supervisor)
    client.get("/review/")  # warm up
    with count_queries:
        assert client.get("/review/team").status_code == 200
    team_before = count_queries.count
    with count_queries:
        assert client.get("/review/").status_code == 200
    queue_before = count_queries.count

    add_supervisees(supervisor, 2, 18, items=3)
    for worker in db.session.scalars(select(User).where(User.name.like("Worker 1%"))):
        promotion_request(worker)
    with count_queries:
        page = text_of(client.get("/review/team"))
    assert page.count(">recommend<") == 10
    assert len(team_rows(page)) == 20
    assert count_queries.count == team_before, count_queries.statements
    with count_queries:
        page = text_of(client.get("/review/"))
    assert len(queue_rows(page)) == 25  # a page of them
    assert status_of(page, "queue-status") == "56 submissions, showing 1 to 25 (page 1 of 3)"
    assert count_queries.count == queue_before, count_queries.statements
    # A row shows when it was sent, the kind, title and worker: the page reads no item's text, nor a password hash.
    rows = next(s for s in count_queries.statements if s.lstrip().startswith("SELECT submissions."))
    assert "what_happened" not in rows and "search_text" not in rows and "password_hash" not in rows


def test_the_queue_reads_the_notes_and_appraisals_beside_it_only_when_there_are_some(
    client, auth, frameworks, count_queries
):
    """Counted together in one query: most days the supervisor has neither, and neither list is read."""
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    add_supervisees(supervisor, 0, 1, items=1)
    auth.login_as(supervisor)
    client.get("/review/")  # warm up

    def look() -> tuple[str, list[str]]:
        with count_queries(keep=True):
            page = text_of(client.get("/review/"))
        lists = [
            q for q in count_queries.statements if q.lstrip().startswith(("SELECT evidence.", "SELECT appraisals."))
        ]
        return page, lists

    page, lists = look()
    assert "No notes to confirm." in page and "No appraisals to sign." in page and lists == []
    worker = db.session.scalar(select(User).where(User.name == "Worker 00"))
    note_through_service(worker, supervisor, title="Supervision in May")
    appraisal(worker, supervisor)
    page, lists = look()
    assert "Supervision notes to confirm (1)" in page and "Supervision in May" in page
    assert "Appraisals to sign (1)" in page and "appraisal of Worker 00" in page
    assert len(lists) == 2, lists


def test_the_queue_with_notes_to_confirm_runs_a_fixed_number_of_queries(client, auth, frameworks, count_queries):
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    add_supervisees(supervisor, 0, 2, items=1, notes=True)
    auth.login_as(supervisor)
    client.get("/review/")  # warm up
    with count_queries:
        assert client.get("/review/").status_code == 200
    before = count_queries.count

    add_supervisees(supervisor, 2, 18, items=1, notes=True)
    with count_queries:
        page = text_of(client.get("/review/"))
    assert "Supervision notes to confirm (20)" in page
    # Bug: queue.html reads ``n.note_reviews`` for each note, which notes_to_confirm()
    # does not load: one more query per note (fix: selectinload(Evidence.note_reviews)).
    per_note = [s for s in count_queries.statements if s.lstrip().startswith("SELECT note_reviews.")]
    assert count_queries.count == before, (
        f"{count_queries.count} queries instead of {before}; {len(per_note)} load one note's reviews each"
    )


# --- the supervisors' statements, built once per process (issue 12, speed) -----------------------------


def test_the_statements_built_once_answer_for_each_supervisor_and_each_day(app, frameworks, monkeypatch):
    """The queue, its counts and the notes to confirm take the supervisor and the day as parameters: one
    process serves every supervisor, and a new day, with the statements built on the first."""
    amy, ben = new_worker("Amy Worker"), new_worker("Ben Worker")
    sue = make_user(Role.SUPERVISOR, email="sue@example.org", name="Sue Supervisor")
    tom = make_user(Role.SUPERVISOR, email="tom@example.org", name="Tom Supervisor")
    assign(sue, amy)
    assign(tom, ben).ends_on = TODAY  # Tom's supervision of Ben ends today
    db.session.commit()
    submitted_evidence(amy, title="Amy's walking group")
    submitted_evidence(ben, title="Ben's allotment")
    note_through_service(amy, sue, title="Amy's supervision")
    note_through_service(ben, tom, title="Ben's supervision")

    # What Sue sees, on either day: Amy's item and note, and Amy in her team (one item waiting, a note).
    amy_for_sue = (
        "1",
        ["Amy's walking group"],
        ["Amy's walking group"],
        1,
        1,
        "1",
        ["Amy's supervision"],
        [("Amy Worker", 1, True)],
    )

    def label(supervisor: User) -> str:
        """The navigation's count, counted by itself (not one another call of this request remembered)."""
        with app.app_context():
            return review.waiting_label(supervisor)

    def seen_by(supervisor: User) -> tuple:
        return (
            label(supervisor),
            [item.evidence.title for item in review.queue(supervisor)],
            [item.evidence.title for item in review.queue_page(supervisor, 1).items],
            review.queue_count(supervisor),
            home.supervisor_home(supervisor).waiting,
            review.waiting_label(supervisor),
            [note.title for note in review.notes_to_confirm(supervisor)],
            [(row.worker.name, row.waiting, row.last_note is not None) for row in review.team(supervisor)],
        )

    # Each in an app context of its own, as each request is: what a request remembers (remembered.py) stays in it.
    with app.app_context():
        assert seen_by(sue) == amy_for_sue
    with app.app_context():
        assert seen_by(tom) == (
            "1",
            ["Ben's allotment"],
            ["Ben's allotment"],
            1,
            1,
            "1",
            ["Ben's supervision"],
            [("Ben Worker", 1, True)],
        )

    tomorrow = clock.now() + timedelta(days=1)  # the service's clock, which every area reads
    monkeypatch.setattr(clock, "now", lambda: tomorrow)  # tomorrow: Tom no longer supervises Ben
    with app.app_context():
        assert seen_by(tom) == ("0", [], [], 0, 0, "0", [], [])
    with app.app_context():
        assert seen_by(sue) == amy_for_sue


def test_the_request_to_recommend_is_each_supervisors_own(app, frameworks):
    """Two supervisors of one worker: the one who recommended has nothing left to do, the other has the
    request; the statement, built for the first, answers for the second."""
    amy = new_worker("Amy Worker")
    sue = make_user(Role.SUPERVISOR, email="sue@example.org", name="Sue Supervisor")
    tom = make_user(Role.SUPERVISOR, email="tom@example.org", name="Tom Supervisor")
    assign(sue, amy)
    assign(tom, amy)
    request = promotion_request(amy, recommended_by=sue)

    with app.app_context():
        assert [(row.worker.name, row.to_recommend) for row in review.team(sue)] == [("Amy Worker", None)]
    with app.app_context():
        [row] = review.team(tom)
        assert row.worker.name == "Amy Worker" and row.to_recommend is not None
        assert row.to_recommend.id == request.id


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_worker_sees_on_her_item_which_competences_were_accepted_and_why_not_the_others(
    client, auth, frameworks, headers
):
    """Found by a helper trying the app: a sign-off that left a competence open said so only deep in the history."""
    s = scene()

    def competences_part() -> str:
        page = text_of(client.get(f"/portfolio/{s.evidence.id}", headers=headers))
        return words(page.split('id="competences"', 1)[1].split("</ul>", 1)[0])

    auth.login_as(s.worker)
    assert "Accepted" not in competences_part()  # waiting for a decision: nothing decided to show
    auth.login_as(s.supervisor)
    assert sign_off(client, auth, s).status_code == 303  # the second not accepted: "The plan has no review points."
    auth.login_as(s.worker)
    shown = competences_part()
    assert f"Accepted {s.first.statement}" in shown
    assert f"Not accepted {s.second.statement}" in shown
    assert "Not accepted: The plan has no review points." in shown


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_resubmission_comes_back_with_the_competences_found_fine_ticked_again(client, auth, frameworks, headers):
    """From a helper trying the app as a supervisor: after a return, every choice had to be made again, the ones
    he had found fine as they were included. They come ticked Accepted; the one not accepted is his to judge."""
    s = scene()
    auth.login_as(s.supervisor)
    first = text_of(client.get(f"/review/{s.submission.id}", headers=headers))
    assert 'id="carried-over"' not in first and not re.findall(r'value="accepted"[^>]*\bchecked\b', first)
    assert return_for_changes(client, auth, s).status_code == 303  # the first fine as it is, the second not
    evidence_service.update_evidence(
        s.worker,
        reload(s.evidence),
        EvidenceInput(title="Community walking group", occurred_on=EVENT_DAY, description=DESCRIPTION + " 3 March."),
    )
    evidence_service.submit(s.worker, reload(s.evidence))
    again = review.open_submission_of(reload(s.evidence))

    page = text_of(client.get(f"/review/{again.id}", headers=headers))
    assert "</html>" in page
    assert re.findall(r'id="competence-(\d+)-accepted"[^>]*value="accepted"[^>]*\bchecked\b', page) == [str(s.first.id)]
    assert "The 1 competence you found fine when the item was returned is ticked Accepted again" in words(page)
    answer = accept_first_not_second(client, auth, dataclasses.replace(s, submission=again), **SIGN_OFF)
    assert answer.status_code == 303
    decision = db.session.scalar(select(Decision).where(Decision.submission_id == again.id))
    assert {o.competence_id: o.accepted for o in decision.outcomes} == {s.first.id: True, s.second.id: False}


def test_a_returned_items_notice_does_not_count_competences_not_accepted(client, auth, frameworks):
    """Found by a review: a return said "1 competence not accepted", though a returned item's choices count for
    nothing yet (every competence is still open)."""
    s = scene()
    auth.login_as(s.supervisor)
    assert return_for_changes(client, auth, s).status_code == 303  # the second not accepted
    [notice] = notices_of(s.worker)
    assert notice.message == "Sam Supervisor returned “Community walking group”"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_item_is_returned_with_a_comment_alone_and_judged_afresh_when_it_comes_back(
    client, auth, frameworks, headers
):
    """Found by a helper: "Return for changes" with only a comment was refused ("Choose accepted or not accepted"),
    so the supervisor ticked Accepted to get past it, and the worker then read "Fine as it is" on a competence
    nobody had judged. A return need not judge every competence; one left unjudged is not recorded."""
    s = scene()
    auth.login_as(s.supervisor)
    page = text_of(client.get(f"/review/{s.submission.id}"))
    assert "To return the item you need not choose for every competence" in words(page)
    response = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: None, s.second.id: "not-accepted"},
        reasons={s.second.id: "Say how you listened."},
        outcome="returned",
        comment="Add the dates of each session.",
        headers=headers,
    )
    assert response.status_code == 303
    stored = reload(s.evidence)
    assert stored.status == EvidenceStatus.RETURNED
    decision = db.session.scalar(select(Decision).where(Decision.evidence_id == s.evidence.id))
    assert [(o.competence_id, o.accepted) for o in decision.outcomes] == [(s.second.id, False)]

    auth.login_as(s.worker)
    returned = words(text_of(client.get(f"/portfolio/{s.evidence.id}")).split('id="returned"', 1)[1].split("</div>")[0])
    assert "Add the dates of each session." in returned
    assert "Not accepted" in returned and "Say how you listened." in returned
    assert "Fine as it is" not in returned
    # A return that judged no competence at all lists none in the item's history (no empty list).
    s2 = scene(title="Second walk")
    auth.login_as(s2.supervisor)
    assert 'aria-describedby="outcome-hint">Return for changes' in text_of(client.get(f"/review/{s2.submission.id}"))
    answer = post_decision(
        client, auth, s2.submission, {s2.first.id: None, s2.second.id: None}, outcome="returned", comment="Add dates."
    )
    assert answer.status_code == 303
    auth.login_as(s2.worker)
    history = text_of(client.get(f"/portfolio/{s2.evidence.id}")).split('id="history"', 1)[1]
    assert not re.search(r'<ul class="nhsuk-list nhsuk-list--bullet">\s*</ul>', history)
    assert "Returned for changes by Sam Supervisor" in words(history)


def test_a_return_with_a_comment_on_an_unjudged_competence_asks_which_it_is(client, auth, frameworks):
    s = scene()
    auth.login_as(s.supervisor)
    before = row_counts()
    response = post_decision(
        client,
        auth,
        s.submission,
        {s.first.id: None, s.second.id: None},
        reasons={s.first.id: "Good listening."},
        outcome="returned",
        comment="Add the dates of each session.",
    )
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, f"competence-{s.first.id}") == (
        "Error: Choose accepted or not accepted for your comment on this competence, or clear the comment"
    )
    assert f'id="competence-{s.second.id}-error"' not in page
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, BOOSTED], ids=["page", "boosted"])
def test_a_refused_decision_says_so_at_the_top_of_the_page(client, auth, frameworks, headers):
    """The decision form sits below the item, however long it is: its error summary comes first on the page, as on
    every other page, so that the first thing read (and, with JavaScript, focused) says what is wrong."""
    s = scene()
    auth.login_as(s.supervisor)
    response = post_decision(client, auth, s.submission, {s.first.id: None, s.second.id: None}, headers=headers)
    page = text_of(response)
    assert response.status_code == 422
    main = page.split('id="maincontent"', 1)[1]
    assert main.index("nhsuk-error-summary") < main.index("<h1>") < main.index("Your decision")
    assert main.count("nhsuk-error-summary__heading") == 1
    assert f'href="#competence-{s.first.id}-accepted"' in main.split("<h1>", 1)[0]
