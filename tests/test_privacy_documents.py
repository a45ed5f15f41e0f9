"""Private and draft items never reach a supervisor, a manager or a panel: every page, PDF, CSV and zip.

A private reflection and a draft carry a marker word in their title, their
text, a file name and a link note. The test then has the worker's supervisor
and a manager ask for every document they can have of the worker (the panel
PDF for each of the worker's tiers, built as the task consumer builds it),
fetches every GET route of the app as them (with every id the routes take
filled in, the marked items' ids and their own documents' included), every
CSV, reads each as a person would (PDF text through pypdf, zip contents), and
looks for the marker.
"""

from __future__ import annotations

import html
import io
import zipfile
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.cpd import service as cpd_service
from portfolio.documents import service as documents
from portfolio.evidence import service as evidence_service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.models import (
    Document,
    DocumentKind,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceStatus,
    Requirement,
    Role,
    Submission,
)
from portfolio.privacy.visibility import can_see, visible_to
from tests.conftest import built_document
from tests.factories import RECENT_DAY, TODAY, assign, decide_on, make_user, tier
from tests.privacy_support import competences, pdf_bytes

MARKER = "quokkamarker"


def readable(data: bytes) -> str:
    """What a person would read in an answer: page text, PDF text, CSV, or every file in a zip."""
    if data.startswith(b"%PDF"):
        reader = PdfReader(io.BytesIO(data))
        return " ".join(page.extract_text() or "" for page in reader.pages) + " " + str(reader.metadata)
    if data.startswith(b"PK"):
        archive = zipfile.ZipFile(io.BytesIO(data))
        return " ".join(archive.namelist()) + " ".join(
            archive.read(n).decode("utf-8", "replace") for n in archive.namelist()
        )
    return html.unescape(data.decode("utf-8", "replace"))


@pytest.fixture
def scene(app, frameworks):
    """Wren (supervised by Sam, Mo manages) with shared items, and a private reflection and a draft carrying the marker."""
    worker = make_user(Role.WORKER, name="Wren Worker", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    assignment = assign(supervisor, worker, TODAY - timedelta(days=90))
    first, second, third = competences()[:3]

    # Shared: a signed-off item with a file (the PDF lists it) and one waiting in Sam's queue.
    shared = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Walking group report", occurred_on=RECENT_DAY, description="<p>Ran the group.</p>"),
        [FileStorage(io.BytesIO(pdf_bytes("shared")), filename="walking-group.pdf")],
        link_competence_id=first.id,
    )
    decide_on(worker, [first], supervisor=supervisor, evidence=shared)  # sent, then signed off
    waiting = evidence_service.create_evidence(
        worker,
        EvidenceKind.OBSERVATION,
        EvidenceInput(
            title="Observed group session",
            occurred_on=RECENT_DAY,
            observed_by="Priya Shah, practice lead",
            description="<p>Observed.</p>",
        ),
        link_competence_id=second.id,
    )
    evidence_service.submit(worker, waiting)

    # Marked: a private reflection and a draft, the marker in title, text, file name and link note.
    private = evidence_service.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        EvidenceInput(
            title=f"Private {MARKER} reflection",
            occurred_on=RECENT_DAY,
            what_happened=f"<p>About {MARKER} happened.</p>",
            what_learned=f"<p>Learned {MARKER}.</p>",
            is_private=True,
        ),
        [FileStorage(io.BytesIO(pdf_bytes("private")), filename=f"{MARKER}-private.pdf")],
    )
    draft = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title=f"Draft {MARKER} item", occurred_on=RECENT_DAY, description=f"<p>Draft {MARKER} text.</p>"),
        [FileStorage(io.BytesIO(pdf_bytes("draft")), filename=f"{MARKER}-draft.pdf")],
    )
    for item in (private, draft):
        for competence in (first, second, third):
            evidence_service.link_competence(
                worker, db.session.get(Evidence, item.id), competence.id, note=f"Shows it by {MARKER}"
            )
    appraisal = cpd_service.start_appraisal(worker, worker, held_on=TODAY, appraiser_id=supervisor.id)
    return {
        "worker": worker,
        "supervisor": supervisor,
        "manager": manager,
        "assignment": assignment,
        "private": private,
        "draft": draft,
        "shared": shared,
        "submission": db.session.scalar(select(Submission).where(Submission.evidence_id == waiting.id)),
        "appraisal": appraisal,
        "competence": first,
    }


def _built_export(worker):
    document = documents.request_document(worker, DocumentKind.DATA_EXPORT, worker)
    documents.build_now(document.id)
    return document


