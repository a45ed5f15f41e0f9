"""The benchmark's data: a service of 200 workers, one of them with 2,000 items, built with the app's own use cases.

Everything goes through the services a person's clicks would call
(``auth.create_user``, ``supervision.assign``, ``training.add_item``,
``evidence.create_evidence``, ``link_competence``, ``submit``, ``review.decide``),
so the rows, ledger entries, notifications and files are the ones the app
itself writes. One shortcut: every account has the same password, and argon2id is slow
on purpose, so ``create_user`` hashes it once (for the manager) and is handed
that hash for the other accounts (see ``_people``).

The database is kept between runs; a stamp file records the scale and the
schema revision it was built for, and the data is built again only when the
stamp, the database or the revision no longer match.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from werkzeug.datastructures import FileStorage

from portfolio import PROJECT_ROOT, clock, create_app
from portfolio.auth import service as auth_service
from portfolio.demo import DEMO_PDF, DEMO_TRAINING
from portfolio.evidence import service as evidence
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.models import Competence, DecisionOutcome, EvidenceKind, Framework, Role, Tier
from portfolio.review import service as review
from portfolio.supervision import service as supervision
from portfolio.training import service as training

# Raised when what is built changes, so a cached database built the old way is built again.
BUILDER_VERSION = 2
PASSWORD = "harbour-lantern-quietly-2026"
AUDIT_KEY = "benchmark-only-audit-key"
DOMAIN = "bench.example.org"


@dataclass(frozen=True)
class Scale:
    workers: int  # besides the supervisors
    items: int  # of the one worker with a big portfolio
    supervisors: int
    others_items: int  # items of every other worker


SCALES = {
    "full": Scale(workers=200, items=2000, supervisors=10, others_items=4),
    "small": Scale(workers=40, items=300, supervisors=4, others_items=3),
    "tiny": Scale(workers=6, items=12, supervisors=2, others_items=2),
}


@dataclass
class Cast:
    """Who and what the benchmark visits, found again from the stamp on later runs."""

    worker_email: str
    supervisor_email: str
    manager_email: str
    uploader_email: str
    worker_id: int
    framework_id: int
    framework_key: str
    waiting: int  # items in the supervisor's review queue


def app_for(url: str, upload_folder: Path, **extra: Any):
    """The application on the benchmark database (development settings, fixed keys, no second factor)."""
    return create_app(
        {
            "PORTFOLIO_ENV": "development",
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_FOLDER": str(upload_folder),
            "AUDIT_KEY": AUDIT_KEY,
            "MFA_REQUIRED_ROLES": "",
            **extra,
        }
    )


def head_revision() -> str:
    return ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_current_head() or ""


def _stamp_path(instance: Path, url: str) -> Path:
    return instance / f"stamp-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"


def _database_revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 - a missing SQLite file or an empty database: build it
        return None
    finally:
        engine.dispose()


def _vacuum_analyze(url: str) -> None:
    """Vacuum PostgreSQL's tables and give its planner statistics, as autovacuum does in production.

    Without statistics (a freshly built database, or a server with autovacuum off, as on
    the CI machines) PostgreSQL guesses its join orders: the compliance matrix took
    525 ms a request instead of 75. Without the vacuum, no page is marked all-visible, so
    the covering indexes cannot answer alone (index-only scans) and the planner reads the
    table instead: counting the review queue took 1.5 ms instead of 0.55. SQLite is left
    as the app leaves it in production.
    """
    if make_url(url).get_backend_name() != "postgresql":
        return
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def _wipe(url: str, upload_folder: Path) -> None:
    """Remove the old benchmark data: the SQLite file, or every table of the PostgreSQL database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    shutil.rmtree(upload_folder, ignore_errors=True)


def ensure(url: str, scale_name: str, instance: Path, upload_folder: Path, say=print) -> Cast:
    """The benchmark data on ``url``: reused when its stamp matches, built afresh otherwise."""
    stamp_file = _stamp_path(instance, url)
    wanted = {"scale": scale_name, "revision": head_revision(), "builder": BUILDER_VERSION}
    if stamp_file.exists():
        stamp = json.loads(stamp_file.read_text())
        same_data = stamp.get("scale") == scale_name and stamp.get("builder") == BUILDER_VERSION
        revision = _database_revision(url)
        if same_data and revision == stamp.get("revision") and revision != wanted["revision"]:
            # Only the schema moved on: migrate the data as a deployment would (minutes saved).
            say(f"Upgrading the {scale_name} data from schema {revision} to {wanted['revision']}.")
            app = app_for(url, upload_folder)
            with app.app_context():
                upgrade()
                db.session.remove()
                db.engine.dispose()
            stamp["revision"] = wanted["revision"]
            stamp_file.write_text(json.dumps(stamp, indent=2))
            revision = wanted["revision"]
        if same_data and revision == wanted["revision"]:
            say(f"Reusing the {scale_name} data built on {stamp['built']} (schema {wanted['revision']}).")
            _vacuum_analyze(url)
            return Cast(**stamp["cast"])
        say("The cached data is for another scale or builder: building it again.")
    stamp_file.unlink(missing_ok=True)
    _wipe(url, upload_folder)
    app = app_for(url, upload_folder)
    with app.app_context():
        _no_flush_to_disk(db.engine)
        upgrade()
        cast, seconds = Builder(SCALES[scale_name], say).build()
        db.session.remove()
        db.engine.dispose()
    say(f"Built the {scale_name} data in {seconds:.0f} s.")
    _vacuum_analyze(url)
    instance.mkdir(parents=True, exist_ok=True)
    stamp_file.write_text(json.dumps({**wanted, "built": date.today().isoformat(), "cast": asdict(cast)}, indent=2))
    return cast


