"""Two people acting on the same submission at the same moment: exactly one lands.

The requests go through a real threaded WSGI server on a loopback port, from
separate HTTP clients (each with its own cookies, signed in through the real
form), on whichever database the run uses: SQLite by default, PostgreSQL when
PORTFOLIO_TEST_DATABASE_URL is set. Each request is sent up to its last byte,
so the server is already handling it; a barrier then releases the last bytes
together, and the answers are only read after both are out.

Every wait is bounded: a deadlock fails the test instead of hanging the run.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from http.cookies import SimpleCookie
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portfolio.audit import ledger
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import (
    AuditEntry,
    Competence,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    Role,
    Submission,
    User,
)
from portfolio.review import service as review

from . import factories
from .conftest import csrf_token

HOST = "127.0.0.1"
TIMEOUT = 30.0  # the longest any one wait may take (SQLite's busy_timeout is 10 s)
ROUNDS = 5


# --- A small HTTP client: one connection per request, its own cookie jar ------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    sent_at: float = 0.0  # when the request's last byte went out
    answered_at: float = 0.0  # when the status line came back

    def describe(self) -> str:
        return f"{self.status} {self.headers.get('location', '')} {self.text[:300]!r}"


class PendingPost:
    """A POST sent up to its last byte: the server is already working on it."""

    def __init__(self, client: HttpClient, path: str, body: bytes, headers: dict[str, str]):
        self.client = client
        self.connection = client.connect()
        self.body = body
        try:
            self.connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for name, value in client.headers({**headers, "Content-Length": str(len(body))}).items():
                self.connection.putheader(name, value)
            self.connection.endheaders()
            self.connection.send(body[:-1])
        except BaseException:
            self.connection.close()
            raise

    def finish(self) -> Answer:
        """Send the last byte and read the answer."""
        try:
            self.connection.send(self.body[-1:])
            sent_at = time.perf_counter()
            answer = self.client.read(self.connection)
            answer.sent_at = sent_at
            return answer
        finally:
            self.connection.close()

    def close(self) -> None:
        self.connection.close()


@dataclass
class HttpClient:
    """Just enough of a browser over http.client: cookies kept, every wait bounded."""

    port: int
    name: str
    cookies: dict[str, str] = field(default_factory=dict)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        base = f"http://{HOST}:{self.port}"
        headers = {"Host": f"{HOST}:{self.port}", "Origin": base, "Referer": f"{base}/", **extra}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def read(self, connection: http.client.HTTPConnection) -> Answer:
        response = connection.getresponse()
        answered_at = time.perf_counter()
        try:
            data = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            headers = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, headers, data.decode("utf-8", "replace"), answered_at=answered_at)
        finally:
            response.close()

    def get(self, path: str) -> Answer:
        connection = self.connect()
        try:
            connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers({}).items():
                connection.putheader(name, value)
            connection.endheaders()
            return self.read(connection)
        finally:
            connection.close()

    def post(self, path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> Answer:
        return self.start_post(path, data, headers).finish()

    def start_post(self, path: str, data: dict[str, str], headers: dict[str, str] | None = None) -> PendingPost:
        body = urlencode(data).encode()
        return PendingPost(self, path, body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def sign_in(self, email: str) -> None:
        """Through the real form, CSRF token included."""
        page = self.get("/auth/sign-in")
        assert page.status == 200, page.describe()
        answer = self.post(
            "/auth/sign-in", {"csrf_token": csrf_token(page.text), "email": email, "password": factories.PASSWORD}
        )
        assert answer.status == 303 and answer.headers["location"].endswith("/"), answer.describe()


def htmx_headers(client: HttpClient, path: str) -> dict[str, str]:
    """What htmx sends for a form that swaps #decision-form (not a boosted navigation)."""
    return {
        "HX-Request": "true",
        "HX-Target": "decision-form",
        "HX-Current-URL": f"http://{HOST}:{client.port}{path}",
    }


