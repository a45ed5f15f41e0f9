"""Use cases check the row they locked, and creating forms create once.

A change committed by someone else between the moment a page loaded an item
and the moment the use case locks it must be seen: the check runs on the
locked copy. A creating form sent twice with its one-time key creates one
record; the second call answers with the first record.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.datastructures import FileStorage

from portfolio import idempotency
from portfolio.cpd import service as cpd
from portfolio.database import begin_write, lock
from portfolio.errors import FieldError
from portfolio.evidence import service
from portfolio.evidence.service import EvidenceInput
from portfolio.extensions import db
from portfolio.frameworks import service as frameworks
from portfolio.models import (
    Appraisal,
    AuditEntry,
    Competence,
    CpdActivity,
    Evidence,
    EvidenceFile,
    EvidenceKind,
    EvidenceStatus,
    FormSubmission,
    PromotionRequest,
    Requirement,
    RequirementVerification,
    Role,
    Submission,
    SupervisionAssignment,
    TrainingItem,
    User,
)
from portfolio.progress import service as progress
from portfolio.supervision import service as supervision
from portfolio.training import service as training
from tests.factories import (
    EVENT_DAY,
    TODAY,
    assign,
    competences,
    make_ready,
    make_user,
    pdf_page,
    send_for_review,
    tier,
)
from tests.pages import count


def pdf(name: str = "plan.pdf") -> FileStorage:
    """A PDF of its own content by its name (an item holds one copy of the same content)."""
    return FileStorage(io.BytesIO(pdf_page(name)), filename=name, content_type="application/pdf")


@pytest.fixture
def worker(worker, supervisor):
    """The kit's worker, with a supervisor."""
    return worker


def draft(worker: User, *, files=(), linked: bool = True) -> Evidence:
    with_link = competences()[0].id if linked else None
    evidence = service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        EvidenceInput(title="Asset map", occurred_on=EVENT_DAY, description="Mapped the local groups."),
        list(files),
        link_competence_id=with_link,
    )
    db.session.commit()
    return evidence


def submitted_by_someone_else(evidence_id: int) -> None:
    """Another request submits the item and commits, through its own session and connection."""
    with Session(db.engine) as other:
        send_for_review(other.get_one(Evidence, evidence_id), other)
        other.commit()


# --- The lock helper reads the row afresh ---------------------------------------------------


def test_lock_overwrites_a_copy_read_before_the_lock(app, worker):
    evidence = draft(worker)
    submitted_by_someone_else(evidence.id)
    begin_write()
    stale = db.session.get(Evidence, evidence.id)
    set_committed_value(stale, "status", EvidenceStatus.DRAFT)  # as a page loaded it a moment ago
    assert stale.status == EvidenceStatus.DRAFT
    locked = lock(Evidence, evidence.id)
    assert locked is stale  # the same object, now holding what the database holds
    assert locked.status == EvidenceStatus.SUBMITTED
    db.session.rollback()


def test_lock_of_a_missing_row_is_none(app, worker):
    begin_write()
    assert lock(Evidence, 2_147_483_647) is None
    db.session.rollback()


# --- Every write use case refuses on the locked copy ---------------------------------------


def _update(worker, evidence):
    service.update_evidence(
        worker, evidence, EvidenceInput(title="Changed", occurred_on=EVENT_DAY, description="Changed text.")
    )


def _link(worker, evidence):
    service.link_competence(worker, evidence, competences()[1].id)


def _note(worker, evidence):
    service.update_link_note(worker, evidence, evidence.links[0], "A late note")


def _unlink(worker, evidence):
    service.unlink(worker, evidence, evidence.links[0])


def _remove_file(worker, evidence):
    service.remove_file(worker, evidence, evidence.files[0])


def _submit(worker, evidence):
    service.submit(worker, evidence)


