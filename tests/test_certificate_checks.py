"""Training certificates count for compliance only once a supervisor or manager has checked them (issue 13).

Until then a certificate shows as "Uploaded, not checked" on the worker's home, the item page and the
compliance matrix; supervisors and managers check it in one action from their home's list, or send it back
saying what is wrong, and then it counts for nothing until the worker changes it.
"""

from __future__ import annotations

import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from werkzeug.datastructures import FileStorage

from portfolio.duties import OwnDecision
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import CERTIFICATES_WAITING, Evidence, EvidenceKind, EvidenceLink, EvidenceStatus, Role, User
from portfolio.progress.service import add_months
from portfolio.review.service import Conflict
from portfolio.training import service as training
from portfolio.training.service import TrainingStatus
from tests.conftest import csrf_token
from tests.factories import (
    PDF,
    TODAY,
    assign,
    certificate,
    competence,
    course,
    make_user,
    make_worker_supervisor,
    pdf_page,
    send_for_review,
    tier,
)
from tests.pages import (
    audit_rows,
    count,
    date_fields,
    error_next_to,
    error_summary,
    escaped_markup,
    long_date,
    reload,
    table_rows,
    text_of,
    words,
)


def my_training(home: str) -> str:
    """The worker's training table on her home, row after row, as read."""
    return " ".join(" ".join(row) for row in table_rows(home, "my-training"))


def uploaded(worker: User, item, title: str = "Safeguarding adults level 2", *, pages: int = 1, **changes) -> Evidence:
    """A certificate the worker uploads through the use case, matched to ``item``: not checked yet. One file,
    safeguarding.pdf, or ``pages`` of them (page-1.pdf, page-2.pdf...)."""
    values = {"occurred_on": TODAY - timedelta(days=30), "expires_on": TODAY + timedelta(days=3 * 365)} | changes
    data = evidence_service.EvidenceInput(title=title, provider="NHS e-learning", training_item_id=item.id, **values)
    names = ["safeguarding.pdf"] if pages == 1 else [f"page-{n}.pdf" for n in range(1, pages + 1)]
    contents = [PDF] if pages == 1 else [pdf_page(name) for name in names]  # an item holds one copy of a file
    files = [
        FileStorage(io.BytesIO(content), filename=name, content_type="application/pdf")
        for name, content in zip(names, contents, strict=True)
    ]
    return evidence_service.create_evidence(worker, EvidenceKind.CERTIFICATE, data, files)


def changed_certificate(worker: User, cert: Evidence, item, files=(), **changes) -> Evidence:
    """The worker changes the certificate through the use case (``uploaded``'s values, with ``changes``), adding
    ``files``."""
    values = {
        "title": "Safeguarding adults level 2",
        "occurred_on": TODAY - timedelta(days=30),
        "expires_on": TODAY + timedelta(days=3 * 365),
        "provider": "NHS e-learning",
        "training_item_id": item.id,
    } | changes
    saved = evidence_service.update_evidence(
        worker, reload(cert), evidence_service.EvidenceInput(**values), list(files)
    )
    return saved.evidence


def course_status(worker: User, item) -> TrainingStatus:
    [row] = [r for r in training.worker_training(reload(worker)) if r.item.id == item.id]
    return row.status


def to_check(page: str) -> list[str]:
    """The words of each entry of the home page's list of certificates to check."""
    if 'class="nhsuk-list certificates-to-check"' not in page:
        return []
    body = page.split('class="nhsuk-list certificates-to-check"', 1)[1].split("</ul>", 1)[0]
    return [words(entry.split(">", 1)[1]) for entry in body.split('class="certificate-to-check"')[1:]]


def check(client, auth, certificate_id: int):
    return client.post(
        f"/training/certificates/{certificate_id}/check", data={"csrf_token": auth.token()}, follow_redirects=False
    )


# --- The rule ------------------------------------------------------------------------------------


