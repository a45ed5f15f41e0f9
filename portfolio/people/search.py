"""Finding people by name or email: the words of a search, and the SQL that matches them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_

from .. import searching
from ..models import User


def search_words(q: str) -> tuple[str, ...]:
    """The words of a search that count (searching.words_of): lower case, five at most."""
    return searching.words_of(q, most=5)


def name_or_email_matches(q: str) -> list:
    """SQL conditions: every word of ``q`` (:func:`search_words`) is in the person's name or email."""
    return words_in_name_or_email(search_words(q))


def words_in_name_or_email(words: tuple[str, ...], person: Any = User) -> list:
    """SQL conditions, one per word: it is in the person's name or email (``person``: User or an alias of it).

    Searching by email too tells apart two people who share a name; ``%``
    and ``_`` are letters to look for, not wildcards.
    """
    return [
        or_(func.lower(person.name).contains(word, autoescape=True), person.email.contains(word, autoescape=True))
        for word in words
    ]
