"""Mandatory training: status at the boundaries, the catalogue, matching certificates, the worker's home page,
and team compliance (page, htmx fragment, filters, totals, CSV, query count)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Date, event, literal, select

from portfolio import clock
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import AuditEntry, Evidence, EvidenceKind, Role, TrainingItem, User
from portfolio.people import service as people_service
from portfolio.progress import versions
from portfolio.progress.service import add_months
from portfolio.training import service
from portfolio.training.service import TrainingStatus
from tests.conftest import csrf_token, post_with_token
from tests.factories import PASSWORD_HASH, PDF, TODAY, certificate, course, make_user, many_users, tier
from tests.pages import (
    count,
    date_fields,
    duplicate_ids,
    error_next_to,
    error_summary,
    form_key,
    link_buttons,
    long_date,
    options,
    reload,
    row_counts,
    status_of,
    summary_links,
    swapped_parts,
    table_rows,
    text_of,
    words,
)

FIXED = date(2026, 6, 15)  # "today" for every test that computes a status


# --- helpers --------------------------------------------------------------------


@pytest.fixture
def manager(manager, frameworks):
    """The kit's manager, with the frameworks loaded (the catalogue belongs to one)."""
    return manager


def tag_words(fragment: str) -> list[tuple[str, str]]:
    """Each NHS.UK tag in ``fragment``: (its colour modifier, its words)."""
    return [
        (colour, " ".join(text.split()))
        for colour, text in re.findall(r'<strong class="nhsuk-tag nhsuk-tag--(\w+)"\s*>(.*?)</strong>', fragment, re.S)
    ]


def header_cells(fragment: str, table_class: str) -> list[str]:
    table = fragment.split(f'class="nhsuk-table {table_class}"', 1)[1].split("</table>", 1)[0]
    head = table.split("<thead", 1)[1].split("</thead>", 1)[0]
    return [words(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


@pytest.fixture
def fixed_today(monkeypatch):
    """The service's clock at noon on FIXED: every area (a home reads its day once, for all its parts) agrees."""
    noon = datetime(FIXED.year, FIXED.month, FIXED.day, 12).astimezone()
    monkeypatch.setattr(clock, "now", lambda: noon)
    return FIXED


def status_by_title(worker: User) -> dict[str, tuple[TrainingStatus, date | None]]:
    return {
        row.item.title: (row.status, row.due_on) for row in service.worker_training(db.session.get(User, worker.id))
    }


# --- Status at the boundaries ------------------------------------------------------------


@pytest.mark.parametrize(
    ("completed_on", "expires_on", "status", "due_on"),
    [
        pytest.param(date(2023, 6, 15), FIXED, TrainingStatus.DUE, FIXED, id="expires-today-is-due-not-expired"),
        pytest.param(
            date(2023, 6, 14),
            FIXED - timedelta(days=1),
            TrainingStatus.EXPIRED,
            FIXED - timedelta(days=1),
            id="expired-yesterday",
        ),
        pytest.param(
            date(2024, 1, 1),
            FIXED + timedelta(days=60),
            TrainingStatus.DUE,
            FIXED + timedelta(days=60),
            id="renew-in-exactly-60-days-is-due",
        ),
        pytest.param(
            date(2024, 1, 1),
            FIXED + timedelta(days=61),
            TrainingStatus.VALID,
            FIXED + timedelta(days=61),
            id="renew-in-61-days-is-valid",
        ),
    ],
)
def test_status_from_the_certificates_own_expiry_date(fixed_today, worker, completed_on, expires_on, status, due_on):
    item = course("Safeguarding adults", 36)
    certificate(worker, item, completed_on, expires_on)
    assert status_by_title(worker) == {"Safeguarding adults": (status, due_on)}
    assert service.status_of(item, None, FIXED) == (TrainingStatus.MISSING, None)


@pytest.mark.parametrize(
    ("completed_on", "status", "due_on"),
    [
        pytest.param(date(2025, 6, 15), TrainingStatus.DUE, FIXED, id="completed-12-months-ago-to-the-day-is-due"),
        pytest.param(date(2025, 6, 14), TrainingStatus.EXPIRED, date(2026, 6, 14), id="a-day-more-is-expired"),
        pytest.param(date(2025, 8, 14), TrainingStatus.DUE, date(2026, 8, 14), id="60-days-left-is-due"),
        pytest.param(date(2025, 8, 15), TrainingStatus.VALID, date(2026, 8, 15), id="61-days-left-is-valid"),
    ],
)
def test_without_an_expiry_date_the_course_renewal_period_counts_from_completion(
    fixed_today, worker, completed_on, status, due_on
):
    assert (due_on - FIXED).days in (-1, 0, 60, 61)
    course("Data protection", 12)
    certificate(worker, db.session.scalar(select(TrainingItem)), completed_on, None)
    assert status_by_title(worker) == {"Data protection": (status, due_on)}
    assert add_months(completed_on, 12) == due_on


def test_a_course_never_renewed_stays_valid_and_no_certificate_is_missing(fixed_today, worker):
    once = course("Motivational interviewing", None, position=1)
    course("Lone working", 36, position=2)
    certificate(worker, once, date(2001, 1, 1))
    assert status_by_title(worker) == {
        "Lone working": (TrainingStatus.MISSING, None),
        "Motivational interviewing": (TrainingStatus.VALID, None),
    }


def test_a_catalogue_where_no_course_is_renewed_shows_its_matrix_and_homes(client, auth, fixed_today, manager, worker):
    """Every course of the catalogue is done once: nothing falls due (the rule in SQL once had no renewal date to
    compare with, and the matrix and the manager's home failed)."""
    once = course("Motivational interviewing", None, position=1)
    course("Lone working", None, position=2)
    certificate(worker, once, date(2001, 1, 1))
    auth.login_as(manager)
    response = client.get("/training/link-worker/compliance")
    assert response.status_code == 200
    assert matrix_rows(text_of(response))[-2:] == [
        [worker.name, "Valid", "Missing"],
        ["Totals", "1 valid", "1 missing"],
    ]
    home = client.get("/")
    assert home.status_code == 200
    assert 'class="nhsuk-list lapsed"' not in text_of(home)


def test_a_newer_certificate_renews_an_expired_one_whatever_order_they_were_added(fixed_today, worker):
    item = course("Safeguarding adults", 36)
    newer = certificate(worker, item, FIXED - timedelta(days=10), FIXED + timedelta(days=3 * 365))
    certificate(worker, item, date(2022, 1, 1), date(2025, 1, 1))  # added later, completed earlier, expired
    certificate(
        worker, None, FIXED - timedelta(days=1), title="Safeguarding adults (not matched)"
    )  # unmatched: ignored
    [row] = service.worker_training(db.session.get(User, worker.id))
    assert (row.status, row.due_on, row.certificate.id) == (TrainingStatus.VALID, newer.expires_on, newer.id)

    # And the newest decides the other way round too: a newer certificate that has expired.
    other = course("Lone working", 12, position=5)
    certificate(worker, other, FIXED - timedelta(days=200), FIXED + timedelta(days=400))
    certificate(worker, other, FIXED - timedelta(days=20), FIXED - timedelta(days=2))
    assert status_by_title(worker)["Lone working"] == (TrainingStatus.EXPIRED, FIXED - timedelta(days=2))


def test_courses_needed_by_some_tiers_are_not_required_of_the_others(fixed_today, manager, worker):
    course("Everyone's course", 36, position=1)
    course("Coaching supervision", 24, tiers=["link-worker-coach"], position=2)
    course("Psychosocial assessment", None, tiers=["link-worker-coach", "psychosocial-link-worker"], position=3)
    coach = make_user(Role.WORKER, name="Cleo Coach", tier=tier("link-worker", "link-worker-coach"))
    psychosocial = make_user(Role.WORKER, name="Pat Psychosocial", tier=tier("link-worker", "psychosocial-link-worker"))
    no_tier = make_user(Role.WORKER, name="Nia Notier")
    assert set(status_by_title(worker)) == {"Everyone's course"}
    assert set(status_by_title(coach)) == {"Everyone's course", "Coaching supervision", "Psychosocial assessment"}
    assert set(status_by_title(psychosocial)) == {"Everyone's course", "Psychosocial assessment"}
    assert status_by_title(no_tier) == {}  # no framework: nothing asked

    matrix = service.compliance(service.current_framework_or_404("link-worker"))
    items = {i.title: i for i in matrix.items}
    assert (worker.id, items["Coaching supervision"].id) not in matrix.cells
    assert matrix.cells[(coach.id, items["Coaching supervision"].id)].status == TrainingStatus.MISSING
    assert (psychosocial.id, items["Coaching supervision"].id) not in matrix.cells


# --- The catalogue, managed by a manager --------------------------------------------------


def course_form(
    title: str = "Safeguarding adults",
    *,
    statutory: bool = True,
    renews: str | None = "months",
    months: str = "36",
    tiers: tuple[str, ...] = (),
) -> dict:
    data: dict = {"title": title, "renewal_months": months, "tiers": list(tiers)}
    if renews is not None:
        data["renews"] = renews
    if statutory:
        data["statutory"] = "y"
    return data


def catalogue_rows(page: str) -> list[list[str]]:
    rows = table_rows(
        page.replace("nhsuk-table-responsive training-catalogue", "nhsuk-table training-catalogue"),
        "training-catalogue",
    )
    return [[re.sub(r"^(Training|Renewed|Needed by) ", "", cell) for cell in row] for row in rows]


def test_manager_adds_changes_and_retires_a_course(fixed_today, client, auth, manager, worker):
    auth.login_as(manager)
    first = client.get("/training/")
    assert first.status_code == 302 and first.headers["Location"].startswith("/training/")

    page = text_of(client.get("/training/link-worker/"))
    assert "<h1>Training catalogue</h1>" in page
    assert "No training in the catalogue yet." in page

    response = post_with_token(
        client, auth, "/training/link-worker/", course_form("  Safeguarding   adults ", months=" 36 ")
    )
    assert response.status_code == 303 and response.headers["Location"] == "/training/link-worker/"
    response = post_with_token(
        client,
        auth,
        "/training/link-worker/",
        course_form(
            "Motivational interviewing",
            statutory=False,
            renews="never",
            months="",
            tiers=("psychosocial-link-worker", "link-worker-coach"),
        ),
    )
    assert response.status_code == 303
    # Every tier ticked means the same as none.
    response = post_with_token(
        client,
        auth,
        "/training/link-worker/",
        course_form(
            "Lone working", months="12", tiers=("link-worker", "link-worker-coach", "psychosocial-link-worker")
        ),
    )
    assert response.status_code == 303

    stored = {
        i.title: (i.statutory, i.renewal_months, i.tier_slugs, i.framework_key)
        for i in db.session.scalars(select(TrainingItem))
    }
    assert stored == {
        "Safeguarding adults": (True, 36, [], "link-worker"),
        "Motivational interviewing": (False, None, ["link-worker-coach", "psychosocial-link-worker"], "link-worker"),
        "Lone working": (True, 12, [], "link-worker"),
    }
    page = text_of(client.get("/training/link-worker/"))
    assert "Added: Lone working" in page
    assert catalogue_rows(page) == [
        ["Safeguarding adults Statutory or mandatory", "Every 36 months", "Every tier", "Change Safeguarding adults"],
        [
            "Motivational interviewing",
            "Done once",  # found by a helper: "Renewed: Never" read as if it lapsed unrenewed
            "Link Worker Coach, Psychosocial Link Worker",
            "Change Motivational interviewing",
        ],
        ["Lone working Statutory or mandatory", "Every 12 months", "Every tier", "Change Lone working"],
    ]
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == ["training.added"] * 3

    # Change: the form shows what is stored.
    safeguarding = db.session.scalar(select(TrainingItem).where(TrainingItem.title == "Safeguarding adults"))
    edit_path = f"/training/items/{safeguarding.id}/edit"
    form = text_of(client.get(edit_path))
    assert 'value="Safeguarding adults"' in form and 'value="36"' in form
    assert "Only for a course that is renewed: a whole number" in form  # the period's hint says when it is asked
    response = post_with_token(
        client,
        auth,
        edit_path,
        course_form("Safeguarding adults level 3", statutory=False, months="24", tiers=("link-worker-coach",)),
    )
    assert response.status_code == 303 and response.headers["Location"] == "/training/link-worker/"
    db.session.expire_all()
    changed = db.session.get(TrainingItem, safeguarding.id)
    assert (changed.title, changed.statutory, changed.renewal_months, changed.tier_slugs) == (
        "Safeguarding adults level 3",
        False,
        24,
        ["link-worker-coach"],
    )
    assert "Changed: Safeguarding adults level 3" in text_of(client.get("/training/link-worker/"))

    # Retire: gone from the catalogue and the matrix; the certificate keeps its match.
    lone = db.session.scalar(select(TrainingItem).where(TrainingItem.title == "Lone working"))
    matched = certificate(worker, lone, FIXED - timedelta(days=30), FIXED + timedelta(days=300))
    assert "Lone working" in header_cells(text_of(client.get("/training/link-worker/compliance")), "compliance-matrix")
    response = post_with_token(client, auth, f"/training/items/{lone.id}/retire", {})
    assert response.status_code == 303 and response.headers["Location"] == "/training/link-worker/"
    db.session.expire_all()
    assert db.session.get(TrainingItem, lone.id).retired_at is not None
    assert db.session.get(Evidence, matched.id).training_item_id == lone.id
    # A second click of the button (or another manager's) is told it is done, not "Page not found".
    ledger_rows = count(AuditEntry)
    again = post_with_token(client, auth, f"/training/items/{lone.id}/retire", {})
    assert again.status_code == 303 and again.headers["Location"] == "/training/link-worker/"
    assert count(AuditEntry) == ledger_rows  # retired once
    page = text_of(client.get("/training/link-worker/"))
    assert "Retired: Lone working" in page
    back = text_of(client.get(f"/training/items/{lone.id}/retire"))  # the browser's Back: said, nothing asked
    assert "<h1>Lone working is retired</h1>" in back and 'id="confirm"' not in back
    assert [row[0] for row in catalogue_rows(page)] == ["Safeguarding adults level 3", "Motivational interviewing"]
    assert "Lone working" not in header_cells(
        text_of(client.get("/training/link-worker/compliance")), "compliance-matrix"
    )
    assert "Lone working" not in text_of(client.get("/training/link-worker/compliance?format=csv"))
    assert client.get(f"/training/items/{lone.id}/edit").status_code == 404
    assert [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))][-2:] == [
        "training.changed",
        "training.retired",
    ]
    # The retired course is no longer asked of the worker.
    assert "Lone working" not in status_by_title(worker)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"title": "   "}, "title", "Enter the title of the training", id="empty-title"),
        pytest.param(
            {"renewal_months": "12.5"},
            "renewal_months",
            "Enter the renewal period as a whole number of months, like 12",
            id="months-12.5",
        ),
        pytest.param(
            {"renewal_months": "abc"},
            "renewal_months",
            "Enter the renewal period as a whole number of months, like 12",
            id="months-abc",
        ),
        pytest.param(
            {"renewal_months": ""},
            "renewal_months",
            "Enter the renewal period as a whole number of months, like 12",
            id="months-empty",
        ),
        pytest.param(
            {"renewal_months": "-6"},
            "renewal_months",
            "Enter the renewal period as a whole number of months, like 12",
            id="months-negative",
        ),
        pytest.param(
            {"renewal_months": "0"},
            "renewal_months",
            "The renewal period must be between 1 and 120 months",
            id="months-0",
        ),
        pytest.param(
            {"renewal_months": "121"},
            "renewal_months",
            "The renewal period must be between 1 and 120 months",
            id="months-121",
        ),
        # Found by a helper: a whole number, only too big, was told to be "a whole number".
        pytest.param(
            {"renewal_months": "100000"},
            "renewal_months",
            "The renewal period must be between 1 and 120 months",
            id="months-100000",
        ),
        pytest.param(
            {"renewal_months": "9" * 5000},
            "renewal_months",
            "The renewal period must be between 1 and 120 months",
            id="months-5000-digits",
        ),
        pytest.param(
            {"renewal_months": "000"},
            "renewal_months",
            "The renewal period must be between 1 and 120 months",
            id="months-000",
        ),
        # "²".isdigit() is True but int("²") raises ValueError: a superscript two must be refused, not crash.
        pytest.param(
            {"renewal_months": "²"},
            "renewal_months",
            "Enter the renewal period as a whole number of months, like 12",
            id="months-superscript-two",
        ),
        pytest.param({"renews": None}, "renews", "Choose whether the training must be renewed", id="no-renewal-choice"),
        pytest.param(
            {"title": "LONE   working"},
            "title",
            "This training is already in the catalogue",
            id="duplicate-title-any-case",
        ),
        pytest.param(
            {"tiers": ["link-worker", "senior-engagement-worker"]},
            "tiers",
            "Choose tiers of this framework",
            id="tier-of-another-framework",
        ),
    ],
)
def test_bad_course_details_are_shown_next_to_the_field_and_nothing_is_written(
    client, auth, manager, changes, field, message
):
    course("Lone working", 36)
    auth.login_as(manager)
    before = row_counts()
    data = course_form("Safeguarding adults")
    data.update(changes)
    if data.get("renews") is None:
        data.pop("renews")
    response = post_with_token(client, auth, "/training/link-worker/", data)
    assert response.status_code == 422
    page = text_of(response)
    assert "<title>Error: Training catalogue" in page
    assert message in error_next_to(page, field)
    links = summary_links(page)
    assert any(message in text for text in links), links
    href = next(h for text, h in links.items() if message in text)
    assert f'id="{href}"' in page, f"the error summary links to #{href}, which is not on the page"
    assert row_counts() == before
    assert [i.title for i in db.session.scalars(select(TrainingItem))] == ["Lone working"]