def test_an_uploaded_certificate_counts_only_once_checked(worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    assert course_status(worker, item) == TrainingStatus.UNCHECKED
    assert TrainingStatus.UNCHECKED.label == "Uploaded, not checked"

    training.check_certificate(supervisor, reload(cert))

    assert course_status(worker, item) == TrainingStatus.VALID
    stored = reload(cert)
    assert stored.checked_by_id == supervisor.id and stored.checked_at is not None
    [row] = audit_rows("certificate.checked")
    assert (row.actor_id, row.subject) == (supervisor.id, f"evidence:{cert.id}")
    assert row.details == {"owner_id": worker.id, "training_item_id": item.id}


def test_a_newer_unchecked_certificate_shows_only_when_the_checked_one_no_longer_counts(worker):
    still_valid = course("Safeguarding adults", 36, position=1)
    certificate(worker, still_valid, TODAY - timedelta(days=100), TODAY + timedelta(days=900))
    uploaded(worker, still_valid, title="Safeguarding renewal")
    assert course_status(worker, still_valid) == TrainingStatus.VALID  # the checked one still counts

    lapsed = course("Lone working", 12, position=2)
    certificate(worker, lapsed, TODAY - timedelta(days=500), TODAY - timedelta(days=5))
    assert course_status(worker, lapsed) == TrainingStatus.EXPIRED
    uploaded(worker, lapsed, title="Lone working renewal")
    assert course_status(worker, lapsed) == TrainingStatus.UNCHECKED


def test_nobody_checks_their_own_certificate(frameworks):
    both = make_worker_supervisor()
    item = course("Safeguarding adults", 36)
    cert = uploaded(both, item)
    with pytest.raises(OwnDecision):
        training.check_certificate(both, reload(cert))
    assert reload(cert).checked_at is None
    assert audit_rows("certificate.checked") == []
    assert training.certificates_to_check(both).shown == []


def test_a_second_check_is_a_conflict_and_keeps_the_first(worker, supervisor, manager):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    training.check_certificate(supervisor, reload(cert))
    with pytest.raises(Conflict, match="Sam Supervisor has already checked this certificate"):
        training.check_certificate(manager, reload(cert))
    assert reload(cert).checked_by_id == supervisor.id
    assert len(audit_rows("certificate.checked")) == 1


def test_only_the_workers_supervisor_today_or_a_manager_may_check(worker, supervisor, manager):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    stranger = make_user(Role.SUPERVISOR, name="Sol Stranger")
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [cert.id]
    assert [c.id for c in training.certificates_to_check(manager).shown] == [cert.id]
    assert training.certificates_to_check(stranger) == training.CertificatesToCheck([], 0)
    assert training.certificates_to_check(worker) == training.CertificatesToCheck([], 0)
    assert training.certificates_to_check(supervisor).total == training.certificates_to_check(manager).total == 1
    # Another supervisor's worker's certificate: the manager's to check and count, not this supervisor's.
    walter = make_user(Role.WORKER, name="Walter Worker", tier=tier("link-worker", "link-worker"))
    assign(stranger, walter)
    theirs = uploaded(walter, course("Manual handling", 12))
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [cert.id]
    assert training.certificates_to_check(supervisor).total == 1
    assert [c.id for c in training.certificates_to_check(manager).shown] == [cert.id, theirs.id]
    assert training.certificates_to_check(manager).total == 2
    assert training.get_certificate_to_check_or_404(supervisor, cert.id).id == cert.id


def test_changing_a_checked_certificate_needs_a_new_check(worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.check_certificate(supervisor, reload(cert))
    changed_certificate(worker, cert, item, expires_on=TODAY + timedelta(days=5 * 365))  # a new expiry date
    assert reload(cert).checked_at is None and reload(cert).checked_by_id is None
    assert course_status(worker, item) == TrainingStatus.UNCHECKED


# --- The pages ----------------------------------------------------------------------------------


# The tag of a certificate not checked yet, as the NHS.UK tag component draws it.
BLUE_UNCHECKED_TAG = r'<strong class="nhsuk-tag nhsuk-tag--blue"\s*>\s*Uploaded, not checked\s*</strong>'


def test_unchecked_everywhere_the_certificate_appears(client, auth, worker, manager):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    auth.login_as(worker)
    home = text_of(client.get("/"))
    training_table = my_training(home)
    assert "Safeguarding adults Uploaded, not checked" in training_table
    assert re.search(BLUE_UNCHECKED_TAG, home)
    item_page = words(text_of(client.get(f"/portfolio/{cert.id}")))
    assert "Checked Uploaded, not checked: it counts for training compliance once a supervisor or manager" in item_page
    auth.login_as(manager)
    matrix_page = text_of(client.get("/training/link-worker/compliance"))
    assert re.search(BLUE_UNCHECKED_TAG, matrix_page)
    matrix = words(matrix_page)
    assert "Uploaded, not checked" in matrix
    only_unchecked = words(text_of(client.get("/training/link-worker/compliance?status=unchecked")))
    assert "Wendy Worker" in only_unchecked


def test_a_supervisor_checks_a_certificate_in_one_action_from_home(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    auth.login_as(supervisor)
    page = text_of(client.get("/"))
    assert "Certificates to check (1)" in page
    [entry] = to_check(page)
    assert entry.startswith("Wendy Worker: Safeguarding adults level 2")
    assert "Training Safeguarding adults" in entry and "Files safeguarding.pdf" in entry
    assert f"Completed {long_date(TODAY - timedelta(days=30))}" in entry
    assert f'action="/training/certificates/{cert.id}/check"' in page

    response = check(client, auth, cert.id)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/#certificates-to-check")
    assert reload(cert).checked_by_id == supervisor.id
    after = text_of(client.get("/"))
    assert "Checked Wendy Worker’s certificate: Safeguarding adults level 2" in after
    assert to_check(after) == [] and "No certificates are waiting for your check." in after

    auth.login_as(worker)
    assert f"Checked By Sam Supervisor on {long_date(TODAY)}" in words(text_of(client.get(f"/portfolio/{cert.id}")))
    assert course_status(worker, item) == TrainingStatus.VALID


def test_a_manager_checks_from_home_and_a_late_second_check_is_told_409(client, auth, worker, supervisor, manager):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(manager)
    assert len(to_check(text_of(client.get("/")))) == 1
    training.check_certificate(supervisor, reload(cert))  # Sam got there first
    response = check(client, auth, cert.id)
    assert response.status_code == 409
    page = text_of(response)
    assert "<h1>" in page  # the home page, whole
    assert "Sam Supervisor has already checked this certificate." in words(page.split('id="check-conflict"', 1)[1])
    assert reload(cert).checked_by_id == supervisor.id
    assert len(audit_rows("certificate.checked")) == 1


def test_checking_is_refused_to_the_owner_and_to_others(client, auth, worker, frameworks):
    both = make_worker_supervisor()
    own = uploaded(both, course("Safeguarding adults", 36))
    auth.login_as(both)
    response = check(client, auth, own.id)
    assert response.status_code == 403
    assert "This is your own certificate" in response.text
    stranger = make_user(Role.SUPERVISOR, name="Sol Stranger")
    auth.login_as(stranger)
    assert check(client, auth, own.id).status_code == 404
    not_a_certificate = Evidence(owner_id=worker.id, kind=EvidenceKind.OTHER, title="Leaflet", occurred_on=TODAY)
    db.session.add(not_a_certificate)
    db.session.commit()
    auth.login_as(make_user(Role.MANAGER, name="Mo Manager"))
    assert check(client, auth, not_a_certificate.id).status_code == 404
    assert reload(own).checked_at is None


def test_the_home_list_runs_a_fixed_number_of_queries(client, auth, worker, supervisor, manager, count_queries):
    item = course("Safeguarding adults", 36)
    others = [make_user(Role.WORKER, name=f"Worker {n}", tier=tier("link-worker", "link-worker")) for n in range(8)]
    for person in others:
        assign(supervisor, person)
    uploaded(worker, item)
    before = {}
    for reader in (supervisor, manager):
        auth.login_as(reader)
        client.get("/")  # warm up
        with count_queries:
            assert len(to_check(text_of(client.get("/")))) == 1
        before[reader.id] = count_queries.count

    for person in others:
        uploaded(person, item, title=f"Certificate of {person.name}")
    for reader in (supervisor, manager):
        auth.login_as(reader)
        with count_queries:
            page = text_of(client.get("/"))
        assert len(to_check(page)) == 9
        assert count_queries.count == before[reader.id], count_queries.statements
        # The list, its count and its files in one query: none of them asked for the files on their own.
        assert not any(s.lstrip().lower().startswith("select evidence_files") for s in count_queries.statements)
        # Only what the list shows: not the owners' password hashes, nor the text of what they wrote.
        listed = next(s for s in count_queries.statements if "evidence_files" in s)
        assert "password_hash" not in listed and "what_happened" not in listed and "search_text" not in listed


def test_the_home_list_is_kept_rendered_with_each_requests_token_until_something_it_shows_changes(
    client, auth, worker, supervisor, manager, count_queries
):
    """The certificates to check are drawn once and kept, each form with the token of the request that shows it:
    a certificate sent, checked or changed, its owner's name, its course, and whom the supervisor supervises
    (no token is written for an assignment) show on the very next view."""
    item = course("Safeguarding adults", 36)
    first = uploaded(worker, item)
    walter = make_user(Role.WORKER, name="Walter Worker", tier=tier("link-worker", "link-worker"))
    walters = assign(supervisor, walter)
    auth.login_as(supervisor)

    def home() -> str:
        return text_of(client.get("/"))

    def titles(page: str) -> list[str]:
        return [entry.split(" Training ")[0] for entry in to_check(page)]

    assert titles(home()) == ["Wendy Worker: Safeguarding adults level 2"]
    with count_queries(keep=True):
        page = home()
    assert titles(page) == ["Wendy Worker: Safeguarding adults level 2"]
    assert not [s for s in count_queries.statements if "evidence_files" in s], "the list was read again"
    # One token in the page, the request's (the header's sign-out form has it too), never the kept marker.
    assert len(set(re.findall(r'name="csrf_token" value="([^"]+)"', page))) == 1 and "\x00" not in page

    uploaded(walter, item, title="Walter's certificate")
    page = home()
    assert "Certificates to check (2)" in page
    assert titles(page) == ["Wendy Worker: Safeguarding adults level 2", "Walter Worker: Walter's certificate"]
    db.session.delete(walters)
    db.session.commit()
    assert titles(home()) == ["Wendy Worker: Safeguarding adults level 2"]
    worker.name = "Wendy Walker"
    db.session.commit()
    assert titles(home()) == ["Wendy Walker: Safeguarding adults level 2"]
    item.title = "Safeguarding adults and children"
    db.session.commit()
    assert "Training Safeguarding adults and children" in to_check(home())[0]
    changed_certificate(worker, first, item, title="Safeguarding adults level 3")
    assert titles(home()) == ["Wendy Walker: Safeguarding adults level 3"]

    # The kept page's form, with this request's token, checks it.
    page = home()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.split("certificates-to-check", 2)[2]).group(1)
    version = re.search(r'name="version" value="([^"]+)"', page).group(1)
    answer = client.post(f"/training/certificates/{first.id}/check", data={"csrf_token": token, "version": version})
    assert answer.status_code == 303 and reload(first).checked_by_id == supervisor.id
    # None waiting: the list is known to be empty, not read.
    with count_queries(keep=True):
        assert "No certificates are waiting for your check." in home()
    assert not [s for s in count_queries.statements if "evidence_files" in s], count_queries.statements


def test_a_check_binds_to_the_version_seen_and_a_double_click_is_done_once(worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    seen = training.version_of(reload(cert))
    changed_certificate(
        worker, cert, item, title="Safeguarding adults level 3"
    )  # after the supervisor's page was drawn
    with pytest.raises(Conflict, match="changed after your page was shown"):
        training.check_certificate(supervisor, reload(cert), seen)
    assert reload(cert).checked_at is None and audit_rows("certificate.checked") == []

    fresh = training.version_of(reload(cert))
    training.check_certificate(supervisor, reload(cert), fresh)
    training.check_certificate(supervisor, reload(cert), fresh)  # the same person again: nothing more
    assert reload(cert).checked_by_id == supervisor.id and len(audit_rows("certificate.checked")) == 1


def test_removing_a_file_from_a_checked_certificate_needs_a_new_check(worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item, pages=2)
    training.check_certificate(supervisor, reload(cert))
    assert course_status(worker, item) != TrainingStatus.UNCHECKED

    evidence_service.remove_file(worker, reload(cert), reload(cert).files[-1])

    assert reload(cert).checked_at is None and len(reload(cert).files) == 1
    assert course_status(worker, item) == TrainingStatus.UNCHECKED


def test_the_check_button_names_the_certificate_to_screen_readers_and_shows_no_markup(client, auth, worker, supervisor):
    """The button reads "Mark as checked", the link "Send back"; their hidden words name whose certificate, escaped
    once."""
    worker.name = "Ann O'Brien & <Co>"
    db.session.commit()
    uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(supervisor)
    page = client.get("/").get_data(as_text=True)

    [button] = re.findall(r"<button[^>]*>(.*?)</button>", page.split("certificates-to-check", 1)[1], re.S)
    assert button.strip() == (
        'Mark as checked<span class="nhsuk-u-visually-hidden">: '
        "Ann O&#39;Brien &amp; &lt;Co&gt;, Safeguarding adults level 2</span>"
    )
    [link] = re.findall(r'<a class="nhsuk-link" href="/training/certificates/\d+/send-back">(.*?)</a>', page, re.S)
    assert link == (
        'Send back<span class="nhsuk-u-visually-hidden">: '
        "Ann O&#39;Brien &amp; &lt;Co&gt;, Safeguarding adults level 2</span>"
    )
    assert escaped_markup(page) == []


@pytest.mark.parametrize(
    ("months", "expires", "said"),
    [
        (36, True, "Expires {expiry}"),
        (36, False, "Expires Not given: renew by {renewal} (this training is renewed every 36 months)"),
        (None, False, "Expires Does not expire"),
    ],
)
def test_a_certificates_expiry_reads_the_same_to_the_worker_and_the_checker(
    client, auth, worker, supervisor, months, expires, said
):
    """Not "Does not expire" on the item, "Not given" on the checker's list and a renewal date on the home."""
    item = course("Safeguarding adults", months)
    completed, expiry = TODAY - timedelta(days=30), TODAY + timedelta(days=3 * 365)
    cert = uploaded(worker, item, expires_on=expiry if expires else None)
    expected = said.format(expiry=long_date(expiry), renewal=long_date(add_months(completed, 36)))

    auth.login_as(worker)
    assert expected in words(text_of(client.get(f"/portfolio/{cert.id}")))
    auth.login_as(supervisor)
    [entry] = to_check(text_of(client.get("/")))
    assert expected in entry


def test_the_home_lists_the_oldest_ten_and_says_how_many_wait(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    for n in range(12):
        uploaded(worker, item, title=f"Certificate {n:02}")
    auth.login_as(supervisor)
    page = text_of(client.get("/"))
    listed = to_check(page)
    assert len(listed) == 10 and "Certificate 00" in listed[0] and "Certificate 09" in listed[-1]
    assert "Certificates to check (12)" in words(page)
    assert "These are the oldest 10; 2 more will show here as you check these or send them back." in words(page)


def test_a_check_from_a_page_drawn_before_a_change_is_told_409_on_home(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    auth.login_as(supervisor)
    page = text_of(client.get("/"))
    [seen] = [v for v in re.findall(r'name="version" value="([^"]+)"', page)]
    assert seen == training.version_of(reload(cert))
    reload(cert).provider = "Another provider"  # the worker changes it meanwhile
    db.session.commit()

    answer = client.post(f"/training/certificates/{cert.id}/check", data={"csrf_token": auth.token(), "version": seen})

    assert answer.status_code == 409
    assert "changed after your page was shown" in words(text_of(answer))
    assert reload(cert).checked_at is None


# --- The certificate's file, for those who may check it -------------------------------------------


def file_links(page: str) -> dict[str, str]:
    """The file links of the home page's list of certificates to check: name -> address."""
    if 'class="nhsuk-list certificates-to-check"' not in page:
        return {}
    body = page.split('class="nhsuk-list certificates-to-check"', 1)[1].split("</ul>", 1)[0]
    return {name: href for href, name in re.findall(r'<a href="([^"]+)" hx-boost="false" download>([^<]+)</a>', body)}


def certificate_file(client, cert: Evidence):
    response = client.get(f"/training/certificates/{cert.id}/files/{cert.files[0].id}")
    response.get_data()  # read it all (files are streamed), then let go of the file
    response.close()
    return response


@pytest.mark.parametrize("checker", ["supervisor", "manager"])
def test_the_checker_downloads_a_draft_certificates_file_from_home(client, auth, worker, supervisor, manager, checker):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    assert reload(cert).status == EvidenceStatus.DRAFT  # matched to the catalogue, never submitted
    auth.login_as({"supervisor": supervisor, "manager": manager}[checker])

    links = file_links(text_of(client.get("/")))
    assert links == {"safeguarding.pdf": f"/training/certificates/{cert.id}/files/{reload(cert).files[0].id}"}
    response = client.get(links["safeguarding.pdf"])
    try:
        assert response.status_code == 200
        assert response.get_data() == PDF
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "safeguarding.pdf" in response.headers["Content-Disposition"]
        assert response.headers["Content-Security-Policy"] == "sandbox"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    finally:
        response.close()
    # Reading it changes nothing: still a draft, still to check (evidence downloads are not in the ledger).
    stored = reload(cert)
    assert stored.status == EvidenceStatus.DRAFT and stored.checked_at is None
    assert audit_rows("certificate.checked") == []


def test_a_certificate_with_several_files_links_each_and_one_without_says_none(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    data = evidence_service.EvidenceInput(
        title="Two pages", occurred_on=TODAY - timedelta(days=30), provider="NHS e-learning", training_item_id=item.id
    )
    contents = {f"page-{n}.pdf": pdf_page(f"page {n}") for n in (1, 2)}
    pages = [
        FileStorage(io.BytesIO(content), filename=name, content_type="application/pdf")
        for name, content in contents.items()
    ]
    evidence_service.create_evidence(worker, EvidenceKind.CERTIFICATE, data, pages)
    certificate(worker, item, TODAY - timedelta(days=30), title="No file yet", checked=False)  # written directly
    auth.login_as(supervisor)

    page = text_of(client.get("/"))

    assert set(file_links(page)) == {"page-1.pdf", "page-2.pdf"}
    entries = {entry.split(" Training ", 1)[0]: entry for entry in to_check(page)}
    assert "Files page-1.pdf , page-2.pdf" in entries["Wendy Worker: Two pages"]
    assert "Files None" in entries["Wendy Worker: No file yet"]
    for name, href in file_links(page).items():
        with client.get(href) as response:
            assert response.status_code == 200 and response.get_data() == contents[name]


def test_a_certificate_file_stays_refused_to_everyone_else(client, auth, worker, supervisor, frameworks):
    item = course("Safeguarding adults", 36)
    cert = reload(uploaded(worker, item))

    # Another supervisor (not Wendy's), and a supervisor whose supervision of her has ended: as for a missing file.
    auth.login_as(make_user(Role.SUPERVISOR, name="Sol Stranger", email="sol@example.org"))
    assert certificate_file(client, cert).status_code == 404
    former = make_user(Role.SUPERVISOR, name="Fay Former", email="fay@example.org")
    assign(former, worker, TODAY - timedelta(days=400)).ends_on = TODAY - timedelta(days=1)
    db.session.commit()
    auth.login_as(former)
    assert certificate_file(client, cert).status_code == 404

    # Another worker, and the owner herself (she has her own item's download): no checker's route for them.
    auth.login_as(
        make_user(Role.WORKER, name="Walt Other", email="walt@example.org", tier=tier("link-worker", "link-worker"))
    )
    refused = certificate_file(client, cert)
    assert refused.status_code == 403 and "You do not have access to this page" in refused.text
    auth.login_as(worker)
    assert certificate_file(client, cert).status_code == 403

    # Wendy's supervisor may check the certificate, but nothing else of hers that is a draft or private.
    other_draft = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="Leaflet", occurred_on=TODAY, description="Draft leaflet"),
        [FileStorage(io.BytesIO(PDF), filename="leaflet.pdf", content_type="application/pdf")],
    )
    private_cert = uploaded(worker, item, title="Private certificate")
    unmatched = uploaded(worker, item, title="Certificate of no course")
    private_cert.is_private = True  # the form offers no privacy for certificates; the rule refuses it still
    unmatched.training_item_id = None
    db.session.commit()
    auth.login_as(supervisor)
    for refused_item in (other_draft, private_cert, unmatched):
        assert certificate_file(client, reload(refused_item)).status_code == 404, refused_item.title
    # Nor a file of another item through the certificate's address.
    with client.get(f"/training/certificates/{cert.id}/files/{reload(other_draft).files[0].id}") as response:
        assert response.status_code == 404
    assert certificate_file(client, cert).status_code == 200  # the certificate itself still opens
    assert "leaflet.pdf" not in text_of(client.get("/"))


def test_nobody_downloads_their_own_certificate_as_its_checker(client, auth, frameworks):
    both = make_worker_supervisor()
    own = reload(uploaded(both, course("Safeguarding adults", 36)))
    auth.login_as(both)
    refused = certificate_file(client, own)
    assert refused.status_code == 403 and "This is your own certificate" in refused.text
    with client.get(f"/portfolio/{own.id}/files/{own.files[0].id}") as response:  # their own item's download
        assert response.status_code == 200 and response.get_data() == PDF
    assert count(Evidence) == 1


# --- Sending a certificate back ---------------------------------------------------------------------

WRONG_COURSE = "This is the fire safety certificate, not safeguarding"


def send_back_page(client, cert: Evidence, **headers):
    return client.get(f"/training/certificates/{cert.id}/send-back", headers=headers)


def send_back(client, auth, cert: Evidence, reason: str = WRONG_COURSE, version: str | None = None):
    data = {"csrf_token": auth.token(), "reason": reason}
    if version is not None:
        data["version"] = version
    return client.post(f"/training/certificates/{cert.id}/send-back", data=data, follow_redirects=False)


def worker_notices(worker: User) -> list[str]:
    from portfolio.models import Notification

    return list(
        db.session.scalars(
            select(Notification.message).where(Notification.user_id == worker.id).order_by(Notification.id)
        )
    )


def test_a_certificate_sent_back_counts_for_nothing_leaves_the_list_and_tells_the_worker(worker, supervisor, manager):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)

    training.send_back_certificate(
        supervisor, reload(cert), f"  This is the fire   safety certificate,\n{' '}not safeguarding "
    )

    stored = reload(cert)
    assert (stored.sent_back_by_id, stored.sent_back_reason) == (supervisor.id, WRONG_COURSE)
    assert stored.sent_back_at is not None and stored.checked_at is None
    assert course_status(worker, item) == TrainingStatus.MISSING  # not "uploaded, not checked": nobody is to check it
    [row] = [r for r in training.worker_training(reload(worker)) if r.item.id == item.id]
    assert row.sent_back.id == cert.id and row.unchecked is None and row.certificate is None
    assert training.certificates_to_check(supervisor) == training.CertificatesToCheck([], 0)
    assert training.certificates_to_check(manager) == training.CertificatesToCheck([], 0)
    matrix = training.compliance(training.current_framework_or_404("link-worker"))
    assert matrix.cells[(worker.id, item.id)].status == TrainingStatus.MISSING
    [audit] = audit_rows("certificate.sent_back")
    assert (audit.actor_id, audit.subject) == (supervisor.id, f"evidence:{cert.id}")
    assert audit.details == {"owner_id": worker.id, "training_item_id": item.id, "reason": WRONG_COURSE}
    assert worker_notices(worker) == [
        f"Sam Supervisor sent back your certificate “Safeguarding adults level 2”: {WRONG_COURSE}"
    ]


def test_changing_a_certificate_sent_back_puts_it_back_in_the_list_and_a_newer_one_replaces_the_notice(
    worker, supervisor
):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)
    changed_certificate(worker, cert, item, provider="NHS e-learning (the right one)")
    stored = reload(cert)
    assert (stored.sent_back_at, stored.sent_back_by_id, stored.sent_back_reason) == (None, None, None)
    assert stored.earlier_sent_back_reason == WRONG_COURSE  # for the next checker
    assert course_status(worker, item) == TrainingStatus.UNCHECKED
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [cert.id]

    # Sent back again, then a new certificate added instead: the newer one waits, the old notice goes.
    training.send_back_certificate(supervisor, reload(cert), "Still the wrong course")
    newer = uploaded(worker, item, title="Safeguarding adults level 2 (again)", occurred_on=TODAY - timedelta(days=2))
    [row] = [r for r in training.worker_training(reload(worker)) if r.item.id == item.id]
    assert (row.status, row.sent_back, row.unchecked.id) == (TrainingStatus.UNCHECKED, None, newer.id)
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [newer.id]


def test_the_next_checker_reads_why_a_changed_certificate_was_sent_back_until_it_is_checked(
    client, auth, worker, supervisor, manager
):
    """Found by a helper: a certificate changed after a send-back came back to the list as if new, without what
    was wrong with it (what the next checker looks at first)."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), "The scan is blank")
    changed_certificate(worker, cert, item, provider="NHS e-learning (the right scan)")
    auth.login_as(manager)
    [entry] = to_check(text_of(client.get("/")))
    assert "Sent back before “The scan is blank”. Changed since." in entry
    page = text_of(client.get(f"/training/certificates/{cert.id}/send-back"))
    assert "Sent back before “The scan is blank”. Changed since." in words(page)

    # Checked, it was mended: the reason goes, from the list and the record.
    training.check_certificate(manager, reload(cert))
    assert reload(cert).earlier_sent_back_reason is None
    changed_certificate(worker, cert, item, provider="NHS e-learning, renamed")
    assert reload(cert).earlier_sent_back_reason is None  # a checked one changed was never sent back
    [entry] = to_check(text_of(client.get("/")))
    assert "Sent back before" not in entry


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "Say what is wrong with the certificate"),
        ("   \n ", "Say what is wrong with the certificate"),
        ("x" * 501, "What is wrong must be 500 characters or fewer"),
    ],
    ids=["empty", "blank", "too long"],
)
def test_sending_back_needs_a_reason_and_writes_nothing_without_one(worker, supervisor, reason, message):
    from portfolio.errors import FieldError

    cert = uploaded(worker, course("Safeguarding adults", 36))
    with pytest.raises(FieldError) as refused:
        training.send_back_certificate(supervisor, reload(cert), reason)
    assert (refused.value.field, refused.value.message) == ("reason", message)
    assert reload(cert).sent_back_at is None and audit_rows("certificate.sent_back") == []
    assert worker_notices(worker) == []


def test_a_certificate_is_checked_or_sent_back_once_by_one_person(worker, supervisor, manager):
    checked = uploaded(worker, course("Safeguarding adults", 36))
    training.check_certificate(supervisor, reload(checked))
    with pytest.raises(Conflict, match="^Sam Supervisor has already checked this certificate.$"):
        training.send_back_certificate(manager, reload(checked), WRONG_COURSE)
    assert reload(checked).sent_back_at is None

    sent = uploaded(worker, course("Lone working", 12, position=2), title="Lone working")
    training.send_back_certificate(supervisor, reload(sent), WRONG_COURSE)
    with pytest.raises(Conflict, match="^Sam Supervisor has already sent this certificate back.$"):
        training.check_certificate(manager, reload(sent))
    with pytest.raises(Conflict, match="^Sam Supervisor has already sent this certificate back.$"):
        training.send_back_certificate(manager, reload(sent), "Another reason")
    training.send_back_certificate(supervisor, reload(sent), WRONG_COURSE)  # a second click: done once
    with pytest.raises(Conflict, match="^You have already sent this certificate back.$"):
        training.send_back_certificate(supervisor, reload(sent), "Another tab, another reason")
    with pytest.raises(Conflict, match="^You have already sent this certificate back.$"):
        training.check_certificate(supervisor, reload(sent))  # the check button of a home page drawn before
    assert reload(sent).sent_back_reason == WRONG_COURSE and reload(sent).checked_at is None
    assert len(audit_rows("certificate.sent_back")) == 1 and len(audit_rows("certificate.checked")) == 1
    assert len(worker_notices(worker)) == 1


def test_nobody_sends_back_their_own_certificate_nor_one_changed_since_they_saw_it(frameworks, worker, supervisor):
    both = make_worker_supervisor()
    own = uploaded(both, course("Safeguarding adults", 36))
    with pytest.raises(OwnDecision):
        training.send_back_certificate(both, reload(own), WRONG_COURSE)
    assert reload(own).sent_back_at is None

    cert = uploaded(worker, course("Lone working", 12, position=2))
    seen = training.version_of(reload(cert))
    reload(cert).provider = "Another provider"  # the worker changes it meanwhile
    db.session.commit()
    with pytest.raises(Conflict, match="changed after your page was shown: look at it again below before you send"):
        training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE, seen)
    assert reload(cert).sent_back_at is None and audit_rows("certificate.sent_back") == []


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_a_supervisor_sends_a_certificate_back_from_home_and_the_worker_sees_why(
    client, auth, worker, supervisor, headers
):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    auth.login_as(supervisor)
    home = text_of(client.get("/"))
    assert f'href="/training/certificates/{cert.id}/send-back"' in home

    page = send_back_page(client, cert, **headers)
    assert page.status_code == 200
    text = text_of(page)
    assert "<h1>Send back Wendy Worker’s certificate</h1>" in text and "</html>" in text
    assert "Training Safeguarding adults" in words(text) and "safeguarding.pdf" in text
    assert re.search(rf'name="version"[^>]*value="{re.escape(training.version_of(reload(cert)))}"', text)
    assert error_summary(text) == []

    response = send_back(client, auth, cert)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/#certificates-to-check")
    after = text_of(client.get("/"))
    assert "Sent back Wendy Worker’s certificate: Safeguarding adults level 2" in after
    assert to_check(after) == [] and "Certificates to check (0)" in after

    auth.login_as(worker)
    home = text_of(client.get("/"))
    training_table = my_training(home)
    assert (
        f"Safeguarding adults Missing Your certificate was sent back for Safeguarding adults : “{WRONG_COURSE}”"
        in training_table
    )
    assert f'href="/portfolio/{cert.id}"' in home.split('class="nhsuk-table-responsive my-training"', 1)[1]
    item_page = words(text_of(client.get(f"/portfolio/{cert.id}")))
    assert (
        f"Sent back Sam Supervisor sent this certificate back on {long_date(TODAY)}, saying: {WRONG_COURSE}"
        in item_page
    )
    assert f"Checked No, sent back by Sam Supervisor on {long_date(TODAY)}. " in item_page


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_sending_back_without_a_reason_is_a_422_with_the_message_by_the_field(
    client, auth, worker, supervisor, headers
):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(supervisor)
    answer = client.post(
        f"/training/certificates/{cert.id}/send-back",
        data={"csrf_token": auth.token(), "reason": "  ", "version": training.version_of(reload(cert))},
        headers=headers,
    )
    assert answer.status_code == 422
    page = text_of(answer)
    assert "</html>" in page and "<title>Error: Send back Wendy Worker’s certificate" in page
    assert error_next_to(page, "reason") == "Error: Say what is wrong with the certificate"
    assert error_summary(page) == [("#reason", "Say what is wrong with the certificate")]
    assert reload(cert).sent_back_at is None and audit_rows("certificate.sent_back") == []
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [cert.id]


def test_back_a_second_click_and_another_checkers_old_tab_are_told_what_happened(
    client, auth, worker, supervisor, manager
):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(manager)
    seen = re.search(r'name="version"[^>]*value="([^"]+)"', text_of(send_back_page(client, cert))).group(1)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)  # Sam got there first

    late = send_back(client, auth, cert, "The file is blank", version=seen)
    assert late.status_code == 409
    page = text_of(late)
    assert "Sam Supervisor has already sent this certificate back." in words(
        page.split('id="send-back-conflict"', 1)[1]
    )
    assert f"Sam Supervisor sent it back on {long_date(TODAY)}, saying: “{WRONG_COURSE}”. It comes back" in words(page)
    assert 'name="reason"' not in page  # nothing more to do here
    assert reload(cert).sent_back_reason == WRONG_COURSE and reload(cert).sent_back_by_id == supervisor.id

    auth.login_as(supervisor)
    again = send_back(client, auth, cert, WRONG_COURSE)  # a second click
    assert again.status_code == 303 and len(audit_rows("certificate.sent_back")) == 1
    back = send_back_page(client, cert)  # Back to the form
    assert back.status_code == 200 and "<h1>Wendy Worker’s certificate</h1>" in text_of(back)
    assert 'name="reason"' not in text_of(back)

    checked = uploaded(worker, course("Lone working", 12, position=2), title="Lone working")
    training.check_certificate(manager, reload(checked))
    answer = send_back(client, auth, checked)
    assert answer.status_code == 409
    assert "Maya Manager has already checked this certificate." in words(text_of(answer))
    assert f"Maya Manager checked it on {long_date(TODAY)}" in words(text_of(answer))
    assert reload(checked).sent_back_at is None


def test_sending_back_is_refused_to_the_owner_to_workers_and_to_other_supervisors(client, auth, worker, frameworks):
    both = make_worker_supervisor()
    own = uploaded(both, course("Safeguarding adults", 36))
    auth.login_as(both)
    for answer in (send_back_page(client, own), send_back(client, auth, own)):
        assert answer.status_code == 403 and "This is your own certificate" in answer.text
    auth.login_as(make_user(Role.SUPERVISOR, name="Sol Stranger"))
    assert send_back_page(client, own).status_code == 404
    assert send_back(client, auth, own).status_code == 404
    auth.login_as(worker)
    assert send_back(client, auth, own).status_code == 403
    assert reload(own).sent_back_at is None and audit_rows("certificate.sent_back") == []


def test_checking_and_sending_back_at_once_leave_one_decision(app, server, worker, supervisor, manager):
    """A supervisor checks as a manager sends the same certificate back, over HTTP at the same moment: the locked row
    decides; the other is told 409 and nothing of theirs is written (on SQLite and PostgreSQL alike)."""
    from tests.racing import Rounds, no_server_errors, race, signed_in

    emails = supervisor.email, manager.email
    item = course("Safeguarding adults", 36)
    db.session.commit()  # no read left open on SQLite while the server writes
    sam, maya = signed_in(server, ("sam", emails[0]), ("maya", emails[1]))
    rounds = Rounds()
    for number in rounds:
        cert = uploaded(worker, item, title=f"Safeguarding certificate {number}")
        version = training.version_of(reload(cert))
        db.session.commit()
        home, form = sam.get("/").text, maya.get(f"/training/certificates/{cert.id}/send-back").text
        answers = race(
            [
                sam.start_post(
                    f"/training/certificates/{cert.id}/check", {"csrf_token": csrf_token(home), "version": version}
                ),
                maya.start_post(
                    f"/training/certificates/{cert.id}/send-back",
                    {"csrf_token": csrf_token(form), "version": version, "reason": WRONG_COURSE},
                ),
            ]
        )
        no_server_errors({"sam": answers[0], "maya": answers[1]}, number)
        db.session.commit()  # a fresh snapshot: what the server committed
        stored = reload(cert)
        assert sorted(a.status for a in answers) == [303, 409], [a.describe() for a in answers]
        if answers[0].status == 303:
            assert (stored.checked_by_id, stored.sent_back_at) == (supervisor.id, None)
        else:
            assert (stored.sent_back_by_id, stored.checked_at) == (manager.id, None)
        subject = f"evidence:{cert.id}"
        decided = [r for r in audit_rows() if r.subject == subject and r.action.startswith("certificate.")]
        assert len(decided) == 1, [r.action for r in decided]
        rounds.record(answers)
    rounds.assert_enough()


def test_a_certificate_under_review_sent_back_is_answered_by_a_new_one_whatever_its_date(
    client, auth, worker, supervisor
):
    """One sent for review cannot be changed: the worker is told to add a new certificate, her reviewer what she has
    to do, and the notice goes once she adds one after it was sent back (even one completed earlier)."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item, occurred_on=TODAY - timedelta(days=10))
    evidence_service.link_competence(worker, reload(cert), competence("PS-LW-01").id)
    evidence_service.submit(worker, reload(cert))
    training.send_back_certificate(supervisor, reload(cert), "The dates do not match the document")
    auth.login_as(worker)
    own_page = words(text_of(client.get(f"/portfolio/{cert.id}")))
    assert (
        "It does not count towards your training until a supervisor or manager has checked it. Withdraw it from review"
        " to change it, or add a new certificate for Safeguarding adults ." in own_page
    )
    assert f"Checked No, sent back by Sam Supervisor on {long_date(TODAY)}. " in own_page  # the reason is said above
    auth.login_as(supervisor)
    from portfolio.review import service as review

    reviewed = words(text_of(client.get(f"/review/{review.open_submission_of(reload(cert)).id}")))
    assert "towards Wendy Worker’s training until they withdraw it from review and change it, or add a new" in reviewed
    assert "your training" not in reviewed

    newer = uploaded(worker, item, title="Safeguarding adults (the right one)", occurred_on=TODAY - timedelta(days=40))
    training.check_certificate(supervisor, reload(newer))
    [row] = [r for r in training.worker_training(reload(worker)) if r.item.id == item.id]
    assert (row.status, row.certificate.id, row.sent_back) == (TrainingStatus.VALID, newer.id, None)
    auth.login_as(worker)
    assert "was sent back" not in text_of(client.get("/"))


def test_a_file_added_or_removed_puts_a_sent_back_certificate_back_and_outdates_a_checkers_page(worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item, pages=2)
    training.send_back_certificate(supervisor, reload(cert), "Page two cannot be read")

    evidence_service.remove_file(worker, reload(cert), reload(cert).files[-1])
    assert reload(cert).sent_back_at is None and reload(cert).sent_back_reason is None
    assert [c.id for c in training.certificates_to_check(supervisor).shown] == [cert.id]

    seen = training.version_of(reload(cert))  # the checker's page, drawn now
    readable = FileStorage(
        io.BytesIO(pdf_page("rescanned")), filename="page-2-rescanned.pdf", content_type="application/pdf"
    )
    changed_certificate(worker, cert, item, [readable])  # only a file added
    with pytest.raises(Conflict, match="changed after your page was shown"):
        training.send_back_certificate(supervisor, reload(cert), "Page two cannot be read", seen)
    with pytest.raises(Conflict, match="changed after your page was shown"):
        training.check_certificate(supervisor, reload(cert), seen)
    assert reload(cert).sent_back_at is None and reload(cert).checked_at is None


def test_a_stale_tab_with_no_reason_is_told_who_decided_not_asked_for_a_reason(
    client, auth, worker, supervisor, manager
):
    cert = uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(manager)
    seen = re.search(r'name="version"[^>]*value="([^"]+)"', text_of(send_back_page(client, cert))).group(1)
    training.check_certificate(supervisor, reload(cert))  # Sam checks it meanwhile

    answer = send_back(client, auth, cert, "", version=seen)

    assert answer.status_code == 409
    page = text_of(answer)
    assert "<title>Error: Wendy Worker’s certificate" in page
    assert "Sam Supervisor has already checked this certificate." in words(page.split('id="send-back-conflict"', 1)[1])
    assert error_summary(page) == [] and 'name="reason"' not in page
    assert reload(cert).sent_back_at is None and reload(cert).checked_by_id == supervisor.id


def test_the_matrix_counts_a_sent_back_certificate_as_missing_in_its_totals_and_filters(worker, supervisor, manager):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    framework = training.current_framework_or_404("link-worker")
    assert training.compliance(framework).totals[item.id][TrainingStatus.UNCHECKED] == 1
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)
    matrix = training.compliance(framework)
    assert {s: n for s, n in matrix.totals[item.id].items() if n} == {TrainingStatus.MISSING: 1}
    assert training.compliance(framework, status="unchecked").workers == []
    assert [w.id for w in training.compliance(framework, status="missing").workers] == [worker.id]


def test_the_matrix_says_which_missing_certificate_was_sent_back_until_she_answers_it(
    client, auth, worker, supervisor, manager
):
    """Noted by helpers: a sent-back certificate read "Missing" like one never uploaded, and a manager chased a
    worker who had tried. Her cell says so until she changes it or adds a new one."""
    item = course("Safeguarding adults", 36)
    framework = training.current_framework_or_404("link-worker")
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)

    def cell() -> training.Cell:
        [(_, [found])] = training.compliance(framework).rows
        return found

    assert (cell().status, cell().sent_back) == (TrainingStatus.MISSING, True)
    auth.login_as(manager)
    page = text_of(client.get("/training/link-worker/compliance"))
    assert "Missing Certificate sent back" in words(page.split("compliance-matrix", 1)[1])
    csv_text = client.get("/training/link-worker/compliance?format=csv").get_data(as_text=True)
    assert "Missing; certificate sent back" in csv_text

    changed_certificate(worker, cert, item, provider="NHS e-learning (the right one)")  # her answer: changed
    assert (cell().status, cell().sent_back) == (TrainingStatus.UNCHECKED, False)
    training.send_back_certificate(supervisor, reload(cert), "Still the wrong course")
    assert cell().sent_back
    uploaded(worker, item, title="Safeguarding adults (again)")  # or a new one
    assert (cell().status, cell().sent_back) == (TrainingStatus.UNCHECKED, False)


