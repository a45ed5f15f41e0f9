"""Annual appraisals (signed by both, then locked; open goals carried forward), the CPD log with hours per year,
and the Senior Engagement Worker's required experience and formal learning as verified requirements."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound

from portfolio.cpd import service
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import (
    Appraisal,
    AuditEntry,
    Competence,
    CpdActivity,
    CpdGoal,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    Framework,
    GoalStatus,
    Requirement,
    RequirementVerification,
    Role,
    SupervisionAssignment,
    User,
    cpd_activity_competences,
    utcnow,
)
from portfolio.progress import service as progress
from tests.conftest import post_with_token
from tests.factories import TODAY, assign, certificate, decide_on, make_user, tier
from tests.pages import (
    BOOSTED,
    assert_error_shown,
    checkboxes,
    count,
    date_fields,
    error_next_to,
    error_summary,
    form_key,
    link_buttons,
    long_date,
    options,
    reload,
    row_counts,
    seen_on,
    selected,
    summary_links,
    text_of,
    ticked,
    words,
)

LAST_YEAR = date(TODAY.year - 1, 3, 2)  # last year's appraisal
THIS_YEAR = date(
    TODAY.year, 1, 5
)  # this year's (never after today... unless today is 1-4 January, which is allowed too)
SFH_YAML = (
    Path(__file__).resolve().parents[1]
    / "portfolio"
    / "frameworks"
    / "data"
    / "skills-for-health-senior-engagement-worker.yaml"
)
SFH_REQUIREMENTS = [
    "Previous experience of working with people with identified health needs e.g. learning disabilities, substance misuse, "
    "mental health, and the criminal justice system",
    "Supervisory responsibility and managing complexity of risk",
    "Psychology degree / Forensic Psychology degree desirable, and/or equivalent qualification and experience",
    "DBS clearance or vetting, where appropriate",
    "Psychology degree/Forensic Psychology degree or equivalent qualification",
]


# --- helpers --------------------------------------------------------------------


def audit_actions() -> list[tuple[str, dict]]:
    return [(e.action, e.details) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


@pytest.fixture
def people(app, frameworks):
    """Wendy (worker), Sam (her supervisor now), Mo (manager), Olive (another worker), Pat (her supervisor until last month),
    Nina (a supervisor, not hers)."""
    worker = make_user(
        Role.WORKER, email="worker@example.org", name="Wendy Worker", tier=tier("link-worker", "link-worker")
    )
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    other = make_user(Role.WORKER, name="Olive Other", tier=tier("link-worker", "link-worker"))
    past = make_user(Role.SUPERVISOR, name="Pat Past")
    stranger = make_user(Role.SUPERVISOR, name="Nina Notmine")
    assign(supervisor, worker, starts_on=TODAY - timedelta(days=400))
    db.session.add(
        SupervisionAssignment(
            supervisor_id=past.id,
            worker_id=worker.id,
            starts_on=TODAY - timedelta(days=800),
            ends_on=TODAY - timedelta(days=30),
        )
    )
    assign(stranger, other, starts_on=TODAY - timedelta(days=400))
    db.session.commit()
    return worker, supervisor, manager, other, past, stranger


def start(worker: User, appraiser: User, held_on: date = THIS_YEAR) -> Appraisal:
    return service.start_appraisal(worker, worker, held_on=held_on, appraiser_id=appraiser.id)


def goal_rows(*rows: tuple[str, str, date | None, str], blank: int = 1) -> dict:
    """Form fields for the plan's goal rows (description, method, target date, status), then ``blank`` empty rows."""
    data: dict = {}
    for index, (description, method, target_on, status) in enumerate(list(rows) + [("", "", None, "open")] * blank):
        data.update(
            {
                f"goals-{index}-description": description,
                f"goals-{index}-method": method,
                f"goals-{index}-status": status,
                **date_fields(f"goals-{index}-target_on", target_on),
            }
        )
    return data


def appraisal_form(
    *rows,
    review: str = "A good year of groups.",
    objectives: str = "Run a walking group.",
    learning_needs: str = "Trauma-informed practice.",
    blank: int = 1,
) -> dict:
    return {
        "review": review,
        "objectives": objectives,
        "learning_needs": learning_needs,
        **goal_rows(*rows, blank=blank),
    }


def plan(appraisal_id: int) -> list[tuple[str, str, date, GoalStatus, int | None]]:
    appraisal = reload(Appraisal, appraisal_id)
    return [(g.description, g.method, g.target_on, g.status, g.carried_from_id) for g in appraisal.goals]


# --- Starting an appraisal ---------------------------------------------------------------


def test_the_worker_starts_this_years_appraisal_with_a_current_supervisor(client, auth, people):
    worker, supervisor, manager, other, past, stranger = people
    auth.login_as(worker)
    form = text_of(client.get("/cpd/appraisals/new"))
    assert "<h1>Start an appraisal</h1>" in form
    # Only current supervisors and managers are offered; not a past supervisor, another's supervisor or a colleague.
    assert options(form, "appraiser_id") == [
        ("0", "Choose"),
        (str(manager.id), manager.label),
        (str(supervisor.id), supervisor.label),
    ]  # with emails: names can be shared
    assert f'value="{TODAY.day}"' in form  # today by default

    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", THIS_YEAR), "appraiser_id": str(supervisor.id)}
    )
    assert response.status_code == 303
    [appraisal] = db.session.scalars(select(Appraisal)).all()
    assert response.headers["Location"] == f"/cpd/appraisals/{appraisal.id}"
    assert (appraisal.worker_id, appraisal.year, appraisal.held_on, appraisal.appraiser_id) == (
        worker.id,
        THIS_YEAR.year,
        THIS_YEAR,
        supervisor.id,
    )
    assert (appraisal.worker_signed_at, appraisal.appraiser_signed_at, appraisal.goals) == (None, None, [])
    assert audit_actions() == [("appraisal.started", {"appraisal_id": appraisal.id, "year": THIS_YEAR.year})]

    page = text_of(client.get(response.headers["Location"]))
    assert f"<h1>{THIS_YEAR.year} appraisal</h1>" in page
    assert "Sam Supervisor" in words(page) and "Signed by the worker Not yet" in words(page)
    assert 'name="review"' in page and "Sign the appraisal" in page
    listing = words(text_of(client.get("/cpd/")))
    assert f"{THIS_YEAR.year} appraisal with Sam Supervisor, {long_date(THIS_YEAR)} Not signed by both" in listing

    # The appraiser sees it to sign on their home page.
    auth.login_as(supervisor)
    home = text_of(client.get("/"))
    assert "Appraisals for you to sign" in home
    assert f"{THIS_YEAR.year} appraisal of Wendy Worker" in home


def test_a_manager_can_be_the_appraiser(client, auth, people):
    worker, supervisor, manager, *_ = people
    auth.login_as(worker)
    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", THIS_YEAR), "appraiser_id": str(manager.id)}
    )
    assert response.status_code == 303
    assert db.session.scalar(select(Appraisal.appraiser_id)) == manager.id


@pytest.mark.parametrize(
    "who", ["colleague", "past-supervisor", "someone-elses-supervisor", "self", "nobody", "missing-person"]
)
def test_anyone_else_as_appraiser_is_refused_next_to_the_field(client, auth, people, who):
    worker, supervisor, manager, other, past, stranger = people
    appraiser_id = {
        "colleague": other.id,
        "past-supervisor": past.id,
        "someone-elses-supervisor": stranger.id,
        "self": worker.id,
        "nobody": 0,
        "missing-person": 9999,
    }[who]
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", THIS_YEAR), "appraiser_id": str(appraiser_id)}
    )
    if who == "self":  # separation of duties: a clearer message
        assert_error_shown(
            response, "appraiser_id", "You cannot be your own appraiser: choose one of your supervisors or a manager"
        )
    else:
        assert_error_shown(response, "appraiser_id", "Choose the appraiser: one of your supervisors or a manager")
    assert row_counts() == before


@pytest.mark.parametrize(
    ("held_on", "message"),
    [
        (TODAY + timedelta(days=1), "The date of the appraisal must be today or in the past"),
        (date(1975, 6, 1), "The date of the appraisal must be on or after 1 January 1980"),
    ],
    ids=["tomorrow", "1975"],
)
def test_an_appraisal_date_out_of_range_is_refused_next_to_the_field(client, auth, people, held_on, message):
    worker, supervisor, *_ = people
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", held_on), "appraiser_id": str(supervisor.id)}
    )
    assert_error_shown(response, "held_on", message, anchor="held_on-day")
    assert row_counts() == before


def test_one_appraisal_a_year(client, auth, people):
    worker, supervisor, manager, *_ = people
    start(worker, supervisor)
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(
        client,
        auth,
        "/cpd/appraisals/new",
        {**date_fields("held_on", date(THIS_YEAR.year, 1, 1)), "appraiser_id": str(manager.id)},
    )
    assert_error_shown(response, "held_on", f"There is already an appraisal for {THIS_YEAR.year}", anchor="held_on-day")
    assert row_counts() == before
    with pytest.raises(FieldError) as error:
        service.start_appraisal(worker, worker, held_on=date(THIS_YEAR.year, 12, 31), appraiser_id=manager.id)
    assert error.value.field == "held_on"
    # A date is needed.
    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", None), "appraiser_id": str(manager.id)}
    )
    assert_error_shown(response, "held_on", "Enter the date of the appraisal", anchor="held_on-day")
    assert row_counts() == before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_start_this_years_appraisal_is_offered_only_until_it_exists(client, auth, people, headers):
    """Found by a review: the button to start this year's appraisal stayed once it was started, and led to a
    form that could only refuse. Now it opens the one there is."""
    worker, supervisor, *_ = people
    start(worker, supervisor, held_on=LAST_YEAR)
    auth.login_as(worker)
    page = text_of(client.get("/cpd/", headers=headers))
    assert "<html" in page
    assert link_buttons(page) == {
        "Log a CPD activity": "/cpd/activities/new",
        "Start this year’s appraisal": "/cpd/appraisals/new",
    }

    appraisal = start(worker, supervisor)
    page = text_of(client.get("/cpd/", headers=headers))
    assert link_buttons(page) == {
        "Log a CPD activity": "/cpd/activities/new",
        "Open this year’s appraisal": f"/cpd/appraisals/{appraisal.id}",
    }
    assert "Start this year’s appraisal" not in page
    assert count(Appraisal) == 2


