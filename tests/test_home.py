"""Homes that say what's next: the worker's, the supervisor's and the manager's, and their fixed query counts."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from portfolio import clock, tally
from portfolio.extensions import db
from portfolio.home import service as home
from portfolio.models import (
    Decision,
    DecisionOutcome,
    Evidence,
    NoteOutcome,
    PromotionDecision,
    Requirement,
    Role,
    Submission,
    User,
)
from portfolio.people import service as people
from portfolio.progress import rules
from portfolio.progress import service as progress_service
from portfolio.progress.service import add_months
from portfolio.review import service as review
from portfolio.review.service import CompetenceOutcome
from portfolio.training import service as training
from tests.factories import (
    TODAY,
    appraisal,
    assign,
    certificate,
    competences,
    course,
    make_user,
    make_worker_manager,
    meet,
    promotion_request,
    requirements_of,
    sent_days_ago,
    submitted_item,
    supervision_note,
    tier,
    verification,
    verify_all,
)
from tests.pages import long_date, reload, table_rows, text_of

DBS = "Meet DBS reference standards and have a clear criminal record, in line with the law on spent convictions"


def words(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split()).replace(" :", ":").replace(" ,", ",")


def items_of(page: str, css_class: str) -> list[str]:
    """The words of each item of the list with class ``css_class``."""
    marker = f'class="nhsuk-list {css_class}"'
    assert marker in page, f"no list {css_class}"
    body = page.split(marker, 1)[1].split("</ul>", 1)[0]
    return [words(li) for li in re.findall(r"<li\b[^>]*>(.*?)</li>", body, re.S)]


def new_worker(name: str) -> User:
    return make_user(Role.WORKER, name=name, tier=tier("link-worker", "link-worker"))


def invite_link_worker(manager: User, name: str, email: str) -> None:
    """An invitation, not yet accepted, for a Link Worker."""
    people.invite(manager, name=name, email=email, roles={Role.WORKER}, tier_id=tier("link-worker", "link-worker").id)


def returned(supervisor: User, submission: Submission, comment: str) -> Decision:
    linked = {link.competence_id: CompetenceOutcome(True) for link in submission.evidence.links}
    return review.decide(supervisor, submission, outcome=DecisionOutcome.RETURNED, comment=comment, outcomes=linked)


# --- the worker -------------------------------------------------------------------------


def test_a_worker_who_met_every_competence_of_her_next_tier_is_told_her_next_step(client, auth, frameworks):
    """Her home said "68 of 68 competences met" and nothing more: the request is on My progress, which she had no
    reason to open. It says what is left, that she is ready, or that her request is waiting, as progress says."""
    worker = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    maya = make_user(Role.MANAGER, name="Maya Manager")
    assign(sam, worker)
    meet(worker, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=sam)
    auth.login_as(worker)

    def next_step() -> str:
        return words(text_of(client.get("/")).split('id="next-tier"', 1)[1].split("</p>", 1)[0])

    assert next_step() == (
        "> Link Worker Coach: all 68 competences met . You can ask for promotion once every requirement is "
        "verified: see what is left ."
    )
    verify_all(worker, maya)
    assert next_step() == (
        "> Link Worker Coach: all 68 competences met . You are ready: ask for promotion on My progress."
    )
    assert 'href="/progress/#promotion"' in text_of(client.get("/"))
    # Ready by the framework, with courses missing: she learns it here, not from whoever decides.
    course("Safeguarding adults", 36)
    certificate(worker, course("First aid", 36), TODAY - timedelta(days=10))
    # Due soon is still valid: not said here (the home's "Training to renew" says it).
    certificate(worker, course("Manual handling", 36), TODAY - timedelta(days=300), TODAY + timedelta(days=10))
    assert next_step() == (
        "> Link Worker Coach: all 68 competences met . You are ready: ask for promotion on My progress. Whoever "
        "recommends and decides also reads your training: 1 missing."
    )
    assert '<a href="#training">your training</a>' in text_of(client.get("/"))
    # My progress, where she asks, says it beside the button, plainly and by boosted navigation.
    for headers in ({}, {"HX-Request": "true", "HX-Boosted": "true"}):
        page = text_of(client.get("/progress/", headers=headers))
        assert "</html>" in page
        ready = words(page.split("<p>You are ready to ask", 1)[1].split("</p>", 1)[0])
        assert ready == (
            "to become Link Worker Coach: your supervisor recommends and a manager decides. Whoever recommends "
            "and decides also reads your training: 1 missing."
        )
        assert '<a href="/#training">your training</a>' in page
        assert 'id="training"' not in page and "my-training" not in page  # her table is on her home
    promotion_request(worker)
    assert next_step() == (
        "> Link Worker Coach: all 68 competences met . Your request for promotion is waiting for a decision. "
        "Whoever recommends and decides also reads your training: 1 missing."
    )


def test_the_next_step_costs_the_home_two_queries_however_much_she_has_shown(client, auth, frameworks, count_queries):
    """Her requirements and whether she has asked: not her whole tree and tier history, as My progress reads."""
    worker = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(sam, worker)
    coach = competences("link-worker", "link-worker", "link-worker-coach")
    meet(worker, coach[:-1], supervisor=sam)
    auth.login_as(worker)
    client.get("/")  # warm up: what this process keeps
    short_of_one = queries_for_home(client, count_queries)

    meet(worker, coach[-1:], supervisor=sam)
    for n in range(3):
        meet(worker, coach[:10], supervisor=sam, title=f"More {n}")
    client.get("/")
    assert queries_for_home(client, count_queries) == short_of_one + 2, count_queries.statements
    assert "You can ask for promotion once every requirement is verified" in words(text_of(client.get("/")))


def test_a_worker_home_says_what_is_next(client, auth, frameworks):
    worker = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(sam, worker)
    waiting = sent_days_ago(submitted_item(worker, "Walking group"), 3)
    back = submitted_item(worker, "Cafe poster", ref="PS-LW-02")
    returned(sam, back, "Add the dates of each session.")
    auth.login_as(worker)

    page = text_of(client.get("/"))
    assert re.search(r'href="/portfolio/new"[^>]*>\s*Add evidence', page)
    progress = rules.next_tier_progress([worker])[worker.id]
    assert words(page.split('id="next-tier"', 1)[1].split("</p>", 1)[0]).endswith(
        f"Link Worker Coach: {progress.met} of {progress.required} competences met (this tier and the tiers below)"
    )  # My progress counts each tier apart: the home says why its number is larger
    assert "Waiting for review (1)" in page
    assert items_of(page, "waiting-items") == ["Walking group: with Sam Supervisor, waiting 3 days"]
    assert f'href="/portfolio/{waiting.evidence_id}"' in page
    assert items_of(page, "returned-items") == ["Cafe poster: Sam Supervisor says “Add the dates of each session.”"]
    assert f'href="/portfolio/{back.evidence_id}#returned"' in page
    # Workers see no supervisor's or manager's part.
    assert 'id="to-review"' not in page and 'id="service-next"' not in page


def test_a_worker_home_lists_what_waits_longest_first(client, auth, frameworks):
    """Oldest first by when each was sent, not by when it was written: the items here were sent in turn, and
    then the times changed (as if sent on those days)."""
    worker = new_worker("Wendy Worker")
    assign(make_user(Role.SUPERVISOR, name="Sam Supervisor"), worker)
    for title, days in (("Allotment", 1), ("Bereavement cafe", 9), ("Coffee morning", 4)):
        sent_days_ago(submitted_item(worker, title), days)
    auth.login_as(worker)
    page = text_of(client.get("/"))
    assert items_of(page, "waiting-items") == [
        "Bereavement cafe: with Sam Supervisor, waiting 9 days",
        "Coffee morning: with Sam Supervisor, waiting 4 days",
        "Allotment: with Sam Supervisor, waiting 1 day",
    ]


def test_a_worker_home_with_nothing_waiting_and_no_supervisor(client, auth, frameworks):
    worker = new_worker("Wendy Worker")
    auth.login_as(worker)
    page = text_of(client.get("/"))
    assert "Nothing of yours is waiting for review." in page
    assert "Returned to you" not in page

    submitted_item(worker, "Walking group")
    page = text_of(client.get("/"))
    assert items_of(page, "waiting-items") == [
        "Walking group: nobody can review it yet: ask your manager to assign you a supervisor, sent today"
    ]


def test_the_home_is_a_whole_page_for_boosted_navigation(client, auth, frameworks):
    auth.login_as(new_worker("Wendy Worker"))
    page = text_of(client.get("/", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<html" in page and "Add evidence" in page


# --- the supervisor ---------------------------------------------------------------------


def supervisor_scene():
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    wendy, walter = new_worker("Wendy Worker"), new_worker("Walter Worker")
    for worker in (wendy, walter):
        assign(sam, worker)
    return sam, wendy, walter


@pytest.mark.parametrize(
    ("sent", "says"),
    [
        ([0], "1 item waiting for your decision, sent today"),
        ([1], "1 item waiting for your decision, for 1 day"),
        ([0, 0], "2 items waiting for your decision, all sent today"),
        ([0, 3], "2 items waiting for your decision, the oldest for 3 days"),
    ],
)
def test_the_supervisor_home_says_how_long_the_oldest_item_has_waited_in_plain_words(
    client, auth, frameworks, sent, says
):
    sam, wendy, _ = supervisor_scene()
    for n, days in enumerate(sent):
        sent_days_ago(submitted_item(wendy, f"Item {n}"), days)
    auth.login_as(sam)

    page = text_of(client.get("/"))
    assert words(page.split('id="items-waiting"', 1)[1].split("</li>", 1)[0]) == "> " + says


def test_the_supervisor_home_reads_her_queue_once_for_its_size_and_its_oldest_item(app):
    """The queue's size and oldest time sent come from one reading of the items waiting (two scalar subqueries
    read the queue twice: 0.47 of the home's 1.2 ms on PostgreSQL with 638 waiting)."""
    waiting = review._waiting_for_statement(False)
    condition = str(waiting.whereclause.compile(dialect=sqlite.dialect()))
    counts = review.supervisor_counts()
    home_sql = str(tally._together(tuple(counts.items())).compile(dialect=sqlite.dialect()))
    assert home_sql.count(condition) == 1


