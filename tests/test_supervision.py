"""Managers assign supervisors to workers and end assignments, through the routes."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.exceptions import Forbidden

from portfolio.audit import ledger
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import AuditEntry, Role, SupervisionAssignment
from portfolio.supervision import service
from tests.conftest import csrf_token
from tests.factories import TODAY, assign, make_user, tier
from tests.pages import (
    audit_rows,
    count,
    date_fields,
    error_next_to,
    error_summary,
    form_key,
    long_date,
    options,
    reload,
    selected_options,
    status_of,
    swapped_parts,
    text_of,
)
from tests.racing import no_server_errors, race, signed_in

# --- helpers --------------------------------------------------------------------


def assignment_rows(page: str) -> list[str]:
    """The rows of the assignments table, as read (cells joined by " | "); none when there is no table."""
    if 'class="nhsuk-table-responsive assignments"' not in page:
        return []
    table = page.split('class="nhsuk-table-responsive assignments"', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody", 1)[1]
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        rows.append(
            " | ".join(
                " ".join(
                    re.sub(
                        r"<[^>]+>",
                        " ",
                        re.sub(r'<span class="nhsuk-table-responsive__heading".*?</span>', "", c, flags=re.S),
                    ).split()
                )
                for c in cells
            )
        )
    return rows


def counts() -> tuple[int, int]:
    """(assignments, audit rows)."""
    return (
        db.session.scalar(select(func.count()).select_from(SupervisionAssignment)),
        db.session.scalar(select(func.count()).select_from(AuditEntry)),
    )


@pytest.fixture
def manager(manager, frameworks, auth):
    """The kit's manager, signed in, with the frameworks loaded."""
    auth.login_as(manager)
    return manager


@pytest.fixture
def people(app, frameworks):
    """Two workers, two supervisors, someone who is both, and a manager who is neither."""
    level = tier("link-worker", "link-worker")
    return {
        "wendy": make_user(Role.WORKER, name="Wendy Worker", tier=level),
        "walter": make_user(Role.WORKER, name="Walter Worker", tier=level),
        "sam": make_user(Role.SUPERVISOR, name="Sam Supervisor"),
        "sue": make_user(Role.SUPERVISOR, name="Sue Supervisor"),
        "both": make_user(Role.WORKER, Role.SUPERVISOR, name="Bo Both", tier=level),
    }


def post_assign(client, auth, worker_id, supervisor_id, starts_on=TODAY, ends_on=None, **kwargs):
    data = {
        "csrf_token": auth.token("/supervision/assign"),
        "worker_id": str(worker_id),
        "supervisor_id": str(supervisor_id),
        **date_fields("starts_on", starts_on),
        **date_fields("ends_on", ends_on),
    }
    return client.post("/supervision/assign", data=data, **kwargs)


# --- assigning -----------------------------------------------------------------------


def test_the_form_lists_workers_and_supervisors(client, manager, people):
    listed = text_of(client.get("/supervision/"))
    assert "<h1>Supervision</h1>" in listed and "No assignments yet." in listed
    assert 'href="/supervision/assign"' in listed  # the form has a page of its own
    response = client.get("/supervision/assign")
    assert response.status_code == 200
    page = text_of(response)
    assert "<h1>Assign a supervisor</h1>" in page
    workers = options(page, "worker_id")
    supervisors = options(page, "supervisor_id")
    assert workers[0] == ("0", "Choose a worker")
    assert supervisors[0] == ("0", "Choose a supervisor")
    # Each is named with their email: two people can share a name.
    assert sorted(t for _, t in workers[1:]) == sorted(people[k].label for k in ("both", "walter", "wendy"))
    assert sorted(t for _, t in supervisors[1:]) == sorted(people[k].label for k in ("both", "sam", "sue"))
    assert (str(people["sam"].id), f"Sam Supervisor ({people['sam'].email})") in supervisors
    # The manager is neither, and no assignment exists yet.
    assert not any(t.startswith("Maya Manager") for _, t in workers + supervisors)
    # Start date defaults to today.
    assert f'value="{TODAY.day}"' in page.split('id="starts_on"', 1)[1].split("</fieldset>", 1)[0]


