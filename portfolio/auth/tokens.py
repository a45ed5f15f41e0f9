"""Single-use secrets sent to a person by link: invitations, password resets.

Only the SHA-256 of a token is stored, so a copy of the database cannot be
used to sign in; the token itself has 256 bits from ``secrets`` and is
unguessable, so a fast hash is enough (no salt or slow hash needed).
"""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> tuple[str, str]:
    """A fresh token to put in a link, and the digest to store."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def digest(token: str) -> str:
    """The stored form of ``token`` (hex SHA-256), to look a token up by."""
    return hashlib.sha256(token.encode()).hexdigest()