def urls_for(app, s: dict, own_documents: list[int]) -> list[str]:
    """Every GET route of the app, with each id it takes filled in (the marked items' ids among them, and the
    reader's ``own_documents``)."""
    worker = s["worker"]
    marked_files = list(
        db.session.scalars(select(EvidenceFile).where(EvidenceFile.evidence_id.in_([s["private"].id, s["draft"].id])))
    )
    values = {
        "worker_id": [worker.id],
        "evidence_id": [s["private"].id, s["draft"].id, s["shared"].id],
        "file_id": [f.id for f in marked_files],
        "submission_id": [s["submission"].id],
        "framework_id": [worker.framework_id],
        "competence_id": [s["competence"].id],
        "requirement_id": [
            db.session.scalar(select(Requirement.id).where(Requirement.framework_id == worker.framework_id))
        ],
        "assignment_id": [s["assignment"].id],
        "appraisal_id": [s["appraisal"].id],
        "request_id": [1],  # a promotion request's withdrawal page: the worker's own, 404 to anyone else
        "activity_id": [1],  # a CPD activity's pages: the worker's own, 404 to anyone else
        "key": ["link-worker"],
        "kind": ["reflection"],
        "item_id": [1],
        # People, second factors and link pages: the worker's own page, and a token that opens nothing.
        "person_id": [worker.id],
        "user_id": [worker.id],
        "passkey_id": [1],
        "token": ["not-a-token"],
        # Frameworks in and out, and credentials: public documents, an upload held for preview, none of the worker's.
        "sourced_id": ["00000000-0000-4000-8000-000000000000"],
        "import_id": [1],
        "public_id": ["00000000-0000-4000-8000-000000000000"],
        "number": [1],
        # The organisation's logo (the address of a version that is not there).
        "version": ["0" * 16],
        # The worker's own data export, built: its page and file are the worker's alone; and the reader's own.
        "document_id": [_built_export(worker).id, *own_documents],
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        filled = [{}]
        for arg in sorted(rule.arguments):
            filled = [dict(f, **{arg: v}) for f in filled for v in values[arg]]
        for args in filled:
            path = rule.build(args, append_unknown=False)[1]
            urls.append(path)
            if rule.endpoint in ("progress.team", "training.compliance"):
                urls.append(path + "?format=csv")
    return urls


@pytest.mark.parametrize("role", ["supervisor", "manager"])
def test_no_page_or_document_for_a_supervisor_or_manager_shows_a_private_or_draft_item(client, auth, app, scene, role):
    reader, worker = scene[role], scene["worker"]
    auth.login_as(reader)
    # Every document the reader can have of the worker: the panel PDF for each tier, built and downloaded.
    asked = [f"/progress/workers/{worker.id}/portfolio.pdf?tier={target.id}" for target in worker.framework.tiers]
    seen = {path: readable(built_document(client, auth, path)) for path in asked}
    own_documents = list(db.session.scalars(select(Document.id).where(Document.requested_by_id == reader.id)))
    assert len(own_documents) == len(worker.framework.tiers) >= 3
    for url in urls_for(app, scene, own_documents):
        with client.get(url) as response:
            assert response.status_code < 500, url
            seen[url] = readable(response.get_data())
    for url, text in seen.items():
        assert MARKER not in text.lower(), f"{url} shows a private or draft item to the {role}"
    # The sweep read real documents: the worker's page, each panel PDF (asked for, and from its download link)
    # and its shared file, the CSV.
    assert "Wren Worker" in seen[f"/progress/workers/{worker.id}"]
    for url in [*asked, *(f"/documents/{document_id}/download" for document_id in own_documents)]:
        pdf = " ".join(seen[url].split())
        assert "Walking group report" in pdf and "walking-group.pdf" in pdf and "Attached files" in pdf, url
    if role == "manager":
        assert "Wren Worker" in seen["/progress/team?format=csv"]
        assert "Wren Worker" in seen["/training/link-worker/compliance?format=csv"]
    else:
        assert "Observed group session" in seen["/review/"]


def test_the_panel_pdf_the_worker_downloads_leaves_out_their_private_and_draft_items(client, auth, scene):
    auth.login_as(scene["worker"])
    text = " ".join(readable(built_document(client, auth, "/progress/portfolio.pdf")).split())
    assert "Walking group report" in text and "walking-group.pdf" in text
    assert MARKER not in text.lower()
    # ...while the worker's own pages and their own data export do show them (the marker is findable).
    assert f"Private {MARKER} reflection" in readable(client.get("/portfolio/").get_data())
    own = readable(built_document(client, auth, "/progress/export.zip"))
    assert f"{MARKER}-private.pdf" in own and f"Draft {MARKER} text." in own and f"Shows it by {MARKER}" in own


def test_the_supervisors_own_export_holds_nothing_of_the_workers_items(client, auth, scene):
    auth.login_as(scene["supervisor"])
    scene["supervisor"].is_worker = True  # the export is for workers; Sam also keeps a portfolio
    db.session.commit()
    text = readable(built_document(client, auth, "/progress/export.zip"))
    assert MARKER not in text.lower() and "Walking group report" not in text
    assert "Wren Worker" in text  # whom Sam supervises: shown on Sam's own pages


def test_one_rule_says_what_each_reader_sees(scene):
    worker, supervisor, manager = scene["worker"], scene["supervisor"], scene["manager"]
    private, draft, shared = scene["private"], scene["draft"], scene["shared"]
    assert [can_see(worker, e) for e in (private, draft, shared)] == [True, True, True]
    for reader in (supervisor, manager, None):
        assert [can_see(reader, e) for e in (private, draft, shared)] == [False, False, True]
    visible = set(db.session.scalars(select(Evidence.id).where(Evidence.owner_id == worker.id, visible_to(None))))
    assert private.id not in visible and draft.id not in visible and shared.id in visible


def test_a_draft_supervision_note_is_seen_by_the_supervisor_it_names_only(scene):
    worker, supervisor, manager = scene["worker"], scene["supervisor"], scene["manager"]
    note = evidence_service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        EvidenceInput(
            title="Supervision",
            occurred_on=RECENT_DAY,
            description="<p>Discussed caseload.</p>",
            supervisor_id=supervisor.id,
        ),
    )
    assert note.status == EvidenceStatus.DRAFT
    assert can_see(supervisor, note) and not can_see(manager, note) and not can_see(None, note)
