"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106)."""

from __future__ import annotations

import os
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

_hasher = PasswordHasher()

# At most this many argon2 computations at once per process. Each takes 64 MiB
# and several threads of CPU: a burst of sign-ins would otherwise run dozens
# at once, exhausting memory and starving every other request of CPU (on
# SQLite, the one holding the write lock too, until others time out waiting).
# Waiting here holds no database connection and no lock.
_slots = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))

# Verified when an email is unknown, so that a wrong email costs as long as a
# wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_LENGTH = 12


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; always spends the same effort."""
    try:
        with _slots:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# zxcvbn's cost grows with length; what matters for guessing is the start.
_CHECKED_LENGTH = 64


def password_problem(password: str, *, name: str = "", email: str = "") -> str | None:
    """Why ``password`` is not acceptable as a new password, or None.

    Length first (ASVS 6.2.1, 6.2.9), then zxcvbn: its dictionaries come from
    breached-password lists, and the person's own name and email are given
    to it as words an attacker would try first (6.2.4, 6.2.11).
    """
    if len(password) < MIN_LENGTH:
        return f"Password must be {MIN_LENGTH} characters or more"
    if len(password) > 256:
        return "Password must be 256 characters or fewer"
    own_words = [word for word in (name, *name.split(), email, email.partition("@")[0]) if len(word) >= 3]
    result = zxcvbn(password[:_CHECKED_LENGTH], user_inputs=own_words)
    for match in result["sequence"]:
        if match.get("dictionary_name") == "user_inputs" and len(match["token"]) >= 4:
            return "Password must not contain your name or email address"
    if result["score"] < 3:
        warning = result["feedback"]["warning"] or "This password would be easy to guess."
        return f"{warning.rstrip('.')}. Choose a less common password, for example three or four random words"
    return None
