"""What each server process counted for a worker, kept until that worker's portfolio changes.

The per-competence counts and the newest items per statement are aggregates over a whole portfolio
(2,000 items, 6,000 links): the same answer, computed again on every page, while the portfolio itself
changes a few times a day. So each worker has a *version token* (``PortfolioVersion``), replaced in the
same transaction as any change to what those answers are computed from:

- an item (its owner's), a link, a file, a decision, what a decision accepted, a supervision note's review;
- a worker's framework, and who they are in a team's answers (their tier, being a worker, being active, their
  name and email: what a team's list matches them by);
- any framework, tier, group, statement or requirement, or a course of the training catalogue: owner 0, which
  every answer also depends on (and what depends only on the frameworks, kept under it alone: each framework's
  structure, the current frameworks, the catalogue's courses).

An answer over many portfolios at once (the compliance matrix's totals for a whole team) is kept with the rows
of :func:`owners_state`: which owners it covers, what else about them it depends on, and their tokens.

Session events find the changes (ORM objects flushed, and ORM ``update``/``delete`` statements) and
write the new tokens as the transaction commits, last, in owner order, so that two writers never wait on
each other's tokens. :func:`cached` reads the tokens first and computes afterwards, so a kept answer is
never older than the token it is kept under. A session with changes not yet committed computes afresh.

Only code that writes through the SQLAlchemy session is seen: raw SQL that changes these tables must
call :func:`changed`, and after a deploy (older processes wrote no tokens; data migrations write none)
``flask progress renew`` makes every process count afresh.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import Integer, Label, Select, bindparam, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstanceState, ORMExecuteState, Session

from ..database import read_rows, rows_as_json, rows_from_json
from ..extensions import db
from ..models import (
    Competence,
    CompetenceDecision,
    CompetenceGroup,
    Decision,
    Evidence,
    EvidenceFile,
    EvidenceLink,
    Framework,
    NoteReview,
    PortfolioVersion,
    Requirement,
    Tier,
    TrainingItem,
    User,
)

V = TypeVar("V")
Drawn = TypeVar("Drawn")  # a part of a page drawn to be kept (rendered HTML, say), by the caller's draw function

FRAMEWORKS = 0  # the owner id of the frameworks' own token
_CHANGED = "portfolio_versions_changed"  # session.info: owner ids changed in this transaction
_READ = "portfolio_versions_read"  # session.info: the tokens this transaction has read, by owner
_WRITTEN = "portfolio_versions_written"  # session.info: owners whose tokens a released savepoint wrote
_EXTENSION = "portfolio_versions"
_PAGE_OFFSET = "state_offset"  # page_state's parameter
_AFRESH = "portfolio_versions_afresh"  # session.info: computing an answer to keep (_afresh)

# Answers kept per kind in each process (one per worker): a worker's counts are some KB (their items by
# status, a few numbers), the newest items per statement up to a few hundred KB for a large portfolio.
# A worker's progress to their next tier is three values. A framework's structure (tiers, groups, statements,
# requirements) is one per framework version; the current frameworks (their columns) and the training catalogue's
# current courses are one each (a few KB).
# Rendered parts of pages (:func:`kept_for`), up to VARIANTS_KEPT per worker: a worker's competence map is about
# 120 KB of HTML (a filtered one less), a page of their portfolio about 25 KB, their framework's page about 45 KB
# (everyone else's view of a framework is kept once, under the frameworks' owner). At worst some 20 to 40 MB of
# each per process; in practice a worker looks at the whole map, the first pages and their own framework.
# A team's answers (:func:`kept_for_owners`) are small: the totals per course and status, and a digest; the
# requirements and courses that lapsed in a supervisor's team or a manager's service (one per supervisor and manager,
# and day), up to ten and a count; a page of the managers' workers list or of a compliance matrix, rendered, is about
# 30 KB (per manager, filters, page and day); of a review queue about 15 KB (per supervisor, filters, page and
# day); a supervisor's team some KB; a worker's parts of her home some KB (per worker and day); the certificates
# waiting for a checker's check, up to ten with their forms, about 20 KB (per checker and day); the lower half of
# a progress page, where a worker stands and her earlier requests, about 8 KB (per worker, day and kind of viewer:
# herself, a supervisor, a manager).
KEPT = {
    "counts": 1000,
    "next-tier": 1000,
    "item-counts": 1000,
    "newest-items": 50,
    "framework-structure": 50,
    "current-frameworks": 4,
    "training-courses": 4,
    "competence-map": 50,
    "portfolio-list": 100,
    "framework-page": 100,
    "compliance-totals": 64,
    "compliance-rows": 64,
    "review-queue": 256,
    "supervisor-team": 256,
    "workers-table": 64,
    "worker-home": 512,
    "certificates-to-check": 256,
    "progress-standing": 512,
    "home-lapses": 256,
    "never-verified": 64,  # per manager
}
VARIANTS_KEPT = 8  # per owner and kind: filters, page numbers
_VARIANTS_LOCK = threading.Lock()
# The training catalogue too: what a worker's training rows show (a worker's home, kept) is worked out from it.
_FRAMEWORK_MODELS = (Framework, Tier, CompetenceGroup, Competence, Requirement, TrainingItem)
_BY_ITEM = (EvidenceLink, Decision, NoteReview, EvidenceFile)  # rows that belong to an item (evidence_id)


def cached(
    kind: str,
    ids: Iterable[int],
    compute: Callable[[list[int]], Mapping[int, V]],
    *,
    by_owner: bool = True,
    still_valid: Callable[[int, V], bool] | None = None,
) -> dict[int, V]:
    """``compute(ids)`` for each id, from what this process kept while the answer's tokens are unchanged.

    ``ids`` are portfolio owners, whose answers are kept under their own token and the frameworks'; or,
    with ``by_owner=False``, ids of something that depends only on the frameworks (a framework's
    structure; or ``FRAMEWORKS`` itself, for one answer about them all, such as the current frameworks), kept
    under the frameworks' token alone. ``compute`` answers for every id it is given (one
    query for all the misses). Answers are shared between requests: callers must not change them.

    ``still_valid(id, kept)``: for an answer computed from rows the caller read before the tokens (a worker's
    tier, on the User it holds). On PostgreSQL a change may commit between the two reads, and the answer for the
    older row would be kept under the newer token; a kept answer that fails the check is computed again.
    """
    ids = sorted(set(ids))
    if not ids:
        return {}
    store: _Store = current_app.extensions[_EXTENSION]
    tokens = _tokens(ids if by_owner else [])  # first: its autoflush may find changes
    pending = changed_here(db.session())
    # The tokens each answer is kept under; none for what this transaction changed (not yet committed).
    keys: dict[int, tuple] = {}
    if FRAMEWORKS not in pending:
        frameworks = tokens.get(FRAMEWORKS)
        if by_owner:
            keys = {o: (tokens.get(o), frameworks) for o in ids if o not in pending}
        else:
            keys = dict.fromkeys(ids, (frameworks,))
    found: dict[int, V] = {}
    missing: list[int] = []
    for key in ids:
        hit: Any = store.get(kind, key, keys[key]) if key in keys else _MISS
        if hit is not _MISS and still_valid is not None and not still_valid(key, hit):
            hit = _MISS
        if hit is _MISS:
            missing.append(key)
        else:
            found[key] = hit
    if missing:
        computed = compute(missing)
        for key in missing:
            found[key] = computed[key]
            if key in keys:
                store.put(kind, key, keys[key], computed[key])
    return found


def kept_for(kind: str, owner_id: int, variant: Hashable, compute: Callable[[], V]) -> V:
    """``compute()``, kept for the owner and ``variant`` (a filter, a page number) until their portfolio or a
    framework changes.

    For a part of a page (rendered HTML, say) that shows nothing but the owner's portfolio and the frameworks:
    no form, no token, nothing of who is looking. ``compute`` must read only what the tokens cover; what it
    reads is at least as new as the tokens it is kept under (read first), as for :func:`cached`. An owner's
    variants are kept together, the ``VARIANTS_KEPT`` most recently used, and dropped together.
    """
    if current_app.jinja_env.auto_reload:
        return compute()  # `make dev`: templates change as they are edited, and a kept rendering would hide it
    variants: dict[Hashable, Any] = cached(kind, [owner_id], lambda ids: {owner: {} for owner in ids})[owner_id]
    with _VARIANTS_LOCK:  # an owner's variants are shared by the threads of a threaded server
        if variant in variants:
            found = variants[variant] = variants.pop(variant)  # the most recently used last
            return found
    found = compute()
    with _VARIANTS_LOCK:
        variants[variant] = found
        while len(variants) > VARIANTS_KEPT:
            del variants[next(iter(variants))]  # the least recently used goes first
    return found


def owners_state(owners: Select) -> Select:
    """``owners`` (its first column an owner's id, with whatever else about them an answer depends on) with each
    row's token and the frameworks' token: what :func:`kept_for_owners` compares. Build it once and keep it."""
    chosen = owners.subquery()
    owner_id = chosen.c[0]
    frameworks = select(PortfolioVersion.token).where(PortfolioVersion.owner_id == FRAMEWORKS).scalar_subquery()
    return (
        select(chosen, PortfolioVersion.token, frameworks)
        .select_from(chosen)
        .outerjoin(PortfolioVersion, PortfolioVersion.owner_id == owner_id)
        .order_by(owner_id)
    )


def page_state(owners: Select, per_page: int) -> Select:
    """:func:`owners_state` of one page of ``owners`` (ordered, its first column an owner's id), each row with how
    many rows match in all: the state of a paged list kept rendered. Its offset: :func:`page_parameters`."""
    page = owners.add_columns(func.count().over()).limit(per_page).offset(bindparam(_PAGE_OFFSET, type_=Integer()))
    return owners_state(page)


def page_parameters(number: int, per_page: int) -> dict[str, int]:
    """The parameters of a :func:`page_state` statement for page ``number``."""
    return {_PAGE_OFFSET: (number - 1) * per_page}


def kept_for_owners(
    kind: str,
    variant: Hashable,
    state: Select,
    compute: Callable[[], V],
    parameters: Mapping[str, Any] | None = None,
    *,
    when_empty: Callable[[], V] | None = None,
    rows: Sequence[tuple] | None = None,
) -> V:
    """``compute()``, an answer over many portfolios at once (a team's totals), kept until any of them changes.

    ``state`` is an :func:`owners_state` statement. Its rows (which owners, what else about them, their tokens
    and the frameworks') are read first and kept with the answer (as a digest): while they read the same, so would
    the answer, provided ``compute`` reads only what they cover. Kept per ``variant`` (the answer's filters, its
    day), the most recent state only. ``parameters``: the values of the state's bound parameters (``variant`` must
    hold them too). ``when_empty``: the answer when the state reads no rows, if it is known without asking (nothing
    to list); else ``compute`` is asked. ``rows``: the state as :func:`read_state` read it in this request, for
    several answers kept under one state (one query). Answers are shared between requests: callers must not change
    them.

    A state may read as it did before a change (how many match, who is supervised: a leaver back, a worker off the
    page and on again), so an answer is kept only if it is the state's own. On PostgreSQL each statement sees what
    had committed when it began: an answer is kept only if the state reads the same once it is computed (nothing
    it covers committed meanwhile), and if the tokens this transaction read before the state (with the signed-in
    user, and what was kept under them) are the state's own (nothing committed between those reads either).
    """
    if current_app.jinja_env.auto_reload:
        return compute()  # `make dev`: as for kept_for
    session = db.session()
    if rows is None:
        rows = read_state(state, parameters)
    if not rows and when_empty is not None:
        return when_empty()
    if changed_here(session) or not rows:
        # This transaction's own changes, not yet committed, are never kept; nor an answer over nobody, which costs
        # next to nothing and may stand for more than its rows say (a page past the end shows the last page).
        return compute()
    _remember_state_tokens(session, rows)
    digest = _digest(rows)
    store: _Store = current_app.extensions[_EXTENSION]
    found = store.get(kind, variant, digest)
    if found is _MISS:
        found = _afresh(session, compute)
        if _read_as(session, rows) and _digest(read_state(state, parameters)) == digest:
            store.put(kind, variant, digest, found)
    return found


def read_state(state: Select, parameters: Mapping[str, Any] | None = None) -> Sequence[tuple]:
    """The rows of an :func:`owners_state` statement, to read before anything kept under it (its autoflush may find
    changes): :func:`kept_for_owners` reads them, or is given them (read with other states and counts in one
    query: :func:`state_read`)."""
    [(value,)] = read_rows(_as_json(state), parameters)
    return state_rows(value)


def state_read(name: str, state: Select, parameters: Mapping[str, Any]) -> tuple[dict[str, Select], dict[str, Any]]:
    """An :func:`owners_state` statement and its parameters as a part of ``tally.read``, under ``name``: a page's
    states read in the query that reads its counts. Its value there: :func:`state_rows`."""
    return {name: _as_json(state)}, dict(parameters)


def state_rows(value: str | None) -> Sequence[tuple]:
    """A state's rows from its value read by ``tally.read`` (:func:`state_read`), as :func:`read_state` reads them."""
    return _StateRows(rows_from_json(value))


class _StateRows(list[tuple]):
    """A state's rows as read once, with their digest once worked out: a page may keep several answers under one
    state (a manager's home: the service's lapses and who was never verified), and a digest of a service's
    workers is some 0.2 ms."""

    __slots__ = ("digest",)
    digest: tuple[bytes]


# Kept by the state object: a statement built once is also keyed once (SQLAlchemy works out a statement's cache key
# on each execution unless it has done so for that object, some 0.3 ms for a state here). Most states are built
# once per process (the homes', the team's, an unfiltered list's); a filtered list's is built for its request, or
# kept a while by its caller's cache, and passes through this one without use. Those churn only its least recently
# used end: the states read on every visit stay, and one pushed out costs a statement built again.
@functools.lru_cache(maxsize=256)
def _as_json(state: Select) -> Select:
    """A state's rows read as one value (database.rows_as_json), whether alone or with others: both are compared."""
    return rows_as_json(state)


def _afresh(session: Session, compute: Callable[[], V]) -> V:
    """``compute()`` with every ORM query's rows read afresh over the objects this transaction holds already.

    An object loaded earlier in the request (a worker named by a promotion request on the same home) is otherwise
    drawn as it was then: on PostgreSQL a change committed since would be kept under the newer state.
    """
    session.info[_AFRESH] = session.info.get(_AFRESH, 0) + 1
    try:
        return compute()
    finally:
        session.info[_AFRESH] -= 1


def _digest(rows: Sequence[tuple]) -> tuple[bytes]:
    """Rows kept as a digest: a team of thousands is some 270 bytes a worker in rows, for each variant. In any
    order: a state is a set of rows (one JSON aggregate need not keep its subquery's order)."""
    known: tuple[bytes] | None = getattr(rows, "digest", None)
    if known is None:
        known = (hashlib.blake2b(repr(sorted(repr(row) for row in rows)).encode(), digest_size=16).digest(),)
        if isinstance(rows, _StateRows):
            rows.digest = known
    return known


def _remember_state_tokens(session: Session, rows: Sequence[tuple]) -> None:
    """The tokens an :func:`owners_state` read, as this transaction's own (for owners it had not read yet): what is
    kept under them later in the request (a worker's counts, on the page whose other half is kept under this state)
    costs no query of its own."""
    read: dict[int, str | None] = session.info.setdefault(_READ, {})
    read.setdefault(FRAMEWORKS, rows[0][-1])
    for row in rows:
        read.setdefault(row[0], row[-2])


def _read_as(session: Session, rows: Sequence[tuple]) -> bool:
    """Whether the tokens this transaction has read agree with an :func:`owners_state`'s rows (each an owner's id
    first, their token and the frameworks' last)."""
    read: dict[int, str | None] = session.info.get(_READ, {})
    if FRAMEWORKS in read and read[FRAMEWORKS] != rows[0][-1]:
        return False
    return all(read[row[0]] == row[-2] for row in rows if row[0] in read)


def forget() -> None:
    """Drop every kept answer of this process (the query-count tests measure the worst case with it)."""
    current_app.extensions[_EXTENSION].clear()


def changed(session: Session, owner_ids: Iterable[int]) -> None:
    """Mark these portfolios (``FRAMEWORKS`` for all) as changed by the session's transaction."""
    session.info.setdefault(_CHANGED, set()).update(owner_ids)


def changed_here(session: Session) -> set[int]:
    """The owners whose portfolios this session's transaction has changed (tokens written at commit)."""
    return session.info.get(_CHANGED, set()) | session.info.get(_WRITTEN, set())


def _tokens(ids: list[int]) -> dict[int, str | None]:
    """The tokens of ``ids`` and the frameworks' (None: never written), read once per transaction.

    A token read earlier in the transaction is as good as a newer one: an answer is never older than the
    token it is kept under, and one computed later is only newer. With changes waiting to be flushed, the
    query runs anyway, for its autoflush (the changes must be found before anything is looked up).
    """
    session = db.session()
    read: dict[int, str | None] = session.info.setdefault(_READ, {})
    wanted = [owner for owner in (FRAMEWORKS, *ids) if owner not in read]
    if wanted or session.new or session.dirty or session.deleted:
        rows = session.execute(_tokens_statement(), {"owners": wanted or [FRAMEWORKS]})
        read.update(dict.fromkeys(wanted))
        read.update({owner: token for owner, token in rows})
    return read


def tokens_of(owner_id: Any) -> tuple[Label, Label]:
    """The token of ``owner_id`` (a column) and the frameworks', as two columns of a statement that reads the owner
    anyway.

    The signed-in user is read at the start of every request (auth/sessions.py): with these, the answers kept
    for them and the frameworks' structure cost no query of their own (:func:`remember_tokens`).
    """

    def token(owner: Any) -> Any:
        return select(PortfolioVersion.token).where(PortfolioVersion.owner_id == owner).scalar_subquery()

    return token(owner_id).label("own_token"), token(FRAMEWORKS).label("frameworks_token")


def remember_tokens(owner_id: int, own: str | None, frameworks: str | None) -> None:
    """Tokens a statement of :func:`tokens_of` read in this transaction: :func:`cached` uses them as its own."""
    read: dict[int, str | None] = db.session().info.setdefault(_READ, {})
    read.setdefault(owner_id, own)
    read.setdefault(FRAMEWORKS, frameworks)


@functools.cache
def _tokens_statement() -> Select:
    """Built once per process: nearly every page of a worker's reads tokens, and building the statement
    cost more than running it."""
    return select(PortfolioVersion.owner_id, PortfolioVersion.token).where(
        PortfolioVersion.owner_id.in_(bindparam("owners", expanding=True))
    )


# --- Finding the changes -----------------------------------------------------------------


def _before_flush(session: Session, _context, _instances) -> None:
    owners: set[int] = set()
    items: set[int] = set()
    decisions: set[int] = set()
    for obj in (*session.new, *session.deleted, *(o for o in session.dirty if session.is_modified(o))):
        if isinstance(obj, _FRAMEWORK_MODELS):
            owners.add(FRAMEWORKS)
        elif isinstance(obj, Evidence):
            owners.add(obj.owner_id if obj.owner_id is not None else obj.owner.id)
            owners.update(_before_the_change(obj, "owner_id"))  # an item moved: its old owner too
        elif isinstance(obj, _BY_ITEM):
            _item_of(obj, owners, items)
            items.update(_before_the_change(obj, "evidence_id"))
        elif isinstance(obj, CompetenceDecision):
            decision = obj.__dict__.get("decision")
            if decision is not None:
                _item_of(decision, owners, items)
            elif obj.decision_id is not None:
                decisions.add(obj.decision_id)
            decisions.update(_before_the_change(obj, "decision_id"))
        elif isinstance(obj, User) and obj.id is not None and _who_changed(obj):
            owners.add(obj.id)
    if items or decisions:
        with session.no_autoflush:
            if decisions:
                items.update(session.scalars(select(Decision.evidence_id).where(Decision.id.in_(decisions))).all())
            owners.update(session.scalars(select(Evidence.owner_id).where(Evidence.id.in_(items))).all())
    if owners:
        changed(session, owners)


def _before_the_change(obj: Any, column: str) -> list[int]:
    """The values ``column`` had before this flush's change, if it changed."""
    return [value for value in inspect(obj).attrs[column].history.deleted if value is not None]


# What about a user an answer may depend on: a worker's own answers on their framework; a team's (kept with
# versions.kept_for_owners) on which workers match and their tiers. Relationships too: set through one, the id
# is only copied over during the flush. A new token for each such change means a team's tokens never read the
# same again after a change and its undoing (a leaver back, a tier changed back).
_WHO = ("framework_id", "framework", "tier_id", "tier", "is_worker", "active", "name", "email")


def _who_changed(user: User) -> bool:
    state: InstanceState[User] = inspect(user)
    return any(state.attrs[name].history.has_changes() for name in _WHO)


def _item_of(obj: Any, owners: set[int], items: set[int]) -> None:
    """The owner of the item ``obj`` belongs to, if the item is at hand; else its id, to look up."""
    item = obj.__dict__.get("evidence")
    if item is not None:
        owners.add(item.owner_id if item.owner_id is not None else item.owner.id)
    elif obj.evidence_id is not None:
        items.add(obj.evidence_id)


_TRACKED = (*_FRAMEWORK_MODELS, Evidence, *_BY_ITEM, CompetenceDecision)


_SETS_WHO = re.compile(r"(?:^|,)(?:" + "|".join(_WHO) + ")=")


def _set_clause(state: ORMExecuteState) -> str:
    """An UPDATE's SET clause as SQL without spaces (its WHERE clause may name columns it does not change)."""
    sql = " ".join(str(state.statement).split())
    return sql.split(" SET ", 1)[-1].split(" WHERE ", 1)[0].replace(" ", "")


def _do_orm_execute(state: ORMExecuteState) -> None:
    """An ORM ``insert``, ``update`` or ``delete`` statement names no objects: it changes every portfolio.

    For users, only one that names what answers depend on (most such statements end sessions). A query run while an
    answer to keep is computed reads its rows afresh (:func:`_afresh`).
    """
    if state.is_select and state.session.info.get(_AFRESH):
        state.update_execution_options(populate_existing=True)
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    for mapper in state.all_mappers:
        cls = mapper.class_
        if issubclass(cls, _TRACKED) or (
            cls is User and (not state.is_update or _SETS_WHO.search(_set_clause(state)) is not None)
        ):
            changed(state.session, [FRAMEWORKS])
            return


def _before_commit(session: Session) -> None:
    """Write the new tokens last in the transaction (or in the savepoint being released, which the
    transaction then commits or rolls back with everything else)."""
    session.flush()  # commit flushes after this event: the last changes are found before the tokens are written
    owners = sorted(session.info.pop(_CHANGED, set()))
    for statement in _new_tokens(session, owners):
        session.execute(statement)
    if session.in_nested_transaction():
        # A savepoint released: its tokens are written, but not committed until the whole transaction is.
        # Until then what it changed stays "changed here" (never kept, and the tokens read before it do
        # not describe it).
        session.info.setdefault(_WRITTEN, set()).update(owners)


def _new_tokens(session: Session, owners: list[int]) -> list[Any]:
    """An upsert of a fresh token per owner, in owner order: two writers lock the same tokens in the same order."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = PortfolioVersion.__table__
    statements = []
    for owner in owners:
        statement = dialect.insert(table).values(owner_id=owner, token=secrets.token_hex(16))
        statements.append(
            statement.on_conflict_do_update(index_elements=["owner_id"], set_={"token": statement.excluded.token})
        )
    return statements


def renew_all() -> None:
    """A new frameworks token: every process counts every portfolio afresh (after a deploy or SQL by hand)."""
    session = db.session()
    changed(session, [FRAMEWORKS])
    session.commit()


def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (committed or rolled back)
        session.info.pop(_CHANGED, None)
        session.info.pop(_WRITTEN, None)
        session.info.pop(_READ, None)


# --- The kept answers --------------------------------------------------------------------

_MISS = object()


class _Store:
    """One answer per kind and owner, or variant of a many-owner answer (with the tokens it was computed under),
    least recently used out first.

    Safe for threaded servers.
    """

    def __init__(self) -> None:
        self._kinds: dict[str, OrderedDict] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, owner: Hashable, tokens: tuple) -> Any:
        with self._lock:
            kept = self._kinds.get(kind)
            entry = kept.get(owner) if kept is not None else None
            if entry is None or entry[0] != tokens:
                return _MISS
            kept.move_to_end(owner)  # type: ignore[union-attr]
            return entry[1]

    def put(self, kind: str, owner: Hashable, tokens: tuple, value: Any) -> None:
        with self._lock:
            kept = self._kinds.setdefault(kind, OrderedDict())
            kept[owner] = (tokens, value)  # replaces the answer of older tokens
            kept.move_to_end(owner)
            while len(kept) > KEPT[kind]:
                kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = _Store()  # per app: each test's app starts with nothing kept
    # Registered once per process, however many apps are built (tests build many).
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
