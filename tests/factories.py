"""Plain helper functions that make test data (no shared mutable fixtures)."""

from __future__ import annotations

import itertools
from datetime import date

from sqlalchemy import select

from portfolio.auth.passwords import hash_password
from portfolio.extensions import db
from portfolio.frameworks import loader
from portfolio.models import Framework, Role, SupervisionAssignment, Tier, User

PASSWORD = "correct horse battery staple"
# Hashed once: argon2id is slow on purpose, and tests create many users.
PASSWORD_HASH = hash_password(PASSWORD)
_numbers = itertools.count(1)


def load_frameworks() -> dict[str, Framework]:
    """Load the shipped framework files; return the current versions by key."""
    return {result.framework.key: result.framework for result in loader.load_all()}


def tier(framework_key: str, slug: str) -> Tier:
    return db.session.scalar(
        select(Tier).join(Framework).where(Framework.key == framework_key, Framework.is_current.is_(True), Tier.slug == slug)
    )


def make_user(
    *roles: Role,
    email: str | None = None,
    name: str | None = None,
    tier: Tier | None = None,
    active: bool = True,
) -> User:
    """A user with the given roles (a worker by default) and the test password."""
    roles = roles or (Role.WORKER,)
    number = next(_numbers)
    user = User(
        email=email or f"person{number}@example.org",
        name=name or f"Person {number}",
        password_hash=PASSWORD_HASH,
        is_worker=Role.WORKER in roles,
        is_supervisor=Role.SUPERVISOR in roles,
        is_manager=Role.MANAGER in roles,
        active=active,
        framework_id=tier.framework_id if tier else None,
        tier_id=tier.id if tier else None,
    )
    db.session.add(user)
    db.session.commit()
    return user


def assign(supervisor: User, worker: User, starts_on: date | None = None) -> SupervisionAssignment:
    assignment = SupervisionAssignment(
        supervisor_id=supervisor.id, worker_id=worker.id, starts_on=starts_on or date(2026, 1, 1)
    )
    db.session.add(assignment)
    db.session.commit()
    return assignment


def give_totp(user: User) -> str:
    """Turn on one-time codes for ``user`` (as if set up and confirmed); return the base32 secret."""
    import pyotp
    from cryptography.fernet import Fernet
    from flask import current_app

    from portfolio.models import TotpSecret, utcnow

    secret = pyotp.random_base32()
    encrypted = Fernet(current_app.config["MFA_KEY"]).encrypt(secret.encode()).decode()
    db.session.add(TotpSecret(user_id=user.id, secret_encrypted=encrypted, confirmed_at=utcnow()))
    db.session.commit()
    return secret


def make_passkey(user: User, name: str = "Work laptop") -> "Passkey":
    """A stored passkey row for ``user`` (its key is not usable: for pages and access, not ceremonies)."""
    import secrets

    from portfolio.models import Passkey

    key = Passkey(user_id=user.id, credential_id=secrets.token_urlsafe(16), public_key=b"not a real key", sign_count=0, name=name)
    db.session.add(key)
    db.session.commit()
    return key
