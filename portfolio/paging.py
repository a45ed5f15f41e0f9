"""Long lists a page at a time: the page asked for, one COUNT plus LIMIT/OFFSET, and the links to other pages.

Every paged list (the review queue, the workers list, the compliance matrix,
People, My portfolio, supervision, notifications) uses this module and the ``paging`` macros in
``templates/_paging.html``, so a page of any list stays small whatever the
data size, and its links work with JavaScript off and swap only the list with htmx.

The page number comes from the address (``?page=3``). Anything that is not a
whole number from 1 (missing, text, zero, negative, absurdly long) reads as
page 1, and a page past the end shows the last page: a person following an old
link still sees the list, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from flask import Flask, request, url_for
from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.sql.selectable import Subquery

from .extensions import db

PER_PAGE = 25
# Six digits: more pages than any list will have, and an OFFSET the database handles.
_MAX_DIGITS = 6

T = TypeVar("T")


def page_number(value: object) -> int:
    """The page asked for: a whole number from 1; anything else is page 1."""
    text = str(value if value is not None else "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS:
        return 1
    return max(int(text), 1)


def requested_page() -> int:
    """The ``page`` of the current request's address (see :func:`page_number`)."""
    return page_number(request.args.get("page"))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, how many rows the whole list has, and where this page sits."""

    items: list[T]
    total: int
    number: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return _pages(self.total, self.per_page)

    @property
    def first(self) -> int:
        """The position of this page's first row in the whole list (0 for an empty list).

        From the numbers alone, so that a page's numbers can be kept without its rows (evidence/routes.py).
        """
        return (self.number - 1) * self.per_page + 1 if self.total else 0

    def numbers(self) -> Page[T]:
        """This page without its rows: what a list kept rendered needs of it (the status line, the links)."""
        return Page([], self.total, self.number, self.per_page)

    @property
    def last(self) -> int:
        return min(self.number * self.per_page, self.total)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def _pages(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def _within(number: int, total: int, per_page: int) -> int:
    """A page past the end is the last page."""
    return min(max(number, 1), _pages(total, per_page))


def paginate(
    query: Select,
    number: int,
    *,
    per_page: int = PER_PAGE,
    scalars: bool = True,
    parameters: Mapping[str, Any] | None = None,
    rows_of: Callable[[Subquery], Select] | None = None,
) -> Page:
    """One page of ``query`` (which must be ordered) in two queries: one COUNT, then LIMIT/OFFSET.

    ``scalars``: rows are the first column's objects (``select(User)``); otherwise whole rows (tuples).
    ``parameters``: values of the query's bound parameters (a statement built once and reused).
    ``rows_of``: for a list of wide rows, a deferred join. ``query`` then selects only what chooses and
    orders the rows (their ids, from an index), and ``rows_of(page)`` the page's rows (tuples), where
    ``page`` is the page of ``query`` as a subquery; ``rows_of`` orders its rows again (a join keeps no
    order). The database counts and orders narrow index entries, and reads whole only the rows it shows.
    """
    if parameters and _OFFSET in parameters:
        raise ValueError(f"{_OFFSET!r} is paging's own parameter: name the statement's parameter otherwise")
    count, rows = _statements(query, per_page, rows_of)
    total = db.session.scalar(count, parameters) or 0
    number = _within(number, total, per_page)
    if total == 0:
        return Page([], 0, 1, per_page)
    page_parameters = {**(parameters or {}), _OFFSET: (number - 1) * per_page}
    if rows_of is not None:
        return Page(list(db.session.execute(rows, page_parameters).all()), total, number, per_page)
    result = db.session.execute(rows, page_parameters)
    items = list(result.scalars().unique() if scalars else result.all())
    return Page(items, total, number, per_page)


_OFFSET = "page_offset"


@lru_cache(maxsize=128)
def _statements(query: Select, per_page: int, rows_of: Callable[[Subquery], Select] | None) -> tuple[Select, Select]:
    """The COUNT of ``query`` and its page, the page's offset a bound parameter: built once for a statement its
    caller keeps (a list's unfiltered statement), as building them cost a page more than running them."""
    count = select(func.count()).select_from(query.order_by(None).subquery())
    offset = bindparam(_OFFSET, type_=Integer())
    if rows_of is None:
        return count, query.limit(per_page).offset(offset)
    # The page's size written into the SQL, not sent as a parameter: told only "LIMIT ?", SQLite cannot know the
    # page is small, and reads every matching row whole before joining the page (2.5 ms, not 0.16).
    page = query.limit(bindparam("page_size", per_page, literal_execute=True)).offset(offset).subquery()
    return count, rows_of(page)


def paginate_list(rows: Sequence[T], number: int, *, per_page: int = PER_PAGE) -> Page[T]:
    """One page of rows already computed (for lists filtered on values the database does not hold)."""
    number = _within(number, len(rows), per_page)
    start = (number - 1) * per_page
    return Page(list(rows[start : start + per_page]), len(rows), number, per_page)


def list_url(**changes: str | None) -> str:
    """The current address without its page number, the filters kept, with ``changes`` (None removes a value).

    For links that show the same list another way: another page, or the whole list as CSV.
    """
    params = [
        (key, value)
        for key, value in request.args.items(multi=True)
        if key != "page" and key not in changes and value != ""
    ]
    params += [(key, value) for key, value in changes.items() if value is not None]
    base = url_for(request.endpoint, **(request.view_args or {})) if request.endpoint else request.path
    return base + ("?" + urlencode(params) if params else "")


def page_url(number: int) -> str:
    """The current address at page ``number`` (page 1 has no ``page``)."""
    return list_url(page=str(number) if number > 1 else None)


def init_app(app: Flask) -> None:
    """Let templates build page links (``page_url(n)``)."""
    app.add_template_global(page_url, "page_url")