def test_an_empty_course_form_names_every_problem_in_one_answer(client, auth, manager):
    """Not the renewal choice now and the title on the next try: both at once, each next to its field."""
    auth.login_as(manager)
    before = row_counts()
    data = course_form("   ", renews=None, months="")
    response = post_with_token(client, auth, "/training/link-worker/", data)
    assert response.status_code == 422
    page = text_of(response)
    assert "Enter the title of the training" in error_next_to(page, "title")
    assert "Choose whether the training must be renewed" in error_next_to(page, "renews")
    assert [message for _, message in error_summary(page)] == [
        "Enter the title of the training",
        "Choose whether the training must be renewed",
    ]
    assert row_counts() == before


def test_changing_a_course_to_a_bad_value_changes_nothing(client, auth, manager):
    course("Lone working", 36, position=1)
    safeguarding = course("Safeguarding adults", 36, position=2)
    auth.login_as(manager)
    before = row_counts()
    path = f"/training/items/{safeguarding.id}/edit"
    for data, field, message in [
        (course_form("lone working"), "title", "This training is already in the catalogue"),
        (course_form(months="1.5"), "renewal_months", "Enter the renewal period as a whole number of months, like 12"),
        (course_form(tiers=("senior-engagement-worker",)), "tiers", "Choose tiers of this framework"),
    ]:
        response = post_with_token(client, auth, path, data)
        assert response.status_code == 422
        assert message in error_next_to(text_of(response), field)
    assert row_counts() == before
    db.session.expire_all()
    assert [
        (i.title, i.renewal_months, i.tier_slugs)
        for i in db.session.scalars(select(TrainingItem).order_by(TrainingItem.id))
    ] == [
        ("Lone working", 36, []),
        ("Safeguarding adults", 36, []),
    ]
    # Its own title, in another case, is not a duplicate of itself.
    assert post_with_token(client, auth, path, course_form("SAFEGUARDING adults")).status_code == 303