@pytest.mark.parametrize(
    "use_case", [_update, _link, _note, _unlink, _remove_file, _submit], ids=lambda f: f.__name__.strip("_")
)
def test_a_use_case_refuses_an_item_submitted_after_the_page_loaded_it(app, worker, use_case):
    evidence = draft(worker, files=[pdf()])
    evidence = db.session.get(Evidence, evidence.id)
    before = {
        "links": [(link.competence_id, link.note) for link in evidence.links],
        "files": len(evidence.files),
        "title": evidence.title,
    }
    submitted_by_someone_else(evidence.id)
    assert evidence.status == EvidenceStatus.DRAFT  # the copy the page holds is stale

    with pytest.raises(service.NotEditable) as refused:
        use_case(worker, evidence)

    assert refused.value.message == "This item is submitted for review and cannot be changed"
    db.session.expire_all()
    item = db.session.get(Evidence, evidence.id)
    assert item.status == EvidenceStatus.SUBMITTED
    assert {
        "links": [(link.competence_id, link.note) for link in item.links],
        "files": len(item.files),
        "title": item.title,
    } == before
    assert count(Submission) == 1  # the other session's: the refused use case sent nothing
    assert count(AuditEntry) == 0


def test_delete_refuses_an_item_submitted_after_the_page_loaded_it(app, worker):
    evidence = draft(worker)
    evidence = db.session.get(Evidence, evidence.id)
    submitted_by_someone_else(evidence.id)
    with pytest.raises(FieldError) as refused:
        service.delete_evidence(worker, evidence)
    assert refused.value.message == "Only a draft can be deleted"
    assert count(Evidence) == 1


def test_removing_a_file_someone_else_removed_says_so(app, worker):
    evidence = draft(worker, files=[pdf("one.pdf"), pdf("two.pdf")])
    evidence = db.session.get(Evidence, evidence.id)
    stale_file = evidence.files[0]
    with Session(db.engine) as other:
        other.delete(other.get(EvidenceFile, stale_file.id))
        other.commit()
    with pytest.raises(FieldError) as refused:
        service.remove_file(worker, evidence, stale_file)
    assert refused.value.message == "That file has already been removed"
    assert count(EvidenceFile) == 1


def test_a_second_submit_with_a_stale_copy_opens_no_second_submission(app, worker):
    first = db.session.get(Evidence, draft(worker).id)
    with app.test_request_context():
        service.submit(worker, first)
    db.session.commit()
    stale = db.session.get(Evidence, first.id)
    set_committed_value(stale, "status", EvidenceStatus.DRAFT)  # the second click's page saw a draft
    with pytest.raises(service.NotEditable):
        service.submit(worker, stale)
    assert count(Submission) == 1
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "evidence.submitted")) == 1


# --- Sending checks the locked row -----------------------------------------------------------


def shareable_reflection(worker: User) -> Evidence:
    evidence = service.create_evidence(
        worker,
        EvidenceKind.REFLECTION,
        EvidenceInput(
            title="First group session",
            occurred_on=EVENT_DAY,
            what_happened="I ran the group on my own.",
            what_learned="Plan for quiet members.",
            practice_change="I now start with introductions.",
            next_steps="Ask for feedback.",
        ),
        link_competence_id=competences()[0].id,
    )
    db.session.commit()
    return evidence


def _made_private(other: Session, evidence: Evidence) -> None:
    evidence.is_private = True


def _unlinked(other: Session, evidence: Evidence) -> None:
    for link in list(evidence.links):
        other.delete(link)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_made_private, "A private reflection cannot be submitted: make it shareable first"),
        (_unlinked, "Link the item to at least one competence before you submit it"),
    ],
    ids=["made-private", "unlinked"],
)
def test_submit_refuses_what_another_tab_changed_after_the_page_loaded_the_item(app, worker, change, message):
    evidence = db.session.get(Evidence, shareable_reflection(worker).id)
    assert not evidence.is_private and evidence.links  # what the check page showed: it could be sent
    with Session(db.engine) as other:  # the worker's other tab, committed before this one's Send
        change(other, other.get_one(Evidence, evidence.id))
        other.commit()

    with app.test_request_context(), pytest.raises(FieldError) as refused:
        service.submit(worker, evidence)

    assert (refused.value.field, refused.value.message) == ("item", message)
    assert not db.session().in_transaction()  # the refusal rolled its write transaction back
    assert count(Submission) == 0
    assert count(AuditEntry) == 0
    assert db.session.get(Evidence, evidence.id).status == EvidenceStatus.DRAFT


# --- Creating forms create once -------------------------------------------------------------


