"""The words of a search box, as every search of written text matches them: each word must appear.

People search their own writing by the words they remember: "lone-working" finds an item written "lone working"
as well as one written "lone-working" ("lone working" finds both already: each word is in "lone-working").
Other punctuation is kept as typed, so that "A&E" does not become the letters "a" and "e". Names and email
addresses are searched by people/search.py.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_
from sqlalchemy.orm import InstrumentedAttribute


def words_of(q: str, most: int = 10) -> tuple[str, ...]:
    """The words of ``q`` that count, lower case, ``most`` at most."""
    return tuple(q.lower().split()[:most])


def spellings(word: str) -> tuple[str, ...]:
    """``word`` and, when it is hyphenated, its parts with spaces between: "self-care", "self care"."""
    parts = [part for part in word.split("-") if part]
    spaced = " ".join(parts)
    return (word, spaced) if spaced and spaced != word else (word,)


def has_word(word: str, *columns: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """SQL: ``word`` (one of its :func:`spellings`) is in one of ``columns`` (lower-case text); ``%`` and ``_`` are
    letters to look for, not wildcards."""
    return or_(*(column.contains(spelling, autoescape=True) for column in columns for spelling in spellings(word)))