# --- The plan: goals ------------------------------------------------------------------------


def test_the_review_objectives_and_goals_are_saved(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    path = f"/cpd/appraisals/{appraisal.id}"
    form = text_of(client.get(path))
    assert all(f'name="goals-{n}-description"' in form for n in range(3))
    response = post_with_token(
        client,
        auth,
        path,
        appraisal_form(
            ("Lead a walking group", "Shadow the current lead", THIS_YEAR + timedelta(days=90), "open"),
            ("Trauma-informed practice", "E-learning and reflection", THIS_YEAR, "in-progress"),
            blank=1,
        ),
    )
    assert response.status_code == 303 and response.headers["Location"] == path
    saved = reload(Appraisal, appraisal.id)
    assert (saved.review, saved.objectives, saved.learning_needs) == (
        "A good year of groups.",
        "Run a walking group.",
        "Trauma-informed practice.",
    )
    assert plan(appraisal.id) == [
        ("Lead a walking group", "Shadow the current lead", THIS_YEAR + timedelta(days=90), GoalStatus.OPEN, None),
        ("Trauma-informed practice", "E-learning and reflection", THIS_YEAR, GoalStatus.IN_PROGRESS, None),
    ]
    page = text_of(client.get(path))
    assert "Appraisal saved" in page
    assert 'value="Lead a walking group"' in page and 'value="Trauma-informed practice"' in page
    # The appraiser can change it too.
    auth.login_as(supervisor)
    response = post_with_token(
        client,
        auth,
        path,
        appraisal_form(("Lead a walking group", "", THIS_YEAR + timedelta(days=30), "achieved"), review="Agreed."),
    )
    assert response.status_code == 303
    assert plan(appraisal.id) == [
        ("Lead a walking group", "", THIS_YEAR + timedelta(days=30), GoalStatus.ACHIEVED, None)
    ]


def test_a_goal_dated_before_the_appraisal_is_refused_next_to_its_row(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    path = f"/cpd/appraisals/{appraisal.id}"
    before = row_counts()
    response = post_with_token(
        client,
        auth,
        path,
        appraisal_form(
            ("Lead a walking group", "Shadow", THIS_YEAR + timedelta(days=90), "open"),
            ("Trauma-informed practice", "E-learning", THIS_YEAR - timedelta(days=1), "open"),
        ),
    )
    page = assert_error_shown(
        response,
        "goals-1-target_on",
        "The target date of goal 2 must be on or after the date of the appraisal",
        anchor="goals-1-target_on-day",
    )
    assert 'id="goals-0-target_on-error"' not in page
    # What was typed is kept.
    assert 'value="Trauma-informed practice"' in page
    assert row_counts() == before
    saved = reload(Appraisal, appraisal.id)
    assert (saved.review, saved.goals) == ("", [])


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        pytest.param(
            ("", "Shadow the lead", THIS_YEAR + timedelta(days=9), "open"),
            "goals-0-description",
            "Enter what goal 1 is",
            id="method-without-goal",
        ),
        pytest.param(
            ("", "", THIS_YEAR + timedelta(days=9), "open"),
            "goals-0-description",
            "Enter what goal 1 is",
            id="date-without-goal",
        ),
        pytest.param(
            ("Lead a walking group", "Shadow the lead", None, "open"),
            "goals-0-target_on",
            "Enter the target date of goal 1",
            id="goal-without-date",
        ),
        pytest.param(
            ("x" * 501, "", THIS_YEAR + timedelta(days=9), "open"),
            "goals-0-description",
            "Goal 1 and its method must be 500 characters or fewer each",
            id="goal-too-long",
        ),
    ],
)
def test_half_filled_goal_rows_are_refused(client, auth, people, row, field, message):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(client, auth, f"/cpd/appraisals/{appraisal.id}", appraisal_form(row))
    assert_error_shown(response, field, message, anchor=field + ("-day" if field.endswith("target_on") else ""))
    assert row_counts() == before
    assert plan(appraisal.id) == []


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_every_goal_row_problem_is_named_at_once_with_its_goal(client, auth, people, headers):
    """Found by a helper: the plan said "Enter the target date" for one goal at a time, without saying which."""
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(
        client,
        auth,
        f"/cpd/appraisals/{appraisal.id}",
        appraisal_form(
            ("Lead a walking group", "Shadow", None, "open"),
            ("", "E-learning", THIS_YEAR + timedelta(days=9), "open"),
            ("Trauma-informed practice", "", THIS_YEAR - timedelta(days=1), "open"),
        ),
        headers=headers,
    )
    assert response.status_code == 422
    page = text_of(response)
    assert "<html" in page
    assert error_next_to(page, "goals-0-target_on") == "Error: Enter the target date of goal 1"
    assert error_next_to(page, "goals-1-description") == "Error: Enter what goal 2 is"
    assert error_next_to(page, "goals-2-target_on") == (
        "Error: The target date of goal 3 must be on or after the date of the appraisal"
    )
    assert row_counts() == before
    assert plan(appraisal.id) == []


def test_a_target_date_that_is_not_a_date_does_not_hide_the_other_goals_problems(client, auth, people):
    """Found by a helper: the form refused 31 February itself, so the other goals' problems came a round later,
    and its message did not say which goal."""
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    data = appraisal_form(
        ("Lead a walking group", "", None, "open"),
        ("", "E-learning", None, "open"),
        ("", "", None, "open"),
    ) | {"goals-2-target_on-day": "31", "goals-2-target_on-month": "2", "goals-2-target_on-year": "2027"}
    before = row_counts()
    response = post_with_token(client, auth, f"/cpd/appraisals/{appraisal.id}", data)
    assert response.status_code == 422
    page = text_of(response)
    assert error_next_to(page, "goals-0-target_on") == "Error: Enter the target date of goal 1"
    assert error_next_to(page, "goals-1-description") == "Error: Enter what goal 2 is"
    assert error_next_to(page, "goals-2-target_on") == "Error: The target date of goal 3 must be a real date"
    assert row_counts() == before


# --- Signing and locking ----------------------------------------------------------------------


def sign(client, auth, appraisal_id: int, seen: str | None = None):
    """Press Sign on the appraisal's page, as read now (unless ``seen`` says what was read)."""
    if seen is None:
        seen = seen_on(client.get(f"/cpd/appraisals/{appraisal_id}").text)
    return post_with_token(client, auth, f"/cpd/appraisals/{appraisal_id}/sign", {"seen": seen})


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_appraisal_changed_after_the_appraiser_opened_it_is_not_signed_unread(client, auth, people, headers):
    """Found by a helper: the worker changed her objectives and signed while the appraiser's page was open; his
    Sign then locked words he never read. The page carries what it shows; a signature binds that or nothing."""
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    auth.login_as(supervisor)
    read = seen_on(client.get(path).text)
    assert read == service.signed_content_hash(reload(Appraisal, appraisal.id))
    service.update_appraisal(
        reload(User, worker.id),
        reload(Appraisal, appraisal.id),
        review="",
        objectives="Also: reduce my caseload by half from January.",
        learning_needs="",
        goals=[],
    )
    service.sign(reload(User, worker.id), reload(Appraisal, appraisal.id))
    before = row_counts()
    response = client.post(f"{path}/sign", data={"csrf_token": auth.token("/"), "seen": read}, headers=headers)
    assert response.status_code == 422 and "<html" in response.text
    assert summary_links(response.text) == {service.APPRAISAL_CHANGED: "signatures"}
    assert "Also: reduce my caseload by half from January." in response.text  # shown as it is now
    assert row_counts() == before
    assert reload(Appraisal, appraisal.id).appraiser_signed_at is None
    # Read again, then signed: locked with what was read.
    again = seen_on(response.text)
    assert again != read
    assert sign(client, auth, appraisal.id, seen=again).status_code == 303
    assert reload(Appraisal, appraisal.id).is_locked


def test_no_sign_button_beside_a_refused_change(client, auth, people):
    """Found by a review: after a refused change the page shows the unsaved words, while Sign binds the saved
    ones; it is offered again once the page shows what is saved."""
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    auth.login_as(supervisor)
    refused = post_with_token(client, auth, path, {"review": "x" * 20001})
    assert refused.status_code == 422 and "Sign the appraisal" not in text_of(refused)
    assert "Sign the appraisal" in text_of(client.get(path))