def test_the_same_form_key_creates_one_item_and_returns_it_again(app, worker):
    key = idempotency.new_key()
    data = EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="Led the walk.")
    first = service.create_evidence(worker, EvidenceKind.OTHER, data, [pdf()], form_key=key)
    first_id = first.id
    second = service.create_evidence(worker, EvidenceKind.OTHER, data, [pdf()], form_key=key)
    assert second.id == first_id
    assert count(Evidence) == 1 and count(EvidenceFile) == 1
    rows = db.session.scalars(select(FormSubmission)).all()
    assert [(r.user_id, r.kind, r.record_id) for r in rows] == [(worker.id, "evidence", first_id)]
    assert rows[0].key_hash != key and len(rows[0].key_hash) == 64  # stored hashed
    folder = app.config["UPLOAD_FOLDER"]
    import os

    assert len(os.listdir(folder)) == 1  # the second upload was not kept


def test_different_form_keys_create_different_items(app, worker):
    data = EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="Led the walk.")
    service.create_evidence(worker, EvidenceKind.OTHER, data, form_key=idempotency.new_key())
    service.create_evidence(worker, EvidenceKind.OTHER, data, form_key=idempotency.new_key())
    service.create_evidence(worker, EvidenceKind.OTHER, data)  # no key: no protection, no error
    assert count(Evidence) == 3
    assert count(FormSubmission) == 2


def test_someone_elses_key_never_returns_their_record(app, worker):
    key = idempotency.new_key()
    data = EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="Led the walk.")
    service.create_evidence(worker, EvidenceKind.OTHER, data, form_key=key)
    other = make_user(Role.WORKER, name="Olu Other", tier=tier("link-worker", "link-worker"))
    assert idempotency.created_before(Evidence, key, other) is None


def test_a_refusal_the_first_click_caused_answers_with_its_record(app, worker, manager, monkeypatch):
    """The first click of a double click commits after the second looked for its record and before the second's own
    checks, which then refuse it as a duplicate of the first ("already in the catalogue", "a request is waiting"):
    the second is answered with the first's record, not with the refusal. (Over HTTP on PostgreSQL, one round in
    some fifty: test_double_clicks.py. Here the second's first look is made to miss.)"""
    make_ready(worker, make_user(Role.SUPERVISOR, name="Sam Supervisor"), manager)
    framework = training.current_framework_or_404("link-worker")
    course_key, request_key = idempotency.new_key(), idempotency.new_key()
    course = training.add_item(
        manager, framework, title="Lone working", statutory=True, renewal_months=12, tier_slugs=[], form_key=course_key
    )
    request = progress.request_promotion(worker, form_key=request_key)
    course_id, request_id = course.id, request.id

    looks = []
    real_look = idempotency.created_before

    def first_look_misses(model, key, actor):
        looks.append(model)
        return None if len(looks) % 2 else real_look(model, key, actor)

    monkeypatch.setattr(idempotency, "created_before", first_look_misses)
    again = training.add_item(
        manager, framework, title="Lone working", statutory=True, renewal_months=12, tier_slugs=[], form_key=course_key
    )
    assert again.id == course_id
    assert progress.request_promotion(worker, form_key=request_key).id == request_id
    assert looks == [TrainingItem, TrainingItem, PromotionRequest, PromotionRequest]
    assert count(TrainingItem) == 1 and count(PromotionRequest) == 1
    # Another form's key, refused for the same reason: the refusal stands.
    with pytest.raises(FieldError, match="already in the catalogue"):
        training.add_item(
            manager,
            framework,
            title="Lone working",
            statutory=True,
            renewal_months=12,
            tier_slugs=[],
            form_key=idempotency.new_key(),
        )


def test_a_malformed_key_gives_no_protection_and_no_error(app, worker):
    data = EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="Led the walk.")
    for _ in range(2):
        service.create_evidence(worker, EvidenceKind.OTHER, data, form_key="short")
    assert count(Evidence) == 2 and count(FormSubmission) == 0


def test_a_key_remembered_by_a_concurrent_submission_returns_its_record(app, worker):
    """The unique key decides when two submissions both found no earlier record."""
    key = idempotency.new_key()
    data = EvidenceInput(title="Walking group", occurred_on=EVENT_DAY, description="Led the walk.")
    first = service.create_evidence(worker, EvidenceKind.OTHER, data, form_key=key)
    first_id = first.id
    begin_write()
    late = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.OTHER,
        status=EvidenceStatus.DRAFT,
        title="Walking group",
        occurred_on=EVENT_DAY,
    )
    db.session.add(late)
    with pytest.raises(idempotency.AlreadyCreated) as found:
        idempotency.remember(key, worker, late)  # as if the check had run before the first commit
    assert found.value.record.id == first_id
    assert count(Evidence) == 1