def test_a_supervisor_home_says_who_is_waiting(client, auth, frameworks):
    sam, wendy, walter = supervisor_scene()
    manager = make_user(Role.MANAGER)
    sent_days_ago(submitted_item(wendy, "Walking group"), 5)
    submitted_item(walter, "Cafe poster")
    supervision_note(wendy, sam)
    promotion_request(wendy)
    promotion_request(walter, recommended_by=sam)  # already recommended: not waiting for Sam
    verification(wendy, manager, "REQ-DBS", TODAY - timedelta(days=1000), TODAY + timedelta(days=30))
    safeguarding = course("Safeguarding adults", 12)
    certificate(walter, safeguarding, TODAY - timedelta(days=400), TODAY - timedelta(days=2))
    certificate(wendy, safeguarding, TODAY - timedelta(days=10), TODAY + timedelta(days=200))  # not soon
    # Someone else's worker lapses too: not Sam's business.
    stranger = new_worker("Sid Stranger")
    verification(stranger, manager, "REQ-DBS", TODAY - timedelta(days=1000), TODAY + timedelta(days=5))
    auth.login_as(sam)

    page = text_of(client.get("/"))
    assert words(page.split('id="items-waiting"', 1)[1].split("</li>", 1)[0]).startswith(
        "> 2 items waiting for your decision, the oldest for 5 days"
    )
    assert '<a href="/review/">2 items waiting for your decision</a>' in page
    # Straight to the notes, not the top of a queue of items to scroll past.
    assert '<a href="/review/#notes">1 supervision note to confirm</a>' in page
    assert 'id="notes"' in text_of(client.get("/review/"))
    assert items_of(page, "to-recommend") == [f"Wendy Worker asked to become Link Worker Coach on {long_date(TODAY)}"]
    assert f'href="/progress/workers/{wendy.id}"' in page
    assert items_of(page, "lapsing") == [
        f"Walter Worker: Safeguarding adults lapsed on {long_date(TODAY - timedelta(days=2))}",
        f"Wendy Worker: {DBS} lapses on {long_date(TODAY + timedelta(days=30))}",
    ]
    assert ">Lapsed or lapsing soon in your team</h3>" in page
    assert "Sid Stranger" not in page
    assert 'id="next-tier"' not in page  # not a worker


def test_a_supervisors_team_with_nothing_lapsed_yet_reads_lapsing_soon(client, auth, frameworks):
    sam, wendy, _ = supervisor_scene()
    verification(wendy, make_user(Role.MANAGER), "REQ-DBS", TODAY - timedelta(days=1000), TODAY + timedelta(days=30))
    auth.login_as(sam)
    page = text_of(client.get("/"))
    assert items_of(page, "lapsing") == [f"Wendy Worker: {DBS} lapses on {long_date(TODAY + timedelta(days=30))}"]
    assert ">Lapsing soon in your team</h3>" in page


