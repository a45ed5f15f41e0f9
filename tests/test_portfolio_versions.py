"""What a process keeps of a worker's counts: served while the portfolio is unchanged, never after it changed.

``portfolio/progress/versions.py``: each change to what progress is counted from writes a new version token in
its own transaction; the kept answers are looked up by token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from markupsafe import Markup
from sqlalchemy import func, select, text, update

from portfolio import tally
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.models import Competence, DecisionOutcome, Evidence, EvidenceStatus, PortfolioVersion, User
from portfolio.progress import rules, versions
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from tests.factories import competence, link_draft, make_worker, send_for_review, submitted_item

ONE, TWO = "PS-LW-01", "PS-LW-02"


def linked(worker: User, ref: str) -> dict[EvidenceStatus, int]:
    return rules.counts([worker.id]).linked.get((worker.id, ref), {})


def accepted(worker: User, ref: str) -> int:
    return rules.counts([worker.id]).accepted.get((worker.id, ref), 0)


def tokens() -> dict[int, str]:
    db.session.commit()  # a new snapshot
    return {
        owner: token for owner, token in db.session.execute(select(PortfolioVersion.owner_id, PortfolioVersion.token))
    }


def test_a_kept_answer_is_served_while_the_portfolio_is_unchanged(app, worker, count_queries):
    link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    with count_queries(keep=True):
        assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    assert count_queries.statements == []  # the tokens this transaction read are read once

    db.session.commit()
    worker_id = worker.id
    with count_queries(keep=True):
        assert rules.counts([worker_id]).linked[(worker_id, ONE)] == {EvidenceStatus.DRAFT: 1}
    assert len(count_queries.statements) == 1 and "portfolio_versions" in count_queries.statements[0]


def test_the_signed_in_worker_brings_her_tokens_and_her_pages_see_a_change_at_once(client, auth, worker, count_queries):
    """Read with who she is (one query a request in any case), not by a query of their own on each page."""
    link_draft(worker, [competence(ONE)])
    auth.login_as(worker)
    assert client.get("/portfolio/map").status_code == 200  # kept by this process
    with count_queries(keep=True):
        page = client.get("/portfolio/map").get_data(as_text=True)
    assert [s for s in count_queries.statements if "portfolio_versions" in s] == [count_queries.statements[0]]
    assert "FROM users" in count_queries.statements[0]
    assert "1 draft" in page and "2 draft" not in page

    link_draft(worker, [competence(ONE)], title="Walking group")  # committed, as another request would
    page = client.get("/portfolio/map").get_data(as_text=True)
    assert "2 draft" in page and "1 draft" not in page


def test_linking_unlinking_and_deleting_through_the_use_cases_change_the_counts_at_once(app, worker):
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, TWO) == {}

    link = evidence_service.link_competence(worker, item, competence(TWO).id)
    assert linked(worker, TWO) == {EvidenceStatus.DRAFT: 1}

    evidence_service.unlink(worker, item, link)
    assert linked(worker, TWO) == {}
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}

    evidence_service.delete_evidence(worker, db.session.get_one(Evidence, item.id))
    assert linked(worker, ONE) == {}


def test_submitting_and_signing_off_change_the_counts_at_once(app, worker, supervisor):
    submission = submitted_item(worker, ref=ONE)
    assert linked(worker, ONE) == {EvidenceStatus.SUBMITTED: 1}
    assert accepted(worker, ONE) == 0

    review.decide(
        supervisor,
        submission,
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="Well shown.",
        outcomes={competence(ONE).id: CompetenceOutcome(True)},
    )
    assert linked(worker, ONE) == {EvidenceStatus.SIGNED_OFF: 1}
    assert accepted(worker, ONE) == 1


def test_a_change_writes_a_new_token_for_its_owner_only_and_only_when_it_commits(app, worker):
    other = make_worker("Olive Other", "olive@example.org")
    link_draft(other, [competence(ONE)])
    link_draft(worker, [competence(ONE)])
    before = tokens()
    assert {worker.id, other.id} <= set(before)

    item = link_draft(worker, [competence(TWO)])
    after = tokens()
    assert after[worker.id] != before[worker.id] and after[other.id] == before[other.id]

    item.title = "Renamed, then thought better of"
    db.session.flush()
    assert versions.changed_here(db.session()) == {worker.id}
    db.session.rollback()
    assert versions.changed_here(db.session()) == set()
    assert tokens() == after


def test_a_session_with_changes_not_yet_committed_counts_afresh_and_keeps_nothing(app, worker):
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}

    send_for_review(item)  # flushed, not committed
    assert linked(worker, ONE) == {EvidenceStatus.SUBMITTED: 1}  # what this transaction sees
    db.session.rollback()
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}  # nothing kept from the rolled-back view


def test_an_orm_update_statement_changes_every_portfolio(app, worker):
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    before = tokens()

    db.session.execute(
        update(Evidence)
        .where(Evidence.id == item.id)
        .values(status=EvidenceStatus.RETURNED, submitted_at=datetime.now(UTC))  # a sent item has its time sent
    )
    db.session.commit()
    assert tokens()[versions.FRAMEWORKS] != before.get(versions.FRAMEWORKS)
    assert linked(worker, ONE) == {EvidenceStatus.RETURNED: 1}


def test_a_new_competence_changes_every_portfolio(app, worker):
    link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    before = tokens()

    retired = db.session.get_one(Competence, competence(ONE).id)
    retired.ref = "PS-LW-01-RENAMED"  # no use case renames a statement: any change to one must still count
    db.session.commit()
    assert tokens()[versions.FRAMEWORKS] != before.get(versions.FRAMEWORKS)
    assert linked(worker, ONE) == {}
    assert linked(worker, "PS-LW-01-RENAMED") == {EvidenceStatus.DRAFT: 1}


def test_moving_a_worker_to_another_framework_changes_their_counts(app, frameworks, worker):
    link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    before = tokens()

    worker.framework_id = frameworks["sfh-senior-engagement-worker"].id
    db.session.commit()
    assert tokens()[worker.id] != before[worker.id]
    assert linked(worker, ONE) == {}  # a link-worker statement no longer counts in another framework


@pytest.mark.parametrize(
    ("field", "value"),
    [("active", False), ("is_worker", False), ("name", "Renamed Worker"), ("email", "renamed@example.org")],
)
def test_a_change_to_who_a_worker_is_gives_them_a_new_token(app, worker, field, value):
    """A team's answers (versions.kept_for_owners) depend on who matches and how: after a change and its undoing
    the worker's token differs, so the team's never reads as it did."""
    before = tokens()
    setattr(worker, field, value)
    db.session.commit()
    changed = tokens()
    assert changed[worker.id] != before.get(worker.id)
    assert changed[versions.FRAMEWORKS] == before.get(versions.FRAMEWORKS)  # nobody else's counts

    worker.signed_in_at = 1  # not stored: no new token
    worker.last_signed_in_at = None
    db.session.commit()
    assert tokens() == changed


def test_an_update_statement_on_users_changes_every_portfolio_when_it_sets_who_they_are(app, worker):
    before = tokens()
    db.session.execute(update(User).where(User.active.is_(True)).values(session_version=User.session_version + 1))
    db.session.commit()
    assert tokens() == before  # named in the WHERE clause only: nobody's answers change

    db.session.execute(update(User).where(User.id == worker.id).values(active=False))
    db.session.commit()
    assert tokens()[versions.FRAMEWORKS] != before.get(versions.FRAMEWORKS)


def test_a_change_made_by_another_process_is_seen_by_this_one(app, worker):
    """Each process keeps its own answers; what one kept never hides what another one wrote."""
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}  # kept by this process
    this_process = app.extensions["portfolio_versions"]

    app.extensions["portfolio_versions"] = type(this_process)()  # another process, with its own store
    evidence_service.link_competence(worker, item, competence(TWO).id)
    app.extensions["portfolio_versions"] = this_process

    assert linked(worker, TWO) == {EvidenceStatus.DRAFT: 1}
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}


def test_a_worker_moved_to_another_framework_through_the_relationship_is_seen(app, frameworks, worker):
    link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}

    worker.framework = frameworks["sfh-senior-engagement-worker"]  # the id is only set during the flush
    db.session.commit()
    assert linked(worker, ONE) == {}


def test_an_item_moved_to_another_owner_changes_both_portfolios(app, worker):
    other = make_worker("Olive Other", "olive@example.org")
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1} and linked(other, ONE) == {}
    before = tokens()

    item.owner_id = other.id  # no use case does this: the rule must still hold if one ever does
    db.session.commit()
    after = tokens()
    assert after[worker.id] != before[worker.id] and after[other.id] != before.get(other.id)
    assert linked(worker, ONE) == {} and linked(other, ONE) == {EvidenceStatus.DRAFT: 1}


def test_an_update_statement_on_users_changes_every_portfolio_only_when_it_names_their_framework(app, worker):
    before = tokens()
    db.session.execute(update(User).where(User.id == worker.id).values(session_version=User.session_version + 1))
    db.session.commit()
    assert tokens() == before  # ending someone's sessions changes nobody's counts

    db.session.execute(
        update(User)
        .where(User.id == worker.id)
        .values(framework_id=select(User.framework_id).where(User.id == worker.id).scalar_subquery())
    )
    db.session.commit()
    assert tokens()[versions.FRAMEWORKS] != before[versions.FRAMEWORKS]


def test_a_commit_with_a_savepoint_left_open_still_writes_the_token(app, worker):
    item = link_draft(worker, [competence(ONE)])
    assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    before = tokens()

    db.session.begin_nested()
    returned = db.session.get_one(Evidence, item.id)
    returned.status, returned.submitted_at = EvidenceStatus.RETURNED, datetime.now(UTC)
    db.session().get_transaction().commit()  # the outer transaction, with the savepoint still open
    assert tokens()[worker.id] != before[worker.id]
    assert linked(worker, ONE) == {EvidenceStatus.RETURNED: 1}


def test_renew_makes_every_process_count_afresh(app, runner, worker):
    link_draft(worker, [competence(ONE)])
    before = tokens()
    result = runner.invoke(args=["progress", "renew"])
    assert result.exit_code == 0 and "Every portfolio will be counted afresh." in result.output
    after = tokens()
    assert after[versions.FRAMEWORKS] != before[versions.FRAMEWORKS] and after[worker.id] == before[worker.id]


def test_one_answer_is_kept_per_worker_and_the_least_recently_used_goes_first(app, worker, count_queries, monkeypatch):
    other = make_worker("Olive Other", "olive@example.org")
    link_draft(worker, [competence(ONE)])
    link_draft(other, [competence(ONE)])
    monkeypatch.setitem(versions.KEPT, "counts", 1)
    linked(worker, ONE)
    linked(other, ONE)  # pushes the worker's answer out
    with count_queries(keep=True):
        assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    assert count_queries.count == 1  # the count again (the tokens were read earlier in the transaction)
    with count_queries(keep=True):
        assert linked(worker, ONE) == {EvidenceStatus.DRAFT: 1}
    assert count_queries.count == 0  # kept again


def test_a_kept_part_is_kept_per_owner_and_variant_until_the_portfolio_changes(app, worker):
    other = make_worker("Olive Other", "olive@example.org")
    db.session.commit()
    made: list[str] = []

    def render(text: str):
        def rendered() -> Markup:
            made.append(text)
            return Markup(text)

        return rendered

    assert versions.kept_for("competence-map", worker.id, None, render("all, 1")) == "all, 1"
    assert versions.kept_for("competence-map", worker.id, None, render("all, 2")) == "all, 1"  # kept
    assert versions.kept_for("competence-map", worker.id, "met", render("met, 1")) == "met, 1"  # its own
    assert versions.kept_for("competence-map", other.id, None, render("other's")) == "other's"  # their own
    assert made == ["all, 1", "met, 1", "other's"]

    link_draft(worker, [competence(ONE)])  # committed: the worker's token changes, not the other's
    db.session.commit()
    assert versions.kept_for("competence-map", worker.id, None, render("all, 3")) == "all, 3"
    assert versions.kept_for("competence-map", worker.id, "met", render("met, 2")) == "met, 2"
    assert versions.kept_for("competence-map", other.id, None, render("other's again")) == "other's"


def test_a_part_computed_from_changes_not_yet_committed_is_not_kept(app, worker):
    db.session.commit()
    item = link_draft(worker, [competence(ONE)])
    db.session.commit()
    send_for_review(item)  # flushed, not committed
    assert versions.kept_for("competence-map", worker.id, None, lambda: Markup("uncommitted")) == "uncommitted"
    db.session.rollback()
    assert versions.kept_for("competence-map", worker.id, None, lambda: Markup("committed")) == "committed"


def test_the_most_recently_used_variants_of_an_owner_are_kept(app, worker):
    db.session.commit()
    made: list[int] = []

    def page(number: int):
        def compute() -> int:
            made.append(number)
            return number

        return compute

    for number in range(1, versions.VARIANTS_KEPT + 2):  # one more than are kept
        assert versions.kept_for("portfolio-list", worker.id, number, page(number)) == number
    assert (
        versions.kept_for("portfolio-list", worker.id, versions.VARIANTS_KEPT + 1, page(0))
        == versions.VARIANTS_KEPT + 1
    )
    assert versions.kept_for("portfolio-list", worker.id, 2, page(2)) == 2  # still kept
    assert versions.kept_for("portfolio-list", worker.id, 1, page(1)) == 1  # the first was dropped: computed again
    assert made == [*range(1, versions.VARIANTS_KEPT + 2), 1]
    # Page 2, used just now, stayed; page 3, the least recently used, made room for page 1.
    assert versions.kept_for("portfolio-list", worker.id, 2, page(2)) == 2
    assert versions.kept_for("portfolio-list", worker.id, 3, page(3)) == 3
    assert made == [*range(1, versions.VARIANTS_KEPT + 2), 1, 3]


def _team_state():
    """An owners_state over the active workers, with something about them that writes no token."""
    return versions.owners_state(select(User.id, User.session_version).where(User.is_worker.is_(True)))


def test_a_team_answer_is_kept_only_if_the_state_reads_the_same_once_it_is_computed(app, worker):
    """On PostgreSQL what the state covers may commit while the answer is computed, and the state may later read as
    it did before (a leaver back): the answer, newer than the state it was read with, would then be served for it.
    Played here by a change the state covers and no token records, made while computing."""
    db.session.commit()
    state = _team_state()

    def changing() -> str:
        worker.session_version += 1
        db.session.flush()
        return "computed while it changed"

    assert versions.kept_for_owners("workers-table", "v", state, changing) == "computed while it changed"
    db.session.rollback()
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "computed again") == "computed again"
    db.session.commit()
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "never") == "computed again"  # kept


def test_a_team_answer_is_kept_only_if_the_tokens_read_before_it_are_the_states_own(app, worker):
    """The signed-in user brings the frameworks' token (and theirs) at the start of a request, and what is kept
    under it (a framework's structure) answers for the rest of it: a change that committed before the state was
    read would leave an answer from the older structure under the newer token."""
    db.session.commit()
    state = _team_state()
    versions.remember_tokens(worker.id, "an older token", "an older frameworks token")
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "from older tokens") == "from older tokens"
    db.session.commit()  # the next request
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "current") == "current"
    db.session.commit()
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "never") == "current"  # kept


def test_a_state_read_beside_counts_finds_the_answer_kept_under_it_and_no_other(app, worker, count_queries):
    """A page reads its states in the query that reads its counts (state_read): the rows it gets there are the
    rows read_state reads, so what was kept under the state alone is found without another query, and a change the
    state covers is not served the older answer. A number, a boolean, a date and NULL alike."""
    worker.digest_sent_on = None
    db.session.commit()
    columns = (User.id, User.session_version, User.active, User.digest_sent_on)
    state = versions.owners_state(select(*columns).where(User.is_worker.is_(True)))
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "computed") == "computed"
    db.session.commit()

    def with_counts(computed: str) -> str:
        found = tally.read(({"people": select(func.count(User.id))}, {}), versions.state_read("team", state, {}))
        rows = versions.state_rows(found["team"])
        return versions.kept_for_owners("workers-table", "v", state, lambda: computed, rows=rows)

    with count_queries(keep=True):
        assert with_counts("never") == "computed"
    assert len(count_queries.statements) == 1  # the counts and the state, and nothing more
    worker.session_version += 1  # covered by the state, writes no token
    db.session.commit()
    assert with_counts("computed again") == "computed again"
    assert with_counts("never") == "computed again"
    worker.digest_sent_on = date(2026, 3, 10)  # a date where NULL was: a new state
    db.session.commit()
    assert with_counts("on the day") == "on the day"
    assert versions.kept_for_owners("workers-table", "v", state, lambda: "never") == "on the day"  # read alone too


def test_answers_kept_under_one_state_read_once_digest_its_rows_once(app, worker, monkeypatch):
    """A page keeping two answers under one state (a manager's home: the lapses and who was never verified)
    works out the digest of its rows once: a service's workers are some 0.2 ms of hashing."""
    db.session.commit()
    state = _team_state()
    for kind in ("workers-table", "compliance-totals"):  # kept, so that the views below only look
        versions.kept_for_owners(kind, "v", state, lambda kind=kind: f"{kind} answer")
    db.session.commit()
    real_blake2b, hashed = versions.hashlib.blake2b, []
    monkeypatch.setattr(versions.hashlib, "blake2b", lambda *a, **k: hashed.append(1) or real_blake2b(*a, **k))
    rows = versions.read_state(state)

    found = [
        versions.kept_for_owners(kind, "v", state, lambda: "never", rows=rows)
        for kind in ("workers-table", "compliance-totals")
    ]

    assert found == ["workers-table answer", "compliance-totals answer"]
    assert len(hashed) == 1


def test_a_team_answer_over_nobody_is_the_callers_known_answer_and_never_kept(app, worker, count_queries):
    """A list whose state reads no rows has nothing to show: a caller that knows that answer gives it
    (``when_empty``), and nothing is computed; once the state reads rows, the answer is computed and kept."""
    db.session.commit()
    nobody = versions.owners_state(select(User.id).where(User.is_worker.is_(True), User.id < 0))
    with count_queries(keep=True):
        found = versions.kept_for_owners("workers-table", "v", nobody, lambda: "computed", when_empty=lambda: "none")
    assert found == "none" and len(count_queries.statements) == 1  # the state alone
    assert versions.kept_for_owners("workers-table", "v", nobody, lambda: "computed") == "computed"  # not given
    state = _team_state()
    assert versions.kept_for_owners("workers-table", "w", state, lambda: "rows", when_empty=lambda: "none") == "rows"
    db.session.commit()
    assert versions.kept_for_owners("workers-table", "w", state, lambda: "never", when_empty=lambda: "none") == "rows"


def test_an_answer_to_keep_reads_its_rows_afresh_over_objects_loaded_before(app, worker):
    """On PostgreSQL a name may change between an object's first load in a request (a worker named by a promotion
    request) and the state's read: the answer kept under the newer state must not be drawn from the older object.
    Played by a change the session's objects do not see, written in SQL."""
    db.session.commit()
    assert db.session.get(User, worker.id).name == "Wendy Worker"  # held by this transaction
    db.session.execute(text("UPDATE users SET name = 'Renamed meanwhile' WHERE id = :id"), {"id": worker.id})

    def drawn() -> str:
        return db.session.scalars(select(User).where(User.id == worker.id)).one().name

    assert versions.kept_for_owners("workers-table", "v", _team_state(), drawn) == "Renamed meanwhile"
    db.session.rollback()


def test_nothing_is_kept_while_templates_reload(app, worker):
    """`make dev` reloads templates as they are edited: a kept rendering would hide the edit."""
    db.session.commit()
    app.jinja_env.auto_reload = True
    try:
        assert versions.kept_for_owners("workers-table", "v", _team_state(), lambda: "first") == "first"
        assert versions.kept_for_owners("workers-table", "v", _team_state(), lambda: "again") == "again"
    finally:
        app.jinja_env.auto_reload = False
