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

import functools
import threading
import time
from datetime import date

from sqlalchemy import func, select

from portfolio.audit import ledger
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import (
    Competence,
    Decision,
    DecisionOutcome,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    Submission,
    User,
)
from portfolio.progress import rules
from portfolio.review import service as review
from tests.conftest import TwoSupervisors
from tests.pages import audit_rows
from tests.racing import ROUNDS, TIMEOUT, Rounds, fire, htmx_headers, no_server_errors, signed_in

from .conftest import csrf_token

# --- Fixtures and data ----------------------------------------------------------------


def submit_to_both(app, two_supervisors: TwoSupervisors, title: str) -> tuple[int, int]:
    """A fresh item of the worker's, submitted to both supervisors: (evidence id, submission id).

    Submitting tells the reviewers with a link to the decision page, and
    building that link needs a request context.
    """
    with app.test_request_context():
        worker = db.session.get(User, two_supervisors.worker.id)
        evidence = evidence_service.create_evidence(
            worker,
            EvidenceKind.OTHER,
            evidence_service.EvidenceInput(
                title=title, occurred_on=date(2026, 10, 1), description="A leaflet for the walking group."
            ),
            link_competence_id=two_supervisors.competence_id,
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


def decisions_for(submission_id: int) -> list[Decision]:
    return db.session.scalars(select(Decision).where(Decision.submission_id == submission_id)).all()


# --- Two supervisors, one submission ---------------------------------------------------------


def test_two_supervisors_signing_off_at_once_exactly_one_decision_lands(app, server, two_supervisors):
    first, second = signed_in(server, ("first", two_supervisors.first.email), ("second", two_supervisors.second.email))
    clients = [first, second]
    supervisor_ids = {first.name: two_supervisors.first.id, second.name: two_supervisors.second.id}
    fragments_seen = 0
    rounds = Rounds()
    for number in rounds:
        _, submission_id = submit_to_both(app, two_supervisors, f"Walking group leaflet {number}")
        path = f"/review/{submission_id}"
        tokens = []
        for client in clients:
            page = client.get(path)
            assert page.status == 200, page.describe()
            tokens.append(csrf_token(page.text))
        htmx_index = number % 2  # each client is the htmx one in turn
        answers = fire(
            *(
                functools.partial(
                    client.start_post,
                    path,
                    sign_off_form(tokens[index], two_supervisors.competence_id),
                    htmx_headers(client, path) if index == htmx_index else {},
                )
                for index, client in enumerate(clients)
            )
        )

        no_server_errors({c.name: a for c, a in zip(clients, answers, strict=True)}, number)
        described = [f"{c.name}: {a.describe()}" for c, a in zip(clients, answers, strict=True)]
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
        rounds.record(answers)

        db.session.commit()  # a new snapshot: see what the server wrote
        decisions = decisions_for(submission_id)
        assert len(decisions) == 1, f"round {number}: {len(decisions)} decisions landed"
        assert decisions[0].supervisor_id == supervisor_ids[clients[winner].name]
        assert len(audit_rows("evidence.signed-off", submission_id=submission_id)) == 1
        evidence = db.session.get(Submission, submission_id).evidence
        assert evidence.status == EvidenceStatus.SIGNED_OFF

    rounds.assert_enough()
    if not fragments_seen:
        # The htmx request won every round: make sure its 409 is a fragment too.
        late = first.post(
            f"/review/{submission_id}",
            sign_off_form(tokens[0], two_supervisors.competence_id),
            htmx_headers(first, path),
        )
        assert late.status == 409 and "already decided" in late.text
        assert late.text.lstrip().startswith('<div id="decision-form">') and "<html" not in late.text.lower()
    db.session.commit()
    total = db.session.scalar(select(func.count(Decision.id)))
    assert total == rounds.played
    verification = ledger.verify()
    assert verification.ok, verification.describe()


def test_a_withdrawal_and_a_decision_at_once_exactly_one_lands(app, server, two_supervisors):
    worker, supervisor = signed_in(
        server, ("worker", two_supervisors.worker.email), ("supervisor", two_supervisors.first.email)
    )
    outcomes = {"withdrawn": 0, "decided": 0}
    # More rounds than for two deciders: the two use cases lock rows one after the
    # other, and the window between those locks is short.
    rounds = Rounds(ROUNDS * 4)
    for number in rounds:
        evidence_id, submission_id = submit_to_both(app, two_supervisors, f"Community cafe poster {number}")
        item_path, decide_path = f"/portfolio/{evidence_id}", f"/review/{submission_id}"
        item_page = worker.get(item_path)
        assert item_page.status == 200 and "Withdraw submission" in item_page.text, item_page.describe()
        decide_page = supervisor.get(decide_path)
        assert decide_page.status == 200, decide_page.describe()
        htmx = number % 2 == 1
        answers = fire(
            functools.partial(worker.start_post, f"{item_path}/withdraw", {"csrf_token": csrf_token(item_page.text)}),
            functools.partial(
                supervisor.start_post,
                decide_path,
                sign_off_form(csrf_token(decide_page.text), two_supervisors.competence_id),
                htmx_headers(supervisor, decide_path) if htmx else {},
            ),
        )
        withdrawal, decision = answers

        no_server_errors({"withdrawal": withdrawal, "decision": decision}, number)
        described = f"round {number}: withdrawal {withdrawal.describe()}; decision {decision.describe()}"
        after = worker.get(item_path)  # after a withdrawal, the flash message says so
        assert after.status == 200, after.describe()
        rounds.record(answers)

        db.session.commit()  # a new snapshot: see what the server wrote
        submission = db.session.get(Submission, submission_id)
        evidence = db.session.get(Evidence, evidence_id)
        decisions = decisions_for(submission_id)
        withdrawn_rows = audit_rows("evidence.withdrawn", submission_id=submission_id)
        decided_rows = audit_rows("evidence.signed-off", submission_id=submission_id)
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

    rounds.assert_enough(outcomes)
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


def test_two_threads_calling_decide_at_once_exactly_one_decision(app, two_supervisors):
    for number in range(ROUNDS):
        _, submission_id = submit_to_both(app, two_supervisors, f"Referral checklist {number}")
        db.session.commit()  # the test's session holds nothing while the threads work
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        results: list[tuple[str, object] | None] = [None, None]
        threads = [
            threading.Thread(
                target=_decide_in_own_context,
                args=(app, supervisor.id, submission_id, two_supervisors.competence_id, barrier, results, index),
                daemon=True,
                name=f"decide-{index}",
            )
            for index, supervisor in enumerate((two_supervisors.first, two_supervisors.second))
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
        assert len(audit_rows("evidence.signed-off", submission_id=submission_id)) == 1

    verification = ledger.verify()
    assert verification.ok, verification.describe()


# --- Two supervisors, two submissions of one worker ------------------------------------------


def test_two_sign_offs_for_one_worker_at_once_both_land_and_the_kept_counts_follow(app, server, two_supervisors):
    """Both decisions replace the worker's portfolio version (portfolio/progress/versions.py) in the same
    moment: neither waits for ever on the other, and counts kept before the race are not served after it."""
    first, second = signed_in(server, ("first", two_supervisors.first.email), ("second", two_supervisors.second.email))
    worker_id, ref = two_supervisors.worker.id, db.session.get(Competence, two_supervisors.competence_id).ref
    rounds = Rounds()
    for number in rounds:
        paths = [f"/review/{submit_to_both(app, two_supervisors, f'Leaflet {number}{side}')[1]}" for side in "ab"]
        before = rules.counts([worker_id]).accepted.get((worker_id, ref), 0)  # kept by this process
        tokens = [csrf_token(client.get(path).text) for client, path in zip((first, second), paths, strict=True)]
        answers = fire(
            *(
                functools.partial(client.start_post, path, sign_off_form(token, two_supervisors.competence_id))
                for client, path, token in zip((first, second), paths, tokens, strict=True)
            )
        )

        no_server_errors({"first": answers[0], "second": answers[1]}, number)
        assert [a.status for a in answers] == [303, 303], [a.describe() for a in answers]
        db.session.commit()  # a new snapshot: see what the server wrote
        assert rules.counts([worker_id]).accepted[(worker_id, ref)] == before + 2, f"round {number}"
        rounds.record(answers)
    rounds.assert_enough()