def test_both_sign_and_the_appraisal_is_locked(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    auth.login_as(worker)
    assert (
        post_with_token(
            client,
            auth,
            path,
            appraisal_form(("Lead a walking group", "Shadow", THIS_YEAR + timedelta(days=60), "open")),
        ).status_code
        == 303
    )

    response = sign(client, auth, appraisal.id)
    assert response.status_code == 303 and response.headers["Location"] == path
    signed = reload(Appraisal, appraisal.id)
    assert signed.worker_signed_at is not None and signed.appraiser_signed_at is None and not signed.is_locked
    page = text_of(client.get(path))
    assert "Signed" in page and "Sign the appraisal" not in page  # no second signature offered
    assert 'name="review"' in page  # still open to change

    auth.login_as(supervisor)
    page = text_of(client.get(path))
    assert "Sign the appraisal" in page
    assert sign(client, auth, appraisal.id).status_code == 303
    locked = reload(Appraisal, appraisal.id)
    assert locked.is_locked
    page = text_of(client.get(path))
    assert "Signed: the appraisal is now locked" in page
    assert "Signed and locked" in page
    assert "<form" not in page.split("<main", 1)[1].split("</main>", 1)[0]  # no form to change or sign
    assert "Lead a walking group (Shadow): by" in words(page)
    assert [(a, d["by"], d["locked"]) for a, d in audit_actions() if a == "appraisal.signed"] == [
        ("appraisal.signed", "worker", False),
        ("appraisal.signed", "appraiser", True),
    ]
    assert all(d["appraisal_id"] == appraisal.id for a, d in audit_actions())

    # Changes are refused by the service, and nothing is written.
    before = row_counts()
    with pytest.raises(FieldError) as error:
        service.update_appraisal(
            reload(User, worker.id),
            reload(Appraisal, appraisal.id),
            review="Rewritten",
            objectives="",
            learning_needs="",
            goals=[],
        )
    assert error.value.message == "This appraisal is signed by both of you and locked"
    assert row_counts() == before
    auth.login_as(worker)
    assert "Signed and locked" in text_of(client.get("/cpd/"))


def locked_appraisal(worker: User, supervisor: User) -> Appraisal:
    appraisal = start(worker, supervisor)
    service.update_appraisal(
        worker,
        appraisal,
        review="A good year of groups.",
        objectives="",
        learning_needs="",
        goals=[service.GoalInput("Lead a walking group", "Shadow", THIS_YEAR + timedelta(days=60), "open")],
    )
    service.sign(worker, reload(Appraisal, appraisal.id))
    service.sign(supervisor, reload(Appraisal, appraisal.id))
    assert reload(Appraisal, appraisal.id).is_locked
    return reload(Appraisal, appraisal.id)


def test_a_change_posted_to_a_locked_appraisal_is_refused_with_a_message_that_works(client, auth, people):
    """Someone with the form still open posts after both signed: refused, nothing written, and the message
    is shown without an error-summary link to a field the locked page no longer has."""
    worker, supervisor, *_ = people
    appraisal = locked_appraisal(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    before = row_counts()
    for person in (worker, supervisor):
        auth.login_as(person)
        response = post_with_token(
            client,
            auth,
            path,
            appraisal_form(("Something else", "", THIS_YEAR + timedelta(days=5), "open"), review="Rewritten"),
        )
        assert response.status_code in (303, 409, 422)
        page = text_of(client.get(response.headers["Location"]) if response.status_code == 303 else response)
        assert "This appraisal is signed by both of you and locked" in page
        assert "Signed and locked" in page
        if "There is a problem" in page:
            for text, href in summary_links(page).items():
                assert f'id="{href}"' in page, (
                    f"the error summary links {text!r} to #{href}, which is not on the locked page"
                )
    assert row_counts() == before
    after = reload(Appraisal, appraisal.id)
    assert (after.review, [g.description for g in after.goals], after.is_locked) == (
        "A good year of groups.",
        ["Lead a walking group"],
        True,
    )


def test_changing_the_appraisal_clears_signatures_already_given(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    auth.login_as(worker)
    assert sign(client, auth, appraisal.id).status_code == 303
    assert reload(Appraisal, appraisal.id).worker_signed_at is not None
    auth.login_as(supervisor)
    assert (
        post_with_token(
            client,
            auth,
            path,
            appraisal_form(
                ("Lead a walking group", "", THIS_YEAR + timedelta(days=60), "open"), review="Edited by the appraiser"
            ),
        ).status_code
        == 303
    )
    changed = reload(Appraisal, appraisal.id)
    assert (changed.review, changed.worker_signed_at, changed.appraiser_signed_at) == (
        "Edited by the appraiser",
        None,
        None,
    )
    assert "Signed by the worker Not yet" in words(text_of(client.get(path)))
    # So the worker is asked to sign again.
    auth.login_as(worker)
    assert "Sign the appraisal" in text_of(client.get(path))


def test_signing_twice_is_refused(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor)
    auth.login_as(worker)
    assert sign(client, auth, appraisal.id).status_code == 303
    first = reload(Appraisal, appraisal.id).worker_signed_at
    before = row_counts()
    response = sign(client, auth, appraisal.id)
    assert response.status_code == 422  # the appraisal's page, saying why in its error summary
    assert summary_links(text_of(response)) == {"You have already signed this appraisal": "signatures"}
    assert row_counts() == before
    assert reload(Appraisal, appraisal.id).worker_signed_at == first
    with pytest.raises(FieldError) as error:
        service.sign(reload(User, worker.id), reload(Appraisal, appraisal.id))
    assert (error.value.field, error.value.message) == ("sign", "You have already signed this appraisal")
    assert [a for a, _ in audit_actions()].count("appraisal.signed") == 1


def test_only_the_worker_the_appraiser_and_managers_open_it_and_only_the_first_two_sign(client, auth, people):
    worker, supervisor, manager, other, past, stranger = people
    appraisal = start(worker, supervisor)
    path = f"/cpd/appraisals/{appraisal.id}"
    before = row_counts()
    for person in (other, past, stranger):
        auth.login_as(person)
        assert client.get(path).status_code == 404
        assert sign(client, auth, appraisal.id).status_code == 404
        assert (
            post_with_token(
                client, auth, path, appraisal_form(("Hijack", "", THIS_YEAR + timedelta(days=5), "open"))
            ).status_code
            == 404
        )
    assert client.get("/cpd/appraisals/9999").status_code == 404
    # A manager may read it, but neither change nor sign it.
    auth.login_as(manager)
    page = text_of(client.get(path))
    assert f"<h1>{THIS_YEAR.year} appraisal</h1>" in page
    assert 'name="review"' not in page and "Sign the appraisal" not in page
    assert sign(client, auth, appraisal.id).status_code == 404
    assert (
        post_with_token(
            client, auth, path, appraisal_form(("Hijack", "", THIS_YEAR + timedelta(days=5), "open"))
        ).status_code
        == 404
    )
    with pytest.raises(Exception) as error:
        service.sign(reload(User, manager.id), reload(Appraisal, appraisal.id))
    assert getattr(error.value, "code", None) == 404
    assert row_counts() == before
    unchanged = reload(Appraisal, appraisal.id)
    assert (unchanged.worker_signed_at, unchanged.appraiser_signed_at, unchanged.goals) == (None, None, [])


# --- The CPD an appraisal reviews ------------------------------------------------------------------


@pytest.fixture
def two_appraisals(people):
    """Wendy's appraisals of 1 June two years ago and last year, and her CPD around them (and Olive's)."""
    worker, supervisor, _manager, other, *_ = people
    first_day, second_day = date(TODAY.year - 2, 6, 1), date(TODAY.year - 1, 6, 1)
    start(worker, supervisor, held_on=first_day)
    second = start(worker, supervisor, held_on=second_day)
    logged(worker, "Before the first appraisal", day=first_day)
    logged(worker, "Trauma-informed practice", day=date(TODAY.year - 2, 9, 14), hours="2")
    logged(worker, "Motivational interviewing", day=second_day)
    logged(worker, "After the second appraisal", day=second_day + timedelta(days=1))
    logged(other, "Olive's own course", day=date(TODAY.year - 2, 9, 14))
    return second


def reviewed_titles(page: str) -> list[str]:
    part = page.split('id="reviewed-cpd"', 1)[1].split("</details>", 1)[0]
    return re.findall(r'<h3 class="nhsuk-heading-s[^"]*">([^<]+)</h3>', part)


def test_an_appraisal_reviews_the_cpd_done_since_the_one_before(people, two_appraisals):
    reviewed = service.reviewed_activities(two_appraisals)
    assert [a.title for a in reviewed.activities] == ["Motivational interviewing", "Trauma-informed practice"]
    assert reviewed.since == date(TODAY.year - 2, 6, 1) and reviewed.hours == Decimal("3.50")
    first = db.session.scalar(select(Appraisal).where(Appraisal.held_on == date(TODAY.year - 2, 6, 1)))
    assert [a.title for a in service.reviewed_activities(first).activities] == ["Before the first appraisal"]
    assert service.reviewed_activities(first).since is None


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_appraiser_and_a_manager_read_the_cpd_the_appraisal_reviews(client, auth, people, two_appraisals, headers):
    """Noticed before: the appraiser saw the plan, never what the worker did; the review of the year is of that."""
    worker, supervisor, manager, *_ = people
    for reader in (supervisor, manager, worker):
        auth.login_as(reader)
        page = text_of(client.get(f"/cpd/appraisals/{two_appraisals.id}", headers=headers))
        assert "<html" in page
        assert reviewed_titles(page) == ["Motivational interviewing", "Trauma-informed practice"]
        summary = words(page.split('id="reviewed-cpd"', 1)[1].split("</summary>", 1)[0])
        assert summary.endswith("CPD logged for this appraisal: 2 activities, 3.50 hours")
        assert (
            f"Activities done after the appraisal of 1 June {TODAY.year - 2}, up to 1 June {TODAY.year - 1}."
            in words(page)
        )
        learned = "What I learned:" if reader is worker else "What was learned:"
        assert f"{learned} How past trauma shapes a meeting." in words(page)


def test_the_cpd_an_appraisal_reviews_costs_the_same_queries_however_long_the_log(
    client, auth, people, two_appraisals, count_queries
):
    worker, supervisor, *_ = people
    auth.login_as(supervisor)
    path = f"/cpd/appraisals/{two_appraisals.id}"
    client.get(path)
    with count_queries:
        client.get(path)
    before = count_queries.count
    for n in range(8):
        logged(reload(User, worker.id), f"Reading group {n}", day=date(TODAY.year - 2, 10, n + 1))
    with count_queries:
        page = text_of(client.get(path))
    assert len(reviewed_titles(page)) == 10
    assert count_queries.count == before, count_queries.statements


def test_an_appraisal_with_no_cpd_in_its_period_says_so(client, auth, people):
    worker, supervisor, *_ = people
    appraisal = start(worker, supervisor, held_on=date(TODAY.year - 1, 6, 1))
    auth.login_as(supervisor)
    page = text_of(client.get(f"/cpd/appraisals/{appraisal.id}"))
    assert "CPD logged for this appraisal: 0 activities, 0.00 hours" in words(page)
    assert f"Activities done up to 1 June {TODAY.year - 1}: this is the first appraisal." in words(page)
    assert "No CPD activities are logged for this period." in page


# --- Next year -----------------------------------------------------------------------------------


def test_next_years_appraisal_starts_with_this_years_open_goals(client, auth, people):
    worker, supervisor, manager, *_ = people
    first = start(worker, supervisor, held_on=LAST_YEAR)
    early, late = LAST_YEAR + timedelta(days=30), date(THIS_YEAR.year, 12, 31)
    service.update_appraisal(
        worker,
        first,
        review="First year",
        objectives="",
        learning_needs="",
        goals=[
            service.GoalInput("Lead a walking group", "Shadow the lead", early, "open"),
            service.GoalInput("Trauma-informed practice", "E-learning", late, "in-progress"),
            service.GoalInput("Safeguarding level 3", "Course", early, "achieved"),
            service.GoalInput("Learn Welsh", "Evening class", early, "dropped"),
        ],
    )
    service.sign(worker, first)
    service.sign(supervisor, reload(Appraisal, first.id))
    assert reload(Appraisal, first.id).is_locked
    originals = {g.description: g.id for g in reload(Appraisal, first.id).goals}

    auth.login_as(worker)
    response = post_with_token(
        client, auth, "/cpd/appraisals/new", {**date_fields("held_on", THIS_YEAR), "appraiser_id": str(manager.id)}
    )
    assert response.status_code == 303
    second = db.session.scalar(select(Appraisal).where(Appraisal.year == THIS_YEAR.year))
    assert plan(second.id) == [
        # Target dates before the new appraisal move up to its date.
        ("Lead a walking group", "Shadow the lead", THIS_YEAR, GoalStatus.OPEN, originals["Lead a walking group"]),
        ("Trauma-informed practice", "E-learning", late, GoalStatus.IN_PROGRESS, originals["Trauma-informed practice"]),
    ]
    # Last year's record is untouched.
    assert [(g.description, g.status) for g in reload(Appraisal, first.id).goals] == [
        ("Lead a walking group", GoalStatus.OPEN),
        ("Trauma-informed practice", GoalStatus.IN_PROGRESS),
        ("Safeguarding level 3", GoalStatus.ACHIEVED),
        ("Learn Welsh", GoalStatus.DROPPED),
    ]
    page = text_of(client.get(response.headers["Location"]))
    assert 'value="Lead a walking group"' in page and 'value="Trauma-informed practice"' in page
    assert "Safeguarding level 3" not in page and "Learn Welsh" not in page
    # Saving the carried goals keeps where they came from.
    assert (
        post_with_token(
            client,
            auth,
            response.headers["Location"],
            appraisal_form(
                ("Lead a walking group", "Shadow the lead", THIS_YEAR + timedelta(days=10), "in-progress"),
                ("A new goal", "", THIS_YEAR, "open"),
            ),
        ).status_code
        == 303
    )
    assert [(d, c) for d, _, _, _, c in plan(second.id)] == [
        ("Lead a walking group", originals["Lead a walking group"]),
        ("A new goal", None),
    ]
    # Every change is in the ledger too, so what was signed can be checked later.
    assert [a for a, _ in audit_actions()] == [
        "appraisal.started",
        "appraisal.changed",
        "appraisal.signed",
        "appraisal.signed",
        "appraisal.started",
        "appraisal.changed",
    ]


# --- The CPD log -----------------------------------------------------------------------------------


def link_worker_competences(n: int, key: str = "link-worker") -> list[Competence]:
    return list(
        db.session.scalars(
            select(Competence)
            .join(Framework, Framework.id == Competence.framework_id)
            .where(Framework.key == key, Framework.is_current.is_(True), Competence.retired_at.is_(None))
            .order_by(Competence.position)
            .limit(n)
        )
    )


def activity_form(**changes) -> dict:
    data = {
        "title": "Trauma-informed practice workshop",
        **date_fields("done_on", TODAY),
        "hours": "1.5",
        "learned": "How past trauma shapes the first meeting.",
        "impact": "I now offer a choice of meeting place.",
        "goal_id": "0",
        "competence_ids": [],
    }
    data.update(changes)
    return data


@pytest.fixture
def goals(people):
    """Wendy's plan: an open goal and an achieved one; Olive's open goal."""
    worker, supervisor, manager, other, *_ = people
    appraisal = start(worker, supervisor)
    service.update_appraisal(
        worker,
        appraisal,
        review="",
        objectives="",
        learning_needs="",
        goals=[
            service.GoalInput("Trauma-informed practice", "Workshop", THIS_YEAR + timedelta(days=200), "in-progress"),
            service.GoalInput("Safeguarding level 3", "Course", THIS_YEAR + timedelta(days=100), "achieved"),
        ],
    )
    theirs = start(other, manager)
    service.update_appraisal(
        other,
        theirs,
        review="",
        objectives="",
        learning_needs="",
        goals=[service.GoalInput("Olive's goal", "", THIS_YEAR, "open")],
    )
    mine = {g.description: g for g in reload(Appraisal, appraisal.id).goals}
    return mine["Trauma-informed practice"], mine["Safeguarding level 3"], reload(Appraisal, theirs.id).goals[0]


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_appraisal_whose_goal_an_activity_counts_towards_can_still_be_changed(client, auth, people, goals, headers):
    """Found by a review: saving the appraisal replaced its goals, and an activity pointing at one of them made
    the save fail (a 500). Goals are changed in place: the activity keeps counting towards the same goal."""
    worker, supervisor, *_ = people
    open_goal, achieved, _ = goals
    service.log_activity(
        reload(User, worker.id),
        service.ActivityInput(
            done_on=TODAY,
            title="Trauma-informed practice workshop",
            hours="1.5",
            learned="How past trauma shapes the first meeting.",
            impact="I now offer a choice of meeting place.",
            goal_id=open_goal.id,
            competence_ids=[],
        ),
    )
    auth.login_as(worker)
    response = post_with_token(
        client,
        auth,
        f"/cpd/appraisals/{open_goal.appraisal_id}",
        appraisal_form(
            ("Trauma-informed practice", "Workshop and reading", THIS_YEAR + timedelta(days=200), "achieved"),
            ("Safeguarding level 3", "Course", THIS_YEAR + timedelta(days=100), "achieved"),
            ("Lead a walking group", "Shadow", THIS_YEAR + timedelta(days=90), "open"),
        ),
        headers=headers,
    )
    assert response.status_code == 303, response.status_code
    [activity] = db.session.scalars(select(CpdActivity)).all()
    kept = reload(CpdGoal, activity.goal_id)
    assert (kept.id, kept.method, kept.status) == (open_goal.id, "Workshop and reading", GoalStatus.ACHIEVED)
    assert [g.description for g in reload(Appraisal, open_goal.appraisal_id).goals] == [
        "Trauma-informed practice",
        "Safeguarding level 3",
        "Lead a walking group",
    ]


def test_the_worker_logs_activities_and_sees_hours_per_year(client, auth, people, goals):
    worker, *_ = people
    open_goal, *_ = goals
    chosen = link_worker_competences(2)
    auth.login_as(worker)
    form = text_of(client.get("/cpd/activities/new", follow_redirects=True))
    assert options(form, "goal_id") == [
        ("0", "None"),
        (str(open_goal.id), "Trauma-informed practice"),
    ]  # open goals of mine only
    offered = checkboxes(form, "competence_ids")
    assert offered[:2] == [(str(c.id), c.statement) for c in chosen]
    assert len(offered) == len(link_worker_competences(1000))
    # Ticked a tier at a time, folded away: no 85-line list on a phone.
    assert re.findall(r'<span class="nhsuk-details__summary-text">([^<]*)</span>', form) == [
        "Link Worker (48)",
        "Link Worker Coach (20)",
        "Psychosocial Link Worker (17)",
    ]

    response = post_with_token(
        client,
        auth,
        "/cpd/activities/new",
        activity_form(goal_id=str(open_goal.id), competence_ids=[str(c.id) for c in chosen]),
    )
    assert response.status_code == 303 and response.headers["Location"] == "/cpd/"
    [activity] = db.session.scalars(select(CpdActivity)).all()
    # The ledger says when it entered the log, with its date and hours and none of its words.
    assert audit_actions()[-1] == (
        "cpd.activity_logged",
        {"activity_id": activity.id, "done_on": TODAY.isoformat(), "hours": "1.50"},
    )
    assert (
        activity.worker_id,
        activity.done_on,
        activity.title,
        str(activity.hours),
        activity.learned,
        activity.impact,
        activity.goal_id,
    ) == (
        worker.id,
        TODAY,
        "Trauma-informed practice workshop",
        "1.50",
        "How past trauma shapes the first meeting.",
        "I now offer a choice of meeting place.",
        open_goal.id,
    )
    assert [c.id for c in activity.competences] == [c.id for c in chosen]

    for day, hours in (
        (date(TODAY.year, 1, 1), "2.25"),
        (date(TODAY.year - 1, 11, 30), "3"),
        (date(TODAY.year - 1, 1, 1), "100"),
    ):
        assert (
            post_with_token(
                client,
                auth,
                "/cpd/activities/new",
                activity_form(title=f"Activity on {day}", hours=hours, **date_fields("done_on", day)),
            ).status_code
            == 303
        )
    page = text_of(client.get("/cpd/"))
    assert "CPD activity logged" in page
    hours = page.split('class="nhsuk-table cpd-hours"', 1)[1].split("</table>", 1)[0].split("<tbody", 1)[1]
    assert [words(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", hours, re.S)] == [
        f"{TODAY.year} 3.75 0.00",
        f"{TODAY.year - 1} 103.00 0.00",
    ]
    assert service.hours_by_year(worker)[0].hours == service.parse_hours("3.75")
    text = words(page)
    assert f"{long_date(TODAY)} · 1.50 hours · towards: Trauma-informed practice" in text
    assert "What I learned: How past trauma shapes the first meeting." in text
    assert "Impact on my practice: I now offer a choice of meeting place." in text
    assert chosen[0].statement in text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"hours": "-1"}, "hours", "Hours must be more than 0 and no more than 100", id="negative-hours"),
        pytest.param({"hours": "0"}, "hours", "Hours must be more than 0 and no more than 100", id="zero-hours"),
        pytest.param({"hours": "100.01"}, "hours", "Hours must be more than 0 and no more than 100", id="100.01-hours"),
        pytest.param({"hours": "1e9"}, "hours", "Enter the hours as a number, like 1.5", id="absurd-hours"),
        # Found by a helper: Decimal read "1e2" as 100 hours, which stayed in the year's total.
        pytest.param({"hours": "1e2"}, "hours", "Enter the hours as a number, like 1.5", id="exponent-hours"),
        pytest.param({"hours": "NaN"}, "hours", "Enter the hours as a number, like 1.5", id="nan-hours"),
        pytest.param({"hours": "-inf"}, "hours", "Enter the hours as a number, like 1.5", id="infinite-hours"),
        pytest.param({"hours": "abc"}, "hours", "Enter the hours as a number, like 1.5", id="words-for-hours"),
        pytest.param({"hours": ""}, "hours", "Enter the hours as a number, like 1.5", id="no-hours"),
        # More than 0 as typed, but 0.00 once rounded to the column's two places: must be refused, not crash.
        pytest.param(
            {"hours": "0.001"},
            "hours",
            "Enter the hours to 2 decimal places at most, like 1.25",
            id="hours-that-round-to-0",
        ),
        pytest.param(
            date_fields("done_on", TODAY + timedelta(days=1)),
            "done_on",
            "The date must be today or in the past",
            id="future-date",
        ),
        pytest.param(
            date_fields("done_on", date(1900, 1, 1)),
            "done_on",
            "The date must be on or after 1 January 1980",
            id="date-in-1900",
        ),
        pytest.param(
            date_fields("done_on", date(1979, 12, 31)),
            "done_on",
            "The date must be on or after 1 January 1980",
            id="day-before-1980",
        ),
        pytest.param(date_fields("done_on", None), "done_on", "Enter the date of the activity", id="no-date"),
        pytest.param({"title": "   "}, "title", "Enter what the activity was", id="no-title"),
        pytest.param({"learned": ""}, "learned", "Describe what you learned", id="no-learning"),
        pytest.param({"impact": "  "}, "impact", "Describe the impact on your practice", id="no-impact"),
        pytest.param(
            {"goal_id": "theirs"}, "goal_id", "Choose one of your open CPD goals", id="goal-of-another-worker"
        ),
        pytest.param({"goal_id": "achieved"}, "goal_id", "Choose one of your open CPD goals", id="achieved-goal"),
        pytest.param(
            {"competence_ids": "other-framework"},
            "competence_ids",
            "Choose competences from your framework",
            id="competence-of-the-other-framework",
        ),
    ],
)
def test_bad_activities_are_refused_next_to_the_field_and_nothing_is_written(
    client, auth, people, goals, changes, field, message
):
    worker, *_ = people
    open_goal, achieved, theirs = goals
    if changes.get("goal_id") == "theirs":
        changes = {"goal_id": str(theirs.id)}
    elif changes.get("goal_id") == "achieved":
        changes = {"goal_id": str(achieved.id)}
    elif changes.get("competence_ids") == "other-framework":
        changes = {
            "competence_ids": [
                str(link_worker_competences(1)[0].id),
                str(link_worker_competences(1, "sfh-senior-engagement-worker")[0].id),
            ]
        }
    auth.login_as(worker)
    before = row_counts()
    response = post_with_token(client, auth, "/cpd/activities/new", activity_form(**changes))
    assert_error_shown(response, field, message, anchor=field + ("-day" if field == "done_on" else ""))
    assert row_counts() == before
    assert count(CpdActivity) == 0


