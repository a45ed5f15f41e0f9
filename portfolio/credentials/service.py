"""Met tiers as Open Badges 3.0 credentials: issue, revoke, publish the status list, verify.

The issuer is a ``did:web`` for the service's public address; its Ed25519 key
lives outside the database (``PORTFOLIO_ISSUER_KEY``), like the audit key.
Each credential gets one bit in a W3C Bitstring Status List; revoking sets it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import abort, current_app
from sqlalchemy import func, select

from ..audit import ledger
from ..database import TURNS, begin_write, lock_or_404, take_turns
from ..errors import FieldError
from ..extensions import db
from ..frameworks.tree import framework_tree
from ..models import Framework, IssuedCredential, Role, Tier, User, utcnow
from ..notifications import service as notifications
from ..organisation import service as organisation
from ..portability import case
from ..progress import rules
from ..templating import long_date
from . import signing

STATUS_LIST_BITS = 131_072  # 16 KB: the minimum the Bitstring Status List spec asks for, for herd privacy
STATUS_LIST_NUMBER = 1
_TURN = TURNS["credential status index"]  # one allocation of a status index at a time
REASON_MAX = 500


class CredentialsUnavailable(RuntimeError):
    """No issuer key is configured, so nothing can be signed."""


# --- The issuer --------------------------------------------------------------------------------


def issuer_did() -> str:
    """``did:web`` of the service's public address (a port is percent-encoded, a path becomes segments)."""
    parts = urlsplit(current_app.config["PUBLIC_URL"])
    host = parts.hostname or "localhost"
    if parts.port:
        host = f"{host}%3A{parts.port}"
    path = [segment for segment in parts.path.split("/") if segment]
    return ":".join(["did:web", host, *path])


def key_id() -> str:
    return f"{issuer_did()}#key-1"


def _private_key() -> Ed25519PrivateKey:
    value = current_app.config.get("ISSUER_KEY")
    if not value:
        raise CredentialsUnavailable("PORTFOLIO_ISSUER_KEY is not set: run `flask credentials key` and set it.")
    return signing.private_key_from_multibase(value)


def can_issue() -> bool:
    return bool(current_app.config.get("ISSUER_KEY"))


def public_key() -> Ed25519PublicKey:
    return _private_key().public_key()


def did_document() -> dict[str, Any]:
    """The DID document served at ``/.well-known/did.json``: the key that signs our credentials."""
    did = issuer_did()
    method = {
        "id": key_id(),
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": signing.public_multibase(public_key()),
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [method],
        "assertionMethod": [method["id"]],
    }


def _stamp(moment: datetime) -> str:
    """``moment`` as a credential writes it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return _stamp(utcnow())


def _url(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + path


def status_list_url() -> str:
    return _url(f"/credentials/status/{STATUS_LIST_NUMBER}")


def credential_url(public_id: str) -> str:
    return _url(f"/credentials/{public_id}")


def _issuer() -> dict[str, Any]:
    return {
        "id": issuer_did(),
        "type": ["Profile"],
        "name": organisation.identity().name,
        "url": current_app.config["PUBLIC_URL"],
    }


# --- Issuing -----------------------------------------------------------------------------------


def _alignments(framework: Framework, tier: Tier) -> list[dict[str, Any]]:
    """The CASE items of the statements the tier covers (tiers are cumulative)."""
    tree = framework_tree(framework)
    covered = [row.competence for row in tree.rows if row.competence.tier.position <= tier.position]
    return [
        {
            "type": ["Alignment"],
            "targetName": competence.statement,
            "targetUrl": _url(f"{case.API_PATH}/CFItems/{case.identifier(framework.key, 'statement', competence.ref)}"),
            "targetCode": competence.ref,
            "targetFramework": framework.title,
            "targetType": "CFItem",
        }
        for competence in covered
    ]


def credential_name(framework: Framework, tier: Tier) -> str:
    """What a reader calls the credential: the tier and its framework ("Link Worker Coach (Link Worker Competency
    Framework)"), or the framework alone when the tier is the role it profiles."""
    return framework.title if tier.name == framework.short_title else f"{tier.name} ({framework.title})"


def _credential(
    public_id: str, worker: User, framework: Framework, tier: Tier, index: int, valid_from: str
) -> dict[str, Any]:
    salt = secrets.token_hex(8)
    tier_item = case.identifier(framework.key, "part", tier.slug)
    return {
        "@context": [signing.CREDENTIALS_V2, signing.OPEN_BADGES_V3],
        "id": credential_url(public_id),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": credential_name(framework, tier),
        "description": f"Every competence of {tier.name} in the {framework.title} met, as signed off by supervisors.",
        "issuer": _issuer(),
        "validFrom": valid_from,
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "hashed": True,
                    "identityHash": "sha256$" + hashlib.sha256((worker.email.lower() + salt).encode()).hexdigest(),
                    "identityType": "emailAddress",
                    "salt": salt,
                }
            ],
            "achievement": {
                "id": _url(f"{case.API_PATH}/CFItems/{tier_item}"),
                "type": ["Achievement"],
                "achievementType": "Competency",
                "name": tier.name,
                "description": f"{tier.name} in the {framework.title} ({framework.publisher}, version {framework.version}).",
                "criteria": {
                    "narrative": f"Evidence accepted by a supervisor for every competence of {tier.name} "
                    "(each tier is in addition to the ones before it), and a manager's approval where the "
                    "framework has tiers."
                },
                "alignment": _alignments(framework, tier),
            },
        },
        "credentialStatus": {
            "id": f"{status_list_url()}#{index}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": str(index),
            "statusListCredential": status_list_url(),
        },
    }