def test_a_supervisor_who_manages_too_is_asked_to_recommend_only_for_their_own_workers(client, auth, frameworks):
    """Recommending is a supervisor's part: a manager's other workers' requests wait for the manager's decision
    (the manager's part of the home), not for a recommendation; a decided request waits for nobody."""
    sam = make_user(Role.SUPERVISOR, Role.MANAGER, name="Sam Supervisor")
    wendy, walter, sid = new_worker("Wendy Worker"), new_worker("Walter Worker"), new_worker("Sid Stranger")
    assign(sam, wendy)
    assign(sam, walter)
    sue = make_user(Role.SUPERVISOR, name="Sue Second")
    assign(sue, wendy)
    promotion_request(wendy, recommended_by=sue)  # Sue's recommendation is hers: it still waits for Sam's
    promotion_request(sid)  # not Sam's supervisee
    decided = promotion_request(walter)
    db.session.add(PromotionDecision(request_id=decided.id, manager_id=sam.id, approved=False, reasons="Not yet."))
    db.session.commit()
    auth.login_as(sam)

    page = text_of(client.get("/"))
    assert items_of(page, "to-recommend") == [f"Wendy Worker asked to become Link Worker Coach on {long_date(TODAY)}"]
    assert [r.worker.name for r in progress_service.open_requests(sam)] == ["Wendy Worker", "Sid Stranger"]
    assert [r.worker.name for r in home.supervisor_home(sue).to_recommend] == []
    assert [r.worker.name for r in progress_service.open_requests(make_user(Role.SUPERVISOR, name="Sol Other"))] == []


def test_a_supervisor_home_with_nothing_to_do(client, auth, frameworks):
    sam, _, _ = supervisor_scene()
    auth.login_as(sam)
    page = text_of(client.get("/"))
    assert "No items are waiting for your decision." in page
    assert "No supervision notes to confirm." in page
    assert "to-recommend" not in page and "lapsing" not in page
    # Their team's page, from the home whatever is waiting (it was reached only from the foot of the review queue).
    assert '<li id="team-link"><a href="/review/team">The workers you supervise</a>' in page


# --- the manager ------------------------------------------------------------------------


def test_a_manager_home_says_what_needs_deciding(client, auth, frameworks, count_queries):
    maya = make_user(Role.MANAGER, name="Maya Manager")
    wendy, walter = new_worker("Wendy Worker"), new_worker("Walter Worker")
    request = promotion_request(wendy)
    verification(wendy, maya, "REQ-DBS", TODAY - timedelta(days=1100), TODAY - timedelta(days=3))
    verification(walter, maya, "REQ-DBS", TODAY - timedelta(days=1000), TODAY + timedelta(days=20))  # only soon
    certificate(walter, course("Safeguarding adults", 12), TODAY - timedelta(days=400), TODAY - timedelta(days=1))
    invite_link_worker(maya, "Ian Invited", "ian@example.org")
    auth.login_as(maya)

    with count_queries:
        page = text_of(client.get("/"))
    before = count_queries.count
    # A decision waits for a supervisor's recommendation (found by a helper: "waiting for your decision" before
    # the manager could decide anything).
    waiting = "1 promotion request is waiting for a supervisor’s recommendation before you decide"
    assert items_of(page, "manager-next")[0] == waiting
    asked = f"Wendy Worker to Link Worker Coach, asked on {long_date(request.requested_at)}"
    assert items_of(page, "promotions") == [f"{asked} (no recommendation yet)"]
    # Which way each supervisor leaned, without opening the request (found by a helper); no query more.
    for name, supports in (("Sam Supervisor", False), ("Sue Second", True)):
        supervisor = make_user(Role.SUPERVISOR, name=name)
        assign(supervisor, wendy)
        progress_service.recommend(supervisor, reload(request), supports=supports, reasons="Seen her work")
    with count_queries:
        page = text_of(client.get("/"))
    assert items_of(page, "promotions") == [f"{asked} (Sam Supervisor answered “Not yet”; Sue Second supports it)"]
    assert count_queries.count == before, count_queries.statements
    assert items_of(page, "manager-next")[0] == "1 promotion request is waiting for your decision"
    walter_asks = promotion_request(walter)
    page = text_of(client.get("/"))
    assert items_of(page, "manager-next")[0] == (
        "1 promotion request is waiting for your decision; 1 more is waiting for a supervisor’s recommendation"
    )
    progress_service.withdraw_request(walter, reload(walter_asks))
    assert items_of(page, "lapsed") == [
        f"Wendy Worker: {DBS} lapsed on {long_date(TODAY - timedelta(days=3))}",
        f"Walter Worker: Safeguarding adults lapsed on {long_date(TODAY - timedelta(days=1))}",
    ]
    assert '<a href="/people/?status=invited">1 invitation has not been accepted yet</a>' in page
    # Both have requirements nobody has verified (a driving licence, home visits): a gap as a lapse is.
    assert '<a href="/progress/team?only=unverified">2 workers have a requirement nobody has verified yet</a>' in page
    assert 'id="to-review"' not in page  # not a supervisor


def test_a_manager_home_says_when_every_requirement_was_verified_once(client, auth, frameworks):
    maya = make_user(Role.MANAGER, name="Maya Manager")
    wendy = new_worker("Wendy Worker")
    verify_all(wendy, maya)
    auth.login_as(maya)
    page = text_of(client.get("/"))
    assert "Every worker’s requirements have been verified at least once." in page
    walter = new_worker("Walter Worker")
    verify_all(walter, maya, skip=("REQ-DBS",))
    page = text_of(client.get("/"))
    assert '<a href="/progress/team?only=unverified">1 worker has a requirement nobody has verified yet</a>' in page


def test_who_was_never_verified_is_kept_until_a_verification_a_worker_or_a_requirement_changes(
    client, auth, frameworks, count_queries
):
    """The count of workers with a requirement nobody has verified is kept under the state of the service's
    lapses (read with the home's counts): seen again it costs no query, and each change it depends on is on the
    very next view."""
    maya = make_user(Role.MANAGER, name="Maya Manager")
    wendy, walter = new_worker("Wendy Worker"), new_worker("Walter Worker")
    verify_all(wendy, maya)
    verify_all(walter, maya, skip=("REQ-DBS",))
    auth.login_as(maya)
    never_verified = re.compile(r"(\d+) workers? ha(?:s|ve) a requirement nobody has verified yet|(Every worker)")

    def count_shown() -> int:
        found = never_verified.search(words(text_of(client.get("/"))))
        return 0 if found.group(2) else int(found.group(1))

    assert count_shown() == 1
    with count_queries(keep=True):
        assert count_shown() == 1
    # The signed-in manager, then her counts with the state: never counted among them.
    assert len(count_queries.statements) == 2 and "never_verified" not in count_queries.statements[1]
    verification(walter, maya, "REQ-DBS", TODAY - timedelta(days=1), None)
    assert count_shown() == 0
    nina = new_worker("Nina New")
    assert count_shown() == 1
    verify_all(nina, maya)
    assert count_shown() == 0
    db.session.add(
        Requirement(framework_id=wendy.framework_id, ref="REQ-NEW", position=99, statement="Hold a new licence")
    )
    db.session.commit()
    assert count_shown() == 3
    walter.active = False  # a leaver is no longer counted
    db.session.commit()
    assert count_shown() == 2
    nina.is_worker = False  # nor someone who is no longer a worker
    db.session.commit()
    assert count_shown() == 1