def test_an_empty_activity_names_every_problem_in_one_answer(client, auth, people):
    """Found by a helper: the form said one problem at a time (the date, then the title, then...)."""
    worker, *_ = people
    auth.login_as(worker)
    empty = activity_form(title="", hours="nan", learned="", impact="") | date_fields("done_on", None)
    response = post_with_token(client, auth, "/cpd/activities/new", empty)
    assert response.status_code == 422
    assert [message for _, message in error_summary(response.text)] == [  # the page's order (found by a helper)
        "Enter what the activity was",
        "Enter the date of the activity",
        "Enter the hours as a number, like 1.5",
        "Describe what you learned",
        "Describe the impact on your practice",
    ]
    assert error_next_to(response.text, "hours") == "Error: Enter the hours as a number, like 1.5"
    assert count(CpdActivity) == 0


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_date_that_is_not_a_date_is_named_with_every_other_problem(client, auth, people, headers):
    """Found by a review: a malformed date was refused by the form alone, which then hid the other fields'."""
    worker, *_ = people
    auth.login_as(worker)
    data = activity_form(title="", hours="lots") | {"done_on-day": "31", "done_on-month": "2", "done_on-year": "2026"}
    response = post_with_token(client, auth, "/cpd/activities/new", data, headers=headers)
    assert response.status_code == 422 and "<h1>" in response.text
    messages = [message for _, message in error_summary(response.text)]
    assert len(messages) == 3 and "Enter what the activity was" in messages
    assert "Enter the hours as a number, like 1.5" in messages
    assert error_next_to(response.text, "title") == "Error: Enter what the activity was"
    assert "real date" in error_next_to(response.text, "done_on")
    assert count(CpdActivity) == 0


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_dates_at_the_limits_are_accepted(client, auth, people, headers):
    """The first of January 1980 and today on the service's clock are the earliest and latest dates allowed."""
    worker, *_ = people
    auth.login_as(worker)
    for day in (date(1980, 1, 1), TODAY):
        response = post_with_token(
            client, auth, "/cpd/activities/new", activity_form(**date_fields("done_on", day)), headers=headers
        )
        assert response.status_code == 303, day
    assert sorted(db.session.scalars(select(CpdActivity.done_on))) == [date(1980, 1, 1), TODAY]


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_activity_in_1900_is_refused_on_the_whole_page(client, auth, people, headers):
    worker, *_ = people
    auth.login_as(worker)
    before = row_counts()
    data = activity_form(**date_fields("done_on", date(1900, 3, 4)))
    response = post_with_token(client, auth, "/cpd/activities/new", data, headers=headers)
    page = assert_error_shown(response, "done_on", "The date must be on or after 1 January 1980", anchor="done_on-day")
    assert "<html" in page and "Log a CPD activity" in page
    assert row_counts() == before and count(CpdActivity) == 0


