"""Values about the signed-in person read once and kept for the rest of the request.

Every page needs a few values besides its own: the unread count in the header, whether the gate in front
of every page lets the person through, a supervisor's queue count in the navigation. Whatever reads one
anyway (the user loader in ``auth/sessions.py`` reads them with the user, the queue's count for a page only;
the review queue's page and the home count the queue in full) remembers it here, by name and user id; the
area that owns the value recalls it, and queries only when nothing is remembered for that user (another
user, or a value forgotten because this request changed it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import g

T = TypeVar("T")
_PREFIX = "remembered:"


def remember(name: str, user_id: int, value: object) -> None:
    """Keep ``value`` for this request (the first one remembered under ``name`` stays)."""
    g.setdefault(_PREFIX + name, (user_id, value))


def recall(name: str, user_id: int, otherwise: Callable[[], T]) -> T:
    """The value remembered under ``name`` for ``user_id``; else ``otherwise()``."""
    remembered = g.get(_PREFIX + name)
    if remembered is not None and remembered[0] == user_id:
        return remembered[1]
    return otherwise()


def forget(name: str) -> None:
    """This request changed what the value was read from: recall queries again."""
    g.pop(_PREFIX + name, None)