# Each history: a worker's verifications of REQ-DBS as (days from today it was verified, days from today it
# expires or None), in the order they were recorded.
REQUIREMENT_HISTORIES = {
    "never verified": [],
    "lapsed yesterday": [(-1000, -1)],
    "lapses today": [(-1000, 0)],
    "lapses within the horizon": [(-1000, 30)],
    "lapses after the horizon": [(-1000, 100)],
    "never lapses": [(-1000, None)],
    "renewed after it lapsed": [(-2000, -10), (-5, 1000)],
    "the newer one lapsed": [(-2000, 1000), (-1000, -10)],
    "same day, the later record lapsed": [(-1000, 1000), (-1000, -3)],
}


def test_the_home_lapses_are_the_requirement_rule_on_each_history(app, frameworks):
    """The lapses worked out in SQL are what progress.rules says for each history, as of today and (for a
    supervisor) up to the horizon; a worker who has left, and a manager's own, are not on a manager's list."""
    manager = make_user(Role.MANAGER, name="Maya Manager")
    workers = {}
    for name, history in REQUIREMENT_HISTORIES.items():
        workers[name] = worker = new_worker(name.capitalize())
        for verified, expires in history:
            verification(
                worker,
                manager,
                "REQ-DBS",
                TODAY + timedelta(days=verified),
                None if expires is None else TODAY + timedelta(days=expires),
            )
    leaver = new_worker("Lou Leaver")
    verification(leaver, manager, "REQ-DBS", TODAY - timedelta(days=1000), TODAY - timedelta(days=1))
    leaver.active = False
    db.session.commit()
    # A manager who is also a worker: their own lapse is for another manager to see, on the home and the list.
    mel = make_worker_manager()
    verification(mel, manager, "REQ-DBS", TODAY - timedelta(days=1000), TODAY - timedelta(days=2))
    assert mel.name not in [lapse.worker_name for lapse in home.manager_home(mel).lapses.shown]
    assert mel.name not in [
        row.worker.name for row in progress_service.overview_page(1, actor=mel, only="lapsed").items
    ]
    assert mel.name in [lapse.worker_name for lapse in home.manager_home(manager).lapses.shown]
    mel.active = False  # out of the way of the table below
    db.session.commit()

    newest = rules.newest_verifications([w.id for w in workers.values()])
    lapsed, soon = [], []
    for name, worker in workers.items():
        found = newest.get((worker.id, "REQ-DBS"))
        state = rules.requirement_state(found, TODAY)
        if state == "lapsed":
            lapsed.append((name.capitalize(), DBS, found.expires_on, True))
        if state == "lapsed" or (state == "verified" and found.expires_on and found.expires_on <= TODAY + home.SOON):
            soon.append((name.capitalize(), DBS, found.expires_on, state == "lapsed"))
    assert [n for n, *_ in lapsed] == ["Lapsed yesterday", "The newer one lapsed", "Same day, the later record lapsed"]

    def as_rows(lapses: home.Lapses) -> list[tuple]:
        return sorted((lapse.worker_name, lapse.what, lapse.on, lapse.lapsed) for lapse in lapses.shown)

    shown = home.manager_home(manager).lapses
    assert as_rows(shown) == sorted(lapsed) and shown.total == len(lapsed)
    # The workers list's "lapsed" filter (in SQL too) finds the same workers, and each row says what lapsed.
    listed = progress_service.overview_page(1, actor=manager, only="lapsed").items
    assert [(r.worker.name, r.lapsed) for r in listed] == sorted((n, [DBS]) for n, *_ in lapsed)

    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    for worker in workers.values():
        assign(sam, worker)
    within = home.supervisor_home(sam).lapses
    assert within.total == len(soon) == 5
    assert as_rows(within) == sorted(soon)
    assert [lapse.worker_name for lapse in within.shown][:3] == [
        "The newer one lapsed",
        "Same day, the later record lapsed",
        "Lapsed yesterday",
    ]


def test_each_worker_lapses_only_on_the_courses_of_their_own_framework_and_tier(app, frameworks):
    """The courses of every framework are looked at in one statement: each worker is matched with their own
    framework's, and those their tier needs."""
    manager = make_user(Role.MANAGER, name="Maya Manager")
    link_course = course("Safeguarding adults", 12)
    first_aid = course("Basic life support", 12, position=5)  # later in the catalogue, first by name
    coach_course = course("Coaching practice", 12, tiers=["link-worker-coach"])
    sfh_course = course("Lone working", 12, key="sfh-senior-engagement-worker")
    linda = new_worker("Linda Link")
    sol = make_user(
        Role.WORKER, name="Sol Engagement", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    )
    long_ago = TODAY - timedelta(days=400)
    for worker in (linda, sol):
        for item in (link_course, first_aid, coach_course, sfh_course):
            certificate(worker, item, long_ago)  # every one expired a month ago (renewed yearly)

    lapses = home.manager_home(manager).lapses
    # In a whole order: by day, worker, then what lapsed (the same ten on every view).
    assert [(lapse.worker_name, lapse.what, lapse.lapsed) for lapse in lapses.shown] == [
        ("Linda Link", "Basic life support", True),
        ("Linda Link", "Safeguarding adults", True),
        ("Sol Engagement", "Lone working", True),
    ]
    assert {lapse.on for lapse in lapses.shown} == {add_months(long_ago, 12)}
    # Renewed (and checked), the course no longer lapses; a newer certificate nobody has checked yet does not
    # count as renewed, and the course is not shown as expired either (the matrix shows it to check).
    certificate(linda, link_course, TODAY - timedelta(days=10))
    certificate(linda, first_aid, TODAY - timedelta(days=10))
    certificate(sol, sfh_course, TODAY - timedelta(days=10), checked=False)
    assert home.manager_home(manager).lapses.total == 0


