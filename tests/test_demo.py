"""``flask demo``: demonstration accounts, refused outside development unless forced."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portfolio import demo
from portfolio.extensions import db
from portfolio.models import Framework, Role, SupervisionAssignment, Tier, User
from tests.pages import audit_rows, count

from .conftest import AuthActions

DEMO_EMAILS = {"worker@example.org", "supervisor@example.org", "manager@example.org", "sew@example.org"}


def user(email: str) -> User:
    db.session.expire_all()
    found = db.session.scalar(select(User).where(User.email == email))
    assert found is not None, f"{email} was not created"
    return found


def placement(person: User) -> tuple[str, str, str]:
    """(framework key, tier slug, tier name) of a worker."""
    tier = db.session.get(Tier, person.tier_id)
    framework = db.session.get(Framework, person.framework_id)
    assert tier.framework_id == framework.id
    return framework.key, tier.slug, tier.name


def snapshot() -> dict[str, int]:
    db.session.expire_all()
    return {model.__name__: count(model) for model in (User, SupervisionAssignment, Framework, Tier)}


@pytest.mark.parametrize("env", ["testing", "production"])
def test_refuses_outside_development_without_force(app, runner, env):
    app.config["PORTFOLIO_ENV"] = env

    result = runner.invoke(args=["demo"])

    assert result.exit_code == 1
    assert f"Refusing to create demo accounts with a known password in {env}" in result.output
    assert "--force" in result.output
    assert snapshot() == {"User": 0, "SupervisionAssignment": 0, "Framework": 0, "Tier": 0}


def test_runs_without_force_in_development(app, runner):
    app.config["PORTFOLIO_ENV"] = "development"

    result = runner.invoke(args=["demo"])

    assert result.exit_code == 0, result.output
    assert snapshot()["User"] == 4


def test_force_creates_the_demo_accounts(app, runner):
    assert app.config["PORTFOLIO_ENV"] == "testing"

    result = runner.invoke(args=["demo", "--force"])

    assert result.exit_code == 0, result.output
    for email in DEMO_EMAILS:
        assert email in result.output
    assert app.config["DEMO_PASSWORD"] not in result.output
    db.session.expire_all()
    assert {u.email for u in db.session.scalars(select(User))} == DEMO_EMAILS

    worker = user("worker@example.org")
    assert worker.roles == {Role.WORKER}
    assert placement(worker) == ("link-worker", "link-worker", "Link Worker")

    supervisor = user("supervisor@example.org")
    assert supervisor.roles == {Role.WORKER, Role.SUPERVISOR}
    assert placement(supervisor) == ("link-worker", "psychosocial-link-worker", "Psychosocial Link Worker")

    manager = user("manager@example.org")
    assert manager.roles == {Role.MANAGER}
    assert manager.framework_id is None and manager.tier_id is None

    sew = user("sew@example.org")
    assert sew.roles == {Role.WORKER}
    key, slug, _ = placement(sew)
    assert (key, slug) == ("sfh-senior-engagement-worker", "senior-engagement-worker")
    assert db.session.get(Framework, sew.framework_id).publisher == "Skills for Health"

    for person in (worker, supervisor, manager, sew):
        assert person.password_hash.startswith("$argon2id$")
        assert person.active

    assignments = list(db.session.scalars(select(SupervisionAssignment)))
    assert {(a.supervisor_id, a.worker_id) for a in assignments} == {
        (supervisor.id, worker.id),
        (supervisor.id, sew.id),
    }
    for assignment in assignments:
        assert assignment.created_by_id == manager.id
        assert assignment.ends_on is None
        assert assignment.starts_on <= date.today()


def test_running_twice_creates_nothing_new(app, runner):
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0
    first = snapshot()
    hashes = {u.email: u.password_hash for u in db.session.scalars(select(User))}

    result = runner.invoke(args=["demo", "--force"])

    assert result.exit_code == 0, result.output
    assert snapshot() == first
    assert first["User"] == 4 and first["SupervisionAssignment"] == 2 and first["Framework"] == 2
    db.session.expire_all()
    assert {u.email: u.password_hash for u in db.session.scalars(select(User))} == hashes


def test_the_demo_password_signs_in(app, runner, client):
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0

    for email, greeting in (
        ("worker@example.org", "Hello, Wendy Worker"),
        ("manager@example.org", "Hello, Maya Manager"),
    ):
        visitor = app.test_client()
        response = AuthActions(visitor).sign_in(email, app.config["DEMO_PASSWORD"])
        assert response.status_code == 303
        assert greeting in visitor.get("/").text


def test_the_demo_password_comes_from_config(app, runner, client, auth):
    app.config["DEMO_PASSWORD"] = "another demo passphrase"
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0

    assert auth.sign_in("supervisor@example.org", "portfolio-demo-2026").status_code == 422
    assert auth.sign_in("supervisor@example.org", "another demo passphrase").status_code == 303
    assert "Hello, Sam Supervisor" in client.get("/").text


def test_the_demo_has_evidence_in_every_state(app, runner):
    from portfolio.audit import ledger
    from portfolio.models import Decision, Evidence, EvidenceFile, EvidenceStatus
    from portfolio.review import service as review

    assert runner.invoke(args=["demo", "--force"]).exit_code == 0
    worker, supervisor = user("worker@example.org"), user("supervisor@example.org")
    statuses = sorted(
        s.value for s in db.session.scalars(select(Evidence.status).where(Evidence.owner_id == worker.id))
    )
    assert statuses == ["draft", "draft", "draft", "draft", "signed-off", "submitted"]
    assert db.session.scalar(select(func.count(Decision.id))) == 1
    assert [item.evidence.title for item in review.queue(supervisor)] == ["Observed holistic assessment by telephone"]
    stored = db.session.scalar(select(EvidenceFile).order_by(EvidenceFile.id))
    assert stored.original_name == "safeguarding-certificate.pdf"
    assert (Path(app.config["UPLOAD_FOLDER"]) / stored.stored_name).read_bytes().startswith(b"%PDF-")
    # Sol's certificate is checked by Sam, so the demo shows a course that counts for compliance.
    from portfolio.training import service as training

    assert stored.evidence.checked_by_id == supervisor.id
    sol = user("sew@example.org")
    assert [(r.item.title, r.status.value) for r in training.worker_training(sol) if r.certificate] == [
        ("Safeguarding training", "valid")
    ]
    # Wendy has one certificate waiting in Sam's list and one he sent back, saying why.
    assert [c.title for c in training.certificates_to_check(supervisor).shown] == ["Lone working awareness"]
    rows = {r.item.title: r for r in training.worker_training(worker)}
    assert rows["Lone working"].status.value == "unchecked"
    sent_back = rows["Data protection and information governance"]
    assert (sent_back.status.value, sent_back.sent_back.sent_back_reason) == ("missing", demo.DEMO_SENT_BACK)
    assert ledger.verify().ok
    # Running again adds nothing.
    before = snapshot()
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0
    assert snapshot() == before
    assert db.session.scalar(select(func.count(Evidence.id)).where(Evidence.status == EvidenceStatus.SIGNED_OFF)) == 1


def test_the_demo_organisation_is_a_voluntary_one_without_the_nhs_logo(app, runner, client):
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0

    page = client.get("/auth/sign-in").text

    assert "Anytown Community Action" in page and 'class="nhsuk-header__logo"' not in page
    assert [row.details["organisation_name"] for row in audit_rows("organisation.changed")] == [
        "Anytown Community Action"
    ]
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0
    assert len(audit_rows("organisation.changed")) == 1  # running again changes nothing
