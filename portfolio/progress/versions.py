"""What each server process counted for a worker, kept until that worker's portfolio changes.

The per-competence counts and the newest items per statement are aggregates over a whole portfolio
(2,000 items, 6,000 links): the same answer, computed again on every page, while the portfolio itself
changes a few times a day. So each worker has a *version token* (``PortfolioVersion``), replaced in the
same transaction as any change to what those answers are computed from:

- an item (its owner's), a link, a decision, what a decision accepted, a supervision note's review;
- a worker's framework;
- any framework, tier or competence: owner 0, which every answer also depends on.

Session events find the changes (ORM objects flushed, and ORM ``update``/``delete`` statements) and
write the new tokens as the transaction commits, last, in owner order, so that two writers never wait on
each other's tokens. :func:`cached` reads the tokens first and computes afterwards, so a kept answer is
never older than the token it is kept under. A session with changes not yet committed computes afresh.

Only code that writes through the SQLAlchemy session is seen: raw SQL that changes these tables must
call :func:`changed`.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

from flask import Flask, current_app
from sqlalchemy import event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import ORMExecuteState, Session

from ..extensions import db
from ..models import (
    Competence,
    CompetenceDecision,
    Decision,
    Evidence,
    EvidenceLink,
    Framework,
    NoteReview,
    PortfolioVersion,
    Tier,
    User,
)

V = TypeVar("V")

FRAMEWORKS = 0  # the owner id of the frameworks' own token
_CHANGED = "portfolio_versions_changed"  # session.info: owner ids changed in this transaction
_EXTENSION = "portfolio_versions"

# Answers kept per kind in each process: a worker's counts are a few KB, the newest items some tens.
KEPT = {"counts": 2000, "newest-items": 200}
_FRAMEWORK_MODELS = (Framework, Tier, Competence)
_BY_ITEM = (EvidenceLink, Decision, NoteReview)  # rows that belong to an item (evidence_id)


def cached(kind: str, owner_ids: Iterable[int], compute: Callable[[list[int]], Mapping[int, V]]) -> dict[int, V]:
    """``compute(ids)`` for each owner, from what this process kept while their portfolio is unchanged.

    ``compute`` answers for every id it is given (one query for all the misses). Answers are shared
    between requests: callers must not change them.
    """
    ids = sorted(set(owner_ids))
    if not ids:
        return {}
    store: _Store = current_app.extensions[_EXTENSION]
    tokens = _tokens(ids)  # first: its autoflush may find changes
    pending = changed_here(db.session())
    found: dict[int, V] = {}
    missing: list[int] = []
    for owner in ids:
        key = (kind, owner, tokens.get(owner), tokens.get(FRAMEWORKS))
        hit: Any = store.get(key) if FRAMEWORKS not in pending and owner not in pending else _MISS
        if hit is _MISS:
            missing.append(owner)
        else:
            found[owner] = hit
    if missing:
        computed = compute(missing)
        for owner in missing:
            found[owner] = computed[owner]
            if FRAMEWORKS not in pending and owner not in pending:
                store.put((kind, owner, tokens.get(owner), tokens.get(FRAMEWORKS)), computed[owner], KEPT[kind])
    return found


def forget() -> None:
    """Drop every kept answer of this process (the query-count tests measure the worst case with it)."""
    current_app.extensions[_EXTENSION].clear()


def changed(session: Session, owner_ids: Iterable[int]) -> None:
    """Mark these portfolios (``FRAMEWORKS`` for all) as changed by the session's transaction."""
    session.info.setdefault(_CHANGED, set()).update(owner_ids)


def changed_here(session: Session) -> set[int]:
    """The owners whose portfolios this session's transaction has changed (tokens written at commit)."""
    return session.info.get(_CHANGED, set())


def _tokens(ids: list[int]) -> dict[int, str]:
    rows = db.session.execute(
        select(PortfolioVersion.owner_id, PortfolioVersion.token).where(
            PortfolioVersion.owner_id.in_([FRAMEWORKS, *ids])
        )
    )
    return {owner: token for owner, token in rows}


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
        elif isinstance(obj, _BY_ITEM):
            _item_of(obj, owners, items)
        elif isinstance(obj, CompetenceDecision):
            decision = obj.__dict__.get("decision")
            if decision is not None:
                _item_of(decision, owners, items)
            elif obj.decision_id is not None:
                decisions.add(obj.decision_id)
        elif isinstance(obj, User) and inspect(obj).attrs.framework_id.history.has_changes():
            if obj.id is not None:
                owners.add(obj.id)
    if items or decisions:
        with session.no_autoflush:
            if decisions:
                items.update(session.scalars(select(Decision.evidence_id).where(Decision.id.in_(decisions))).all())
            owners.update(session.scalars(select(Evidence.owner_id).where(Evidence.id.in_(items))).all())
    if owners:
        changed(session, owners)


def _item_of(obj: Any, owners: set[int], items: set[int]) -> None:
    """The owner of the item ``obj`` belongs to, if the item is at hand; else its id, to look up."""
    item = obj.__dict__.get("evidence")
    if item is not None:
        owners.add(item.owner_id if item.owner_id is not None else item.owner.id)
    elif obj.evidence_id is not None:
        items.add(obj.evidence_id)


_TRACKED = (*_FRAMEWORK_MODELS, Evidence, *_BY_ITEM, CompetenceDecision)


def _do_orm_execute(state: ORMExecuteState) -> None:
    """An ORM ``update`` or ``delete`` statement names no objects: it changes every portfolio."""
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    for mapper in state.all_mappers:
        cls = mapper.class_
        if issubclass(cls, _TRACKED) or (cls is User and "framework_id" in cast(Any, state.statement).compile().params):
            changed(state.session, [FRAMEWORKS])
            return


def _before_commit(session: Session) -> None:
    """Write the new tokens last in the transaction (a savepoint's release waits for the real commit)."""
    if session.in_nested_transaction():
        return
    session.flush()  # commit flushes after this event: the last changes are found before the tokens are written
    owners = sorted(session.info.pop(_CHANGED, set()))
    if not owners:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = PortfolioVersion.__table__
    for owner in owners:  # in owner order: two writers lock the same tokens in the same order
        statement = dialect.insert(table).values(owner_id=owner, token=secrets.token_hex(16))
        session.execute(
            statement.on_conflict_do_update(index_elements=["owner_id"], set_={"token": statement.excluded.token})
        )


def _after_transaction_end(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction ended (committed or rolled back)
        session.info.pop(_CHANGED, None)


# --- The kept answers --------------------------------------------------------------------

_MISS = object()


class _Store:
    """Bounded, least recently used first out, per kind; safe for threaded servers."""

    def __init__(self) -> None:
        self._kinds: dict[str, OrderedDict] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any:
        with self._lock:
            kept = self._kinds.get(key[0])
            if kept is None or key not in kept:
                return _MISS
            kept.move_to_end(key)
            return kept[key]

    def clear(self) -> None:
        with self._lock:
            self._kinds.clear()

    def put(self, key: tuple, value: Any, limit: int) -> None:
        with self._lock:
            kept = self._kinds.setdefault(key[0], OrderedDict())
            kept[key] = value
            kept.move_to_end(key)
            while len(kept) > limit:
                kept.popitem(last=False)


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = _Store()  # per app: each test's app starts with nothing kept
    # Registered once per process, however many apps are built (tests build many).
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_transaction_end", _after_transaction_end)