def test_the_lapsed_courses_are_kept_until_a_certificate_a_course_or_a_team_changes(app, frameworks, count_queries):
    """Ranking every certificate of a service is a home's costliest statement: each process keeps what it found,
    and ranks again after any change it is worked out from, whoever made it (a certificate, a course, who is
    in the team or the service, the day's rule)."""
    maya = make_user(Role.MANAGER, name="Maya Manager")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    wendy, walter = new_worker("Wendy Worker"), new_worker("Walter Worker")
    assign(sam, wendy)
    safeguarding = course("Safeguarding adults", 12)
    old = certificate(wendy, safeguarding, TODAY - timedelta(days=400))  # expired a month ago
    certificate(walter, safeguarding, TODAY - timedelta(days=380))

    def lapsed(person: User) -> tuple[list[str], bool]:
        db.session.commit()  # each look is a request of its own
        with count_queries(keep=True):
            found = home.supervisor_home(person).lapses if person is sam else home.manager_home(person).lapses
        ranked = any("row_number" in s.lower() and "training_item_id" in s for s in count_queries.statements)
        return [f"{lapse.worker_name}: {lapse.what}" for lapse in found.shown], ranked

    assert lapsed(maya) == (["Wendy Worker: Safeguarding adults", "Walter Worker: Safeguarding adults"], True)
    assert lapsed(maya)[1] is False  # kept
    assert lapsed(sam) == (["Wendy Worker: Safeguarding adults"], True)  # each team its own answer
    assert lapsed(sam)[1] is False

    certificate(walter, safeguarding, TODAY - timedelta(days=5))  # renewed
    assert lapsed(maya) == (["Wendy Worker: Safeguarding adults"], True)
    # The course's renewal: never, then yearly again. Each change to the catalogue is the frameworks' (versions), so
    # it is ranked again both times.
    for months, found, ranked in ((None, [], True), (12, ["Wendy Worker: Safeguarding adults"], True)):
        training.update_item(
            maya, safeguarding, title="Safeguarding adults", statutory=True, renewal_months=months, tier_slugs=[]
        )
        assert lapsed(maya) == (found, ranked)
    people.deactivate(maya, wendy)
    assert lapsed(maya) == ([], True)
    people.reactivate(maya, wendy)
    assert lapsed(maya) == (["Wendy Worker: Safeguarding adults"], True)
    # Sam's team changed twice: Wendy's supervision ended when she left, and Walter joins it.
    assign(sam, walter)
    assert lapsed(sam) == ([], True)
    assert lapsed(sam)[1] is False
    old.expires_on = TODAY + timedelta(days=400)  # an edit to the item (written directly, as any writer may)
    db.session.commit()
    assert lapsed(maya) == ([], True)


def test_the_lapsed_requirements_are_kept_with_the_courses_until_a_verification_the_team_or_the_day_changes(
    app, frameworks, count_queries, monkeypatch
):
    """A home's lapses (requirements and courses together) are kept per process: a verification added (which writes
    no token: written directly here), who is in the team and the day each make them worked out again."""
    maya = make_user(Role.MANAGER, name="Maya Manager")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    wendy, walter = new_worker("Wendy Worker"), new_worker("Walter Worker")
    assign(sam, wendy)
    dbs = requirements_of(wendy)[0]
    verification(wendy, maya, dbs.ref, TODAY - timedelta(days=400), TODAY - timedelta(days=2))  # lapsed
    verification(walter, maya, dbs.ref, TODAY - timedelta(days=400), TODAY - timedelta(days=5))

    def lapsed(person: User) -> tuple[list[str], bool]:
        db.session.commit()  # each look is a request of its own
        with count_queries(keep=True):
            found = home.supervisor_home(person).lapses if person is sam else home.manager_home(person).lapses
        worked_out = any(
            s.startswith("SELECT users.id, users.name, requirements.statement") for s in count_queries.statements
        )
        return [f"{lapse.worker_name}: {lapse.what}" for lapse in found.shown], worked_out

    assert lapsed(sam) == ([f"Wendy Worker: {dbs.statement}"], True)
    assert lapsed(sam) == ([f"Wendy Worker: {dbs.statement}"], False)  # kept
    assert lapsed(maya) == ([f"Walter Worker: {dbs.statement}", f"Wendy Worker: {dbs.statement}"], True)
    assert lapsed(maya)[1] is False

    verification(wendy, maya, dbs.ref, TODAY, TODAY + timedelta(days=400))  # renewed
    assert lapsed(sam) == ([], True)
    assert lapsed(maya) == ([f"Walter Worker: {dbs.statement}"], True)
    assign(sam, walter)  # Walter joins Sam's team
    assert lapsed(sam) == ([f"Walter Worker: {dbs.statement}"], True)
    assert lapsed(sam)[1] is False
    tomorrow = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: tomorrow)
    assert lapsed(sam) == ([f"Walter Worker: {dbs.statement}"], True)  # a new day: worked out again


def test_a_supervisor_with_nobody_to_supervise_today_asks_for_no_lapse(app, frameworks, count_queries):
    """Nobody in her team: the state says so, and neither requirements nor courses are worked out, on any view."""
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    course("Safeguarding adults", 12)
    db.session.commit()
    for _ in range(2):
        with count_queries(keep=True):
            assert not home.supervisor_home(sam).lapses
        read = count_queries.statements
        assert not [s for s in read if s.startswith("SELECT users.id, users.name, requirements.statement")]
        assert not [s for s in read if "training_item_id" in s], "her team's certificates were ranked"


def test_a_worker_who_supervises_sees_both_parts(client, auth, frameworks):
    willa = make_user(Role.WORKER, Role.SUPERVISOR, name="Willa", tier=tier("link-worker", "link-worker"))
    auth.login_as(willa)
    page = text_of(client.get("/"))
    assert 'id="next-tier"' in page and 'id="to-review"' in page and 'id="service-next"' not in page
    # What others wait on first (from a helper trying the app: his own portfolio came above his reviews).
    assert page.index('id="to-review"') < page.index('id="next-tier"')


def test_a_home_read_as_the_day_turns_reads_every_part_on_one_day(app, frameworks, monkeypatch):
    """A worker who supervises: her parts, her queue, her team's lapses and the certificates she checks each take
    the day as a parameter, and are read in one query. A request that asks the clock more than once around midnight
    must not give that query two days (two values for one parameter are refused): played by a clock that turns
    between any two readings."""
    willa = make_user(Role.WORKER, Role.SUPERVISOR, name="Willa", tier=tier("link-worker", "link-worker"))
    walter = new_worker("Walter Worker")
    assign(willa, walter)
    submitted_item(walter, "Walking group")
    certificate(walter, course("First aid", 36), TODAY - timedelta(days=10), checked=False)
    db.session.commit()
    real_now, readings = clock.now, itertools.count()
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=next(readings) % 2))

    found = home.home_for(willa, lambda parts: parts, lambda certificates: certificates)

    assert found["supervisor_home"].waiting == 1 and found["worker_parts"].next_tier is not None
    assert found["certificates_waiting"][0] == 1