def test_the_certificate_form_asks_for_the_course_first_and_says_only_a_matched_one_counts(client, auth, worker):
    """From a helper trying the app: the course came last, under a hint about keeping records up to date, so a
    certificate left "Not in the catalogue" silently counted for nothing."""
    course("Safeguarding adults", 36)
    auth.login_as(worker)
    page = text_of(client.get("/portfolio/new/certificate", follow_redirects=True))
    assert page.index('name="training_item_id"') < page.index('name="title"')
    hint = words(page.split('id="training_item_id-hint"', 1)[1].split("</div>", 1)[0])
    assert "Only a certificate matched to a course in the catalogue counts towards your mandatory training" in hint


def test_a_certificate_sent_for_review_is_checked_or_sent_back_from_its_review_page(client, auth, worker, supervisor):
    """From a helper trying the app: a certificate sent for review waited on the review page as "Uploaded, not
    checked" with no way to check it there, and its reviewer had to find and open it again on his home."""
    from portfolio.review import service as review

    def submitted(title: str, ref: str) -> tuple[Evidence, int]:
        cert = uploaded(worker, course(title, 36, position=len(title)), title=title)
        evidence_service.link_competence(worker, reload(cert), competence(ref).id)
        evidence_service.submit(worker, reload(cert))
        return cert, review.open_submission_of(reload(cert)).id

    checked, checked_review = submitted("Safeguarding adults", "PS-LW-01")
    sent, sent_review = submitted("Lone working", "PS-LW-02")
    auth.login_as(supervisor)
    page = text_of(client.get(f"/review/{checked_review}"))
    box = page.split('id="certificate-check"', 1)[1].split("</div>", 1)[0]
    assert "counts towards Wendy Worker’s mandatory training once someone checks it" in words(box)
    assert f'action="/training/certificates/{checked.id}/check?review={checked_review}"' in box
    answer = client.post(
        f"/training/certificates/{checked.id}/check?review={checked_review}",
        data={"csrf_token": auth.token(), "version": training.version_of(reload(checked))},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"/review/{checked_review}"
    assert reload(checked).checked_by_id == supervisor.id
    after = text_of(client.get(f"/review/{checked_review}"))
    assert 'id="certificate-check"' not in after and "Checked Wendy Worker’s certificate" in after

    form = text_of(client.get(f"/training/certificates/{sent.id}/send-back?review={sent_review}"))
    assert f'href="/review/{sent_review}"' in form  # back to the review
    answer = client.post(
        f"/training/certificates/{sent.id}/send-back?review={sent_review}",
        data={"csrf_token": auth.token(), "reason": WRONG_COURSE, "version": training.version_of(reload(sent))},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == f"/review/{sent_review}"
    assert reload(sent).sent_back_reason == WRONG_COURSE
    assert 'id="certificate-check"' not in text_of(client.get(f"/review/{sent_review}"))


def test_the_certificate_forms_error_summary_follows_the_page_with_the_course_first(client, auth, worker):
    """Found by a review: the page asked for the course first, the error summary named it fourth."""
    course("Safeguarding adults", 36)
    auth.login_as(worker)
    page = client.get("/portfolio/new/certificate", follow_redirects=True).get_data(as_text=True)
    answer = client.post(
        "/portfolio/new/certificate",
        data={"csrf_token": csrf_token(page), "training_item_id": "999999", "title": "", "provider": ""},
    )
    assert answer.status_code == 422
    anchors = [anchor for anchor, _ in error_summary(text_of(answer))]
    assert anchors[:3] == ["#training_item_id", "#title", "#provider"], anchors


def test_a_review_page_named_for_another_certificate_is_not_where_a_check_returns(client, auth, worker, supervisor):
    """Found by a review: ``?review=`` was followed whatever submission it named."""
    cert = uploaded(worker, course("Safeguarding adults", 36))
    auth.login_as(supervisor)
    answer = client.post(
        f"/training/certificates/{cert.id}/check?review=12345",
        data={"csrf_token": auth.token(), "version": training.version_of(reload(cert))},
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/#certificates-to-check")
    assert reload(cert).checked_by_id == supervisor.id


def status_cells(page: str) -> dict[str, str]:
    """My portfolio's list: each item's title and the words of its status cell."""
    rows = page.split('id="evidence-list"', 1)[1].split('role="row">')[2:]
    return {
        re.search(r'<a href="/portfolio/\d+">([^<]+)</a>', row)[1]: words(
            row.split("Status </span>", 1)[1].split("</td>")[0]
        )
        for row in rows
    }


def test_my_portfolio_and_the_statement_pages_say_where_a_certificate_stands_with_its_checkers(
    client, auth, worker, supervisor
):
    """Found by a helper: a checked certificate read "Draft" in My portfolio, as if unfinished. A catalogue
    certificate says where it stands with its checkers, in the training table's words, as a supervision note says
    where it stands with its supervisor. Its review status follows when it matters: once sent for review, or while
    it is a draft linked to competences (their sign-off waits for it to be sent; a second helper found a linked one
    reading "Checked" alone, with nothing saying why its competence was not met)."""
    item = course("Safeguarding adults", 36)
    done = TODAY - timedelta(days=30)
    linked = certificate(worker, item, done, title="Linked one", checked=False)
    certificate(worker, item, done, title="Checked one", checked_by=supervisor)
    certificate(worker, item, done, title="Sent back one", sent_back=WRONG_COURSE)
    certificate(worker, None, done, title="Not in the catalogue", checked=False)
    under_review = certificate(worker, item, done, title="Checked and sent for review", checked_by=supervisor)
    statement = competence("PS-LW-01")
    db.session.add(EvidenceLink(evidence_id=linked.id, competence_id=statement.id))
    db.session.add(EvidenceLink(evidence_id=under_review.id, competence_id=statement.id))
    send_for_review(reload(under_review))
    db.session.commit()
    auth.login_as(worker)

    expected = {
        "Linked one": "Uploaded, not checked Draft",
        "Checked one": "Checked",
        "Sent back one": "Sent back",
        "Not in the catalogue": "Draft",
        "Checked and sent for review": "Checked Submitted for review",
    }
    for headers in ({}, {"HX-Request": "true"}, {"HX-Boosted": "true", "HX-Request": "true"}):
        assert status_cells(text_of(client.get("/portfolio/", headers=headers))) == expected
    page = text_of(client.get("/portfolio/"))
    assert re.search(BLUE_UNCHECKED_TAG, page)
    assert re.search(r'nhsuk-tag--green"\s*>\s*Checked\s*<', page)
    assert re.search(r'nhsuk-tag--orange"\s*>\s*Sent back\s*<', page)
    # The Draft filter lists what the list calls a draft, and nothing else.
    drafts = status_cells(text_of(client.get("/portfolio/?status=draft", headers={"HX-Request": "true"})))
    assert drafts == {"Linked one": "Uploaded, not checked Draft", "Not in the catalogue": "Draft"}

    # The certificate's own page and the pages of a statement it is linked to use the same words.
    def status_line(title: str) -> str:
        evidence = db.session.scalar(select(Evidence).where(Evidence.title == title))
        return words(text_of(client.get(f"/portfolio/{evidence.id}")).split('id="status">', 1)[1].split("</p>")[0])

    assert status_line("Linked one") == "Uploaded, not checked Draft"
    assert status_line("Checked one") == "Checked"
    assert "Linked one Uploaded, not checked Draft" in words(
        text_of(client.get(f"/portfolio/competences/{statement.id}"))
    )
    assert "Linked one Uploaded, not checked Draft" in words(text_of(client.get("/progress/missing")))

    # Checked by the supervisor: every page the worker had seen says so at once (what was kept was for the old state).
    training.check_certificate(supervisor, reload(linked))
    assert status_cells(text_of(client.get("/portfolio/")))["Linked one"] == "Checked Draft"
    assert "Linked one Checked Draft" in words(text_of(client.get("/progress/missing")))


def callout(page: str, element_id: str) -> str:
    """The words of the warning callout with ``element_id`` ("" when the page has none)."""
    if f'id="{element_id}"' not in page:
        return ""
    return words(page.split(f'id="{element_id}"', 1)[1].split("</div>", 1)[0].split(">", 1)[1])


def test_a_certificate_sent_back_says_why_at_the_top_and_leads_to_a_change_or_a_new_one(
    client, auth, worker, supervisor
):
    """Found by a helper: the reason was only in a row of the summary list, the page's main button led to a dead end
    (sending for review), and "add a new certificate for the course" had no link; the form neither repeated the
    reason nor said, once saved, that the certificate goes back to be checked."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)
    auth.login_as(worker)

    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        page = text_of(client.get(f"/portfolio/{cert.id}", headers=headers))
        assert callout(page, "sent-back") == (
            f"Important: Sent back Sam Supervisor sent this certificate back on {long_date(TODAY)}, saying:"
            f" {WRONG_COURSE} It does not count towards your training until a supervisor or manager has checked it."
            " Change it (for example, add the right file and remove the wrong one): once changed, it goes back to be"
            " checked. Or add a new certificate for Safeguarding adults ."
        )
        assert f'href="/portfolio/{cert.id}/edit">Change it</a>' in page
        assert f'href="/portfolio/new/certificate?course={item.id}">add a new certificate' in page
    form_page = text_of(client.get(f"/portfolio/{cert.id}/edit"))
    assert "Change what was wrong below: once changed, it goes back to be checked." in callout(form_page, "sent-back")

    # A new certificate for the course starts with the course chosen and its title written.
    new_form = text_of(client.get(f"/portfolio/new/certificate?course={item.id}", follow_redirects=True))
    assert re.search(rf'<option value="{item.id}" selected\s*>Safeguarding adults</option>', new_form)
    assert re.search(r'name="title"[^>]*value="Safeguarding adults"', new_form)
    # Anything else is ignored: no course chosen, nothing written.
    for other in ("999999", "x", str(course("Another framework's course", 12, key="sfh-senior-engagement-worker").id)):
        ignored = text_of(client.get(f"/portfolio/new/certificate?course={other}", follow_redirects=True))
        assert " selected" not in ignored.split('name="training_item_id"', 1)[1].split("</select>", 1)[0]
        assert not re.search(r'name="title"[^>]*value="[^"]', ignored)

    # Changed and saved, it waits for a check and the worker is told; the supervisor's list has it again.
    response = client.post(
        f"/portfolio/{cert.id}/edit",
        data={
            "csrf_token": auth.token(),
            "training_item_id": str(item.id),
            "title": "Safeguarding adults level 2",
            "provider": "NHS e-learning",
            **date_fields("occurred_on", TODAY - timedelta(days=20)),
            "action": "save",
        },
    )
    assert response.status_code == 303
    shown = text_of(client.get(response.headers["Location"]))
    assert "Changes saved: the certificate waits for a supervisor or manager to check it" in shown
    assert callout(shown, "sent-back") == ""
    stored = reload(cert)
    assert (stored.sent_back_at, stored.checked_at) == (None, None)
    auth.login_as(supervisor)
    assert [entry.split(":")[0] for entry in to_check(text_of(client.get("/")))] == ["Wendy Worker"]


def test_a_checked_certificates_form_warns_that_a_change_needs_a_new_check(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.check_certificate(supervisor, reload(cert))
    auth.login_as(worker)
    form_page = words(text_of(client.get(f"/portfolio/{cert.id}/edit")))
    assert (
        f"Checked by Sam Supervisor on {long_date(TODAY)}. If you change it, it counts as uploaded, not checked, until"
        " it is checked again." in form_page
    )
    # Saved unchanged, the check stays and nothing says otherwise.
    unchanged = {
        "csrf_token": auth.token(),
        "training_item_id": str(item.id),
        "title": "Safeguarding adults level 2",
        "provider": "NHS e-learning",
        **date_fields("occurred_on", TODAY - timedelta(days=30)),
        **date_fields("expires_on", TODAY + timedelta(days=3 * 365)),
        "action": "save",
    }
    response = client.post(f"/portfolio/{cert.id}/edit", data=unchanged)
    assert response.status_code == 303
    assert "Changes saved" in text_of(client.get(response.headers["Location"]))
    assert reload(cert).checked_at is not None


def test_a_new_catalogue_certificate_says_it_will_be_checked_and_the_home_links_each_course_to_add(
    client, auth, worker
):
    item = course("Safeguarding adults", 36)
    auth.login_as(worker)
    home = text_of(client.get("/"))
    table = home.split('class="nhsuk-table-responsive my-training"', 1)[1].split("</table>", 1)[0]
    assert "Safeguarding adults Missing Add a certificate for Safeguarding adults" in my_training(home)
    link = f"/portfolio/new/certificate?course={item.id}&back=home"
    assert f'href="{link}"' in html.unescape(table)
    # Its form leads back to the home's training, not to the choice of kinds; kept when the form comes back (422).
    form = text_of(client.get(link, follow_redirects=True))
    assert 'href="/#training"' in form and 'href="/portfolio/new"' not in form
    assert re.search(r'action="/portfolio/new/certificate\?back=home&key=[\w-]{43}"', form)
    refused = client.post(link, data={"csrf_token": auth.token()})
    assert refused.status_code == 422 and 'href="/#training"' in refused.text
    response = client.post(
        f"/portfolio/new/certificate?course={item.id}",
        data={
            "csrf_token": auth.token(),
            "training_item_id": str(item.id),
            "title": "Safeguarding adults",
            "provider": "NHS e-learning",
            **date_fields("occurred_on", TODAY - timedelta(days=3)),
            "files": (io.BytesIO(PDF), "safeguarding.pdf"),
            "action": "draft",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert (
        "Training certificate saved: it counts towards your training once a supervisor or manager has checked it"
        in text_of(client.get(response.headers["Location"]))
    )
    # Uploaded, not checked: nothing to add for the course until it lapses; its title opens the certificate (found
    # by a helper: a wrong file could only be found through My portfolio).
    home = text_of(client.get("/"))
    table = my_training(home)
    assert "Uploaded, not checked" in table and "Add a certificate" not in table
    added = db.session.scalar(select(Evidence).where(Evidence.training_item_id == item.id))
    assert f'<a href="/portfolio/{added.id}">Safeguarding adults</a>' in home


def test_the_check_and_send_page_names_each_change_link_as_written(client, auth, worker):
    """Found by a helper: screen readers heard "Change cPD hours" (every label's first letter was lower-cased)."""
    cert = uploaded(worker, course("Safeguarding adults", 36))
    db.session.add(EvidenceLink(evidence_id=cert.id, competence_id=competence("PS-LW-01").id))
    db.session.commit()
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{cert.id}/submit"))
    hidden = re.findall(r'Change<span class="nhsuk-u-visually-hidden"> ([^<]+)</span>', page)
    assert "CPD hours" in hidden and "training provider" in hidden
    assert "cPD hours" not in hidden


def test_deleting_a_checked_certificate_says_it_counts_now(client, auth, worker, supervisor):
    """Found by a helper: a checked certificate offered "Delete this draft", and its delete page said nothing of the
    training it counts for."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.check_certificate(supervisor, reload(cert))
    cert_id = cert.id
    auth.login_as(worker)
    assert "Delete this certificate" in words(text_of(client.get(f"/portfolio/{cert.id}")))
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        page = text_of(client.get(f"/portfolio/{cert.id}/delete", headers=headers))
        assert "The certificate and its 1 file will be deleted." in words(page)  # it has no links
        assert callout(page, "counts-now") == (
            f"Important: It counts towards your training Sam Supervisor checked it on {long_date(TODAY)}. Once it is"
            " deleted, only another certificate of yours counts for Safeguarding adults; without one, the course shows"
            " as missing."
        )
        assert re.search(r">\s*Delete certificate\s*<", page)
    response = client.post(f"/portfolio/{cert.id}/delete", data={"csrf_token": auth.token()})
    assert response.status_code == 303
    assert db.session.scalar(select(Evidence.id).where(Evidence.id == cert_id)) is None
    assert course_status(worker, item) == TrainingStatus.MISSING
    # One not checked yet is a certificate too, without the warning.
    waiting = uploaded(worker, item)
    page = text_of(client.get(f"/portfolio/{waiting.id}/delete"))
    assert "The certificate and its 1 file will be deleted" in words(page) and 'id="counts-now"' not in page


def test_a_file_removed_from_a_checked_certificate_says_it_waits_for_a_check(client, auth, worker, supervisor):
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item, pages=2)
    training.check_certificate(supervisor, reload(cert))
    auth.login_as(worker)
    form = text_of(client.get("/portfolio/new/certificate", follow_redirects=True))
    assert re.search(r">\s*Save the certificate\s*<", form) and "Save as draft" not in form
    page = text_of(client.get(f"/portfolio/{cert.id}"))
    assert "To replace it" not in page  # two files: either can go
    file_id = reload(cert).files[0].id
    response = client.post(f"/portfolio/{cert.id}/files/{file_id}/delete", data={"csrf_token": auth.token()})
    assert response.status_code == 303
    shown = words(text_of(client.get(response.headers["Location"])))
    assert "Removed page-1.pdf: the certificate waits for a supervisor or manager to check it" in shown
    assert reload(cert).checked_at is None


def test_a_certificate_sent_back_for_a_retired_course_offers_a_new_certificate_without_the_course(
    client, auth, worker, supervisor, manager
):
    """Found by a review: the link chose a course the form no longer offers (retired), and so chose nothing."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)
    training.retire_item(manager, reload(item))
    auth.login_as(worker)
    page = text_of(client.get(f"/portfolio/{cert.id}"))
    assert callout(page, "sent-back").endswith("Or add a new certificate .")
    assert 'href="/portfolio/new/certificate">add a new certificate</a>' in page


def buttons(page: str) -> list[str]:
    """The form's and page's buttons in order, each as its words, "(main)" after the main one."""
    found = re.findall(r'<(?:button|a)\b[^>]*class="nhsuk-button([^"]*)"[^>]*>(.*?)</(?:button|a)>', page, re.S)
    return [words(text) + ("" if "secondary" in classes else " (main)") for classes, text in found]


def test_a_certificate_is_saved_first_and_sent_for_review_only_for_its_competences(client, auth, worker):
    """Found by a helper: "Save and send for review" was the main button of a certificate, whose check is apart
    (from a checker's home), and its page offered "Submit for review" with nothing linked to send."""
    item = course("Safeguarding adults", 36)
    auth.login_as(worker)
    assert buttons(text_of(client.get("/portfolio/new/certificate", follow_redirects=True)))[-2:] == [
        "Save the certificate (main)",
        "Save and send for review",
    ]
    assert buttons(text_of(client.get("/portfolio/new/reflection", follow_redirects=True)))[-2:] == [
        "Save and send for review (main)",
        "Save as draft",
    ]
    cert = uploaded(worker, item)
    assert buttons(text_of(client.get(f"/portfolio/{cert.id}"))) == ["Link competences", "Change"]
    db.session.add(EvidenceLink(evidence_id=cert.id, competence_id=competence("PS-LW-01").id))
    db.session.commit()
    assert buttons(text_of(client.get(f"/portfolio/{cert.id}"))) == [
        "Link competences",
        "Change",
        "Submit for review",
    ]
    assert buttons(text_of(client.get(f"/portfolio/{cert.id}/edit")))[-2:] == [
        "Save changes (main)",
        "Save and send for review",
    ]


def test_a_certificate_linked_to_nothing_is_saved_not_sent_for_review_from_its_form(client, auth, worker, supervisor):
    """Found by a helper: the form of a sent-back certificate linked to no competence offered "Save and send for
    review" first, which led to a page saying there was nothing to send."""
    item = course("Safeguarding adults", 36)
    cert = uploaded(worker, item)
    training.send_back_certificate(supervisor, reload(cert), WRONG_COURSE)
    auth.login_as(worker)
    form = text_of(client.get(f"/portfolio/{cert.id}/edit"))
    assert "Save and send for review" not in form
    assert re.search(r">\s*Save changes\s*<", form)
    db.session.add(EvidenceLink(evidence_id=cert.id, competence_id=competence("PS-LW-01").id))
    db.session.commit()
    assert "Save and send for review" in text_of(client.get(f"/portfolio/{cert.id}/edit"))


@pytest.mark.parametrize("manager", [True, False], ids=["manager", "supervisor"])
def test_the_lists_of_certificates_waiting_say_the_condition_of_their_index_in_its_own_words(app, manager):
    """PostgreSQL reads the index of certificates waiting (models.CERTIFICATES_WAITING) only for a query whose
    conditions imply the index's in their own words, kind included, and in a prepared statement's plan too (where
    a parameter would stand for any kind): each term is written out in what the homes read, none left a parameter."""
    terms = [f"evidence.{term.strip()}" for term in CERTIFICATES_WAITING.split(" AND ")]
    for statement in (training._certificates_state(manager), training._certificates_to_check_statement(manager)):
        sql = " ".join(str(statement.compile(dialect=postgresql.dialect())).split())
        assert [term for term in terms if term not in sql] == [], sql
