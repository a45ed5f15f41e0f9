"""Append to and verify the audit ledger: a hash chain keyed with an HMAC.

Each row's ``hash`` is HMAC-SHA256, with a key kept outside the database
(PORTFOLIO_AUDIT_KEY), over its own fields and the previous row's hash. A
row changed, removed or inserted without the key breaks the chain from
that row on, and ``verify()`` names the first one.

Rows of format 2 also bind the record they describe (a decision, a promotion
step, a verification...): the sha256 of its canonical content, computed by
the record type's binder (binders.py), is inside the HMAC. ``verify()``
recomputes that content from the live tables and names any record that
differs, that was deleted, or that has no ledger row. Rows of format 1,
written before content binding, are chain-checked only.

The chain's head is anchored outside the database: ``checkpoint()`` appends
the signed head to a file, and ``verify()`` fails when the chain no longer
holds the row a checkpoint recorded (the newest rows removed, or all of them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, select

from ..database import TURNS, begin_write, take_turns
from ..extensions import db
from ..models import AuditCheck, AuditEntry, User
from . import binders
from .binders import BINDERS, canonical_json, content_hash

GENESIS = "0" * 64
FORMAT = 2  # the format record() writes
ADOPTED = "audit.adopted"
# Transactions that append take turns, so the chain has one writer at a time.
_TURN = TURNS["audit ledger"]

_timestamp = binders.timestamp


@dataclass(frozen=True)
class Binding:
    """What a format-2 row adds to the HMAC: the record it binds and its content's hash."""

    record_type: str | None
    record_id: int | None
    content_hash: str | None


def _digest(
    key: bytes,
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    action: str,
    subject: str,
    details: dict,
    prev_hash: str,
    binding: Binding | None = None,
) -> str:
    fields: dict[str, Any] = {
        "seq": seq,
        "at": _timestamp(at),
        "actor": actor_id,
        "action": action,
        "subject": subject,
        "details": details,
        "prev": prev_hash,
    }
    if binding is not None:  # format 2; format 1 rows hash exactly what they always did
        fields.update(format=FORMAT, record=[binding.record_type, binding.record_id], content=binding.content_hash)
    return hmac.new(key, canonical_json(fields), hashlib.sha256).hexdigest()


class LedgerRow(Protocol):
    """What the chain hashes: an ``AuditEntry``, or a plain row of its columns (the verifying walk reads those)."""

    seq: int
    at: datetime
    actor_id: int | None
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    format: int
    record_type: str | None
    record_id: int | None
    content_hash: str | None


def binding_of(row: LedgerRow) -> Binding | None:
    return Binding(row.record_type, row.record_id, row.content_hash) if row.format >= 2 else None


def row_digest(key: bytes, row: LedgerRow) -> str:
    return _digest(
        key,
        seq=row.seq,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        subject=row.subject,
        details=row.details,
        prev_hash=row.prev_hash,
        binding=binding_of(row),
    )


def _key() -> bytes:
    return current_app.config["AUDIT_KEY"].encode()


def record(
    actor: User | None,
    action: str,
    subject: str,
    *,
    binds: object | None = None,
    removes: object | None = None,
    **details: Any,
) -> AuditEntry:
    """Append a row in the caller's write transaction (it commits with the change it records).

    ``binds`` is the record the row vouches for (flushed, so it has its id):
    its canonical content, read back by its binder, goes into the row.
    ``removes`` is a bound record a use case deletes: the row says it is gone on purpose.
    """
    take_turns(_TURN)
    record_type = record_id = content = None
    if removes is not None:
        record_type, record_id = binders.record_type_of(removes), removes.id  # type: ignore[attr-defined]
    elif binds is not None:
        record_type, record_id = binders.record_type_of(binds), binds.id  # type: ignore[attr-defined]
        db.session.flush()
        content = BINDERS[record_type].load([record_id])[record_id]
    return _append(actor, action, subject, details, record_type, record_id, content)