def test_a_home_works_out_every_part_on_the_day_it_read_them_on(app, frameworks, monkeypatch):
    """What each part shows (days waiting, training due, what has lapsed) is worked out on the day its state was
    read on, not on another reading of the clock: a home computed after midnight and kept under yesterday would
    show tomorrow's answer all day. Played by a clock that leaps 400 days after the home's first reading: every
    part must still answer as today."""
    willa = make_user(Role.WORKER, Role.SUPERVISOR, Role.MANAGER, name="Willa", tier=tier("link-worker", "link-worker"))
    walter = new_worker("Walter Worker")
    assign(willa, walter)
    # Sam checks certificates and recommends as a supervisor, and reviews Walter's items, only while she supervises,
    # which ends before the leap.
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    pia = new_worker("Pia Promoted")
    for worker in (walter, pia):
        assign(sam, worker).ends_on = TODAY + timedelta(days=100)
        db.session.commit()
    promotion_request(pia)
    # Walter has met his next tier: ready today, his DBS check lapsed after the leap.
    meet(walter, competences("link-worker", "link-worker", "link-worker-coach"), supervisor=willa)
    verify_all(walter, willa, skip=("REQ-DBS",))
    sent_days_ago(submitted_item(walter, "Walking group"), 3)
    sent_days_ago(submitted_item(willa, "Men's shed"), 2)
    first_aid = course("First aid", 12)
    for person in (willa, walter):  # in date today, expired in 400 days
        certificate(person, first_aid, TODAY - timedelta(days=10), TODAY + timedelta(days=355))
    verification(walter, willa, "REQ-DBS", TODAY - timedelta(days=10), TODAY + timedelta(days=200))
    certificate(walter, course("Lone working", 36), TODAY - timedelta(days=5), checked=False)
    db.session.commit()
    real_now = clock.now

    def home_of(person: User) -> dict:
        readings = itertools.count()
        monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(days=400 if next(readings) else 0))
        return home.home_for(person, lambda parts: parts, lambda certificates: certificates)

    found = home_of(willa)

    worker_parts, supervisor, manager = found["worker_parts"], found["supervisor_home"], found["manager_home"]
    assert [(item.evidence.title, item.days_waiting) for item in worker_parts.waiting] == [("Men's shed", 2)]
    statuses = {row.item.title: row.status for row in worker_parts.training}
    assert statuses == {"First aid": training.TrainingStatus.VALID, "Lone working": training.TrainingStatus.MISSING}
    assert (supervisor.waiting, supervisor.oldest_days) == (1, 3)
    assert supervisor.lapses.total == 0 and manager.lapses.total == 0
    assert found["certificates_waiting"][0] == 1
    sams = home_of(sam)
    assert (sams["supervisor_home"].waiting, sams["supervisor_home"].oldest_days) == (1, 3)
    assert sams["certificates_waiting"][0] == 1
    assert [c.title for c in sams["certificates_waiting"][1].shown] == ["Lone working"]
    assert [r.worker.name for r in sams["supervisor_home"].to_recommend] == ["Pia Promoted"]
    walters = home_of(walter)["worker_parts"]
    assert walters.promotion == "ready"
    assert [[r.name for r in item.reviewers] for item in walters.waiting] == [["Sam Supervisor", "Willa"]]


# --- fixed query counts -------------------------------------------------------------------


def queries_for_home(client, count_queries) -> int:
    with count_queries:
        assert client.get("/").status_code == 200
    return count_queries.count


def test_every_home_runs_a_fixed_number_of_queries(client, auth, frameworks, count_queries):
    boss = make_user(
        Role.WORKER, Role.SUPERVISOR, Role.MANAGER, name="Bo Boss", tier=tier("link-worker", "link-worker")
    )
    other = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(other, boss)
    safeguarding = course("Safeguarding adults", 12)

    def grow(start: int, count: int) -> None:
        for n in range(start, start + count):
            worker = new_worker(f"Worker {n:02}")
            assign(boss, worker)
            sent_days_ago(submitted_item(worker, f"Item {n}"), n)
            back = submitted_item(worker, f"Returned {n}", ref="PS-LW-02")
            returned(boss, back, "Add the dates.")
            supervision_note(worker, boss, title=f"Note {n}")
            promotion_request(worker)
            verification(worker, boss, "REQ-DBS", TODAY - timedelta(days=1100), TODAY - timedelta(days=n))
            certificate(worker, safeguarding, TODAY - timedelta(days=400), TODAY - timedelta(days=n))
        # The boss's own items grow too.
        sent_days_ago(submitted_item(boss, f"Mine {start}"), start)
        returned(other, submitted_item(boss, f"Mine back {start}", ref="PS-LW-02"), "Say more.")
        invite_link_worker(boss, f"Invitee {start}", f"invitee{start}@example.org")

    grow(1, 2)
    auth.login_as(boss)
    client.get("/")  # warm up
    before = queries_for_home(client, count_queries)

    grow(3, 12)
    after = queries_for_home(client, count_queries)
    page = text_of(client.get("/"))
    assert "14 items waiting for your decision" in page
    assert len(items_of(page, "waiting-items")) == 2 and len(items_of(page, "returned-items")) == 2
    assert len(items_of(page, "to-recommend")) == 14
    # 28 lapses (a requirement and a course each): the 10 that lapsed first, and how many in all.
    lapsed = items_of(page, "lapsed")
    assert len(lapsed) == 10 and lapsed[0].startswith("Worker 14: ") and lapsed[-1].startswith("Worker 10: ")
    assert "These are the 10 that lapsed first, of 28." in words(page)
    assert len(items_of(page, "lapsing")) == 10 and "These are the 10 soonest, of 28:" in words(page)
    assert 'href="/progress/team?only=lapsed"' in page and 'href="/training/"' in page and 'href="/review/team"' in page
    assert after == before, count_queries.statements


def test_the_home_services_gather_without_writing(app, frameworks):
    sam, wendy, _ = supervisor_scene()
    submitted_item(wendy, "Walking group")
    before = db.session.scalar(select(db.func.count(Evidence.id)))
    assert home.supervisor_home(sam).waiting == 1
    assert home.worker_home(wendy).waiting[0].reviewers == [sam]
    assert db.session.scalar(select(db.func.count(Evidence.id))) == before