def test_a_title_is_unique_per_framework_only_and_a_retired_title_can_come_back(client, auth, manager):
    course("Lone working", 36, key="sfh-senior-engagement-worker")
    retired = course("Data protection", 12)
    auth.login_as(manager)
    assert post_with_token(client, auth, f"/training/items/{retired.id}/retire", {}).status_code == 303
    assert post_with_token(client, auth, "/training/link-worker/", course_form("Lone working")).status_code == 303
    assert post_with_token(client, auth, "/training/link-worker/", course_form("Data protection")).status_code == 303
    assert count(TrainingItem) == 4


def audit_trail() -> list[tuple[str, str]]:
    return [(e.action, e.subject) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]


def test_whose_certificates_count_towards_a_course_is_people_with_a_checked_one(fixed_today, manager, worker):
    lone, other_course = course("Lone working", 12), course("Data protection", 12)
    second = make_user(Role.WORKER, name="Second Worker", tier=tier("link-worker", "link-worker"))
    waiting = make_user(Role.WORKER, name="Waiting Worker", tier=tier("link-worker", "link-worker"))
    elsewhere = make_user(Role.WORKER, name="Elsewhere Worker", tier=tier("link-worker", "link-worker"))
    certificate(worker, lone, FIXED - timedelta(days=400))
    certificate(worker, lone, FIXED - timedelta(days=30))  # two of one person's: one person
    certificate(second, lone, FIXED - timedelta(days=30))
    certificate(waiting, lone, FIXED - timedelta(days=30), checked=False)  # not checked: counts for nothing yet
    certificate(elsewhere, other_course, FIXED - timedelta(days=30))
    assert service.certificate_holders(lone) == 2
    assert service.certificate_holders(other_course) == 1
    assert service.certificate_holders(course("Nobody's yet", 12)) == 0


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_retiring_a_course_asks_first_and_says_whose_certificates_count(
    fixed_today, client, auth, manager, worker, headers
):
    """Found by a review: one click retired a course, with no word of the certificates that stop counting."""
    lone = course("Lone working", 12)
    second = make_user(Role.WORKER, name="Second Worker", tier=tier("link-worker", "link-worker"))
    for person in (worker, second):
        certificate(person, lone, FIXED - timedelta(days=30))
    auth.login_as(manager)
    edit = text_of(client.get(f"/training/items/{lone.id}/edit", headers=headers))
    # The edit page links to the question; no button there retires at once.
    assert f'action="/training/items/{lone.id}/retire"' not in edit
    assert link_buttons(edit)["Retire training"] == f"/training/items/{lone.id}/retire"

    before = row_counts()
    page = text_of(client.get(f"/training/items/{lone.id}/retire", headers=headers))
    assert "<html" in page and "<h1>Retire Lone working?</h1>" in page
    assert "Checked certificates of 2 people count towards it now. They stop counting while it is retired." in words(
        page
    )
    assert "You can restore it from the catalogue later" in page
    assert f'<form method="post" action="/training/items/{lone.id}/retire"' in page
    assert row_counts() == before and reload(TrainingItem, lone.id).retired_at is None

    response = post_with_token(client, auth, f"/training/items/{lone.id}/retire", {}, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == "/training/link-worker/"
    assert reload(TrainingItem, lone.id).retired_at is not None
    assert audit_trail()[-1] == ("training.retired", f"training:{lone.id}")
    assert "Lone working" not in status_by_title(worker)
    page = text_of(client.get("/training/link-worker/", headers=headers))
    assert "Retired: Lone working" in page
    retired = page.split('id="retired"', 1)[1]
    assert f"Lone working, retired {long_date(reload(TrainingItem, lone.id).retired_at)}" in words(retired)
    assert f'action="/training/items/{lone.id}/restore"' in retired


def test_retiring_a_course_nobody_holds_says_so(client, auth, manager):
    lone = course("Lone working", 12)
    auth.login_as(manager)
    page = text_of(client.get(f"/training/items/{lone.id}/retire"))
    assert "Nobody’s checked certificate counts towards it yet." in page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_restoring_a_retired_course_makes_its_certificates_count_again(
    fixed_today, client, auth, manager, worker, headers
):
    """Found by a review: a retired course could only be added again, as a new course that no certificate counted
    towards."""
    lone = course("Lone working", 12)
    held = certificate(worker, lone, FIXED - timedelta(days=30))
    assert status_by_title(worker)["Lone working"] == (TrainingStatus.VALID, FIXED + timedelta(days=335))
    service.retire_item(manager, lone)
    assert "Lone working" not in status_by_title(worker)

    auth.login_as(manager)
    response = post_with_token(client, auth, f"/training/items/{lone.id}/restore", {}, headers=headers)
    assert response.status_code == 303 and response.headers["Location"] == "/training/link-worker/"
    assert reload(TrainingItem, lone.id).retired_at is None
    assert count(TrainingItem) == 1
    assert status_by_title(worker)["Lone working"] == (TrainingStatus.VALID, FIXED + timedelta(days=335))
    assert service.worker_training(reload(User, worker.id))[0].certificate.id == held.id
    assert [a for a, _ in audit_trail()] == ["training.retired", "training.restored"]
    page = text_of(client.get("/training/link-worker/", headers=headers))
    assert "Restored: Lone working" in page
    assert [row[0] for row in catalogue_rows(page)] == ["Lone working Statutory or mandatory"]
    assert 'id="retired"' not in page
    # A second click (or another manager first) changes nothing more.
    assert post_with_token(client, auth, f"/training/items/{lone.id}/restore", {}).status_code == 303
    assert [a for a, _ in audit_trail()] == ["training.retired", "training.restored"]


def test_each_retired_course_has_its_own_restore_form_and_no_id_twice(client, auth, manager):
    """The token is written out in each retired course's form, not as the form's field (one id on every row)."""
    lone, manual = course("Lone working", 12), course("Manual handling", 36)
    service.retire_item(manager, lone)
    service.retire_item(manager, manual)
    auth.login_as(manager)
    page = text_of(client.get("/training/link-worker/"))
    assert duplicate_ids(page) == []
    restore = re.search(
        rf'action="/training/items/{manual.id}/restore"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert restore, "no restore form for Manual handling"
    response = client.post(f"/training/items/{manual.id}/restore", data={"csrf_token": restore.group(1)})
    assert response.status_code == 303
    assert reload(TrainingItem, manual.id).retired_at is None and reload(TrainingItem, lone.id).retired_at is not None


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_course_added_again_keeps_the_retired_one_from_coming_back(client, auth, manager, headers):
    lone = course("Lone working", 12)
    service.retire_item(manager, lone)
    again = course("lone working", 24)
    auth.login_as(manager)
    before = row_counts()
    response = post_with_token(client, auth, f"/training/items/{lone.id}/restore", {}, headers=headers)
    assert response.status_code == 422
    page = text_of(response)
    assert "<html" in page and "<title>Error: " in page
    message = (
        "“Lone working” is in the catalogue again as a new course: retire or rename that one first, then restore this"
    )
    assert summary_links(page) == {message: f"retired-{lone.id}"}
    assert error_next_to(page, f"retired-{lone.id}") == f"Error: {message}"  # beside its Restore button too
    assert f'id="retired-{lone.id}"' in page
    assert row_counts() == before
    assert reload(TrainingItem, lone.id).retired_at is not None and reload(TrainingItem, again.id).retired_at is None
    with pytest.raises(FieldError) as error:
        service.restore_item(manager, lone)
    assert error.value.message == message


def test_only_managers_manage_the_catalogue_and_see_compliance(client, auth, frameworks, worker):
    item = course("Lone working", 36)
    supervisor = make_user(
        Role.SUPERVISOR, Role.WORKER, name="Sam Supervisor", tier=tier("link-worker", "psychosocial-link-worker")
    )
    before = row_counts()
    for person in (worker, supervisor):
        auth.login_as(person)
        token = auth.token("/")
        for path in (
            "/training/",
            "/training/link-worker/",
            f"/training/items/{item.id}/edit",
            "/training/link-worker/compliance",
            "/training/link-worker/compliance?format=csv",
        ):
            assert client.get(path).status_code == 403, path
        assert (
            client.post(
                "/training/link-worker/", data={"csrf_token": token, **course_form("Data protection")}
            ).status_code
            == 403
        )
        assert (
            client.post(
                f"/training/items/{item.id}/edit", data={"csrf_token": token, **course_form("Renamed")}
            ).status_code
            == 403
        )
        assert client.post(f"/training/items/{item.id}/retire", data={"csrf_token": token}).status_code == 403
    assert row_counts() == before
    db.session.expire_all()
    assert (db.session.get(TrainingItem, item.id).title, db.session.get(TrainingItem, item.id).retired_at) == (
        "Lone working",
        None,
    )


def test_unknown_framework_or_course_is_404_for_a_manager(client, auth, manager):
    auth.login_as(manager)
    assert client.get("/training/no-such-framework/").status_code == 404
    assert client.get("/training/no-such-framework/compliance").status_code == 404
    assert client.get("/training/items/9999/edit").status_code == 404


# --- Matching a certificate to a course -------------------------------------------------------


def certificate_form(**changes) -> dict:
    data = {
        "title": "Safeguarding adults level 2",
        "provider": "NHS Learning Hub",
        **date_fields("occurred_on", TODAY - timedelta(days=10)),
        **date_fields("expires_on", None),
        "cpd_hours": "3",
        "files": (io.BytesIO(PDF), "cert.pdf"),
    }
    data.update(changes)
    return data


def test_a_certificate_is_matched_to_a_course_of_the_workers_framework(client, auth, worker):
    safeguarding = course("Safeguarding adults", 36, position=1)
    lone = course("Lone working", 36, position=2)
    retired = course("Old induction", 12, position=3)
    theirs = course("PREVENT training or WRAP", 36, key="sfh-senior-engagement-worker")
    manager = make_user(Role.MANAGER)
    auth.login_as(manager)
    assert post_with_token(client, auth, f"/training/items/{retired.id}/retire", {}).status_code == 303

    auth.login_as(worker)
    page = text_of(client.get("/portfolio/new/certificate", follow_redirects=True))
    assert "Which training in the catalogue is this?" in page
    assert options(page, "training_item_id") == [
        ("0", "Not in the catalogue"),
        (str(safeguarding.id), "Safeguarding adults"),
        (str(lone.id), "Lone working"),
    ]

    before = row_counts()
    for refused in (theirs, retired):
        response = post_with_token(
            client,
            auth,
            "/portfolio/new/certificate",
            certificate_form(training_item_id=str(refused.id), files=(io.BytesIO(PDF), "cert.pdf")),
            content_type="multipart/form-data",
        )
        assert response.status_code == 422
        page = text_of(response)
        assert (
            error_next_to(page, "training_item_id") == "Error: Choose a course from your framework’s training catalogue"
        )
        assert any("Choose a course from your framework’s training catalogue" in text for text in summary_links(page))
    assert row_counts() == before

    response = post_with_token(
        client,
        auth,
        "/portfolio/new/certificate",
        certificate_form(training_item_id=str(lone.id)),
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    [stored] = db.session.scalars(select(Evidence)).all()
    assert (stored.kind, stored.training_item_id, stored.owner_id) == (EvidenceKind.CERTIFICATE, lone.id, worker.id)
    # "Not in the catalogue" stores no match.
    response = post_with_token(
        client,
        auth,
        "/portfolio/new/certificate",
        certificate_form(title="First aid", training_item_id="0"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert db.session.scalar(select(Evidence.training_item_id).where(Evidence.title == "First aid")) is None


def browser_choice(page: str, name: str) -> str:
    """The value a browser submits for the <select> ``name``: its selected option, else its first."""
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    chosen = re.search(r'<option value="([^"]*)"\s*selected', select_html)
    return chosen.group(1) if chosen else options(page, name)[0][0]


def test_editing_a_certificate_matched_to_a_retired_course_keeps_its_match(client, auth, manager, worker):
    """Retiring a course keeps the certificates' matches: fixing a typo in a draft certificate must not drop it."""
    item = course("Old induction", 12)
    draft = certificate(worker, item, TODAY - timedelta(days=20), title="Old induction")
    auth.login_as(manager)
    assert post_with_token(client, auth, f"/training/items/{item.id}/retire", {}).status_code == 303

    auth.login_as(worker)
    form = text_of(client.get(f"/portfolio/{draft.id}/edit"))
    data = {
        "title": "Old induction",
        "provider": "NHS Learning Hub (corrected)",
        **date_fields("occurred_on", draft.occurred_on),
        **date_fields("expires_on", None),
        "cpd_hours": "",
        "training_item_id": browser_choice(form, "training_item_id"),
    }
    response = post_with_token(client, auth, f"/portfolio/{draft.id}/edit", data, content_type="multipart/form-data")
    assert response.status_code == 303
    saved = fresh_evidence(draft.id)
    assert saved.provider == "NHS Learning Hub (corrected)"
    assert saved.training_item_id == item.id, "saving the draft silently dropped its match to the retired course"


def fresh_evidence(evidence_id: int) -> Evidence:
    db.session.expire_all()
    return db.session.get(Evidence, evidence_id)


# --- The worker's home page ---------------------------------------------------------------


def test_home_page_shows_training_to_renew_first_and_my_training_most_urgent_first(fixed_today, client, auth, worker):
    valid = course("Equality, Diversity and Inclusion", 36, position=1)
    course("Data protection", 12, position=2)  # missing
    due_later = course("Lone working", 36, position=3)
    expired = course("Safeguarding adults", 36, position=4)
    due_sooner = course("Mental health awareness", 36, position=5)
    course("Coaching supervision", 12, tiers=["link-worker-coach"], position=6)  # not for this tier
    certificate(worker, valid, date(2025, 1, 1), date(2028, 1, 1))
    certificate(worker, due_later, date(2023, 8, 1), FIXED + timedelta(days=45))
    certificate(worker, expired, date(2023, 6, 5), date(2026, 6, 5))
    certificate(worker, due_sooner, date(2023, 6, 20), FIXED)
    auth.login_as(worker)

    page = text_of(client.get("/"))
    assert "Training to renew" in page
    warning = page.split('id="training-due"', 1)[1].split("</div>", 1)[0]
    items = [words(li) for li in re.findall(r"<li>(.*?)</li>", warning, re.S)]
    assert items == [
        "Expired Safeguarding adults: expired on 5 June 2026",
        "Due soon Mental health awareness: renew by 15 June 2026",
        f"Due soon Lone working: renew by {long_date(FIXED + timedelta(days=45))}",
    ]
    assert "Add a training certificate" in warning
    # First on the page: before the summary of roles and before the table.
    assert page.index('id="training-due"') < page.index("nhsuk-summary-list") < page.index('id="training"')
    assert table_rows(page, "my-training") == [
        ["Safeguarding adults", "Expired Add a certificate for Safeguarding adults", "5 June 2026"],
        ["Mental health awareness", "Due soon Add a certificate for Mental health awareness", "15 June 2026"],
        ["Lone working", "Due soon Add a certificate for Lone working", long_date(FIXED + timedelta(days=45))],
        ["Data protection", "Missing Add a certificate for Data protection", ""],
        ["Equality, Diversity and Inclusion", "Valid", "1 January 2028"],
    ]
    my_training = page.split('class="nhsuk-table-responsive my-training"', 1)[1].split("</table>", 1)[0]
    assert tag_words(my_training) == [
        ("red", "Expired"),
        ("yellow", "Due soon"),
        ("yellow", "Due soon"),
        ("grey", "Missing"),
        ("green", "Valid"),
    ]


def test_home_page_has_no_warning_when_nothing_is_due(fixed_today, client, auth, worker, manager):
    valid = course("Safeguarding adults", 36, position=1)
    once = course("Motivational interviewing", None, position=2)
    course("Lone working", 36, position=3)  # missing is not "to renew"
    certificate(worker, valid, date(2025, 1, 1), FIXED + timedelta(days=61))
    certificate(worker, once, date(2020, 1, 1))
    auth.login_as(worker)
    page = text_of(client.get("/"))
    assert "Training to renew" not in page
    assert table_rows(page, "my-training") == [
        ["Lone working", "Missing Add a certificate for Lone working", ""],
        ["Safeguarding adults", "Valid", long_date(FIXED + timedelta(days=61))],
        ["Motivational interviewing", "Valid", "Not renewed"],
    ]
    # A manager keeps no training.
    auth.login_as(manager)
    page = text_of(client.get("/"))
    assert "My training" not in page and "Training to renew" not in page


# --- Team compliance ----------------------------------------------------------------------


@pytest.fixture
def team(fixed_today, manager):
    """Three courses; Alice expired, Ben all valid, Cara missing one, =Eve due, Cleo (a coach) with the coaching course;
    Sol on the other framework, an inactive worker and the manager are not in the matrix."""
    safeguarding = course("Safeguarding adults", 36, position=1)
    lone = course("Lone working", 12, position=2)
    coaching = course("Coaching supervision", None, tiers=["link-worker-coach"], position=3)
    course("PREVENT training or WRAP", 36, key="sfh-senior-engagement-worker")
    lw, coach_tier = tier("link-worker", "link-worker"), tier("link-worker", "link-worker-coach")
    alice = make_user(Role.WORKER, name="Alice Able", tier=lw)
    ben = make_user(Role.WORKER, name="Ben Brown", tier=lw)
    cara = make_user(Role.WORKER, name="Cara Cole", tier=lw)
    eve = make_user(Role.WORKER, name="=Eve Formula", tier=lw)
    cleo = make_user(Role.WORKER, name="Cleo Coach", tier=coach_tier)
    make_user(Role.WORKER, name="Sol Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    make_user(Role.WORKER, name="Ivy Inactive", tier=lw, active=False)
    certificate(alice, safeguarding, date(2023, 1, 1), date(2026, 1, 1))
    certificate(alice, lone, date(2026, 1, 10))  # 12 months: renew by 2027-01-10
    for person in (ben, cleo):
        certificate(person, safeguarding, date(2025, 3, 1), date(2028, 3, 1))
        certificate(person, lone, date(2026, 3, 1))
    certificate(cleo, coaching, date(2020, 5, 5))
    certificate(cara, safeguarding, date(2025, 3, 1), date(2028, 3, 1))
    certificate(eve, safeguarding, date(2023, 7, 1), date(2026, 7, 1))
    certificate(eve, lone, date(2026, 2, 1))
    return {"alice": alice, "ben": ben, "cara": cara, "eve": eve, "cleo": cleo, "items": (safeguarding, lone, coaching)}


def matrix_rows(page: str) -> list[list[str]]:
    """The matrix's rows, each worker by name alone (the email beside it is checked in its own test)."""
    without_emails = re.sub(r'<br><span class="nhsuk-body-s person-email">[^<]*</span>', "", page)
    return table_rows(without_emails, "compliance-matrix")


def test_the_compliance_matrix_shows_each_cell_as_a_tag_with_words_and_totals(client, auth, manager, team):
    auth.login_as(manager)
    response = client.get("/training/link-worker/compliance")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = text_of(response)
    assert "<h1>Team compliance</h1>" in page
    # A column a course: wider than the reading column (found by a helper: 13 courses scrolled in 960 pixels).
    assert 'class="portfolio-table-scroll portfolio-table-scroll--wide"' in page
    assert status_of(page, "compliance-status") == "5 workers"
    assert "3 courses." in page
    assert header_cells(page, "compliance-matrix") == [
        "Worker",
        "Safeguarding adults",
        "Lone working",
        "Coaching supervision",
    ]
    assert matrix_rows(page) == [
        ["=Eve Formula", "Due soon 1 July 2026", "Valid 1 February 2027", "Not required"],
        ["Alice Able", "Expired 1 January 2026", "Valid 10 January 2027", "Not required"],
        ["Ben Brown", "Valid 1 March 2028", "Valid 1 March 2027", "Not required"],
        ["Cara Cole", "Valid 1 March 2028", "Missing", "Not required"],
        ["Cleo Coach", "Valid 1 March 2028", "Valid 1 March 2027", "Valid"],
        ["Totals", "1 expired 1 due soon 3 valid", "1 missing 4 valid", "1 valid"],
    ]
    table = re.sub(
        r'<br><span class="nhsuk-body-s person-email">[^<]*</span>', "", page.split('id="compliance-table"', 1)[1]
    )
    alice_row = re.search(r"<tr[^>]*>\s*<th[^>]*><a [^>]*>Alice Able</a></th>(.*?)</tr>", table, re.S).group(1)
    assert tag_words(alice_row) == [("red", "Expired"), ("green", "Valid")]
    cara_row = re.search(r"<tr[^>]*>\s*<th[^>]*><a [^>]*>Cara Cole</a></th>(.*?)</tr>", table, re.S).group(1)
    assert tag_words(cara_row) == [("green", "Valid"), ("grey", "Missing")]
    eve_row = re.search(r"<tr[^>]*>\s*<th[^>]*><a [^>]*>=Eve Formula</a></th>(.*?)</tr>", table, re.S).group(1)
    assert tag_words(eve_row) == [("yellow", "Due soon"), ("green", "Valid")]
    for name in ("Sol Engagement", "Ivy Inactive", "Maya Manager"):
        assert name not in table
    assert 'href="/training/link-worker/compliance?format=csv"' in page


def test_the_matrix_shows_each_workers_email_beside_the_name(client, auth, manager, team):
    """Two people can share a name: the email tells them apart."""
    auth.login_as(manager)
    rows = table_rows(text_of(client.get("/training/link-worker/compliance")), "compliance-matrix")
    assert rows[1][0] == f"Alice Able {team['alice'].email}"
    assert rows[0][0] == f"=Eve Formula {team['eve'].email}"


def test_each_workers_name_opens_her_training(client, auth, manager, team):
    """A manager chasing the team opens one worker's courses, with what was sent back, from her row (her progress
    page, which lists her training for whoever supervises or manages her)."""
    auth.login_as(manager)
    page = text_of(client.get("/training/link-worker/compliance?status=expired", headers={"HX-Request": "true"}))
    alice = team["alice"]
    link = f'href="/progress/workers/{alice.id}#training"'
    assert f"<a {link}>Alice Able</a>" in page
    progress = text_of(client.get(f"/progress/workers/{alice.id}"))
    assert [row[:2] for row in table_rows(progress, "my-training")] == [
        ["Safeguarding adults", "Expired"],
        ["Lone working", "Valid"],
    ]


def test_a_manager_who_is_a_worker_too_opens_her_own_training_on_her_home(client, auth, team):
    """Her own progress page lists no training (her home does): her row's name leads there."""
    maya = make_user(Role.MANAGER, Role.WORKER, name="Maya Both", tier=tier("link-worker", "link-worker"))
    auth.login_as(maya)
    page = text_of(client.get("/training/link-worker/compliance?q=maya"))
    assert '<a href="/#training">Maya Both</a>' in page
    assert 'id="training"' in text_of(client.get("/"))
    alice = team["alice"]
    assert f'<a href="/progress/workers/{alice.id}#training">Alice Able</a>' in text_of(
        client.get("/training/link-worker/compliance?q=alice")
    )


def test_a_course_added_changed_or_retired_in_the_catalogue_shows_in_the_matrix_on_the_next_view(
    client, auth, manager, team, count_queries
):
    """Each process keeps the catalogue's courses until the catalogue (or a framework) changes: a repeat view reads
    no course, and a course added, renamed or retired through the catalogue's pages is a column, renamed or gone,
    on the very next view."""
    auth.login_as(manager)
    address = "/training/link-worker/compliance"

    def columns() -> list[str]:
        return header_cells(text_of(client.get(address)), "compliance-matrix")[1:]

    first = columns()
    assert first == ["Safeguarding adults", "Lone working", "Coaching supervision"]
    with count_queries(keep=True):
        assert columns() == first
    assert not [q for q in count_queries.statements if "FROM training_items" in q]

    added = post_with_token(client, auth, "/training/link-worker/", course_form("First aid", months="12"))
    assert added.status_code == 303
    with count_queries(keep=True):
        assert columns() == [*first, "First aid"]
    # The frameworks are read again (the catalogue is theirs), not their statements: the matrix shows none.
    assert not [q for q in count_queries.statements if "FROM competences" in q]
    lone = team["items"][1]
    renamed = post_with_token(client, auth, f"/training/items/{lone.id}/edit", course_form("Lone working at night"))
    assert renamed.status_code == 303
    assert columns() == ["Safeguarding adults", "Lone working at night", "Coaching supervision", "First aid"]
    assert post_with_token(client, auth, f"/training/items/{lone.id}/retire", {}).status_code == 303
    assert columns() == ["Safeguarding adults", "Coaching supervision", "First aid"]


def test_a_page_of_the_matrix_is_kept_rendered_until_something_its_rows_show_changes(
    client, auth, manager, team, count_queries, monkeypatch
):
    """The rows are kept rendered between views, read again only when one of them would read otherwise: a
    certificate added, a worker renamed or joining, the next day (a course falls due) each show on the very next
    view; each manager sees her own row link to her home, not another's."""
    auth.login_as(manager)
    address = "/training/link-worker/compliance"

    def rows(query: str = "", headers: dict[str, str] | None = None) -> list[list[str]]:
        return matrix_rows(text_of(client.get(address + query, headers=headers or {})))

    first = rows()
    assert "Cara Cole" in [row[0] for row in rows("?status=missing", {"HX-Request": "true"})]
    with count_queries(keep=True):
        assert rows() == first
    # The signed-in manager, and the workers the rows and the totals are kept under, read once for both: no
    # certificate is read, nor the frameworks linked or the catalogue (kept by the process).
    assert len(count_queries.statements) == 2
    assert not any("FROM evidence" in statement for statement in count_queries.besides_the_signed_in_user)

    _, lone, _ = team["items"]
    certificate(team["cara"], lone, date(2026, 6, 1))
    assert ["Cara Cole", "Valid 1 March 2028", "Valid 1 June 2027", "Not required"] in rows()
    team["alice"].name = "Alice Renamed"
    db.session.commit()
    assert rows()[1][0] == "Alice Renamed"
    make_user(Role.WORKER, name="Aaron Newcomer", tier=tier("link-worker", "link-worker"))
    assert rows()[1] == ["Aaron Newcomer", "Missing", "Missing", "Not required"]
    assert rows("?status=missing", {"HX-Request": "true"}) == [  # Cara no longer misses a course
        ["Aaron Newcomer", "Missing", "Missing", "Not required"],
        ["Totals", "1 missing", "1 missing", "No one listed needs this"],
    ]

    monkeypatch.setattr(service, "today", lambda: date(2026, 7, 2))
    assert rows()[0] == ["=Eve Formula", "Expired 1 July 2026", "Valid 1 February 2027", "Not required"]

    maya = make_user(Role.MANAGER, Role.WORKER, name="Maya Both", tier=tier("link-worker", "link-worker"))
    auth.login_as(maya)
    assert '<a href="/#training">Maya Both</a>' in text_of(client.get(address))
    auth.login_as(manager)
    assert f'<a href="/progress/workers/{maya.id}#training">Maya Both</a>' in text_of(client.get(address))


def test_the_htmx_request_gets_only_the_table(client, auth, manager, team):
    auth.login_as(manager)
    response = client.get("/training/link-worker/compliance?status=expired", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    body, oob = swapped_parts(text_of(response), "compliance-table")
    assert "compliance-filters" not in body
    assert oob == [
        '<p id="compliance-status" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">'
    ]
    assert status_of(body, "compliance-status") == "1 worker matches your filters"
    assert [row[0] for row in matrix_rows(body)] == ["Alice Able", "Totals"]
    assert 'href="/training/link-worker/compliance?status=expired&format=csv"' in body


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("status=expired", ["Alice Able"]),
        ("status=due", ["=Eve Formula"]),
        ("status=missing", ["Cara Cole"]),
        ("status=", ["=Eve Formula", "Alice Able", "Ben Brown", "Cara Cole", "Cleo Coach"]),
        ("status=nonsense", ["=Eve Formula", "Alice Able", "Ben Brown", "Cara Cole", "Cleo Coach"]),
        ("q=ca", ["Cara Cole"]),
        ("q=CLEO+coach", ["Cleo Coach"]),
        ("q=b&status=missing", []),
        ("q=able&status=expired", ["Alice Able"]),
    ],
)
def test_filters_by_status_and_name(client, auth, manager, team, query, names):
    auth.login_as(manager)
    response = client.get(f"/training/link-worker/compliance?{query}")
    assert response.status_code == 200
    page = text_of(response)
    rows = matrix_rows(page)
    if names:
        assert [row[0] for row in rows] == names + ["Totals"]
    else:
        assert [row[0] for row in rows] == ["No workers match.", "Totals"]
        assert set(rows[-1][1:]) == {"No one listed needs this"}  # a count of nobody, in words
    filtered = "status=&" not in query + "&" and "status=nonsense" not in query
    if not names:
        assert status_of(page, "compliance-status") == "No workers match your filters"
    else:
        count = f"{len(names)} {'worker matches' if len(names) == 1 else 'workers match'} your filters"
        assert status_of(page, "compliance-status") == (count if filtered else f"{len(names)} workers")


def test_totals_count_the_workers_shown(client, auth, manager, team):
    auth.login_as(manager)
    rows = matrix_rows(text_of(client.get("/training/link-worker/compliance?status=expired")))
    assert rows[-1] == ["Totals", "1 expired", "1 valid", "No one listed needs this"]


def test_the_filter_offers_the_statuses_in_words(client, auth, manager, team):
    auth.login_as(manager)
    page = text_of(client.get("/training/link-worker/compliance?status=due"))
    assert options(page, "status") == [
        ("", "Any status"),
        ("expired", "Something expired"),
        ("due", "Something due soon"),
        ("missing", "Something missing"),
        ("unchecked", "A certificate not checked yet"),
    ]
    assert re.search(r'<option value="due"\s+selected', page)


def test_csv_export(client, auth, manager, team):
    auth.login_as(manager)
    response = client.get("/training/link-worker/compliance?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="training-link-worker.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [
        ["Name", "Email", "Tier", "Safeguarding adults", "Lone working", "Coaching supervision"],
        [
            "'=Eve Formula",
            team["eve"].email,
            "Link Worker",
            "Due soon (2026-07-01)",
            "Valid (2027-02-01)",
            "Not required",
        ],
        [
            "Alice Able",
            team["alice"].email,
            "Link Worker",
            "Expired (2026-01-01)",
            "Valid (2027-01-10)",
            "Not required",
        ],
        ["Ben Brown", team["ben"].email, "Link Worker", "Valid (2028-03-01)", "Valid (2027-03-01)", "Not required"],
        ["Cara Cole", team["cara"].email, "Link Worker", "Valid (2028-03-01)", "Missing", "Not required"],
        ["Cleo Coach", team["cleo"].email, "Link Worker Coach", "Valid (2028-03-01)", "Valid (2027-03-01)", "Valid"],
    ]
    # The export follows the filters on the page.
    filtered = list(
        csv.reader(
            io.StringIO(client.get("/training/link-worker/compliance?status=expired&format=csv").get_data(as_text=True))
        )
    )
    assert [row[0] for row in filtered] == ["Name", "Alice Able"]


# --- The matrix in SQL: the same rules as the Python ones, paged, filtered and totalled -----------------


@pytest.mark.parametrize("months", [1, 2, 12, 13, 36, 120])
def test_completed_before_turns_the_renewal_rule_round_into_a_date_to_compare(months):
    """c < completed_before(m, b) exactly when add_months(c, m) < b (add_months grows with c), month ends included."""
    boundary = date(2023, 12, 1)
    while boundary < date(2025, 4, 1):  # a leap February, and months of 30 and 31 days
        first = service.completed_before(months, boundary)
        assert add_months(first, months) >= boundary > add_months(first - timedelta(days=1), months)
        boundary += timedelta(days=1)


def _rule_cases(on: date, months: int | None) -> list[tuple[date | None, date | None, bool]]:
    """(completed_on, expires_on, a newer unchecked one) around every boundary of the rule on ``on``."""
    due_by = on + timedelta(days=service.DUE_WITHIN_DAYS)
    completed: list[date | None] = [date(2001, 1, 31), on - timedelta(days=1), on]
    for boundary in (on, due_by, due_by + timedelta(days=1)):
        completed += [add_months(boundary, -(months or 12)) + timedelta(days=d) for d in range(-3, 4)]
    expiries = [None, on - timedelta(days=1), on, due_by, due_by + timedelta(days=1)]
    cases = [(c, e, u) for c in completed for e in expiries for u in (False, True)]
    return cases + [(None, None, False), (None, None, True)]


@pytest.mark.parametrize("on", [FIXED, date(2024, 2, 29), date(2025, 3, 31), date(2026, 12, 31)])
def test_the_sql_status_agrees_with_the_python_rule_on_a_table_of_cases(app, on):
    """status_sql (filters and totals) and status_of (cells, the worker's home) decide alike, at every boundary."""
    items = [TrainingItem(id=n, title=f"Course {n}", renewal_months=m) for n, m in enumerate([None, 1, 12, 13], 1)]
    cases = [(item, *case) for item in items for case in _rule_cases(on, item.renewal_months)]
    expected = [
        service.status_of(
            item,
            Evidence(occurred_on=completed, expires_on=expires) if completed else None,
            on,
            Evidence() if unchecked else None,
        )[0].value
        for item, completed, expires, unchecked in cases
    ]
    decided: list[str] = []
    for start in range(0, len(cases), 200):  # a column each, a few hundred to a query
        decided += db.session.execute(
            select(
                *(
                    service.status_sql(
                        items,
                        literal(item.id),
                        literal(completed, Date),
                        literal(expires, Date),
                        literal(unchecked),
                        on,
                    )
                    for item, completed, expires, unchecked in cases[start : start + 200]
                )
            )
        ).one()
    assert len(cases) > 500 and set(expected) == {s.value for s in TrainingStatus}
    readable = [(item.renewal_months, completed, expires, unchecked) for item, completed, expires, unchecked in cases]
    assert list(zip(readable, decided, strict=True)) == list(zip(readable, expected, strict=True))


# Each worker's certificates for one course (renewed every 36 months), newest last unless said, and the status.
# (completed, expires, checked); FIXED is today.
SENT_BACK = "It is another course's certificate"  # a history's third value: sent back by its checker

HISTORIES = {
    "none": ([], TrainingStatus.MISSING),
    "only one, sent back": ([(date(2026, 1, 1), date(2029, 1, 1), SENT_BACK)], TrainingStatus.MISSING),
    "valid, a newer one sent back": (
        [(date(2025, 1, 1), date(2028, 1, 1), True), (date(2026, 1, 1), date(2029, 1, 1), SENT_BACK)],
        TrainingStatus.VALID,
    ),
    "expired, a newer one sent back": (
        [(date(2022, 1, 1), date(2025, 1, 1), True), (date(2026, 1, 1), date(2029, 1, 1), SENT_BACK)],
        TrainingStatus.EXPIRED,
    ),
    "one sent back, a newer one unchecked": (
        [(date(2026, 1, 1), date(2029, 1, 1), SENT_BACK), (date(2026, 2, 1), date(2029, 2, 1), False)],
        TrainingStatus.UNCHECKED,
    ),
    "only unchecked": ([(date(2026, 1, 1), date(2029, 1, 1), False)], TrainingStatus.UNCHECKED),
    "valid, a newer one unchecked": (
        [(date(2025, 1, 1), date(2028, 1, 1), True), (date(2026, 1, 1), date(2029, 1, 1), False)],
        TrainingStatus.VALID,
    ),
    "expired, a newer one unchecked": (
        [(date(2022, 1, 1), date(2025, 1, 1), True), (date(2026, 1, 1), date(2029, 1, 1), False)],
        TrainingStatus.UNCHECKED,
    ),
    "expired, an older one unchecked": (
        [(date(2021, 1, 1), date(2024, 1, 1), False), (date(2022, 1, 1), date(2025, 1, 1), True)],
        TrainingStatus.EXPIRED,
    ),
    "expired today": ([(date(2023, 6, 14), FIXED - timedelta(days=1), True)], TrainingStatus.EXPIRED),
    "expires today": ([(date(2023, 6, 15), FIXED, True)], TrainingStatus.DUE),
    "due in the warning window": ([(date(2023, 8, 14), None, True)], TrainingStatus.DUE),  # renew by 14 August
    "just past the warning window": ([(date(2023, 8, 15), None, True)], TrainingStatus.VALID),
    "renewal period over yesterday": ([(date(2023, 6, 14), None, True)], TrainingStatus.EXPIRED),
    "a newer certificate replaces an expired one": (
        [(date(2022, 1, 1), date(2025, 1, 1), True), (date(2026, 5, 1), date(2029, 5, 1), True)],
        TrainingStatus.VALID,
    ),
    "the newer one, added first, decides": (
        [(date(2026, 5, 1), date(2029, 5, 1), True), (date(2022, 1, 1), date(2025, 1, 1), True)],
        TrainingStatus.VALID,
    ),
    "a newer certificate that has expired decides": (
        [(date(2025, 1, 1), date(2028, 1, 1), True), (date(2025, 2, 1), date(2026, 2, 1), True)],
        TrainingStatus.EXPIRED,
    ),
    "same day, the unchecked one added last": (
        [(date(2023, 1, 1), date(2026, 1, 1), True), (date(2023, 1, 1), date(2026, 1, 1), False)],
        TrainingStatus.UNCHECKED,
    ),
    "same day, the checked one added last": (
        [(date(2023, 1, 1), date(2026, 1, 1), False), (date(2023, 1, 1), date(2026, 1, 1), True)],
        TrainingStatus.EXPIRED,
    ),
}


def test_the_matrix_in_sql_and_the_workers_own_training_agree_on_each_history(fixed_today, manager):
    """The matrix's newest certificate (window function) and status (SQL) are the worker's home page's (Python)."""
    item = course("Safeguarding adults", 36)
    other = course("Lone working", 12, position=2)
    lw = tier("link-worker", "link-worker")
    workers = {}
    for n, (name, (history, _)) in enumerate(HISTORIES.items()):
        workers[name] = make_user(Role.WORKER, name=f"Case {n:02d} {name}", tier=lw)
        for completed, expires, checked in history:
            sent_back = checked if isinstance(checked, str) else None
            certificate(workers[name], item, completed, expires, checked=checked is True, sent_back=sent_back)
        certificate(workers[name], None, FIXED - timedelta(days=3), FIXED - timedelta(days=1))  # unmatched: ignored
    certificate(workers["none"], other, FIXED - timedelta(days=3))  # another course: not this one's

    matrix = service.compliance(service.current_framework_or_404("link-worker"), page=None)
    own = service.training_of([db.session.get(User, w.id) for w in workers.values()])
    for name, (_, expected) in HISTORIES.items():
        worker = workers[name]
        [python] = [row for row in own[worker.id] if row.item.id == item.id]
        cell = service.Cell(python.status, python.due_on, sent_back=python.sent_back is not None)
        assert (name, matrix.cells[(worker.id, item.id)]) == (name, cell)
        assert (name, python.status) == (name, expected)
    expected_totals = {s: [e for _, e in HISTORIES.values()].count(s) for s in TrainingStatus}
    assert matrix.totals[item.id] == expected_totals
    assert matrix.totals[other.id] == {**{s: 0 for s in TrainingStatus}, "missing": len(HISTORIES) - 1, "valid": 1}


@pytest.fixture
def edge_team(fixed_today, manager):
    """One course; a worker for each edge of the rule, and one who left with an expired certificate."""
    item = course("Safeguarding adults", 36)
    lw = tier("link-worker", "link-worker")
    people = {
        name: make_user(Role.WORKER, name=name, tier=lw, active=name != "Lee Left")
        for name in ("Nia None", "Eli Expired", "Toby Today", "Wyn Window", "Una Unchecked", "Rex Renewed", "Lee Left")
    }
    certificate(people["Eli Expired"], item, date(2023, 6, 1), FIXED - timedelta(days=1))
    certificate(people["Toby Today"], item, date(2023, 6, 15), FIXED)
    certificate(people["Wyn Window"], item, date(2024, 1, 1), FIXED + timedelta(days=60))
    certificate(people["Una Unchecked"], item, date(2026, 6, 1), date(2029, 6, 1), checked=False)
    certificate(people["Rex Renewed"], item, date(2022, 1, 1), date(2025, 1, 1))
    certificate(people["Rex Renewed"], item, date(2026, 6, 1), date(2029, 6, 1))
    certificate(people["Lee Left"], item, date(2022, 1, 1), date(2025, 1, 1))
    return item, people


@pytest.mark.parametrize(
    ("status", "names", "totals"),
    [
        (
            "",
            ["Eli Expired", "Nia None", "Rex Renewed", "Toby Today", "Una Unchecked", "Wyn Window"],
            {"expired": 1, "due": 2, "missing": 1, "unchecked": 1, "valid": 1},
        ),
        ("expired", ["Eli Expired"], {"expired": 1}),
        ("due", ["Toby Today", "Wyn Window"], {"due": 2}),
        ("missing", ["Nia None"], {"missing": 1}),
        ("unchecked", ["Una Unchecked"], {"unchecked": 1}),
        ("valid", ["Rex Renewed"], {"valid": 1}),
        ("nonsense", ["Eli Expired", "Nia None", "Rex Renewed", "Toby Today", "Una Unchecked", "Wyn Window"], None),
    ],
)
def test_the_status_filter_and_totals_are_decided_in_sql(edge_team, status, names, totals):
    """A worker who left is in neither the rows nor the totals; totals follow the filter."""
    item, people = edge_team
    matrix = service.compliance(service.current_framework_or_404("link-worker"), status=status)
    assert [w.name for w in matrix.workers] == names
    assert matrix.page.total == len(names)
    assert {s.value: n for s, n in matrix.totals[item.id].items() if n} == (
        totals or {"expired": 1, "due": 2, "missing": 1, "unchecked": 1, "valid": 1}
    )
    assert {w.name: matrix.cells[(w.id, item.id)] for w in matrix.workers} == {
        name: cell
        for name, cell in {
            "Eli Expired": service.Cell(TrainingStatus.EXPIRED, FIXED - timedelta(days=1)),
            "Nia None": service.Cell(TrainingStatus.MISSING, None),
            "Rex Renewed": service.Cell(TrainingStatus.VALID, date(2029, 6, 1)),
            "Toby Today": service.Cell(TrainingStatus.DUE, FIXED),
            "Una Unchecked": service.Cell(TrainingStatus.UNCHECKED, None),
            "Wyn Window": service.Cell(TrainingStatus.DUE, FIXED + timedelta(days=60)),
        }.items()
        if name in names
    }


def test_a_course_renewed_more_often_shows_at_once_in_the_matrix(team, manager):
    """The kept statements are keyed by each course's renewal period: a change builds them afresh."""
    lone = team["items"][1]
    framework = service.current_framework_or_404("link-worker")
    alice = team["alice"].id
    assert service.compliance(framework, q="alice").cells[(alice, lone.id)].status == TrainingStatus.VALID
    # Completed on 10 January: renewed every 3 months, it was due by 10 April.
    service.update_item(manager, lone, title=lone.title, statutory=True, renewal_months=3, tier_slugs=[])
    assert service.compliance(framework, q="alice").cells[(alice, lone.id)] == service.Cell(
        TrainingStatus.EXPIRED, date(2026, 4, 10)
    )


def test_the_matrix_builds_its_statements_once_for_each_catalogue_day_and_search(edge_team, manager, monkeypatch):
    """Kept statements hold values, never rows: a changed course, a new day or another search builds afresh."""
    item, people = edge_team
    built = []
    real_cells = service._cells
    monkeypatch.setattr(service, "_cells", lambda *args: built.append(args) or real_cells(*args))
    framework = service.current_framework_or_404("link-worker")

    def shown(**filters) -> tuple[list[str], dict[str, int]]:
        matrix = service.compliance(framework, **filters)
        return [w.name for w in matrix.workers], {s.value: n for s, n in matrix.totals[item.id].items() if n}

    everyone = ["Eli Expired", "Nia None", "Rex Renewed", "Toby Today", "Una Unchecked", "Wyn Window"]
    expected = {"expired": 1, "due": 2, "missing": 1, "unchecked": 1, "valid": 1}
    assert shown() == (everyone, expected)
    assert len(built) == 2  # a page's cells and the totals
    assert shown() == (everyone, expected)
    assert len(built) == 2  # the same catalogue, day and search: nothing built

    assert shown(status="expired") == (["Eli Expired"], {"expired": 1})
    assert shown(q="toby") == (["Toby Today"], {"due": 1})
    assert shown(q="wyn") == (["Wyn Window"], {"due": 1})
    assert len(built) == 2 + 3 + 2 + 2  # each filter its own statements (a status filter: three)

    # The next day Toby's certificate has expired.
    monkeypatch.setattr(service, "today", lambda: FIXED + timedelta(days=1))
    assert shown(q="toby") == (["Toby Today"], {"expired": 1})
    assert shown() == (everyone, {"expired": 2, "due": 1, "missing": 1, "unchecked": 1, "valid": 1})

    # Only coaches need the course now: the link workers' cells and totals go.
    service.update_item(
        manager, item, title=item.title, statutory=True, renewal_months=36, tier_slugs=["link-worker-coach"]
    )
    matrix = service.compliance(framework)
    assert [w.name for w in matrix.workers] == everyone
    assert matrix.cells == {}
    assert not any(matrix.totals[item.id].values())


def test_the_totals_are_kept_until_a_certificate_a_worker_or_a_tier_changes(edge_team, manager, count_queries):
    """Counting the totals ranks every certificate of the team: each process keeps them, and counts them again
    after any change they are counted from (a certificate, who works here, a worker's tier), whoever made it."""
    item, people = edge_team
    coaching = course("Coaching supervision", 24, tiers=["link-worker-coach"], position=2)
    framework = service.current_framework_or_404("link-worker")

    def totals() -> tuple[dict[str, int], dict[str, int], bool]:
        db.session.commit()  # each look is a request of its own
        with count_queries(keep=True):
            matrix = service.compliance(framework)
        counted = any(s.lstrip().startswith("WITH cells") for s in count_queries.statements)
        shown = [{s.value: n for s, n in matrix.totals[i.id].items() if n} for i in (item, coaching)]
        return shown[0], shown[1], counted

    before = {"expired": 1, "due": 2, "missing": 1, "unchecked": 1, "valid": 1}
    assert totals() == (before, {}, True)
    assert totals() == (before, {}, False)  # kept

    def only_certificate(name: str) -> Evidence:
        return db.session.scalars(select(Evidence).where(Evidence.owner_id == people[name].id)).one()

    service.check_certificate(manager, only_certificate("Una Unchecked"))
    assert totals() == ({"expired": 1, "due": 2, "missing": 1, "valid": 2}, {}, True)
    certificate(people["Nia None"], item, date(2026, 1, 5), date(2029, 1, 5))
    assert totals() == ({"expired": 1, "due": 2, "valid": 3}, {}, True)
    assert totals()[2] is False
    expired_only = service.compliance(framework, status="expired").totals[item.id]
    assert {s.value: n for s, n in expired_only.items() if n} == {"expired": 1}  # each filter its own totals
    versions.renew_all()  # a change to any framework
    assert totals()[2] is True

    people_service.deactivate(manager, people["Eli Expired"])
    assert totals() == ({"due": 2, "valid": 3}, {}, True)
    people_service.reactivate(manager, people["Lee Left"])
    assert totals() == ({"expired": 1, "due": 2, "valid": 3}, {}, True)
    # Left and back between two looks: the same workers, but not the same tokens (so totals a request counted
    # while Lee was away are never taken for these).
    people_service.deactivate(manager, people["Lee Left"])
    people_service.reactivate(manager, people["Lee Left"])
    assert totals() == ({"expired": 1, "due": 2, "valid": 3}, {}, True)

    toby = people["Toby Today"]
    coach = tier("link-worker", "link-worker-coach")
    people_service.change(manager, toby, name=toby.name, roles={Role.WORKER}, tier_id=coach.id)
    assert totals() == ({"expired": 1, "due": 2, "valid": 3}, {"missing": 1}, True)

    # Changes not yet committed are counted afresh and never kept: after a rollback the kept totals stand.
    only_certificate("Wyn Window").expires_on = date(2030, 1, 1)
    with count_queries(keep=True):
        uncommitted = service.compliance(framework).totals[item.id]
    assert {s.value: n for s, n in uncommitted.items() if n} == {"expired": 1, "due": 1, "valid": 4}
    db.session.rollback()
    assert totals() == ({"expired": 1, "due": 2, "valid": 3}, {"missing": 1}, False)


def test_only_the_pages_workers_are_loaded_and_the_totals_count_every_page(fixed_today, manager):
    item = course("Safeguarding adults", 36)
    workers = many_users(30, Role.WORKER, tier=tier("link-worker", "link-worker"), name="Paged Worker")
    for worker in workers[::3]:
        certificate(worker, item, date(2022, 1, 1), date(2025, 1, 1))  # expired
    framework, item_id = service.current_framework_or_404("link-worker"), item.id
    loaded: list[int] = []

    def count_load(target, _context):
        loaded.append(target.id)

    event.listen(User, "load", count_load)
    try:
        db.session.expunge_all()  # every worker read from here on is loaded again
        matrix = service.compliance(framework, page=2)
        db.session.expunge_all()
        expired = service.compliance(framework, status="expired", page=1)
    finally:
        event.remove(User, "load", count_load)
    assert [w.name for w in matrix.workers] == [f"Paged Worker {n:03d}" for n in range(26, 31)]
    assert (matrix.page.total, matrix.page.number, matrix.page.pages) == (30, 2, 2)
    assert {worker_id for worker_id, _ in matrix.cells} == {w.id for w in matrix.workers}
    assert {s.value: n for s, n in matrix.totals[item_id].items() if n} == {"expired": 10, "missing": 20}
    assert [w.name for w in expired.workers] == [f"Paged Worker {n:03d}" for n in range(1, 31, 3)]
    assert {s.value: n for s, n in expired.totals[item_id].items() if n} == {"expired": 10}
    assert sorted(loaded) == sorted([w.id for w in matrix.workers] + [w.id for w in expired.workers])


def test_a_later_page_totals_every_matching_worker_and_htmx_gets_it_too(client, auth, fixed_today, manager):
    item = course("Safeguarding adults", 36)
    workers = many_users(60, Role.WORKER, tier=tier("link-worker", "link-worker"), name="Paged Worker")
    for worker in workers[::2]:
        certificate(worker, item, date(2022, 1, 1), date(2025, 1, 1))  # expired
    auth.login_as(manager)
    page = text_of(client.get("/training/link-worker/compliance?status=expired&page=2"))
    assert status_of(page, "compliance-status") == "30 workers match your filters, showing 26 to 30 (page 2 of 2)"
    assert [row[0] for row in matrix_rows(page)] == [f"Paged Worker {n:03d}" for n in range(51, 60, 2)] + [
        "Totals (all 30 workers)"
    ]
    assert matrix_rows(page)[-1][1] == "30 expired"
    body, _ = swapped_parts(
        text_of(client.get("/training/link-worker/compliance?page=3", headers={"HX-Request": "true"})),
        "compliance-table",
    )
    assert status_of(body, "compliance-status") == "60 workers, showing 51 to 60 (page 3 of 3)"
    assert matrix_rows(body)[-1] == ["Totals (all 60 workers)", "30 expired 30 missing"]


def test_a_catalogue_without_courses_lists_the_workers_and_filters_none(fixed_today, manager, worker):
    framework = service.current_framework_or_404("link-worker")
    matrix = service.compliance(framework)
    assert ([w.name for w in matrix.workers], matrix.cells, matrix.totals) == (["Wendy Worker"], {}, {})
    assert service.compliance(framework, status="missing").workers == []


def _grow(workers: int, items: int) -> None:
    """Bring link-worker up to ``workers`` workers and ``items`` courses, every pair with a certificate
    of some status (some missing), written directly for speed."""
    lw, coach = tier("link-worker", "link-worker"), tier("link-worker", "link-worker-coach")
    old_items = list(db.session.scalars(select(TrainingItem).order_by(TrainingItem.id)))
    old_workers = list(db.session.scalars(select(User).where(User.is_worker.is_(True)).order_by(User.id)))
    new_items = [
        TrainingItem(
            framework_key="link-worker",
            title=f"Course {n:02d}",
            statutory=n % 2 == 0,
            renewal_months=[12, 24, 36, None][n % 4],
            tier_slugs=["link-worker-coach"] if n % 5 == 4 else [],
            position=n,
        )
        for n in range(len(old_items), items)
    ]
    new_workers = [
        User(
            email=f"bulk{n}@example.org",
            name=f"Worker {n:03d}",
            password_hash=PASSWORD_HASH,
            is_worker=True,
            framework_id=lw.framework_id,
            tier_id=(coach if n % 3 == 0 else lw).id,
        )
        for n in range(len(old_workers), workers)
    ]
    db.session.add_all(new_items + new_workers)
    db.session.flush()
    pairs = [(w, i) for w in new_workers for i in old_items + new_items] + [
        (w, i) for w in old_workers for i in new_items
    ]
    db.session.add_all(
        Evidence(
            owner_id=w.id,
            kind=EvidenceKind.CERTIFICATE,
            title=i.title,
            occurred_on=FIXED - timedelta(days=400 + (w.id * 7 + i.id * 13) % 700),
            expires_on=FIXED + timedelta(days=(w.id * 11 + i.id * 5) % 200 - 60) if (w.id + i.id) % 2 else None,
            provider="Hub",
            training_item_id=i.id,
            checked_at=datetime.now(UTC) if (w.id + i.id) % 5 else None,  # some wait for a check
        )
        for w, i in pairs
        if (w.id + i.id) % 7
    )
    db.session.commit()


def test_the_matrix_runs_the_same_number_of_queries_with_200_workers_and_25_courses(
    client, auth, manager, fixed_today, count_queries
):
    _grow(3, 3)
    auth.login_as(manager)
    client.get("/training/link-worker/compliance")  # warm up (templates, first-use queries)

    # A course due (it expires today) among the 3 workers too, so that the filtered page shows rows at both sizes.
    first = db.session.scalar(select(User).where(User.is_worker.is_(True)).order_by(User.id))
    certificate(
        first, db.session.scalar(select(TrainingItem).order_by(TrainingItem.id)), FIXED - timedelta(days=300), FIXED
    )
    wanted = "due"

    def queries(path: str) -> int:
        with count_queries as counted:
            response = client.get(path)
        assert response.status_code == 200
        if "format=csv" not in path:
            assert "No workers match." not in text_of(response)
        return counted.count

    def measure() -> tuple[int, int, str, str]:
        with count_queries as page_queries:
            page = client.get("/training/link-worker/compliance")
        page_count = page_queries.count
        with count_queries as csv_queries:
            exported = client.get("/training/link-worker/compliance?format=csv")
        assert page.status_code == exported.status_code == 200
        return page_count, csv_queries.count, text_of(page), exported.get_data(as_text=True)

    small_page, small_csv, page, exported = measure()
    assert status_of(page, "compliance-status") == "3 workers" and "3 courses." in page
    assert len(exported.splitlines()) == 4
    small_others = [
        queries(f"/training/link-worker/compliance?status={wanted}"),
        queries(f"/training/link-worker/compliance?status={wanted}&format=csv"),
    ]

    _grow(200, 25)
    large_page, large_csv, page, exported = measure()
    assert status_of(page, "compliance-status") == "200 workers, showing 1 to 8 (page 1 of 25)"  # 200 cells a page
    assert "25 courses." in page
    assert len(exported.splitlines()) == 201  # every worker, not only the page
    assert len(matrix_rows(page)) == 9  # a page of them, and the totals row
    statuses = {
        label
        for row in matrix_rows(page)[:-1]
        for cell in row[1:]
        for label in ("Expired", "Due soon", "Missing", "Uploaded, not checked", "Valid", "Not required")
        if cell.startswith(label)
    }
    assert statuses == {"Expired", "Due soon", "Missing", "Uploaded, not checked", "Valid", "Not required"}
    assert (large_page, large_csv) == (small_page, small_csv)
    large_others = [
        queries(f"/training/link-worker/compliance?status={wanted}"),
        queries(f"/training/link-worker/compliance?status={wanted}&format=csv"),
    ]
    assert large_others == small_others
    # A later page costs what the first did (here page 1 of 1 would show for page 2: nothing kept, read at once).
    assert queries("/training/link-worker/compliance?page=2") == large_page
    # And the htmx fragment too.
    with count_queries as fragment_queries:
        client.get("/training/link-worker/compliance?status=expired", headers={"HX-Request": "true"})
    assert fragment_queries.count <= large_page


def test_two_managers_adding_one_title_at_once_make_one_course(app, server, frameworks):
    """Found by a review: the title was checked before the write began, and no row can be locked for a title nobody
    has yet, so on PostgreSQL two managers could both add "Fire safety". They take the catalogue's turn now: the
    second is told, next to the title, and nothing of theirs is written."""
    from tests.racing import Rounds, no_server_errors, race, signed_in

    with app.test_request_context():
        for name in ("ann", "bob"):
            make_user(Role.MANAGER, email=f"{name}@example.org", name=f"{name.title()} Manager")
    ann, bob = signed_in(server, ("ann", "ann@example.org"), ("bob", "bob@example.org"))
    path = "/training/link-worker/"
    rounds = Rounds()
    for number in rounds:
        title = f"Fire safety {number}"
        pages = [client.get(path).text for client in (ann, bob)]
        answers = race(
            [
                client.start_post(
                    path, {**course_form(title), "csrf_token": csrf_token(page), "form_key": form_key(page)}
                )
                for client, page in zip((ann, bob), pages, strict=True)
            ]
        )
        no_server_errors({"ann": answers[0], "bob": answers[1]}, number)
        db.session.commit()  # a fresh snapshot: what the server committed
        made = db.session.scalars(select(TrainingItem).where(TrainingItem.title == title)).all()
        assert len(made) == 1, [a.describe() for a in answers]
        assert sorted(a.status for a in answers) == [303, 422], [a.describe() for a in answers]
        refused = next(a for a in answers if a.status == 422)
        assert error_next_to(refused.text, "title") == "Error: This training is already in the catalogue"
        rounds.record(answers)
    rounds.assert_enough()