@pytest.mark.parametrize("day", [date(1900, 6, 1), TODAY + timedelta(days=1)], ids=["1900", "tomorrow"])
def test_the_service_refuses_a_date_out_of_range_and_writes_nothing(people, day):
    worker, *_ = people
    before = row_counts()
    with pytest.raises(FieldError) as error:
        service.log_activity(worker, service.ActivityInput(day, "Course", "1", "Learned", "Impact"))
    assert error.value.by_field() == {
        "done_on": "The date must be on or after 1 January 1980"
        if day.year == 1900
        else "The date must be today or in the past"
    }
    assert row_counts() == before


def test_hours_at_the_limits_are_accepted(client, auth, people):
    worker, *_ = people
    auth.login_as(worker)
    for hours in ("0.01", "100", "100.00", " 7.5 "):
        assert post_with_token(client, auth, "/cpd/activities/new", activity_form(hours=hours)).status_code == 303, (
            hours
        )
    assert sorted(str(h) for h in db.session.scalars(select(CpdActivity.hours))) == ["0.01", "100.00", "100.00", "7.50"]


def test_only_workers_keep_a_cpd_log(client, auth, people):
    worker, supervisor, manager, *_ = people
    for person in (supervisor, manager):
        auth.login_as(person)
        assert client.get("/cpd/").status_code == 403
        assert client.get("/cpd/activities/new", follow_redirects=True).status_code == 403
        assert post_with_token(client, auth, "/cpd/activities/new", activity_form()).status_code == 403
        assert client.get("/cpd/appraisals/new").status_code == 403
    assert count(CpdActivity) == 0


# --- Changing and deleting an activity ----------------------------------------------------------


def logged(worker: User, title: str = "Workshop", day: date = TODAY, **changes) -> CpdActivity:
    data = service.ActivityInput(day, title, "1.5", "How past trauma shapes a meeting.", "I offer a choice of place.")
    for name, value in changes.items():
        setattr(data, name, value)
    return service.log_activity(worker, data)