def test_the_homes_count_what_the_queue_and_people_list(app, frameworks):
    """One condition for each list and its count: a confirmed note is in neither; every pending invitation is in both."""
    sam, wendy, walter = supervisor_scene()
    supervision_note(wendy, sam, title="Confirm me")
    confirmed = supervision_note(walter, sam, title="Confirmed already")
    review.review_note(sam, confirmed, NoteOutcome.CONFIRMED, "")
    assert home.supervisor_home(sam).notes_to_confirm == len(review.notes_to_confirm(sam)) == 1

    maya = make_user(Role.MANAGER, name="Maya Manager")
    for n in range(2):
        invite_link_worker(maya, f"Ian {n}", f"ian{n}@example.org")
    assert home.manager_home(maya).invitations == len(people.pending_invitations()) == 2


def test_the_counts_are_read_together_and_a_list_only_behind_a_count(client, auth, frameworks, count_queries):
    """Every role's counts in one query (portfolio/tally.py); a list behind a count (requests to recommend, to
    decide, appraisals to sign) is asked for only when its count is not 0, and then says the same number."""
    boss = make_user(Role.SUPERVISOR, Role.MANAGER, name="Bo Boss")
    wendy = new_worker("Wendy Worker")
    assign(boss, wendy)
    auth.login_as(boss)
    client.get("/")  # warm up

    def home_page() -> tuple[str, int, list[str]]:
        with count_queries(keep=True):
            page = text_of(client.get("/"))
        lists = ("SELECT promotion_requests.id", "SELECT appraisals.id")
        return page, count_queries.count, [s for s in count_queries.statements if s.startswith(lists)]

    page, nothing_to_do, lists = home_page()
    assert lists == [] and "Appraisals for you to sign" not in page and "to-recommend" not in page
    assert "No promotion requests are waiting for a decision." in words(page)

    request = promotion_request(wendy)
    appraisal(wendy, boss, year=2026)
    page, queries, lists = home_page()
    assert items_of(page, "to-recommend") == [
        f"Wendy Worker asked to become Link Worker Coach on {long_date(request.requested_at)}"
    ]
    assert "1 promotion request is waiting for a supervisor’s recommendation before you decide" in page
    assert "2026 appraisal of Wendy Worker" in page
    # To recommend, to decide (with its recommendations), to sign.
    assert len(lists) == 3 and queries == nothing_to_do + 4, count_queries.statements


def test_a_worker_who_supervises_reads_no_course_once_the_catalogue_is_kept(client, auth, frameworks, count_queries):
    """Their own training and their team's lapses both come from the catalogue the process keeps, each as it was
    alone; a course renamed shows in both on the next view."""
    willa = make_user(Role.WORKER, Role.SUPERVISOR, name="Willa", tier=tier("link-worker", "link-worker"))
    wendy = new_worker("Wendy Worker")
    assign(willa, wendy)
    safeguarding, first_aid = course("Safeguarding adults", 12), course("First aid", 36)
    certificate(wendy, safeguarding, TODAY - timedelta(days=400), TODAY - timedelta(days=2))
    certificate(willa, first_aid, TODAY - timedelta(days=10))
    auth.login_as(willa)
    client.get("/")  # warm up
    with count_queries(keep=True):
        page = text_of(client.get("/"))
    assert not [s for s in count_queries.statements if "FROM training_items" in s]
    assert items_of(page, "lapsing") == [
        f"Wendy Worker: Safeguarding adults lapsed on {long_date(TODAY - timedelta(days=2))}"
    ]
    assert [row[:2] for row in table_rows(page, "my-training")] == [
        ["Safeguarding adults", "Missing Add a certificate for Safeguarding adults"],
        ["First aid", "Valid"],
    ]
    training.update_item(
        make_user(Role.MANAGER), safeguarding, title="Safeguarding", statutory=True, renewal_months=12, tier_slugs=[]
    )
    page = text_of(client.get("/"))
    assert items_of(page, "lapsing") == [f"Wendy Worker: Safeguarding lapsed on {long_date(TODAY - timedelta(days=2))}"]
    assert table_rows(page, "my-training")[0][:2] == ["Safeguarding", "Missing Add a certificate for Safeguarding"]


def test_courses_at_one_position_come_in_title_order_in_a_workers_training_and_the_catalogue(app, frameworks):
    """Two courses at one position: their titles decide, as Python orders them (not the database's collation)."""
    wendy = new_worker("Wendy Worker")
    course("abc course", position=5)
    course("Abd course", position=5)
    course("First aid", position=1)
    assert [row.item.title for row in training.worker_training(wendy)] == ["First aid", "Abd course", "abc course"]
    assert [c.title for c in training.catalogue(wendy.framework.key)] == ["First aid", "Abd course", "abc course"]


def test_the_worker_homes_counts_are_kept_until_their_portfolio_changes(client, auth, frameworks, count_queries):
    """The counts by status are read once, then kept; a withdrawal or a decision is seen on the next view."""
    worker = new_worker("Wendy Worker")
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker)
    first, second = submitted_item(worker, "First item"), submitted_item(worker, "Second item")
    auth.login_as(worker)
    client.get("/")

    with count_queries(keep=True):
        page = text_of(client.get("/"))
    assert "Waiting for review (2)" in words(page)
    assert not [q for q in count_queries.statements if "GROUP BY evidence.owner_id, evidence.status" in q]

    review.withdraw(worker, db.session.get(Evidence, first.evidence_id))
    page = text_of(client.get("/"))
    assert "Waiting for review (1)" in words(page) and "Returned to you" not in words(page)
    returned(supervisor, db.session.get(Submission, second.id), "Add the dates.")
    page = text_of(client.get("/"))
    assert "Waiting for review (0)" in words(page) and "Returned to you (1)" in words(page)

    # Nothing waiting: the home does not ask for the list of waiting items.
    with count_queries(keep=True):
        client.get("/")
    assert not [q for q in count_queries.statements if "FROM submissions" in q], count_queries.statements