def _append(actor, action, subject, details, record_type, record_id, content) -> AuditEntry:
    last = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = datetime.now(UTC)
    binding = Binding(record_type, record_id, content_hash(content) if content is not None else None)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_id=actor.id if actor else None,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        format=FORMAT,
        record_type=record_type,
        record_id=record_id,
        content=content,
        content_hash=binding.content_hash,
    )
    entry.hash = _digest(
        _key(),
        seq=seq,
        at=at,
        actor_id=entry.actor_id,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        binding=binding,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# --- checkpoints: the chain's head, outside the database --------------------------------


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: str

    @property
    def when(self) -> str:
        return self.at.replace("T", " ")[:16] + " UTC"


class CheckpointError(Exception):
    """The checkpoint file cannot be trusted (a forged or damaged line)."""


def checkpoint_path() -> Path:
    return Path(current_app.config["AUDIT_CHECKPOINT_FILE"])


def _checkpoint_mac(key: bytes, seq: int, hash_: str, at: str) -> str:
    return hmac.new(
        key, b"checkpoint:" + canonical_json({"seq": seq, "hash": hash_, "at": at}), hashlib.sha256
    ).hexdigest()


def _last_line(path: Path) -> str | None:
    """The file's last non-empty line, read from the end (the file grows for ever)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        handle.seek(0, os.SEEK_END)
        position, tail = handle.tell(), b""
        while position > 0:
            step = min(4096, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            stripped = tail.rstrip()
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1].strip().decode("utf-8", "replace")
        stripped = tail.strip()
        return stripped.decode("utf-8", "replace") if stripped else None


def latest_checkpoint() -> Checkpoint | None:
    """The newest checkpoint, or None before the first.

    :raises CheckpointError: when its line is not signed with the audit key.
    """
    line = _last_line(checkpoint_path())
    if line is None:
        return None
    try:
        data = json.loads(line)
        point = Checkpoint(int(data["seq"]), str(data["hash"]), str(data["at"]))
        mac = str(data["hmac"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"the newest checkpoint in {checkpoint_path()} cannot be read") from None
    if not hmac.compare_digest(mac, _checkpoint_mac(_key(), point.seq, point.hash, point.at)):
        raise CheckpointError(f"the newest checkpoint in {checkpoint_path()} is not signed with the audit key")
    return point


def checkpoint() -> tuple[Checkpoint | None, Verification]:
    """Append the chain's signed head to the checkpoint file, if the chain still holds the last one."""
    result = verify(records=False)
    if not result.ok:
        return None, result
    head = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, hash_ = (head.seq, head.hash) if head else (0, GENESIS)
    at = _timestamp(datetime.now(UTC))
    path = checkpoint_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {"seq": seq, "hash": hash_, "at": at, "hmac": _checkpoint_mac(_key(), seq, hash_, at)}, sort_keys=True
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return Checkpoint(seq, hash_, at), result


# --- verifying ----------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    checked: int
    bad_seq: int | None = None
    bad_id: int | None = None
    reason: str = ""
    # Every problem, in the order found: the chain first, then the checkpoint, then the records.
    problems: list[str] = field(default_factory=list)
    records_checked: int = 0
    checkpoint: Checkpoint | None = None

    @property
    def first_problem(self) -> str:
        if self.bad_seq is not None:
            return f"Audit ledger broken at row {self.bad_seq} (id {self.bad_id}): {self.reason}."
        return f"Audit ledger does not match: {self.problems[0]}." if self.problems else ""

    def describe(self) -> str:
        if self.ok:
            anchored = (
                f" The chain holds row {self.checkpoint.seq} of the checkpoint of {self.checkpoint.when}."
                if self.checkpoint
                else " No checkpoint yet: run `flask audit checkpoint`."
            )
            return f"Audit ledger intact: {self.checked} rows checked. {self.records_checked} records match the ledger.{anchored}"
        lines = [self.first_problem]
        if len(self.problems) > 1:
            lines.append(f"{len(self.problems)} problems in all:")
            lines += [f"- {problem}" for problem in self.problems]
        return "\n".join(lines)


@dataclass
class _Walk:
    checked: int = 0
    head: tuple[int, str] | None = None  # the last row of the unbroken chain
    broken: tuple[int, int, str] | None = None  # seq, id, reason
    hashes_at: dict[int, str] = field(default_factory=dict)
    # The newest row bound to each record: (type, id) -> (seq, content)
    bound: dict[tuple[str, int], tuple[int, dict]] = field(default_factory=dict)


_COLUMNS = (
    AuditEntry.id,
    AuditEntry.seq,
    AuditEntry.at,
    AuditEntry.actor_id,
    AuditEntry.action,
    AuditEntry.subject,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
    AuditEntry.format,
    AuditEntry.record_type,
    AuditEntry.record_id,
    AuditEntry.content,
    AuditEntry.content_hash,
)


def _walk(key: bytes, batch: int, watch_seq: int | None) -> _Walk:
    """Walk the chain in order; stop checking at the first row that does not follow from the one before."""
    walk = _Walk()
    expected_seq, prev_hash, last_id = 1, GENESIS, 0
    while True:
        # Plain rows, not entities: nothing piles up in the session however long the ledger.
        rows = db.session.execute(
            select(*_COLUMNS).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return walk
        for row in rows:
            last_id = row.id
            if row.record_type is not None and row.record_id is not None:
                # content None: the row records the record's removal by a use case.
                walk.bound[(row.record_type, row.record_id)] = (row.seq, row.content)
            if walk.broken:
                continue
            reason = None
            if row.seq != expected_seq:
                what = "a row before it was removed" if row.seq > expected_seq else "it was inserted or renumbered"
                reason = f"expected row {expected_seq} here: {what}"
            elif not hmac.compare_digest(row.prev_hash, prev_hash):
                reason = "it does not follow the row before it"
            elif not hmac.compare_digest(row.hash, row_digest(key, row)):
                reason = "its contents were changed"
            elif (
                row.format >= 2 and row.content_hash is not None and content_hash(row.content or {}) != row.content_hash
            ):
                reason = "the content it binds was changed"
            if reason:
                walk.broken = (row.seq, row.id, reason)
                continue
            if row.seq == watch_seq:
                walk.hashes_at[row.seq] = row.hash
            prev_hash, expected_seq, walk.checked = row.hash, expected_seq + 1, walk.checked + 1
            walk.head = (row.seq, row.hash)


def _checkpoint_problems(walk: _Walk, point: Checkpoint) -> list[str]:
    if point.seq == 0:
        return []
    if walk.head is None and walk.broken is None:
        return [f"the ledger is empty, but the checkpoint of {point.when} recorded {point.seq} rows: it was emptied"]
    if walk.broken is not None and walk.broken[0] <= point.seq:
        return []  # the chain problem already names where it breaks
    if walk.head is not None and walk.head[0] < point.seq:
        return [
            f"the ledger ends at row {walk.head[0]}, but the checkpoint of {point.when} recorded row {point.seq}: the newest rows were removed"
        ]
    recorded = walk.hashes_at.get(point.seq)
    if recorded is None or not hmac.compare_digest(recorded, point.hash):
        return [
            f"row {point.seq} is not the row the checkpoint of {point.when} recorded: the ledger was rewritten from there"
        ]
    return []


def _record_problems(walk: _Walk) -> tuple[list[str], int]:
    """Recompute every bound record from the live tables: a fixed number of queries per record type."""
    problems, checked = [], 0
    for record_type, binder in BINDERS.items():
        live = binder.load(None)
        checked += len(live)
        bound = {record_id: value for (kind, record_id), value in walk.bound.items() if kind == record_type}
        for record_id in sorted(set(live) | set(bound)):
            if record_id not in bound:
                problems.append(f"{binder.name(record_id, live[record_id])}: it has no ledger row")
            elif bound[record_id][1] is None:
                if record_id in live:
                    problems.append(
                        f"{binder.name(record_id, live[record_id])}: it exists, but ledger row {bound[record_id][0]} records its removal"
                    )
            elif record_id not in live:
                seq, recorded = bound[record_id]
                problems.append(f"{binder.name(record_id, recorded)}: it was deleted, but ledger row {seq} records it")
            else:
                seq, recorded = bound[record_id]
                name = binder.name(record_id, live[record_id])
                problems += [f"{name}: {difference}" for difference in binders.differences(recorded, live[record_id])]
    return problems, checked


def verify(batch: int = 1000, *, records: bool = True) -> Verification:
    """Check the chain, then the newest checkpoint, then (``records``) every bound record against the live tables."""
    key = _key()
    problems: list[str] = []
    try:
        point = latest_checkpoint()
    except CheckpointError as error:
        point, problems = None, [str(error)]
    walk = _walk(key, batch, point.seq if point else None)
    result = Verification(ok=False, checked=walk.checked, checkpoint=point)
    if walk.broken:
        result.bad_seq, result.bad_id, result.reason = walk.broken
        problems.insert(0, f"row {walk.broken[0]} (id {walk.broken[1]}): {walk.broken[2]}")
    if point is not None:
        problems += _checkpoint_problems(walk, point)
    if records:
        found, result.records_checked = _record_problems(walk)
        problems += found
    result.problems = problems
    result.ok = not problems
    return result


def run_check(run_by: User | None = None) -> tuple[Verification, AuditCheck]:
    """Verify and keep the result, for the managers' Audit page."""
    result = verify()
    begin_write()
    check = AuditCheck(
        ok=result.ok,
        rows_checked=result.checked,
        problem_count=len(result.problems),
        first_problem=result.first_problem[:500],
        run_by_id=run_by.id if run_by else None,
    )
    db.session.add(check)
    db.session.commit()
    return result, check


def recent_checks(limit: int = 10) -> list[AuditCheck]:
    return list(
        db.session.scalars(select(AuditCheck).order_by(AuditCheck.at.desc(), AuditCheck.id.desc()).limit(limit))
    )


def ledger_size() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0


# --- records from before content binding ------------------------------------------------------


def adopt() -> list[str]:
    """Bind, once, the records written before content binding, as they stand (trusting them).

    Only records older than the first one of their type that a use case bound
    are adopted: a newer record without a ledger row is a problem to look into.
    """
    begin_write()
    take_turns(_TURN)
    bound = {
        (kind, record_id)
        for kind, record_id in db.session.execute(
            select(AuditEntry.record_type, AuditEntry.record_id).where(AuditEntry.record_type.is_not(None))
        )
    }
    first_bound = dict(
        db.session.execute(
            select(AuditEntry.record_type, func.min(AuditEntry.record_id))
            .where(AuditEntry.record_type.is_not(None), AuditEntry.action != ADOPTED)
            .group_by(AuditEntry.record_type)
        ).all()
    )
    adopted = []
    for record_type, binder in BINDERS.items():
        limit = first_bound.get(record_type)
        for record_id, content in sorted(binder.load(None).items()):
            if (record_type, record_id) in bound or (limit is not None and record_id > limit):
                continue
            _append(None, ADOPTED, f"{record_type}:{record_id}", {}, record_type, record_id, content)
            adopted.append(binder.name(record_id, content))
    db.session.commit()
    return adopted
