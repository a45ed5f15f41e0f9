"""Append to and verify the audit ledger: a hash chain keyed with an HMAC.

Each row's ``hash`` is HMAC-SHA256, with a key kept outside the database
(PORTFOLIO_AUDIT_KEY), over its own fields and the previous row's hash. A
row changed, removed or inserted without the key breaks the chain from
that row on, and ``verify()`` names the first one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import current_app
from sqlalchemy import select, text

from ..extensions import db
from ..models import AuditEntry, User

GENESIS = "0" * 64
# Any constant: PostgreSQL transactions that append take this advisory lock
# so the chain has one writer at a time (SQLite's BEGIN IMMEDIATE already does).
_LOCK_ID = 7_270_001


def _timestamp(value: datetime) -> str:
    """UTC, without offset: SQLite hands back naive datetimes, PostgreSQL aware ones."""
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _digest(key: bytes, *, seq: int, at: datetime, actor_id: int | None, action: str, subject: str, details: dict, prev_hash: str) -> str:
    payload = json.dumps(
        {
            "seq": seq,
            "at": _timestamp(at),
            "actor": actor_id,
            "action": action,
            "subject": subject,
            "details": details,
            "prev": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def _key() -> bytes:
    return current_app.config["AUDIT_KEY"].encode()


def record(actor: User | None, action: str, subject: str, **details: Any) -> AuditEntry:
    """Append a row in the caller's write transaction (it commits with the change it records)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    last = db.session.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
    at = datetime.now(timezone.utc)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_id=actor.id if actor else None,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
    )
    entry.hash = _digest(
        _key(), seq=seq, at=at, actor_id=entry.actor_id, action=action, subject=subject, details=details, prev_hash=prev_hash
    )
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass
class Verification:
    ok: bool
    checked: int
    bad_seq: int | None = None
    bad_id: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            return f"Audit ledger intact: {self.checked} rows checked."
        return f"Audit ledger broken at row {self.bad_seq} (id {self.bad_id}): {self.reason}."


def verify(batch: int = 1000) -> Verification:
    """Walk the chain in order; stop at the first row that does not follow from the one before."""
    key = _key()
    expected_seq, prev_hash, checked = 1, GENESIS, 0
    last_id = 0
    while True:
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)).all()
        if not rows:
            return Verification(True, checked)
        for row in rows:
            last_id = row.id
            if row.seq != expected_seq:
                what = "a row before it was removed" if row.seq > expected_seq else "it was inserted or renumbered"
                return Verification(False, checked, row.seq, row.id, f"expected row {expected_seq} here: {what}")
            if not hmac.compare_digest(row.prev_hash, prev_hash):
                return Verification(False, checked, row.seq, row.id, "it does not follow the row before it")
            digest = _digest(
                key,
                seq=row.seq,
                at=row.at,
                actor_id=row.actor_id,
                action=row.action,
                subject=row.subject,
                details=row.details,
                prev_hash=row.prev_hash,
            )
            if not hmac.compare_digest(row.hash, digest):
                return Verification(False, checked, row.seq, row.id, "its contents were changed")
            prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