def test_a_manager_assigns_a_supervisor(client, auth, manager, people):
    wendy, sam = people["wendy"], people["sam"]
    start = TODAY - timedelta(days=3)
    response = post_assign(client, auth, wendy.id, sam.id, starts_on=start)
    assert response.status_code == 303
    assert response.headers["Location"] == "/supervision/"

    [row] = db.session.scalars(select(SupervisionAssignment)).all()
    assert (row.worker_id, row.supervisor_id, row.starts_on, row.ends_on) == (wendy.id, sam.id, start, None)
    assert row.created_by_id == manager.id
    [entry] = audit_rows()
    assert (entry.action, entry.subject, entry.actor_id) == ("supervision.assigned", f"assignment:{row.id}", manager.id)
    assert entry.details == {
        "worker_id": wendy.id,
        "supervisor_id": sam.id,
        "starts_on": start.isoformat(),
        "ends_on": None,
    }
    assert service.is_supervising(sam.id, wendy.id, TODAY)

    page = text_of(client.get("/supervision/"))
    assert "Sam Supervisor now supervises Wendy Worker" in page
    assert assignment_rows(page) == [
        f"Wendy Worker | Sam Supervisor | {long_date(start)} | No end date | Set end date for Sam Supervisor supervising Wendy Worker"
    ]
    assert ledger.verify().ok


def test_the_assign_page_is_whole_when_boosted_and_as_a_422(client, auth, manager, people):
    """Reached by boosted navigation, and refused from a boosted form, the answer is the whole page."""
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}
    page = text_of(client.get("/supervision/assign", headers=boosted))
    assert "<html" in page and "<h1>Assign a supervisor</h1>" in page
    before = counts()
    response = post_assign(client, auth, people["wendy"].id, 0, headers=boosted)
    assert response.status_code == 422
    page = text_of(response)
    assert "<html" in page and "<title>Error: Assign a supervisor" in page
    assert "Choose a supervisor" in error_next_to(page, "supervisor_id")
    assert counts() == before


def test_a_double_click_on_assign_creates_one_assignment(app, server, manager, people):
    """One form, two clicks racing over real HTTP (the same key): one assignment, one audit row, and both answers
    lead to the list."""
    wendy, sam = people["wendy"], people["sam"]
    [browser] = signed_in(server, ("maya", manager.email))
    page = browser.get("/supervision/assign")
    assert page.status == 200, page.describe()
    data = {
        "csrf_token": csrf_token(page.text),
        "form_key": form_key(page.text),
        "worker_id": str(wendy.id),
        "supervisor_id": str(sam.id),
        **date_fields("starts_on", TODAY),
        **date_fields("ends_on", None),
    }
    answers = race([browser.start_post("/supervision/assign", data) for _ in range(2)])
    no_server_errors({"first": answers[0], "second": answers[1]}, 1)
    assert [a.status for a in answers] == [303, 303], [a.describe() for a in answers]
    assert {a.headers["location"] for a in answers} == {"/supervision/"}
    db.session.commit()  # a new snapshot: see what the server wrote
    assert counts() == (1, 1)
    assert [row.split(" | ")[:2] for row in assignment_rows(browser.get("/supervision/").text)] == [
        ["Wendy Worker", "Sam Supervisor"]
    ]


def test_an_assignment_with_an_end_date(client, auth, manager, people):
    end = TODAY + timedelta(days=30)
    assert post_assign(client, auth, people["walter"].id, people["sue"].id, ends_on=end).status_code == 303
    [row] = db.session.scalars(select(SupervisionAssignment)).all()
    assert (row.starts_on, row.ends_on) == (TODAY, end)
    assert audit_rows("supervision.assigned")[0].details["ends_on"] == end.isoformat()
    rows = assignment_rows(text_of(client.get("/supervision/")))
    assert rows[0].startswith(f"Walter Worker | Sue Supervisor | {long_date(TODAY)} | {long_date(end)} |")
    assert "Ended" not in rows[0]