def _again(create):
    key = idempotency.new_key()
    first = create(key)
    first_id = first.id
    second = create(key)
    return first_id, second.id


def test_creating_use_cases_across_the_app_create_once(app, frameworks):
    worker = make_user(Role.WORKER, name="Wren Worker", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    manager = make_user(Role.MANAGER, name="Mo Manager")
    assign(supervisor, worker, TODAY - timedelta(days=90), audited=True)
    with app.test_request_context():
        item = _again(
            lambda k: training.add_item(
                manager,
                frameworks["link-worker"],
                title="Lone working",
                statutory=True,
                renewal_months=36,
                tier_slugs=[],
                form_key=k,
            )
        )
        assert item[0] == item[1] and count(TrainingItem) == 1

        local = _again(lambda k: frameworks_add(manager, frameworks, k))
        assert local[0] == local[1]
        assert db.session.scalar(select(func.count()).where(Competence.created_by_id == manager.id)) == 1

        newcomer = make_user(Role.WORKER, name="Nia New", tier=tier("link-worker", "link-worker"))
        assignment = _again(
            lambda k: supervision.assign(
                manager,
                worker_id=newcomer.id,
                supervisor_id=supervisor.id,
                starts_on=EVENT_DAY,
                ends_on=None,
                form_key=k,
            )
        )
        assert assignment[0] == assignment[1]
        assert db.session.scalar(select(func.count()).where(SupervisionAssignment.worker_id == newcomer.id)) == 1

        w = db.session.get(User, worker.id)
        appraisal = _again(lambda k: cpd.start_appraisal(w, w, held_on=TODAY, appraiser_id=supervisor.id, form_key=k))
        assert appraisal[0] == appraisal[1] and count(Appraisal) == 1

        activity = _again(
            lambda k: cpd.log_activity(
                db.session.get(User, worker.id),
                cpd.ActivityInput(
                    done_on=EVENT_DAY,
                    title="Webinar",
                    hours="1.5",
                    learned="How to run a group online",
                    impact="I now run one a month",
                    goal_id=None,
                    competence_ids=[],
                ),
                form_key=k,
            )
        )
        assert activity[0] == activity[1] and count(CpdActivity) == 1

        requirement = db.session.scalar(
            select(Requirement).where(Requirement.framework_id == worker.framework_id).order_by(Requirement.position)
        )
        before = count(RequirementVerification)
        verification = _again(
            lambda k: progress.verify_requirement(
                db.session.get(User, manager.id),
                db.session.get(User, worker.id),
                db.session.get(Requirement, requirement.id),
                verified_on=EVENT_DAY,
                expires_on=None,
                note="",
                form_key=k,
            )
        )
        assert verification[0] == verification[1] and count(RequirementVerification) == before + 1

        make_ready(worker, supervisor, manager)
        audit_before = count(AuditEntry)
        promotion = _again(lambda k: progress.request_promotion(db.session.get(User, worker.id), form_key=k))
        assert promotion[0] == promotion[1] and count(PromotionRequest) == 1
        assert count(AuditEntry) == audit_before + 1  # one "promotion.requested", not two


def frameworks_add(manager, loaded, key):
    return frameworks.add_locality_competence(
        manager,
        loaded["sfh-senior-engagement-worker"],
        statement="Knows the local food banks",
        principle="Local",
        function="Signposting",
        form_key=key,
    )


def test_every_use_case_that_adds_a_record_from_a_form_is_idempotent():
    """A new creating use case must take a form key: this lists the ones that do."""
    for use_case in (
        service.create_evidence,
        training.add_item,
        frameworks.add_locality_competence,
        supervision.assign,
        cpd.start_appraisal,
        cpd.log_activity,
        progress.verify_requirement,
        progress.request_promotion,
    ):
        assert getattr(use_case, "__wrapped__", None) is not None, use_case.__name__
        assert "form_key" in use_case.__wrapped__.__code__.co_varnames, use_case.__name__