def changed(**changes) -> service.ActivityInput:
    data = service.ActivityInput(TODAY, "Workshop, corrected", "2.25", "Something else.", "Another impact.")
    for name, value in changes.items():
        setattr(data, name, value)
    return data


def activity_values(activity_id: int) -> tuple:
    a = reload(CpdActivity, activity_id)
    return (a.done_on, a.title, str(a.hours), a.learned, a.impact, a.goal_id, [c.id for c in a.competences])


def activity_links(page: str) -> dict[str, str]:
    """The Change and Delete links on My CPD: their words (with the hidden title) -> where each goes."""
    return {
        words(text): href
        for href, text in re.findall(r'<a href="(/cpd/activities/\d+/(?:edit|delete))">(.*?)</a>', page, re.S)
    }


def test_the_worker_changes_and_deletes_their_own_activity_and_the_ledger_says_so(people, goals):
    worker, supervisor, manager, other, *_ = people
    open_goal, *_ = goals
    first, second = link_worker_competences(2)
    activity = logged(worker, competence_ids=[first.id])
    service.change_activity(
        worker, activity, changed(done_on=date(2001, 2, 3), goal_id=open_goal.id, competence_ids=[second.id])
    )
    assert activity_values(activity.id) == (
        date(2001, 2, 3),
        "Workshop, corrected",
        "2.25",
        "Something else.",
        "Another impact.",
        open_goal.id,
        [second.id],
    )
    details = {"activity_id": activity.id, "done_on": "2001-02-03", "hours": "2.25"}
    assert audit_actions()[-1] == ("cpd.activity_changed", details)

    service.delete_activity(worker, reload(CpdActivity, activity.id))
    assert reload(CpdActivity, activity.id) is None
    assert row_counts(CpdActivity)["cpd_activities"] == 0
    assert db.session.scalar(select(func.count()).select_from(cpd_activity_competences)) == 0
    assert audit_actions()[-1] == ("cpd.activity_deleted", details)


def test_only_the_owner_changes_or_deletes_an_activity(people):
    worker, supervisor, manager, other, *_ = people
    activity = logged(worker)
    before, values = row_counts(), activity_values(activity.id)
    for someone in (other, supervisor, manager):
        with pytest.raises(NotFound):
            service.get_activity_or_404(someone, activity.id)
        with pytest.raises(NotFound):
            service.change_activity(someone, reload(CpdActivity, activity.id), changed())
        with pytest.raises(NotFound):
            service.delete_activity(someone, reload(CpdActivity, activity.id))
    assert row_counts() == before and activity_values(activity.id) == values


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_worker_corrects_an_activity_on_the_add_form(client, auth, people, goals, headers):
    worker, *_ = people
    open_goal, *_ = goals
    chosen = link_worker_competences(1)
    activity = logged(worker, goal_id=open_goal.id, competence_ids=[chosen[0].id])
    auth.login_as(worker)
    listing = text_of(client.get("/cpd/", headers=headers))
    assert activity_links(listing) == {
        "Change Workshop": f"/cpd/activities/{activity.id}/edit",
        "Delete Workshop": f"/cpd/activities/{activity.id}/delete",
    }
    path = f"/cpd/activities/{activity.id}/edit"
    form = text_of(client.get(path, headers=headers))
    assert "<html" in form and "<h1>Change a CPD activity</h1>" in form
    assert f'action="{path}"' in form and 'value="Workshop"' in form and 'value="1.5"' in form
    assert selected(form, "goal_id") == [str(open_goal.id)] and ticked(form, "competence_ids") == [str(chosen[0].id)]

    before = row_counts()
    response = post_with_token(
        client,
        auth,
        path,
        activity_form(title="Workshop, corrected", hours="2.25", **date_fields("done_on", date(2024, 1, 2))),
        headers=headers,
    )
    assert response.status_code == 303 and response.headers["Location"] == "/cpd/"
    assert activity_values(activity.id) == (
        date(2024, 1, 2),
        "Workshop, corrected",
        "2.25",
        "How past trauma shapes the first meeting.",
        "I now offer a choice of meeting place.",
        None,
        [],
    )
    after = row_counts()
    assert after.pop("audit_ledger") == before.pop("audit_ledger") + 1
    assert after.pop("cpd_activity_competences") == before.pop("cpd_activity_competences") - 1
    assert after == before
    page = words(text_of(client.get("/cpd/", headers=headers)))
    assert "CPD activity changed" in page and f"{long_date(date(2024, 1, 2))} · 2.25 hours" in page


