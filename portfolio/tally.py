"""Counts from several areas read in one query.

A home shows a handful of counts, each owned by its area (the review queue, notes to confirm, appraisals to
sign, promotion decisions, invitations): asked one by one, each costs a round trip and the ORM's work around
it, more than the database's own. Each area gives its count as a one-value statement on named parameters
(built once per process); :func:`read` asks them together as scalar subqueries of one SELECT, as the user
loader already does for the unread count. The areas keep their rules: nothing here knows what a count means.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, select

from .database import read_rows

Counts = tuple[dict[str, Select], dict[str, object]]  # one area's statements by name, and their parameters


def read(*parts: Counts) -> dict[str, Any]:
    """Each statement's one value by its name, in one query, from the areas' ``parts``.

    :raises ValueError: for two counts of one name, or a parameter two areas give different values (a name must
        mean the same in every statement: ``on`` is today in each), which would silently answer the wrong count.
    """
    counts: dict[str, Select] = {}
    parameters: dict[str, object] = {}
    for area_counts, area_parameters in parts:
        if clash := counts.keys() & area_counts.keys():
            raise ValueError(f"two counts named {sorted(clash)}")
        if clash := {k for k, v in area_parameters.items() if k in parameters and parameters[k] != v}:
            raise ValueError(f"the parameters {sorted(clash)} have two values")
        counts |= area_counts
        parameters |= area_parameters
    if not counts:
        return {}
    [row] = read_rows(_together(tuple(counts.items())), parameters)
    return row._asdict()


@functools.lru_cache(maxsize=32)
def _together(counts: tuple[tuple[str, Select], ...]) -> Select:
    """One SELECT of the statements as labelled scalar subqueries (kept: the areas' statements are built once,
    so the same homes ask for the same tuple)."""
    return select(*(statement.scalar_subquery().label(name) for name, statement in counts))
