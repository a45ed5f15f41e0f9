"""Every route, for every role, with ids and filter values a person should never send: no 500.

The routes come from ``app.url_map`` (a new route is swept without being
listed here). Each id in a path is replaced by numbers the database cannot
hold, and by the largest one it can (a missing record); every page a role may
reach is then asked for with every filter parameter set to out-of-range,
empty, malformed and NUL values.
"""

from __future__ import annotations

import io
import re
from datetime import date
from urllib.parse import quote

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.cpd import service as cpd_service
from portfolio.credentials import service as credentials_service
from portfolio.documents import service as documents
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.frameworks import service as frameworks_service
from portfolio.models import (
    Competence,
    DocumentKind,
    EvidenceKind,
    Notification,
    PromotionRequest,
    Requirement,
    Role,
    Submission,
    SupervisionAssignment,
)
from portfolio.params import ID_MAX
from portfolio.portability import case
from portfolio.portability import service as import_service
from portfolio.training import service as training_service
from tests.factories import TODAY, assign, make_user, tier

ROLES = ("anonymous", "worker", "supervisor", "manager")
TOO_BIG = (str(ID_MAX + 1), "99999999999999999999")
FILTERS = (
    "q", "kind", "status", "competence", "page", "group", "tier", "framework", "only", "format", "next", "worker",
    "date_from-day", "date_from-month", "date_from-year", "date_to-day", "date_to-month", "date_to-year",
)  # fmt: skip
BAD_VALUES = ("99999999999999999999", str(ID_MAX + 1), "", "-1", "%ZZ\u202e")
ARG = re.compile(r"<(?:(\w+):)?(\w+)>")
SKIP = {"static"}  # files, no ids or filters


@pytest.fixture
def world(app, frameworks):
    """One of everything a route's ids can point at; the ids by argument name."""
    manager = make_user(Role.MANAGER, email="manager@example.org")
    local = frameworks_service.add_locality_competence(
        manager, frameworks["sfh-senior-engagement-worker"], statement="Local", principle="P", function="F"
    )
    worker = make_user(Role.WORKER, email="worker@example.org", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, email="supervisor@example.org")
    assign(supervisor, worker)
    competence = db.session.scalar(
        select(Competence).where(Competence.framework_id == worker.framework_id).order_by(Competence.position).limit(1)
    )

    def pdf(name):
        return FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename=name, content_type="application/pdf")

    with app.test_request_context():
        evidence = evidence_service.create_evidence(
            worker,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(title="Asset map", occurred_on=date(2026, 1, 5), description="Mapped"),
            [pdf("a.pdf")],
            link_competence_id=competence.id,
        )
        submitted = evidence_service.create_evidence(
            worker,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(title="Submitted", occurred_on=date(2026, 1, 6), description="For review"),
            [pdf("s.pdf")],
            link_competence_id=competence.id,
        )
        evidence_service.submit(worker, submitted)
        note = evidence_service.create_evidence(
            worker,
            EvidenceKind.SUPERVISION_NOTE,
            evidence_service.EvidenceInput(
                occurred_on=date(2026, 2, 1), supervisor_id=supervisor.id, description="Caseload"
            ),
            [pdf("n.pdf")],
        )
    promotion = PromotionRequest(
        worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=tier("link-worker", "link-worker-coach").id
    )
    db.session.add(promotion)
    db.session.commit()
    item = training_service.add_item(
        manager, frameworks["link-worker"], title="Lone working", statutory=True, renewal_months=36, tier_slugs=[]
    )
    appraisal = cpd_service.start_appraisal(worker, worker, held_on=TODAY, appraiser_id=supervisor.id)
    db.session.commit()
    document = documents.request_document(worker, DocumentKind.DATA_EXPORT, worker)
    ids = {
        "document_id": document.id,
        "framework_id": frameworks["sfh-senior-engagement-worker"].id,
        "competence_id": local.id,
        "evidence_id": evidence.id,
        "file_id": evidence.files[0].id,
        "link_id": evidence.links[0].id,
        "submission_id": db.session.scalar(select(Submission.id).where(Submission.evidence_id == submitted.id)),
        "assignment_id": db.session.scalar(select(SupervisionAssignment.id)),
        "notification_id": db.session.scalar(select(Notification.id)),
        "worker_id": worker.id,
        "request_id": promotion.id,
        "requirement_id": db.session.scalar(
            select(Requirement.id).where(Requirement.framework_id == worker.framework_id)
        ),
        "item_id": item.id,
        "appraisal_id": appraisal.id,
        "activity_id": cpd_service.log_activity(
            worker, cpd_service.ActivityInput(TODAY, "Workshop", "1.5", "What I learned", "Its impact")
        ).id,
        "key": "link-worker",
        "kind": "other",
        # People, second factors and link pages.
        "person_id": worker.id,
        "user_id": worker.id,
        "passkey_id": 1,
        "token": "not-a-token",
        # CASE service: a framework document's identifier (items and associations answer 404 for it).
        "sourced_id": case.identifier("link-worker"),
        "public_id": credentials_service.issue(worker, worker.tier).public_id,
        "number": 1,
        "version": "0" * 16,  # the organisation's logo: a version that is not there
        "import_id": import_service.upload(
            manager,
            "coach.json",
            b'{"CFDocument": {"title": "Coaches"}, "CFItems": [{"identifier": "s", "fullStatement": "Listen"}]}',
        ).id,
    }
    overrides = {
        "evidence.competence": {"competence_id": competence.id},
        "review.note": {"evidence_id": note.id},
        "review.note_download": {"evidence_id": note.id, "file_id": note.files[0].id},
        "review.download": {"file_id": submitted.files[0].id},
    }
    return {
        "ids": ids,
        "overrides": overrides,
        "people": {"worker": worker, "supervisor": supervisor, "manager": manager},
    }


def rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint not in SKIP), key=lambda r: (r.rule, r.endpoint))


def path_for(rule, values: dict[str, str]) -> str:
    return ARG.sub(lambda m: quote(str(values[m.group(2)]), safe=""), rule.rule)


def sign_in_as(client, auth, world, role: str) -> str:
    """Sign in as ``role``; a CSRF token that works for that session."""
    if role != "anonymous":
        auth.login_as(world["people"][role])
        return auth.token()
    return auth.token("/auth/sign-in")


def send(client, method: str, path: str, token: str):
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={"csrf_token": token})
    response.get_data()  # read it all (files are streamed), then let go of the file
    response.close()
    return response


@pytest.mark.parametrize("role", ROLES)
def test_ids_the_database_cannot_hold_answer_404_on_every_route(app, client, auth, world, role):
    token = sign_in_as(client, auth, world, role)
    swept = 0
    for rule in rules(app):
        id_args = [name for conv, name in ARG.findall(rule.rule) if conv == "id"]
        valid = {**world["ids"], **world["overrides"].get(rule.endpoint, {})}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for bad_arg in id_args:
                for bad in TOO_BIG:
                    path = path_for(rule, {**valid, bad_arg: bad})
                    response = send(client, method, path, token)
                    assert response.status_code == 404, f"{role} {method} {path}: {response.status_code}"
                    assert "Page not found" in response.text
                    swept += 1
                path = path_for(rule, {**valid, bad_arg: ID_MAX})  # in range, but no such record
                response = send(client, method, path, token)
                assert response.status_code < 500, f"{role} {method} {path}: {response.status_code}"
                if response.status_code in (403, 404):
                    # Our error page: the generic words, or a 404 that says what was looked for (errors.NotFoundHere).
                    assert ">Go to your home page</a>" in response.text, f"{role} {method} {path}"
                swept += 1
    assert swept > 100  # every id of every route was tried


@pytest.mark.parametrize("role", ROLES)
def test_bad_filter_values_never_fail_a_page(app, client, auth, world, role):
    token = sign_in_as(client, auth, world, role)
    reached = []
    for rule in rules(app):
        if "GET" not in rule.methods:
            continue
        path = path_for(rule, {**world["ids"], **world["overrides"].get(rule.endpoint, {})})
        plain = send(client, "GET", path, token)
        assert plain.status_code < 500, f"{role} GET {path}: {plain.status_code}"
        if plain.status_code != 200:
            continue  # this role may not reach it: its answer is the access matrix's business
        reached.append(path)
        for value in BAD_VALUES:
            every = {name: value for name in FILTERS}
            for extra in (
                ({}, {"format": "csv"}) if plain.mimetype == "text/html" and "format=csv" in plain.text else ({},)
            ):  # the page, and its CSV
                query = "&".join(f"{name}={quote(v, safe='%')}" for name, v in {**every, **extra}.items())
                response = send(client, "GET", f"{path}?{query}", token)
                assert response.status_code < 500, f"{role} GET {path}?{query}: {response.status_code}"
        response = send(client, "GET", f"{path}?" + "&".join(f"{name}=%00" for name in FILTERS), token)
        assert response.status_code == 400, f"{role} GET {path} with NUL filters: {response.status_code}"
        assert "a null character" in response.text
    assert reached, f"{role} reached no page"


# Routes that take a POST yet read filter values from their address: the panel PDF's button says ?tier=.
# (They were swept as pages while the PDF was a GET; now the document is built by the task consumer.)
POSTS_WITH_FILTERS = {"progress.request_pdf", "progress.request_worker_pdf"}


@pytest.mark.parametrize("role", ROLES)
def test_bad_filter_values_never_fail_a_document_request(app, client, auth, world, role, task_queue):
    token = sign_in_as(client, auth, world, role)
    swept = [rule for rule in rules(app) if rule.endpoint in POSTS_WITH_FILTERS]
    assert {rule.endpoint for rule in swept} == POSTS_WITH_FILTERS
    for rule in swept:
        path = path_for(rule, {**world["ids"], **world["overrides"].get(rule.endpoint, {})})
        plain = send(client, "POST", path, token)
        assert plain.status_code < 500, f"{role} POST {path}: {plain.status_code}"
        for value in BAD_VALUES:
            query = "&".join(f"{name}={quote(value, safe='%')}" for name in FILTERS)
            response = send(client, "POST", f"{path}?{query}", token)
            # A tier that cannot be one is no tier: the default document, as without it; or the plain refusal.
            assert response.status_code == plain.status_code, f"{role} POST {path}?{query}: {response.status_code}"
        response = send(client, "POST", f"{path}?" + "&".join(f"{name}=%00" for name in FILTERS), token)
        if plain.status_code == 303:
            assert response.status_code == 400, f"{role} POST {path} with NUL filters: {response.status_code}"
            assert "a null character" in response.text
        else:
            assert response.status_code < 500, f"{role} POST {path} with NUL filters: {response.status_code}"
    # Only claimed and queued here (building is the consumer's business), and every ask found the first build:
    # one document for each signed-in person (the worker's own PDF is the same one by either address).
    assert task_queue.pending() == (0 if role == "anonymous" else 1)