def _no_flush_to_disk(engine) -> None:
    """Let the builder's commits return before they reach the disk (only the builder's connections).

    Each use case commits on its own, and waiting for the disk on every one of
    some 10,000 commits would take most of the build; a crash mid-build loses
    nothing that matters, since the data is built again without its stamp.
    """

    @event.listens_for(engine, "connect")
    def _relaxed(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA synchronous=OFF")
        else:
            cursor.execute("SET synchronous_commit TO off")
        cursor.close()


# --- Building ---------------------------------------------------------------------------

# Plain words only: the anonymity checks refuse anything like a name, date, number or address.
ACTIVITIES = [
    "a group session on healthy eating",
    "a walk and talk meeting in the park",
    "a first conversation about what matters to the person",
    "a joint visit with the housing team",
    "a follow-up call about a benefits appeal",
    "a referral to the community gardening project",
    "a talk to the practice team about social prescribing",
    "closing a case after the person felt ready",
    "a peer support session for carers",
    "a meeting with the local food bank",
]
LEARNING = [
    "Asking open questions first helped the person set their own goals.",
    "Planning the ending from the start made closing the relationship easier.",
    "Checking in with my supervisor before a difficult call kept me calm.",
    "Writing notes straight away kept my records accurate and brief.",
    "Listening for what was not said showed me the real barrier.",
]


class Builder:
    """Creates the service through its use cases; ``build`` returns who to sign in as."""

    def __init__(self, scale: Scale, say):
        self.scale = scale
        self.say = say
        self.today = clock.today()

    def build(self) -> tuple[Cast, float]:
        started = time.monotonic()
        loader.load_all()
        self.manager = self._person("manager", "Morgan Manager", {"manager"}, None)
        self._catalogue()
        supervisors, workers = self._people()
        self._assignments(supervisors, workers)
        self.say(f"  {len(workers)} workers, {len(supervisors)} supervisors and a manager")
        for n, worker in enumerate(workers[1:], start=1):
            self._portfolio(worker, supervisors[n % len(supervisors)], self.scale.others_items, n)
        self.say(f"  {self.scale.others_items} items each for {len(workers) - 1} workers, with certificates")
        big, supervisor = workers[0], supervisors[0]
        self._portfolio(big, supervisor, self.scale.items, 0, progress=True)

        cast = Cast(
            worker_email=big.email,
            supervisor_email=supervisor.email,
            manager_email=self.manager.email,
            uploader_email=workers[-1].email,
            worker_id=big.id,
            framework_id=big.framework_id,
            framework_key=big.framework.key,
            waiting=review.queue_count(supervisor),
        )
        return cast, time.monotonic() - started

    # People -------------------------------------------------------------------------

    def _tier(self, framework_key: str, slug: str):
        return db.session.scalar(
            select(Tier)
            .join(Framework)
            .where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == slug)
        )

    def _person(self, handle: str, name: str, roles: set[str], tier):
        """An account, through ``auth.create_user``."""
        return auth_service.create_user(
            email=f"{handle}@{DOMAIN}", name=name, password=PASSWORD, roles={Role(r) for r in roles}, tier=tier
        )

    def _people(self):
        placements = [
            ("link-worker", "link-worker"),
            ("link-worker", "link-worker"),
            ("link-worker", "link-worker-coach"),
            ("sfh-senior-engagement-worker", "senior-engagement-worker"),
        ]
        # argon2id is slow on purpose (a second or more on a busy machine): every account
        # has the benchmark password, so create_user is handed the manager's hash of it.
        with mock.patch("portfolio.auth.passwords.hash_password", return_value=self.manager.password_hash):
            return self._accounts(placements)

    def _accounts(self, placements):
        supervisors = [
            self._person(
                f"supervisor{n}",
                f"Supervisor {_word(n)}",
                {"worker", "supervisor"},
                self._tier("link-worker", "psychosocial-link-worker"),
            )
            for n in range(self.scale.supervisors)
        ]
        # The first worker holds the big portfolio and is on the Link Worker framework.
        workers = [
            self._person(f"worker{n}", f"Worker {_word(n)}", {"worker"}, self._tier(*placements[n % 4]))
            for n in range(self.scale.workers)
        ]
        return supervisors, workers

    def _assignments(self, supervisors, workers) -> None:
        start = self.today - timedelta(days=400)
        for n, worker in enumerate(workers):
            supervision.assign(
                self.manager,
                worker_id=worker.id,
                supervisor_id=supervisors[n % len(supervisors)].id,
                starts_on=start,
                ends_on=None,
            )

    def _catalogue(self) -> None:
        for key, items in DEMO_TRAINING.items():
            framework = db.session.scalar(select(Framework).where(Framework.key == key, Framework.is_current.is_(True)))
            for title, statutory, months in items:
                training.add_item(
                    self.manager, framework, title=title, statutory=statutory, renewal_months=months, tier_slugs=[]
                )

    # Portfolios ---------------------------------------------------------------------

    def _portfolio(self, worker, supervisor, count: int, seed: int, progress: bool = False) -> None:
        """``count`` items linked to three competences each, in every state; certificates for some courses."""
        competences = db.session.scalars(
            select(Competence.id)
            .where(Competence.framework_id == worker.framework_id, Competence.retired_at.is_(None))
            .order_by(Competence.position, Competence.id)
        ).all()
        self._certificates(worker, seed)
        for n in range(count):
            linked = [competences[(3 * (n + seed) + k) % len(competences)] for k in range(3)]
            self._item(worker, supervisor, n + seed, linked)
            if progress and n and n % 250 == 0:
                self.say(f"  {n} of {count} items of the big portfolio")

    def _item(self, worker, supervisor, n: int, linked: list[int]) -> None:
        """One item through the use cases: create, link, then (by its number) submit, sign off or return."""
        kind = [EvidenceKind.REFLECTION, EvidenceKind.OBSERVATION, EvidenceKind.OTHER, EvidenceKind.FEEDBACK][n % 4]
        activity = ACTIVITIES[n % len(ACTIVITIES)]
        data = evidence.EvidenceInput(
            title=f"{activity[0].upper()}{activity[1:]} (item {n + 1})",
            occurred_on=self.today - timedelta(days=1 + n % 700),
            what_happened=f"I led {activity}. " + " ".join(LEARNING[: 1 + n % 3]),
            what_learned=LEARNING[n % len(LEARNING)],
            practice_change="I will plan the next session with the same opening question.",
            description=f"My supervisor observed {activity} and talked it through with me afterwards.",
            feedback_source="colleague",
            feedback_from="A colleague in the team",
            observed_by="My supervisor",
            is_private=kind == EvidenceKind.REFLECTION and n % 50 == 7,
            confirm_anonymous=True,
        )
        item = evidence.create_evidence(worker, kind, data, link_competence_id=linked[0])
        for competence_id in linked[1:]:
            evidence.link_competence(worker, item, competence_id, "Shows this in practice." if n % 3 else "")
        state = n % 10
        if data.is_private or state in (0, 1):  # drafts
            return
        evidence.submit(worker, item, confirm_anonymous=True)
        if state in (2, 3, 4):  # waiting for review
            return
        submission = review.open_submission_of(item)
        signed_off = state != 5
        review.decide(
            supervisor,
            submission,
            outcome=DecisionOutcome.SIGNED_OFF if signed_off else DecisionOutcome.RETURNED,
            comment="" if signed_off else "Say more about what you did yourself.",
            outcomes={
                cid: review.CompetenceOutcome(True)
                if signed_off or i == 0
                else review.CompetenceOutcome(False, "Not shown yet.")
                for i, cid in enumerate(linked)
            },
        )

    def _certificates(self, worker, n: int) -> None:
        """Certificates for some of the framework's courses: valid, expiring soon or expired, by the worker's number."""
        courses = training.options_for(worker)
        for k, course in enumerate(courses[: 1 + n % len(courses)]):
            completed = self.today - timedelta(days=30 + 200 * ((n + k) % 6))
            expires = completed + timedelta(days=30 * course.renewal_months) if course.renewal_months else None
            upload = FileStorage(io.BytesIO(DEMO_PDF), filename="certificate.pdf", content_type="application/pdf")
            evidence.create_evidence(
                worker,
                EvidenceKind.CERTIFICATE,
                evidence.EvidenceInput(
                    title=course.title,
                    provider="The service's training team",
                    occurred_on=completed,
                    expires_on=expires,
                    cpd_hours=Decimal("2.5"),
                    training_item_id=course.id,
                ),
                [upload],
            )


def _word(n: int) -> str:
    """0 -> A, 25 -> Z, 26 -> Aa: names of letters only, as people's names are."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    word = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        word = letters[r] + word
    return word.capitalize()