def race(pending: list[PendingPost]) -> list[Answer]:
    """Release every pending request at the same moment; return their answers in order.

    :raises AssertionError: when one does not finish within TIMEOUT (a deadlock, say),
        or fails on the client side.
    """
    barrier = threading.Barrier(len(pending), timeout=TIMEOUT)
    results: list[Answer | BaseException | None] = [None] * len(pending)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = pending[index].finish()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"race-{i}") for i in range(len(pending))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + TIMEOUT + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f"requests still waiting after {TIMEOUT + 5:.0f} s (a deadlock?): {stuck}"
    finally:
        for item in pending:
            item.close()
    failures = [r for r in results if not isinstance(r, Answer)]
    assert not failures, f"a request failed on the client side: {failures!r}"
    return results  # type: ignore[return-value]


def overlapped(answers: list[Answer]) -> bool:
    """Every request was fully sent before any answer came back."""
    return max(a.sent_at for a in answers) < min(a.answered_at for a in answers)


# --- Fixtures and data ----------------------------------------------------------------


@pytest.fixture
def server(app):
    """The test app on a free loopback port, one thread per request; its port."""
    server = make_server(HOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True, name="live-server")
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)


@dataclass
class People:
    worker: User
    first: User
    second: User
    competence_id: int


@pytest.fixture
def people(app, frameworks) -> People:
    """A worker with two supervisors, both assigned to them now."""
    worker = factories.make_user(
        Role.WORKER, email="worker@example.org", name="Wendy Worker", tier=factories.tier("link-worker", "link-worker")
    )
    first = factories.make_user(Role.SUPERVISOR, email="first@example.org", name="Fatima First")
    second = factories.make_user(Role.SUPERVISOR, email="second@example.org", name="Sam Second")
    factories.assign(first, worker, starts_on=date(2026, 1, 1), audited=True)
    factories.assign(second, worker, starts_on=date(2026, 1, 1), audited=True)
    competence_id = db.session.scalar(
        select(Competence.id)
        .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
        .order_by(Competence.position, Competence.id)
        .limit(1)
    )
    return People(worker, first, second, competence_id)


def submitted_item(app, people: People, title: str) -> tuple[int, int]:
    """A fresh item of the worker's, submitted to both supervisors: (evidence id, submission id).

    Submitting tells the reviewers with a link to the decision page, and
    building that link needs a request context.
    """
    with app.test_request_context():
        worker = db.session.get(User, people.worker.id)
        evidence = evidence_service.create_evidence(
            worker,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(
                title=title, occurred_on=date(2026, 10, 1), description="A leaflet for the walking group."
            ),
            link_competence_id=people.competence_id,
        )
        evidence_service.submit(worker, evidence)
        submission_id = review.open_submission_of(evidence).id
        evidence_id = evidence.id
        db.session.commit()
    return evidence_id, submission_id


def sign_off_form(token: str, competence_id: int) -> dict[str, str]:
    return {
        "csrf_token": token,
        "decisions-0-accepted": "accepted",  # the item's one link
        "outcome": DecisionOutcome.SIGNED_OFF.value,
        "comment": "",
    }


def audit_rows(action: str, submission_id: int) -> list[AuditEntry]:
    rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).all()
    return [row for row in rows if (row.details or {}).get("submission_id") == submission_id]


def decisions_for(submission_id: int) -> list[Decision]:
    return db.session.scalars(select(Decision).where(Decision.submission_id == submission_id)).all()


def no_server_errors(answers: dict[str, Answer], round_number: int) -> None:
    errors = [f"{name}: {a.describe()}" for name, a in answers.items() if a.status >= 500]
    assert not errors, f"round {round_number}: the server failed under the race: {errors}"


def signed_in(port: int, *people_: tuple[str, str]) -> list[HttpClient]:
    clients = []
    for name, email in people_:
        client = HttpClient(port, name)
        client.sign_in(email)
        clients.append(client)
    return clients


# --- Two supervisors, one submission ---------------------------------------------------------