def test_a_bad_correction_is_refused_next_to_the_field_and_nothing_is_written(client, auth, people):
    worker, *_ = people
    activity = logged(worker)
    auth.login_as(worker)
    before, values = row_counts(), activity_values(activity.id)
    response = post_with_token(
        client, auth, f"/cpd/activities/{activity.id}/edit", activity_form(**date_fields("done_on", date(1900, 1, 1)))
    )
    page = assert_error_shown(response, "done_on", "The date must be on or after 1 January 1980", anchor="done_on-day")
    assert "<h1>Change a CPD activity</h1>" in page
    assert row_counts() == before and activity_values(activity.id) == values


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_worker_deletes_an_activity_after_confirming(client, auth, people, headers):
    worker, *_ = people
    activity = logged(worker, competence_ids=[link_worker_competences(1)[0].id])
    auth.login_as(worker)
    path = f"/cpd/activities/{activity.id}/delete"
    before = row_counts()
    page = text_of(client.get(path, headers=headers))
    assert "<html" in page and "<h1>Delete “Workshop”?</h1>" in page
    assert f'<form method="post" action="{path}"' in page and "Delete activity" in page
    assert row_counts() == before  # asking writes nothing

    response = post_with_token(client, auth, path, {}, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == "/cpd/"
    after = row_counts()
    assert (after["cpd_activities"], after["cpd_activity_competences"]) == (0, 0)
    assert after["audit_ledger"] == before["audit_ledger"] + 1
    page = text_of(client.get("/cpd/", headers=headers))
    assert "CPD activity deleted: Workshop" in page and "No activities yet." in page and "No CPD logged yet." in page


def test_someone_elses_activity_answers_404_and_is_left_alone(client, auth, people):
    worker, supervisor, manager, other, *_ = people
    activity = logged(worker)
    auth.login_as(other)
    before, values = row_counts(), activity_values(activity.id)
    for path in (f"/cpd/activities/{activity.id}/edit", f"/cpd/activities/{activity.id}/delete"):
        assert client.get(path).status_code == 404
        assert post_with_token(client, auth, path, activity_form(title="Mine now")).status_code == 404
    assert client.get("/cpd/activities/999999/edit").status_code == 404
    assert row_counts() == before and activity_values(activity.id) == values
    # The same words as for the worker's own activity deleted in another tab: nothing says whose it is.
    assert gone_page(client.get(f"/cpd/activities/{activity.id}/edit")) == gone_page(
        client.get("/cpd/activities/999999/delete")
    )


def gone_page(response) -> str:
    assert response.status_code == 404
    return words(text_of(response).split('id="maincontent">', 1)[1].split("</main>", 1)[0])


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_activity_deleted_in_another_tab_says_so_on_the_stale_tab(client, auth, people, headers):
    """Noticed before: the tab still open on the change form answered "Page not found"."""
    worker, *_ = people
    activity = logged(worker)
    auth.login_as(worker)
    assert client.get(f"/cpd/activities/{activity.id}/edit").status_code == 200  # the form, open in one tab
    service.delete_activity(reload(User, worker.id), reload(CpdActivity, activity.id))  # deleted in another
    before = row_counts()
    response = post_with_token(
        client, auth, f"/cpd/activities/{activity.id}/edit", activity_form(title="Workshop, corrected"), headers=headers
    )
    assert gone_page(response) == (
        "This CPD activity is not in your log It may have been deleted, perhaps in another tab or window. "
        "See the activities in your CPD log Go to your home page"
    )
    assert '<a href="/cpd/">See the activities in your CPD log</a>' in text_of(response)
    assert "<title>This CPD activity is not in your log" in text_of(response)
    assert row_counts() == before


def test_an_activity_is_part_of_an_appraisal_both_signed_when_it_was_logged_and_dated_before_it(people):
    worker, supervisor, *_ = people
    reviewed = logged(worker, "Reviewed", day=LAST_YEAR - timedelta(days=10))
    on_the_day = logged(worker, "On the day", day=LAST_YEAR)
    after_it = logged(worker, "After the appraisal", day=LAST_YEAR + timedelta(days=1))
    appraisal = start(worker, supervisor, held_on=LAST_YEAR)
    service.sign(worker, reload(Appraisal, appraisal.id))
    activities = [reviewed, on_the_day, after_it]
    assert service.signed_appraisals(activities) == {}  # one signature: not locked yet
    appraisal = locked_appraisal_of(appraisal, supervisor)
    late = logged(worker, "Logged after the signatures", day=LAST_YEAR - timedelta(days=20))
    signed = service.signed_appraisals([*activities, late])
    assert {a_id: a.id for a_id, a in signed.items()} == {reviewed.id: appraisal.id, on_the_day.id: appraisal.id}

    before = row_counts()
    for activity in (reviewed, on_the_day):
        with pytest.raises(service.Signed) as error:
            service.change_activity(worker, reload(CpdActivity, activity.id), changed())
        assert error.value.message == (
            f"This activity is part of your {LAST_YEAR.year} appraisal, which you and your appraiser have signed: "
            "it cannot be changed or deleted"
        )
        with pytest.raises(service.Signed):
            service.delete_activity(worker, reload(CpdActivity, activity.id))
    assert row_counts() == before
    # Those the appraisal did not review stay the worker's to mend.
    service.change_activity(worker, reload(CpdActivity, after_it.id), changed())
    service.delete_activity(worker, reload(CpdActivity, late.id))
    assert count(CpdActivity) == 3


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_activity_cannot_be_moved_into_a_signed_appraisal(client, auth, people, headers):
    """Found by a review: an activity logged before the signatures but dated after the appraisal could be re-dated
    into it, and so become part of a record both had signed without it."""
    worker, supervisor, *_ = people
    after_it = logged(worker, "After the appraisal", day=LAST_YEAR + timedelta(days=1))
    appraisal = start(worker, supervisor, held_on=LAST_YEAR)
    service.sign(worker, reload(Appraisal, appraisal.id))
    locked_appraisal_of(appraisal, supervisor)
    late = logged(worker, "Logged after the signatures", day=TODAY)
    auth.login_as(worker)
    before, values = row_counts(), activity_values(after_it.id)
    path = f"/cpd/activities/{after_it.id}/edit"
    response = post_with_token(
        client, auth, path, activity_form(**date_fields("done_on", LAST_YEAR - timedelta(days=3))), headers=headers
    )
    assert response.status_code == 422
    assert error_next_to(text_of(response), "done_on") == (
        f"Error: Your {LAST_YEAR.year} appraisal, which you and your appraiser have signed, reviewed your CPD up to "
        f"{long_date(LAST_YEAR)}: the date must be after it"
    )
    assert row_counts() == before and activity_values(after_it.id) == values
    # Logged after the signatures, it was never in what they read: its date is the worker's to mend.
    service.change_activity(worker, reload(CpdActivity, late.id), changed(done_on=LAST_YEAR - timedelta(days=3)))
    assert reload(CpdActivity, late.id).done_on == LAST_YEAR - timedelta(days=3)


def locked_appraisal_of(appraisal: Appraisal, appraiser: User) -> Appraisal:
    service.sign(appraiser, reload(Appraisal, appraisal.id))
    assert reload(Appraisal, appraisal.id).is_locked
    return reload(Appraisal, appraisal.id)


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_an_activity_in_a_signed_appraisal_offers_no_change_and_refuses_one(client, auth, people, headers):
    worker, supervisor, *_ = people
    reviewed = logged(worker, "Reviewed", day=LAST_YEAR - timedelta(days=10))
    mendable = logged(worker, "Mendable", day=TODAY)
    appraisal = start(worker, supervisor, held_on=LAST_YEAR)
    service.sign(worker, reload(Appraisal, appraisal.id))
    locked_appraisal_of(appraisal, supervisor)
    message = (
        f"This activity is part of your {LAST_YEAR.year} appraisal, which you and your appraiser have signed: "
        "it cannot be changed or deleted"
    )
    auth.login_as(worker)
    listing = text_of(client.get("/cpd/", headers=headers))
    assert activity_links(listing) == {
        "Change Mendable": f"/cpd/activities/{mendable.id}/edit",
        "Delete Mendable": f"/cpd/activities/{mendable.id}/delete",
    }
    card = listing.split("Reviewed</h3>", 1)[1].split('class="nhsuk-card cpd-activity"', 1)[0]
    assert f"Part of your {LAST_YEAR.year} appraisal, signed by you and your appraiser" in words(card)

    before, values = row_counts(), activity_values(reviewed.id)
    for action, data in (("edit", activity_form(title="Rewritten")), ("delete", {})):
        path = f"/cpd/activities/{reviewed.id}/{action}"
        page = text_of(client.get(path, headers=headers))  # the address typed: it says why, with no button
        assert message in page and '<form method="post" action="' + path not in page
        response = post_with_token(client, auth, path, data, headers=headers)  # a page open from before
        assert response.status_code == 422
        page = text_of(response)
        assert "<html" in page and "<title>Error: " in page
        assert summary_links(page) == {message: "activity"} and 'id="activity"' in page
        assert f'action="{path}"' not in page
    assert row_counts() == before and activity_values(reviewed.id) == values


# --- The Senior Engagement Worker's experience and formal learning -----------------------------------


def meet_every_competence(worker: User, supervisor: User) -> None:
    """Every active competence of the worker's framework accepted in signed-off decisions (decide_on)."""
    chosen = list(
        db.session.scalars(
            select(Competence).where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
        )
    )
    rounds = max(c.required_count for c in chosen)
    for number in range(rounds):
        decide_on(
            worker,
            [c for c in chosen if c.required_count > number],
            supervisor=supervisor,
            title=f"A year of practice, part {number + 1}",
            occurred_on=TODAY - timedelta(days=30),
        )


def test_the_profiles_experience_and_formal_learning_are_requirements_word_for_word(app, frameworks):
    source = yaml.safe_load(SFH_YAML.read_text(encoding="utf-8"))
    assert [item["statement"] for item in source["requirements"]["items"]] == SFH_REQUIREMENTS
    assert source["details"]["basic_information"]["experience_required"] == SFH_REQUIREMENTS[:4]
    assert source["details"]["indicative_learning"]["formal_endorsed_learning"] == SFH_REQUIREMENTS[4]
    framework = frameworks["sfh-senior-engagement-worker"]
    stored = db.session.scalars(
        select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.position)
    ).all()
    assert [r.statement for r in stored] == SFH_REQUIREMENTS
    assert [r.renewal_months for r in stored] == [None, None, None, 36, None]