def issue(worker: User, tier: Tier) -> IssuedCredential | None:
    """Issue ``worker`` a credential for ``tier`` in the caller's write transaction (once per tier).

    Returns None, issuing nothing, when no issuer key is configured; the caller's change still stands.
    """
    if not can_issue():
        current_app.logger.warning("No credential issued to user %s: PORTFOLIO_ISSUER_KEY is not set", worker.id)
        return None
    framework = db.session.get_one(Framework, tier.framework_id)
    existing = db.session.scalar(
        select(IssuedCredential)
        .join(Tier, Tier.id == IssuedCredential.tier_id)
        .join(Framework, Framework.id == IssuedCredential.framework_id)
        .where(
            IssuedCredential.worker_id == worker.id,
            Framework.key == framework.key,
            Tier.slug == tier.slug,
            IssuedCredential.revoked_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    take_turns(_TURN)
    index = (db.session.scalar(select(func.max(IssuedCredential.status_index))) or 0) + 1
    if index >= STATUS_LIST_BITS:
        raise CredentialsUnavailable("The revocation status list is full")
    public_id = str(uuid.uuid4())
    # One moment for the record, the credential and its proof: read apart, signing across midnight gave the
    # record one day and the proof (which a verifier reads) the next.
    issued_at = utcnow().replace(microsecond=0)
    document = signing.as_proof_set(
        signing.sign(
            _credential(public_id, worker, framework, tier, index, valid_from=_stamp(issued_at)),
            _private_key(),
            verification_method=key_id(),
            created=_stamp(issued_at),
        )
    )
    credential = IssuedCredential(
        issued_at=issued_at,
        public_id=public_id,
        worker_id=worker.id,
        framework_id=framework.id,
        tier_id=tier.id,
        status_index=index,
        document=document,
    )
    db.session.add(credential)
    db.session.flush()
    ledger.record(None, "credential.issued", f"user:{worker.id}", credential=public_id, tier=tier.name)
    notifications.notify(
        worker,
        f"You have a credential for {tier.name}: download it for your wallet",
        notifications.path_for("credentials.mine"),
        email_subject=f"Your {tier.name} credential is ready",
    )
    return credential


def issue_if_profile_complete(worker: User) -> IssuedCredential | None:
    """For a role profile (no promotions), issue the credential once every competence is met."""
    framework = db.session.get(Framework, worker.framework_id) if worker.framework_id else None
    if framework is None or framework.is_tiered or worker.tier_id is None:
        return None
    # Counts per statement in one query, not the tree: this runs on every sign-off.
    if rules.unmet_count(worker, framework.id) != 0:
        return None
    return issue(worker, db.session.get_one(Tier, worker.tier_id))


# --- Revoking ----------------------------------------------------------------------------------


def get_credential_or_404(public_id: str) -> IssuedCredential:
    credential = db.session.scalar(select(IssuedCredential).where(IssuedCredential.public_id == public_id))
    if credential is None:
        abort(404)
    return credential


def revoke(actor: User, credential: IssuedCredential, reason: str) -> IssuedCredential:
    """Revoke a credential issued in error (managers; never their own).

    :raises FieldError: on ``reason`` for a missing or over-long reason, or one revoked already.
    """
    if not actor.has_role(Role.MANAGER):
        abort(403)
    reason = (reason or "").strip()
    if not reason:
        raise FieldError("reason", "Give the reason for revoking the credential")
    if len(reason) > REASON_MAX:
        raise FieldError("reason", f"The reason must be {REASON_MAX} characters or fewer")
    from .. import duties

    begin_write()
    credential = lock_or_404(IssuedCredential, credential.id)
    duties.refuse_own(actor, credential.worker_id, "You cannot revoke your own credential", field="reason")
    if credential.revoked_at is not None:
        db.session.rollback()
        raise FieldError("reason", "This credential was already revoked")
    credential.revoked_at = utcnow()
    credential.revoked_by_id = actor.id
    credential.revoked_reason = reason
    ledger.record(
        actor, "credential.revoked", f"user:{credential.worker_id}", credential=credential.public_id, reason=reason
    )
    notifications.notify(
        credential.worker,
        f"Your credential for {credential.tier.name} was revoked: {reason}",
        notifications.path_for("credentials.mine"),
        email_subject="A credential of yours was revoked",
    )
    db.session.commit()
    return credential


def mine(worker: User) -> list[IssuedCredential]:
    return list(
        db.session.scalars(
            select(IssuedCredential).where(IssuedCredential.worker_id == worker.id).order_by(IssuedCredential.id.desc())
        )
    )


def all_issued() -> list[IssuedCredential]:
    return list(db.session.scalars(select(IssuedCredential).order_by(IssuedCredential.id.desc())))


# --- The status list ---------------------------------------------------------------------------


def _bitstring(revoked: list[int]) -> bytes:
    bits = bytearray(STATUS_LIST_BITS // 8)
    for index in revoked:
        bits[index // 8] |= 0x80 >> (index % 8)  # index 0 is the left-most bit
    return bytes(bits)


def encoded_list(revoked: list[int]) -> str:
    """Multibase base64url (no padding) of the GZIP-compressed bitstring, as the spec asks."""
    compressed = gzip.compress(_bitstring(revoked), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def is_set(encoded: str, index: int) -> bool:
    """:raises ValueError: for a list that cannot be decoded."""
    if not encoded.startswith("u"):
        raise ValueError("not multibase base64url")
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


def status_list_credential() -> dict[str, Any]:
    """The signed BitstringStatusListCredential of every revocation (one query)."""
    revoked = list(
        db.session.scalars(select(IssuedCredential.status_index).where(IssuedCredential.revoked_at.is_not(None)))
    )
    now = _now()
    document = {
        "@context": [signing.CREDENTIALS_V2],
        "id": status_list_url(),
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_did(),
        "validFrom": now,
        "credentialSubject": {
            "id": f"{status_list_url()}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": encoded_list(revoked),
        },
    }
    return signing.sign(document, _private_key(), verification_method=key_id(), created=now)


# --- Verifying ---------------------------------------------------------------------------------

VALID, REVOKED, EXPIRED, TAMPERED, FOREIGN = "valid", "revoked", "expired", "tampered", "not ours"


@dataclass
class Verdict:
    """What a verifier learns about a credential: its status and why."""

    status: str
    reasons: list[str] = field(default_factory=list)
    credential: IssuedCredential | None = None
    document: dict[str, Any] | None = None

    @property
    def issued_on(self) -> str:
        """The day the credential says it was issued, in words."""
        return _day((self.document or {}).get("validFrom"))

    @property
    def title(self) -> str:
        return {
            VALID: "This credential is valid",
            REVOKED: "This credential was revoked",
            EXPIRED: "This credential has expired",
            TAMPERED: "This credential was changed after it was issued",
            FOREIGN: "This credential was not issued by this service",
        }[self.status]


def parse(raw: str) -> dict[str, Any]:
    """:raises FieldError: on ``credential`` for text that is not a JSON object."""
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        raise FieldError(
            "credential", f"This is not a credential: it is not JSON ({error.msg}, line {error.lineno})"
        ) from error
    if not isinstance(document, dict) or "proof" not in document:
        raise FieldError("credential", "This is not a credential: it has no proof")
    return document


def _day(stamp: object) -> str:
    """A credential's ISO 8601 time as a reader says the day ("3 March 2026", on the service's clock); "" if none."""
    if not isinstance(stamp, str):
        return ""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return long_date(moment)


def verify(document: dict[str, Any]) -> Verdict:
    """Check a credential: our issuer and key, its proof, then revocation and expiry."""
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if issuer_id != issuer_did():
        named = f"It was issued by {issuer_id}" if issuer_id else "It names no issuer"
        return Verdict(FOREIGN, [f"{named}, not by {organisation.identity().name} ({issuer_did()})."])
    try:
        proof = signing.only_proof(document)
    except signing.ProofError as error:
        return Verdict(TAMPERED, [str(error)], document=document)
    if proof.get("verificationMethod") != key_id():
        return Verdict(TAMPERED, ["Its proof names a key that is not this service's."], document=document)
    try:
        signing.verify(document, public_key())
    except signing.ProofError as error:
        return Verdict(TAMPERED, [str(error)], document=document)
    public_id = str(document.get("id", "")).rsplit("/", 1)[-1]
    credential = db.session.scalar(select(IssuedCredential).where(IssuedCredential.public_id == public_id))
    if credential is None:
        return Verdict(TAMPERED, ["The proof holds, but this service has no record of issuing it."], document=document)
    signed_on = _day(proof.get("created")) or long_date(credential.issued_at)
    reasons = [f"Signed by {organisation.identity().name} on {signed_on}, and unchanged since."]
    if credential.revoked_at is not None:
        when = long_date(credential.revoked_at)
        return Verdict(REVOKED, [*reasons, f"Revoked on {when}: {credential.revoked_reason}"], credential, document)
    valid_until = document.get("validUntil")
    if isinstance(valid_until, str) and valid_until < _now():
        return Verdict(EXPIRED, [*reasons, f"It was valid until {_day(valid_until)}."], credential, document)
    return Verdict(VALID, reasons, credential, document)


def email_matches(document: dict[str, Any], email: str) -> bool:
    """Whether ``email`` is the one hashed into the credential's subject."""
    subject = document.get("credentialSubject")
    for identity in (subject.get("identifier") if isinstance(subject, dict) else None) or []:
        expected = str(identity.get("identityHash", ""))
        salt = str(identity.get("salt", ""))
        if expected == "sha256$" + hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest():
            return True
    return False