def test_two_supervisors_signing_off_at_once_exactly_one_decision_lands(app, server, people):
    first, second = signed_in(server, ("first", people.first.email), ("second", people.second.email))
    clients = [first, second]
    supervisor_ids = {first.name: people.first.id, second.name: people.second.id}
    fragments_seen = overlapping = 0
    for number in range(ROUNDS):
        _, submission_id = submitted_item(app, people, f"Walking group leaflet {number}")
        path = f"/review/{submission_id}"
        tokens = []
        for client in clients:
            page = client.get(path)
            assert page.status == 200, page.describe()
            tokens.append(csrf_token(page.text))
        htmx_index = number % 2  # each client is the htmx one in turn
        pending = []
        try:
            for index, client in enumerate(clients):
                headers = htmx_headers(client, path) if index == htmx_index else {}
                pending.append(client.start_post(path, sign_off_form(tokens[index], people.competence_id), headers))
        except BaseException:
            for item in pending:
                item.close()
            raise
        answers = race(pending)

        no_server_errors({c.name: a for c, a in zip(clients, answers)}, number)
        described = [f"{c.name}: {a.describe()}" for c, a in zip(clients, answers)]
        assert sorted(a.status for a in answers) == [303, 409], f"round {number}: {described}"
        winner = next(i for i, a in enumerate(answers) if a.status == 303)
        loser = 1 - winner
        lost = answers[loser]
        assert "already decided" in lost.text, f"round {number}: {described}"
        assert answers[winner].headers["location"].endswith("/review/"), described  # nothing else waits
        if loser == htmx_index:
            # htmx swaps the answer into #decision-form: the fragment, not a page.
            assert lost.text.lstrip().startswith('<div id="decision-form">'), lost.text[:300]
            assert "<html" not in lost.text.lower()
            fragments_seen += 1
        else:
            assert "<html" in lost.text.lower() and 'id="decision-form"' in lost.text
            assert "This item has already been dealt with" in lost.text
        overlapping += overlapped(answers)

        db.session.commit()  # a new snapshot: see what the server wrote
        decisions = decisions_for(submission_id)
        assert len(decisions) == 1, f"round {number}: {len(decisions)} decisions landed"
        assert decisions[0].supervisor_id == supervisor_ids[clients[winner].name]
        assert len(audit_rows("evidence.signed-off", submission_id)) == 1
        evidence = db.session.get(Submission, submission_id).evidence
        assert evidence.status == EvidenceStatus.SIGNED_OFF

    assert overlapping == ROUNDS, f"only {overlapping} of {ROUNDS} rounds had both requests in flight at once"
    if not fragments_seen:
        # The htmx request won every round: make sure its 409 is a fragment too.
        late = first.post(
            f"/review/{submission_id}", sign_off_form(tokens[0], people.competence_id), htmx_headers(first, path)
        )
        assert late.status == 409 and "already decided" in late.text
        assert late.text.lstrip().startswith('<div id="decision-form">') and "<html" not in late.text.lower()
    db.session.commit()
    total = db.session.scalar(select(func.count(Decision.id)))
    assert total == ROUNDS
    verification = ledger.verify()
    assert verification.ok, verification.describe()