def test_a_manager_verifies_them_with_a_note_and_readiness_needs_them(client, auth, people):
    worker, supervisor, manager, *_ = people
    sew = make_user(
        Role.WORKER, name="Sol Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    assign(supervisor, sew, starts_on=TODAY - timedelta(days=200))
    meet_every_competence(sew, supervisor)
    requirements = db.session.scalars(
        select(Requirement).where(Requirement.framework_id == sew.framework_id).order_by(Requirement.position)
    ).all()

    readiness = progress.worker_progress(reload(User, sew.id)).readiness
    assert (readiness.tier.slug, readiness.missing_count, len(readiness.requirement_problems), readiness.ready) == (
        "senior-engagement-worker",
        0,
        5,
        False,
    )

    auth.login_as(manager)
    page = text_of(client.get(f"/progress/workers/{sew.id}"))
    assert "Meeting the Senior Engagement Worker profile" in page
    assert "Not ready yet 5 requirements to have verified." in words(page)
    table = page.split('class="nhsuk-table requirements-table"', 1)[1].split("</table>", 1)[0]
    rows = [words(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody", 1)[1], re.S)]
    assert rows == [f"{statement} Not verified Verify {statement}" for statement in SFH_REQUIREMENTS]

    # A supervisor cannot verify them.
    auth.login_as(supervisor)
    path = f"/progress/workers/{sew.id}/requirements/{requirements[0].id}"
    assert (
        post_with_token(
            client, auth, path, {**date_fields("verified_on", TODAY), **date_fields("expires_on", None), "note": "x"}
        ).status_code
        == 403
    )
    assert count(RequirementVerification) == 0

    auth.login_as(manager)
    verified_on = TODAY - timedelta(days=3)
    notes = [
        "Two years at the recovery service",
        "Team lead at the hostel",
        "BSc Psychology, certificate seen",
        "DBS 001234567",
        "BSc Psychology, certificate seen",
    ]
    for number, (requirement, note) in enumerate(zip(requirements, notes, strict=True)):
        path = f"/progress/workers/{sew.id}/requirements/{requirement.id}"
        form = text_of(client.get(path, follow_redirects=True))
        assert requirement.statement in form
        response = post_with_token(
            client,
            auth,
            path,
            {**date_fields("verified_on", verified_on), **date_fields("expires_on", None), "note": note},
        )
        assert (
            response.status_code == 303 and response.headers["Location"] == f"/progress/workers/{sew.id}#requirements"
        )
        still_missing = len(progress.worker_progress(reload(User, sew.id)).readiness.requirement_problems)
        assert still_missing == 4 - number
        assert progress.worker_progress(reload(User, sew.id)).readiness.ready is (number == 4)

    stored = db.session.scalars(select(RequirementVerification).order_by(RequirementVerification.id)).all()
    assert [(v.worker_id, v.requirement_id, v.verified_by_id, v.verified_on, v.note) for v in stored] == [
        (sew.id, r.id, manager.id, verified_on, note) for r, note in zip(requirements, notes, strict=True)
    ]
    assert [v.expires_on for v in stored] == [None, None, None, progress.add_months(verified_on, 36), None]
    page = text_of(client.get(f"/progress/workers/{sew.id}"))
    assert "Ready Every competence is met and every requirement is verified and in date." in words(page)
    assert words(page).count(f"Verified by Mo Manager on {long_date(verified_on)}") == 5
    assert [a for a, _ in audit_actions()].count("requirement.verified") == 5


# --- CPD hours from training certificates ----------------------------------------------------------


def certified(
    worker: User,
    hours: str | None,
    day: date = TODAY,
    title: str = "Safeguarding adults level 2",
    status: EvidenceStatus = EvidenceStatus.DRAFT,
    **check,
) -> Evidence:
    """A training certificate of the worker's with ``hours`` CPD hours (None: not recorded), completed on ``day``."""
    evidence = certificate(worker, None, day, title=title, **check)
    evidence.cpd_hours = Decimal(hours) if hours is not None else None
    if status != EvidenceStatus.DRAFT:
        evidence.status, evidence.submitted_at = status, utcnow()
    db.session.commit()
    return evidence


def direct_activity(worker: User, hours: str, day: date = TODAY, title: str = "Reading group") -> CpdActivity:
    activity = CpdActivity(worker_id=worker.id, done_on=day, title=title, hours=Decimal(hours))
    db.session.add(activity)
    db.session.commit()
    return activity


def year_hours(worker: User) -> list[tuple[int, str, str]]:
    return [(y.year, str(y.hours), str(y.from_certificates)) for y in service.hours_by_year(reload(worker))]


THIS, LAST = TODAY.year, TODAY.year - 1


def test_cpd_hours_count_the_log_alone(people):
    worker, *_ = people
    direct_activity(worker, "1.5")
    direct_activity(worker, "2.25", day=date(THIS, 1, 1))
    direct_activity(worker, "3", day=date(LAST, 12, 31))
    assert year_hours(worker) == [(THIS, "3.75", "0.00"), (LAST, "3.00", "0.00")]


def test_cpd_hours_count_training_certificates_alone(people):
    worker, *_ = people
    certified(worker, "3.5")
    certified(worker, "1.25", day=date(THIS, 1, 1), title="Motivational interviewing")
    assert year_hours(worker) == [(THIS, "4.75", "4.75")]


def test_cpd_hours_add_the_log_and_certificates_saying_how_many_came_from_certificates(people):
    worker, *_ = people
    direct_activity(worker, "9")
    certified(worker, "3.5")
    assert year_hours(worker) == [(THIS, "12.50", "3.50")]


def test_a_certificate_counts_in_the_year_it_was_completed(people):
    worker, *_ = people
    certified(worker, "3.5", day=date(LAST, 12, 31))
    certified(worker, "2", day=date(THIS, 1, 1))
    certified(worker, "6", day=date(LAST - 1, 6, 1))
    direct_activity(worker, "1", day=date(LAST, 3, 1))
    assert year_hours(worker) == [(THIS, "2.00", "2.00"), (LAST, "4.50", "3.50"), (LAST - 1, "6.00", "6.00")]


def test_another_workers_certificates_and_certificates_without_hours_do_not_count(people):
    worker, _, _, other, *_ = people
    certified(other, "7")
    direct_activity(other, "5")
    certified(worker, None)  # hours not recorded
    certified(worker, "0")
    assert year_hours(worker) == []
    assert service.certificates_with_hours(reload(worker)) == []
    direct_activity(worker, "1")
    assert year_hours(worker) == [(THIS, "1.00", "0.00")]
    assert year_hours(other) == [(THIS, "12.00", "7.00")]


def test_other_kinds_of_evidence_never_count_as_cpd_hours(people):
    """Only a certificate asks for CPD hours; a value on another kind (never written by its form) is not counted."""
    worker, *_ = people
    reflection = Evidence(
        owner_id=worker.id, kind=EvidenceKind.REFLECTION, title="Walk", occurred_on=TODAY, cpd_hours=Decimal("4")
    )
    db.session.add(reflection)
    db.session.commit()
    assert year_hours(worker) == []


def test_a_certificate_counts_once_someone_else_has_seen_it_and_not_when_sent_back(people):
    """Checked, or sent for review (and so in what a panel may see), and not sent back by a checker (found by a
    review: her year's CPD goes into the panel PDF, which holds no draft item)."""
    worker, supervisor, *_ = people
    certified(worker, "1", checked=False)  # a draft nobody has checked: hers alone, not counted yet
    certified(worker, "2", checked_by=supervisor)  # a draft a supervisor checked: counted
    certified(worker, "3", sent_back="Another course's certificate")  # not counted
    certified(worker, "4", status=EvidenceStatus.SUBMITTED, checked=False)  # sent for review: counted
    certified(worker, "5", status=EvidenceStatus.RETURNED)
    certified(worker, "6", status=EvidenceStatus.SIGNED_OFF)
    assert year_hours(worker) == [(THIS, "17.00", "17.00")]


def test_cpd_hours_per_year_are_one_query(people, count_queries):
    worker, *_ = people
    for n in range(3):
        direct_activity(worker, "1", day=date(THIS - n, 2, 1))
        certified(worker, "2", day=date(THIS - n, 3, 1))
    worker = reload(worker)
    with count_queries:
        assert len(service.hours_by_year(worker)) == 3
    assert count_queries.count == 1, count_queries.statements


def hours_table(page: str) -> list[str]:
    table = page.split('class="nhsuk-table cpd-hours"', 1)[1].split("</table>", 1)[0]
    return [words(r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)]


def certificate_links(page: str) -> list[tuple[str, str, str]]:
    """The certificates the CPD page lists: (address, title, what is said of it)."""
    listed = page.split('class="nhsuk-list nhsuk-list--border cpd-certificates"', 1)[1].split("</ul>", 1)[0]
    return [
        (href, words(title), words(rest))
        for href, title, rest in re.findall(r'<li><a href="([^"]+)">(.*?)</a>(.*?)</li>', listed, re.S)
    ]


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_cpd_page_shows_hours_from_certificates_within_each_years_total_and_lists_them(
    client, auth, people, headers
):
    worker, _, _, other, *_ = people
    logged(worker, "Safeguarding adults level 2", hours="9")
    course = certified(worker, "3.5", title="Safeguarding adults level 2")  # the same course, recorded twice
    older = certified(worker, "6", day=date(LAST, 6, 1), title="Motivational interviewing")
    certified(worker, None, title="Fire safety")  # no hours: not counted, not listed
    waiting = certified(worker, "2", title="Lone working", checked=False)  # listed, not counted yet
    refused = certified(worker, "1", title="Manual handling", sent_back="Another person's certificate")
    certified(other, "7", title="Olive's course")
    auth.login_as(worker)
    response = client.get("/cpd/", headers=headers)
    page = text_of(response)
    assert response.status_code == 200 and "<html" in page
    assert "No CPD logged yet" not in page
    assert hours_table(page) == [
        "Year Hours in total Of these, from training certificates",
        f"{THIS} 12.50 3.50",
        f"{LAST} 6.00 6.00",
    ]
    assert (
        "Each year adds up the hours of the activities in your CPD log and the CPD hours on your training "
        "certificates. If you recorded the same course both ways, its hours are counted twice" in words(page)
    )
    # The course is in both lists, so she can see it was recorded twice.
    assert "Safeguarding adults level 2" in words(page.split('<h2 class="nhsuk-heading-m">Activities</h2>')[1])
    today = long_date(TODAY)
    assert certificate_links(page) == [  # newest first (the same day: the last recorded first)
        (
            f"/portfolio/{refused.id}",
            "Manual handling",
            f"Completed {today} · 1.00 hours · not counted: it was sent back",
        ),
        (
            f"/portfolio/{waiting.id}",
            "Lone working",
            f"Completed {today} · 2.00 hours · not counted yet: waiting for a check, or to be sent for review",
        ),
        (f"/portfolio/{course.id}", "Safeguarding adults level 2", f"Completed {today} · 3.50 hours · counted"),
        (
            f"/portfolio/{older.id}",
            "Motivational interviewing",
            f"Completed {long_date(date(LAST, 6, 1))} · 6.00 hours · counted",
        ),
    ]
    assert "Fire safety" not in page and "Olive" not in page


def test_certificate_hours_alone_are_shown_rather_than_no_cpd(client, auth, people):
    worker, *_ = people
    auth.login_as(worker)
    page = text_of(client.get("/cpd/"))
    assert "No CPD logged yet." in page
    assert "None of your training certificates has CPD hours." in page
    certified(worker, "3.5")
    page = text_of(client.get("/cpd/"))
    assert "No CPD logged yet." not in page and "No activities yet." in page
    assert hours_table(page)[1:] == [f"{THIS} 3.50 3.50"]


def test_the_cpd_page_costs_the_same_queries_however_many_certificates(client, auth, people, count_queries):
    worker, *_ = people
    certified(worker, "1")
    logged(worker, "Workshop")
    auth.login_as(worker)
    client.get("/cpd/")
    with count_queries:
        client.get("/cpd/")
    before = count_queries.count
    for n in range(8):
        certified(reload(worker), "2", day=date(THIS - n % 3, 2, n + 1), title=f"Course {n}")
    with count_queries:
        page = text_of(client.get("/cpd/"))
    assert len(certificate_links(page)) == 9
    assert count_queries.count == before, count_queries.statements


@pytest.mark.parametrize("headers", [{}, BOOSTED], ids=["page", "boosted"])
def test_back_after_logging_an_activity_says_it_is_logged_and_logs_it_once(client, auth, people, headers):
    """The log form's key is in its address: Back after logging finds what it logged, not a form that logs twice."""
    worker, *_ = people
    auth.login_as(worker)
    opened = client.get("/cpd/activities/new")
    assert opened.status_code == 303 and re.fullmatch(r"/cpd/activities/new\?key=[\w-]{43}", opened.headers["Location"])
    address = opened.headers["Location"]
    page = client.get(address).get_data(as_text=True)
    assert form_key(page) == address.rsplit("=", 1)[1] and f'action="{address}"' in text_of(client.get(address))
    data = {"csrf_token": auth.token(address), "form_key": form_key(page), **activity_form()}
    assert client.post(address, data=data).status_code == 303
    [activity] = db.session.scalars(select(CpdActivity)).all()

    back = client.get(address, headers=headers)
    shown = text_of(back)
    assert back.status_code == 200 and "<h1>You have saved this already</h1>" in shown
    assert (
        f'<a href="/cpd/activities/{activity.id}/edit" id="saved-item">Trauma-informed practice workshop</a>' in shown
    )
    assert "It is in your CPD log" in shown and 'href="/cpd/activities/new"' in shown and 'name="form_key"' not in shown
    # The form sent again (restored by the browser) logs nothing more.
    assert client.post(address, data=data).status_code == 303
    assert db.session.scalar(select(func.count(CpdActivity.id))) == 1