CASES = [
    pytest.param(lambda p: {"worker_id": 0}, "worker_id", "Choose the worker", id="no-worker"),
    pytest.param(lambda p: {"supervisor_id": 0}, "supervisor_id", "Choose a supervisor", id="no-supervisor"),
    pytest.param(
        lambda p: {"worker_id": p["both"].id, "supervisor_id": p["both"].id},
        "supervisor_id",
        "A worker cannot supervise themselves: choose someone else",
        id="same-person",
    ),
    pytest.param(
        lambda p: {"ends_on": TODAY - timedelta(days=1)},
        "ends_on",
        "The end date must be the same as or after the start date",
        id="end-before-start",
    ),
    pytest.param(
        lambda p: {"supervisor_id": p["walter"].id}, "supervisor_id", "Choose a supervisor", id="not-a-supervisor"
    ),
    pytest.param(lambda p: {"worker_id": 987654}, "worker_id", "Choose the worker", id="missing-worker"),
    pytest.param(lambda p: {"starts_on": None}, "starts_on", "Enter the start date", id="no-start-date"),
]


@pytest.mark.parametrize(("changes", "field", "message"), CASES)
def test_a_refused_assignment_shows_the_error_next_to_the_field_and_writes_nothing(
    client, auth, manager, people, changes, field, message
):
    values = {"worker_id": people["wendy"].id, "supervisor_id": people["sam"].id, "starts_on": TODAY, "ends_on": None}
    values.update(changes(people))
    before = counts()
    response = post_assign(client, auth, **values)
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: Assign a supervisor" in page
    assert "There is a problem" in page
    assert message in error_next_to(page, field)
    assert counts() == before


def test_an_empty_assignment_form_names_every_problem_in_one_answer(client, auth, manager, people):
    before = counts()
    response = post_assign(client, auth, 0, 0, starts_on=None)
    assert response.status_code == 422
    page = text_of(response)
    assert "Choose the worker" in error_next_to(page, "worker_id")
    assert "Choose a supervisor" in error_next_to(page, "supervisor_id")
    assert "Enter the start date" in error_next_to(page, "starts_on")
    assert [message for _, message in error_summary(page)] == [
        "Choose the worker",
        "Choose a supervisor",
        "Enter the start date",
    ]
    assert counts() == before


def test_a_date_that_does_not_exist_is_said_with_the_empty_choices(client, auth, manager, people):
    """Found by a helper: with 31 2 2026 as the start, only the date's problem was said; the empty worker and
    supervisor came up on the next try."""
    before = counts()
    data = {
        "csrf_token": auth.token("/supervision/assign"),
        "worker_id": "0",
        "supervisor_id": "0",
        "starts_on-day": "31",
        "starts_on-month": "2",
        "starts_on-year": "2026",
    }
    response = client.post("/supervision/assign", data=data)
    assert response.status_code == 422
    page = text_of(response)
    assert [message for _, message in error_summary(page)] == [
        "Choose the worker",
        "Choose a supervisor",
        "Start date must be a real date",
    ]
    assert "Choose the worker" in error_next_to(page, "worker_id")
    assert "Choose a supervisor" in error_next_to(page, "supervisor_id")
    assert "Start date must be a real date" in error_next_to(page, "starts_on")
    assert counts() == before


@pytest.mark.parametrize(
    ("year", "message"),
    [
        ("26", f"Start date must have a year of 4 numbers, like {date.today().year}"),  # found by a helper
        ("026", f"Start date must have a year of 4 numbers, like {date.today().year}"),
        ("1066", "Start date must be a real date"),  # 4 numbers, out of range
        ("2O26", "Start date must be a real date"),  # a letter O: not numbers at all
    ],
)
def test_a_short_year_is_said_to_be_the_problem(client, auth, manager, people, year, message):
    auth.login_as(manager)
    before = counts()
    data = {
        "csrf_token": auth.token("/supervision/assign"),
        "starts_on-day": "1",
        "starts_on-month": "2",
        "starts_on-year": year,
    }
    page = text_of(client.post("/supervision/assign", data=data))
    assert error_next_to(page, "starts_on") == f"Error: {message}"
    assert f'name="starts_on-year" type="text" value="{year}"' in page  # as typed, to mend
    assert counts() == before