def test_a_withdrawal_and_a_decision_at_once_exactly_one_lands(app, server, people):
    worker, supervisor = signed_in(server, ("worker", people.worker.email), ("supervisor", people.first.email))
    outcomes = {"withdrawn": 0, "decided": 0}
    overlapping = 0
    # More rounds than for two deciders: the two use cases lock rows one after the
    # other, and the window between those locks is short.
    rounds = ROUNDS * 4
    for number in range(rounds):
        evidence_id, submission_id = submitted_item(app, people, f"Community cafe poster {number}")
        item_path, decide_path = f"/portfolio/{evidence_id}", f"/review/{submission_id}"
        item_page = worker.get(item_path)
        assert item_page.status == 200 and "Withdraw submission" in item_page.text, item_page.describe()
        decide_page = supervisor.get(decide_path)
        assert decide_page.status == 200, decide_page.describe()
        htmx = number % 2 == 1
        pending = []
        try:
            pending.append(worker.start_post(f"{item_path}/withdraw", {"csrf_token": csrf_token(item_page.text)}))
            pending.append(
                supervisor.start_post(
                    decide_path,
                    sign_off_form(csrf_token(decide_page.text), people.competence_id),
                    htmx_headers(supervisor, decide_path) if htmx else {},
                )
            )
        except BaseException:
            for item in pending:
                item.close()
            raise
        answers = race(pending)
        withdrawal, decision = answers

        no_server_errors({"withdrawal": withdrawal, "decision": decision}, number)
        described = f"round {number}: withdrawal {withdrawal.describe()}; decision {decision.describe()}"
        after = worker.get(item_path)  # after a withdrawal, the flash message says so
        assert after.status == 200, after.describe()
        overlapping += overlapped(answers)

        db.session.commit()  # a new snapshot: see what the server wrote
        submission = db.session.get(Submission, submission_id)
        evidence = db.session.get(Evidence, evidence_id)
        decisions = decisions_for(submission_id)
        withdrawn_rows = audit_rows("evidence.withdrawn", submission_id)
        decided_rows = audit_rows("evidence.signed-off", submission_id)
        if decision.status == 303:
            outcomes["decided"] += 1
            # The refusal is on the item's page, in its error summary, not a banner after a redirect.
            assert withdrawal.status == 422, described
            assert (
                "There is a problem" in withdrawal.text
                and "This item is not waiting for review any more, so it cannot be withdrawn" in withdrawal.text
            ), described
            assert "cannot be withdrawn" not in after.text, described
            assert submission.withdrawn_at is None, described
            assert len(decisions) == 1 and evidence.status == EvidenceStatus.SIGNED_OFF, described
            assert (len(decided_rows), len(withdrawn_rows)) == (1, 0), described
        else:
            outcomes["withdrawn"] += 1
            assert decision.status == 409, described
            assert "The worker withdrew this submission, so there is nothing to decide" in decision.text, described
            if htmx:
                assert (
                    decision.text.lstrip().startswith('<div id="decision-form">')
                    and "<html" not in decision.text.lower()
                )
            assert withdrawal.status == 303 and withdrawal.headers["location"].endswith(item_path), described
            assert "Submission withdrawn" in after.text, described
            assert submission.withdrawn_at is not None, described
            assert decisions == [] and evidence.status == EvidenceStatus.DRAFT, described
            assert (len(decided_rows), len(withdrawn_rows)) == (0, 1), described

    assert overlapping == rounds, (
        f"only {overlapping} of {rounds} rounds had both requests in flight at once ({outcomes})"
    )
    verification = ledger.verify()
    assert verification.ok, verification.describe()


# --- The service, called from two threads ----------------------------------------------------


def _decide_in_own_context(
    app, supervisor_id: int, submission_id: int, competence_id: int, barrier, results, index
) -> None:
    """One thread: its own app context (so its own session and connection), then ``decide``.

    ``decide`` builds the worker's notification link with ``url_for``, which
    needs a request context, so a test request context goes on top of it.
    """
    try:
        with app.app_context(), app.test_request_context():
            actor = db.session.get(User, supervisor_id)
            submission = db.session.get(Submission, submission_id)
            outcomes = {competence_id: review.CompetenceOutcome(True)}
            barrier.wait()
            try:
                decision = review.decide(
                    actor, submission, outcome=DecisionOutcome.SIGNED_OFF, comment="", outcomes=outcomes
                )
                results[index] = ("decided", decision.id)
            except review.Conflict as conflict:
                results[index] = ("conflict", conflict.message)
    except BaseException as error:  # noqa: BLE001 - reported by the test
        results[index] = ("error", repr(error))


def test_two_threads_calling_decide_at_once_exactly_one_decision(app, people):
    for number in range(ROUNDS):
        _, submission_id = submitted_item(app, people, f"Referral checklist {number}")
        db.session.commit()  # the test's session holds nothing while the threads work
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        results: list[tuple[str, object] | None] = [None, None]
        threads = [
            threading.Thread(
                target=_decide_in_own_context,
                args=(app, supervisor.id, submission_id, people.competence_id, barrier, results, index),
                daemon=True,
                name=f"decide-{index}",
            )
            for index, supervisor in enumerate((people.first, people.second))
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + TIMEOUT + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), f"round {number}: decide() did not return in time (a deadlock?)"

        assert sorted(r[0] for r in results) == ["conflict", "decided"], f"round {number}: {results}"
        conflict = next(r[1] for r in results if r[0] == "conflict")
        assert "already decided" in conflict, conflict
        decided_id = next(r[1] for r in results if r[0] == "decided")
        db.session.commit()  # a new snapshot: see what the threads wrote
        assert [d.id for d in decisions_for(submission_id)] == [decided_id]
        assert len(audit_rows("evidence.signed-off", submission_id)) == 1

    verification = ledger.verify()
    assert verification.ok, verification.describe()