def test_the_worker_parts_of_her_home_are_kept_until_something_they_show_changes(
    client, auth, frameworks, count_queries, monkeypatch
):
    """Her items waiting and returned and her training are drawn once and kept; each change they show is on the
    very next view, however it was written: no token is written for an assignment, and a name is its owner's."""
    wendy = new_worker("Wendy Worker")
    sam = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    rita = make_user(Role.SUPERVISOR, email="rita@example.org", name="Rita Reviewer")
    assign(sam, wendy)
    rita_supervises = assign(rita, wendy)
    first_aid = course("First aid", 36)
    certificate(wendy, first_aid, TODAY - timedelta(days=10))
    returned(rita, submitted_item(wendy, "Poster", ref="PS-LW-02"), "Add the dates.")
    submitted_item(wendy, "Walking group")
    auth.login_as(wendy)

    def home_page() -> str:
        return words(text_of(client.get("/")))

    def waiting() -> list[str]:
        return items_of(text_of(client.get("/")), "waiting-items")

    assert waiting() == ["Walking group: with Rita Reviewer or Sam Supervisor, sent today"]
    with count_queries(keep=True):
        page = home_page()
    # The signed-in worker, then the counts of every role (an appraisal to sign) with what her parts were kept under.
    assert len(count_queries.statements) == 2, count_queries.statements
    assert "appraisals_to_sign" in count_queries.statements[1] and "worker_parts_state" in count_queries.statements[1]
    assert "Returned to you (1)" in page and "Rita Reviewer says “Add the dates.”" in page

    db.session.delete(rita_supervises)  # Rita no longer reviews her items, and still returned one
    db.session.commit()
    assert waiting() == ["Walking group: with Sam Supervisor, sent today"]
    rita.name = "Rita Jones"
    db.session.commit()
    assert "Rita Jones says “Add the dates.”" in home_page()
    sam.name = "Sam Smith"
    db.session.commit()
    assert waiting() == ["Walking group: with Sam Smith, sent today"]
    first_aid.title = "Emergency first aid"  # the catalogue is the frameworks'
    db.session.commit()
    assert "Emergency first aid" in home_page() and "First aid" not in home_page()
    the_day_after = clock.now() + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: the_day_after)
    assert waiting() == ["Walking group: with Sam Smith, waiting 1 day"]


@pytest.mark.parametrize(
    ("role", "states"),
    [(Role.SUPERVISOR, ["team_lapses_state", "certificates_state"]), (Role.MANAGER, ["service_lapses_state"])],
)
def test_a_supervisor_or_manager_home_seen_again_is_the_user_and_one_query(
    client, auth, frameworks, count_queries, role, states
):
    """Once its kept parts are drawn, a home reads the signed-in person and then one query: the counts of her
    roles with the states her team's (or the service's) lapses and the certificates she checks are kept under;
    nothing else while nothing they show has changed."""
    person = make_user(role, name="Pat Person")
    walter = new_worker("Walter Worker")
    if role is Role.SUPERVISOR:
        assign(person, walter)
    certificate(walter, course("First aid", 12), TODAY - timedelta(days=400), TODAY - timedelta(days=35))
    auth.login_as(person)
    assert "Walter Worker: First aid" in words(text_of(client.get("/")))  # drawn and kept

    with count_queries(keep=True):
        page = words(text_of(client.get("/")))

    assert "Walter Worker: First aid" in page
    assert len(count_queries.statements) == 2, count_queries.statements
    assert all(state in count_queries.statements[1] for state in states), count_queries.statements[1]


def test_a_worker_with_many_items_waiting_sees_the_oldest_ten_and_a_link_to_all(
    client, auth, frameworks, count_queries
):
    """The home lists at most ten of each kind, so it costs the same whatever the portfolio's size."""
    worker = new_worker("Wendy Worker")
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker)
    for n in range(2):
        returned(supervisor, submitted_item(worker, f"Back {n}", ref="PS-LW-02"), "Add the dates.")
    for n in range(3):
        sent_days_ago(submitted_item(worker, f"Item {n:02}"), 30 - n)
    auth.login_as(worker)
    client.get("/")  # warm up
    before = queries_for_home(client, count_queries)

    for n in range(3, 12):
        sent_days_ago(submitted_item(worker, f"Item {n:02}"), 30 - n)
    for n in range(2, 13):
        returned(supervisor, submitted_item(worker, f"Back {n}", ref="PS-LW-02"), "Add the dates.")
    after = queries_for_home(client, count_queries)

    page = text_of(client.get("/"))
    assert after == before, count_queries.statements
    assert "Waiting for review (12)" in words(page)
    waiting = items_of(page, "waiting-items")
    assert len(waiting) == 10 and waiting[0].startswith("Item 00") and waiting[-1].startswith("Item 09")
    assert 'href="/portfolio/?status=submitted"' in page
    assert "See all 12 items waiting for review (the oldest 10 are above)" in words(page)
    assert "Returned to you (13)" in words(page) and len(items_of(page, "returned-items")) == 10
    assert 'href="/portfolio/?status=returned"' in page and "See all 13 returned items" in words(page)
    shown = client.get("/portfolio/?status=submitted")
    assert shown.status_code == 200 and "Item 11" in text_of(shown)


def test_returned_items_are_listed_in_the_order_they_were_sent(client, auth, frameworks):
    worker = new_worker("Wendy Worker")
    supervisor = make_user(Role.SUPERVISOR, name="Sam Supervisor")
    assign(supervisor, worker)
    for title, days in [("Sent last", 1), ("Sent first", 9), ("Sent second", 5)]:
        returned(supervisor, sent_days_ago(submitted_item(worker, title), days), "Add the dates.")
    auth.login_as(worker)
    listed = items_of(text_of(client.get("/")), "returned-items")
    assert [item.split(":")[0] for item in listed] == ["Sent first", "Sent second", "Sent last"]


def test_the_statements_built_once_answer_for_each_worker(app, frameworks):
    """The home's lists come from statements built once per process with the worker as a parameter: two
    workers' homes, one after the other, each show their own."""
    amy, ben = new_worker("Amy Worker"), new_worker("Ben Worker")
    sue = make_user(Role.SUPERVISOR, email="sue@example.org", name="Sue Supervisor")
    tom = make_user(Role.SUPERVISOR, email="tom@example.org", name="Tom Supervisor")
    assign(sue, amy)
    assign(tom, ben)
    first_aid, manual_handling = course("First aid"), course("Manual handling")
    certificate(amy, first_aid, TODAY - timedelta(days=30))
    certificate(ben, manual_handling, TODAY - timedelta(days=40))
    db.session.commit()
    submitted_item(amy, "Amy's walking group")
    submitted_item(ben, "Ben's allotment")
    returned(sue, submitted_item(amy, "Amy's poster", ref="PS-LW-02"), "Add the dates.")
    returned(tom, submitted_item(ben, "Ben's leaflet", ref="PS-LW-02"), "Add the venue.")

    def home_of(worker: User) -> tuple:
        shown = home.worker_home(worker)
        return (
            [(w.evidence.title, [r.name for r in w.reviewers]) for w in shown.waiting],
            [(e.title, d.comment if d else None) for e, d in shown.returned],
            {r.item.title: r.certificate.owner_id if r.certificate else None for r in shown.training},
        )

    assert home_of(amy) == (
        [("Amy's walking group", ["Sue Supervisor"])],
        [("Amy's poster", "Add the dates.")],
        {"First aid": amy.id, "Manual handling": None},
    )
    assert home_of(ben) == (
        [("Ben's allotment", ["Tom Supervisor"])],
        [("Ben's leaflet", "Add the venue.")],
        {"First aid": None, "Manual handling": ben.id},
    )