def test_choosing_oneself_as_worker_is_said_with_the_other_problems(client, auth, manager, people):
    """The own-supervision refusal gives back the locks it took; the other fields are still looked at."""
    manager.is_worker = True
    db.session.commit()
    before = counts()
    response = post_assign(
        client, auth, manager.id, people["sam"].id, starts_on=TODAY, ends_on=TODAY - timedelta(days=1)
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "You cannot choose your own supervisor" in error_next_to(page, "worker_id")
    assert "The end date must be the same as or after the start date" in error_next_to(page, "ends_on")
    assert counts() == before


def test_an_overlapping_assignment_of_the_same_pair_is_refused(client, auth, manager, people):
    wendy, sam = people["wendy"], people["sam"]
    first = assign(sam, wendy, starts_on=TODAY - timedelta(days=60))
    first.ends_on = TODAY + timedelta(days=10)
    db.session.commit()
    before = counts()
    # Starts inside the first period.
    response = post_assign(client, auth, wendy.id, sam.id, starts_on=TODAY + timedelta(days=5))
    assert response.status_code == 422
    assert "Sam Supervisor already supervises Wendy Worker in that period" in error_next_to(
        text_of(response), "supervisor_id"
    )
    # Ends inside it.
    response = post_assign(
        client, auth, wendy.id, sam.id, starts_on=TODAY - timedelta(days=90), ends_on=TODAY - timedelta(days=59)
    )
    assert response.status_code == 422
    # Surrounds it.
    response = post_assign(client, auth, wendy.id, sam.id, starts_on=TODAY - timedelta(days=90))
    assert response.status_code == 422
    assert counts() == before

    # The day after it ends is fine, and so is another supervisor for the same period.
    assert post_assign(client, auth, wendy.id, sam.id, starts_on=TODAY + timedelta(days=11)).status_code == 303
    assert post_assign(client, auth, wendy.id, people["sue"].id, starts_on=TODAY).status_code == 303
    assert counts() == (before[0] + 2, before[1] + 2)


def test_the_service_refuses_the_same_rules(app, manager, people):
    wendy = people["wendy"]
    with pytest.raises(FieldError) as error:
        service.assign(manager, worker_id=wendy.id, supervisor_id=wendy.id, starts_on=TODAY, ends_on=None)
    assert error.value.field == "supervisor_id"  # Wendy is not a supervisor
    with pytest.raises(FieldError) as error:
        service.assign(
            manager, worker_id=people["both"].id, supervisor_id=people["both"].id, starts_on=TODAY, ends_on=None
        )
    assert error.value.message == "A worker cannot supervise themselves: choose someone else"
    assert counts() == (0, 0)


# --- ending an assignment -------------------------------------------------------------


def test_ending_an_assignment(client, auth, manager, people):
    started = TODAY - timedelta(days=100)
    assignment = assign(people["sam"], people["wendy"], starts_on=started)
    page = text_of(client.get(f"/supervision/{assignment.id}/end"))
    assert "End supervision of Wendy Worker by Sam Supervisor" in page
    assert f"Started {long_date(started)}" in page

    last_day = TODAY - timedelta(days=1)
    response = client.post(
        f"/supervision/{assignment.id}/end",
        data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", last_day)},
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/supervision/"
    assert reload(assignment).ends_on == last_day
    [entry] = audit_rows("supervision.ended")
    assert (entry.subject, entry.actor_id) == (f"assignment:{assignment.id}", manager.id)
    assert entry.details == {
        "worker_id": people["wendy"].id,
        "supervisor_id": people["sam"].id,
        "ends_on": last_day.isoformat(),
        "previous_ends_on": None,
    }
    assert not service.is_supervising(people["sam"].id, people["wendy"].id, TODAY)
    assert service.is_supervising(people["sam"].id, people["wendy"].id, last_day)
    # One statement, built once, for every pair and day: the roles reversed are not a supervision.
    assert not service.is_supervising(people["wendy"].id, people["sam"].id, last_day)
    page = text_of(client.get("/supervision/"))
    assert f"ends on {long_date(last_day)}" in page
    assert ledger.verify().ok


def test_an_end_before_the_start_is_refused(client, auth, manager, people):
    assignment = assign(people["sam"], people["wendy"], starts_on=TODAY - timedelta(days=10))
    before = counts()
    response = client.post(
        f"/supervision/{assignment.id}/end",
        data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", TODAY - timedelta(days=11))},
    )
    assert response.status_code == 422
    assert "The end date must be the same as or after the start date" in error_next_to(text_of(response), "ends_on")
    response = client.post(
        f"/supervision/{assignment.id}/end",
        data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", None)},
    )
    assert response.status_code == 422
    assert "Enter the end date" in error_next_to(text_of(response), "ends_on")
    assert reload(assignment).ends_on is None
    assert counts() == before


def test_moving_an_end_date_into_a_later_assignment_of_the_same_pair_is_refused(client, auth, manager, people):
    """The rule "no overlapping assignments of the same pair" must hold when an end date changes too.

    Bug: ``supervision.service.end_assignment`` checks only ``ends_on >= starts_on``;
    "Set end date" can push an ended assignment past the start of a later one of
    the same pair, leaving two overlapping rows (which ``assign`` refuses).
    Fix: in ``end_assignment``, inside the write transaction, look for another
    assignment of the same worker and supervisor (``id != assignment.id``) with
    ``starts_on <= ends_on`` and ``(ends_on IS NULL OR ends_on >= assignment.starts_on)``,
    and raise ``FieldError("ends_on", "<supervisor> already supervises <worker> in that period")``.
    """
    wendy, sam = people["wendy"], people["sam"]
    old = assign(sam, wendy, starts_on=TODAY - timedelta(days=200))
    old.ends_on = TODAY - timedelta(days=100)
    db.session.commit()
    assign(sam, wendy, starts_on=TODAY - timedelta(days=50))
    before = counts()
    response = client.post(
        f"/supervision/{old.id}/end",
        data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", TODAY + timedelta(days=10))},
    )
    assert response.status_code == 422
    assert "already supervises" in error_next_to(text_of(response), "ends_on")
    assert reload(old).ends_on == TODAY - timedelta(days=100)
    assert counts() == before


def test_ending_a_missing_assignment_is_404(client, auth, manager):
    assert client.get("/supervision/999/end").status_code == 404


# --- the list: paged (tests/test_paging.py), searched and filtered ----------------------


@pytest.fixture
def history(people):
    """Four assignments on either side of today: open-ended, ending today, ended yesterday, starting tomorrow."""
    wendy, walter, sam, sue = people["wendy"], people["walter"], people["sam"], people["sue"]
    assign(sam, wendy, starts_on=TODAY - timedelta(days=30))
    assign(sue, wendy, starts_on=TODAY - timedelta(days=30)).ends_on = TODAY
    assign(sam, walter, starts_on=TODAY - timedelta(days=60)).ends_on = TODAY - timedelta(days=1)
    assign(sue, walter, starts_on=TODAY + timedelta(days=1))
    db.session.commit()


def assignments_listed(client, query: str = "", **headers) -> list[str]:
    """Worker and supervisor of each row the list shows for ``query``."""
    page = text_of(client.get(f"/supervision/?{query}", headers=headers))
    return [" | ".join(row.split(" | ")[:2]) for row in assignment_rows(page)]


@pytest.mark.parametrize(
    ("query", "rows"),
    [
        (
            "",
            [
                "Walter Worker | Sue Supervisor",
                "Wendy Worker | Sam Supervisor",
                "Wendy Worker | Sue Supervisor",
                "Walter Worker | Sam Supervisor",
            ],
        ),
        ("state=current", ["Wendy Worker | Sam Supervisor", "Wendy Worker | Sue Supervisor"]),  # the last day counts
        ("state=upcoming", ["Walter Worker | Sue Supervisor"]),
        ("state=ended", ["Walter Worker | Sam Supervisor"]),
        ("q=sue", ["Walter Worker | Sue Supervisor", "Wendy Worker | Sue Supervisor"]),  # the supervisor's name
        ("q=walter+sue", ["Walter Worker | Sue Supervisor"]),  # each word in the worker's or the supervisor's
        ("q=wendy&state=ended", []),
    ],
)
def test_the_list_finds_assignments_by_person_and_by_state_on_the_day(client, manager, people, history, query, rows):
    assert assignments_listed(client, query) == rows


def test_each_row_says_its_state_as_the_filter_decides_it(client, manager, people, history):
    """The tags and the filter are one rule (service.state_on, and in SQL): each state's rows carry its tag."""
    tags = {"current": [], "upcoming": ["Not started yet"], "ended": ["Ended"]}
    for state, tag in tags.items():
        page = text_of(client.get(f"/supervision/?state={state}"))
        for row in assignment_rows(page):
            assert [t for t in ("Not started yet", "Ended") if t in row] == tag, (state, row)


def test_the_list_finds_a_person_by_email_and_says_what_matched(client, manager, people, history):
    sam = people["sam"]
    page = text_of(client.get(f"/supervision/?q={sam.email}"))
    assert [" | ".join(r.split(" | ")[:2]) for r in assignment_rows(page)] == [
        "Wendy Worker | Sam Supervisor",
        "Walter Worker | Sam Supervisor",
    ]
    assert status_of(page, "assignments-count") == "2 assignments match your search"
    assert "<title>Supervision: 2 assignments match your search" in page
    empty = text_of(client.get("/supervision/?q=nobody+here"))
    assert status_of(empty, "assignments-count") == "No assignments match your search"
    assert assignment_rows(empty) == [] and "No assignments yet." not in empty


def test_a_filter_answers_htmx_with_the_list_and_its_count(client, manager, people, history):
    answer = client.get("/supervision/?state=current", headers={"HX-Request": "true"}).get_data(as_text=True)
    body, oob = swapped_parts(answer, "assignments-list")
    assert [" | ".join(r.split(" | ")[:2]) for r in assignment_rows(body)] == [
        "Wendy Worker | Sam Supervisor",
        "Wendy Worker | Sue Supervisor",
    ]
    assert status_of(answer, "assignments-count") == "2 assignments match your search"
    assert len(oob) == 1 and 'id="assignments-count"' in oob[0]
    # Boosted navigation gets the whole page.
    boosted = text_of(client.get("/supervision/?state=current", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<h1>Supervision</h1>" in boosted and len(assignment_rows(boosted)) == 2


def test_a_bad_filter_is_named_next_to_its_field_and_the_whole_list_shows(client, manager, people, history):
    response = client.get("/supervision/?state=someday&q=" + "x" * 101)
    assert response.status_code == 200
    page = text_of(response)
    assert "Search for 100 characters or fewer" in error_next_to(page, "q")
    assert "Not a valid choice" in error_next_to(page, "state")
    assert len(assignment_rows(page)) == 4
    assert status_of(page, "assignments-count") == "4 assignments"


# --- who may ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["worker", "supervisor", "both"])
def test_non_managers_are_refused(client, auth, people, role):
    person = {"worker": people["wendy"], "supervisor": people["sam"], "both": people["both"]}[role]
    assignment = assign(people["sue"], people["walter"], starts_on=TODAY - timedelta(days=5))
    auth.login_as(person)
    token = auth.token("/")
    before = counts()
    assert client.get("/supervision/").status_code == 403
    assert client.get("/supervision/assign").status_code == 403
    response = client.post(
        "/supervision/assign",
        data={
            "csrf_token": token,
            "worker_id": people["wendy"].id,
            "supervisor_id": people["sue"].id,
            **date_fields("starts_on", TODAY),
        },
    )
    assert response.status_code == 403
    assert client.get(f"/supervision/{assignment.id}/end").status_code == 403
    response = client.post(
        f"/supervision/{assignment.id}/end", data={"csrf_token": token, **date_fields("ends_on", TODAY)}
    )
    assert response.status_code == 403
    assert counts() == before
    assert reload(assignment).ends_on is None
    # The navigation does not offer the page.
    assert 'href="/supervision/"' not in client.get("/").get_data(as_text=True)


def test_the_service_refuses_non_managers(app, people):
    with pytest.raises(Forbidden):
        service.assign(
            people["sam"], worker_id=people["wendy"].id, supervisor_id=people["sue"].id, starts_on=TODAY, ends_on=None
        )
    assignment = assign(people["sue"], people["walter"])
    with pytest.raises(Forbidden):
        service.end_assignment(people["sue"], assignment, TODAY)
    assert reload(assignment).ends_on is None
    assert audit_rows() == []


# --- several supervisors and history ---------------------------------------------------


def test_a_worker_may_have_two_supervisors(client, auth, manager, people):
    wendy = people["wendy"]
    assert post_assign(client, auth, wendy.id, people["sam"].id).status_code == 303
    assert post_assign(client, auth, wendy.id, people["sue"].id).status_code == 303
    assert [u.name for u in service.supervisors_of(wendy.id, TODAY)] == ["Sam Supervisor", "Sue Supervisor"]
    rows = assignment_rows(text_of(client.get("/supervision/")))
    assert sorted(r.split(" | ")[:2] for r in rows) == [
        ["Wendy Worker", "Sam Supervisor"],
        ["Wendy Worker", "Sue Supervisor"],
    ]
    assert len(audit_rows("supervision.assigned")) == 2


def test_history_is_kept(client, auth, manager, people):
    wendy, sam, sue = people["wendy"], people["sam"], people["sue"]
    old = assign(sam, wendy, starts_on=TODAY - timedelta(days=400))
    response = client.post(
        f"/supervision/{old.id}/end",
        data={"csrf_token": auth.token("/supervision/"), **date_fields("ends_on", TODAY - timedelta(days=30))},
    )
    assert response.status_code == 303
    # Sue takes over; later Sam comes back.
    assert post_assign(client, auth, wendy.id, sue.id, starts_on=TODAY - timedelta(days=29)).status_code == 303
    assert post_assign(client, auth, wendy.id, sam.id, starts_on=TODAY).status_code == 303

    assert db.session.scalar(select(func.count()).select_from(SupervisionAssignment)) == 3
    assert [u.name for u in service.supervisors_of(wendy.id)] == ["Sam Supervisor", "Sue Supervisor"]
    rows = assignment_rows(text_of(client.get("/supervision/")))
    assert len(rows) == 3
    ended = [r for r in rows if "Ended" in r]
    assert ended == [
        f"Wendy Worker | Sam Supervisor | {long_date(TODAY - timedelta(days=400))} | {long_date(TODAY - timedelta(days=30))} Ended"
        f" | Set end date for Sam Supervisor supervising Wendy Worker"
    ]
    # Current ones first, the ended one last.
    assert "Ended" in rows[-1]
    assert [e.action for e in audit_rows()] == ["supervision.ended", "supervision.assigned", "supervision.assigned"]
    assert ledger.verify().ok


def test_an_assignment_ending_today_is_not_yet_ended(client, auth, manager, people):
    assignment = assign(people["sam"], people["wendy"], starts_on=TODAY - timedelta(days=10))
    assignment.ends_on = TODAY
    db.session.commit()
    [row] = assignment_rows(text_of(client.get("/supervision/")))
    assert long_date(TODAY) in row and "Ended" not in row
    assert service.is_supervising(people["sam"].id, people["wendy"].id, TODAY)


def test_a_new_starter_invited_but_not_yet_signed_in_is_given_a_supervisor(client, auth, manager, people):
    """From a helper trying the app as a manager: the service let an invited worker be assigned, but the form
    listed active people only, so a new starter waited for a supervisor until they had chosen a password."""
    omar = make_user(Role.WORKER, name="Omar New", tier=tier("link-worker", "link-worker"), active=False)
    omar.invited = True
    gone = make_user(Role.WORKER, name="Lee Left", tier=tier("link-worker", "link-worker"), active=False)
    db.session.commit()
    person = text_of(client.get(f"/people/{omar.id}"))
    assert f'href="/supervision/assign?worker_id={omar.id}">Assign a supervisor to Omar New</a>' in person
    form = text_of(client.get(f"/supervision/assign?worker_id={omar.id}"))
    assert selected_options(form, "worker_id") == [str(omar.id)]  # named from their page
    workers = dict(options(form, "worker_id"))
    assert workers[str(omar.id)] == f"{omar.label} – invited"
    assert str(gone.id) not in workers  # a leaver is not
    assert post_assign(client, auth, omar.id, people["sam"].id).status_code == 303
    assert count(SupervisionAssignment, SupervisionAssignment.worker_id == omar.id) == 1
    assert post_assign(client, auth, gone.id, people["sam"].id).status_code == 422
