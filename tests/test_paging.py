"""Paged lists (portfolio/paging.py): the review queue, the workers list, the compliance matrix, People and
supervision assignments.

Each list shows a page at a time under the NHS.UK pagination; its links and filters work without
JavaScript and, with htmx, answer with only the list's region plus the result count swapped out of band
into one lasting role="status" element. A page stays under 60 KB whatever the data size, a narrowing
filter's answer is under a tenth of the page, and the number of queries does not grow with the data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from portfolio import paging
from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceKind, Role, SupervisionAssignment, TrainingItem, User
from portfolio.progress import service as progress_service
from portfolio.progress import versions
from tests.factories import LONG_NAME, LONG_TITLE, make_user, many_users, tier, waiting_items
from tests.pages import status_of, swapped_parts

FULL_PAGE_LIMIT = 60_000


# --- The helper ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 1),
        ("", 1),
        ("1", 1),
        ("2", 2),
        (" 3 ", 3),
        ("0", 1),
        ("-2", 1),
        ("two", 1),
        ("2.5", 1),
        ("1e3", 1),
        ("\uff12", 1),  # a full-width digit: a digit to Python, not a page number
        ("9" * 7, 1),  # longer than any page number: an OFFSET no database should be asked for
        ("999999", 999999),
    ],
)
def test_a_page_number_is_a_whole_number_from_1_and_anything_else_is_page_1(value, expected):
    assert paging.page_number(value) == expected


def _users_by_id():
    return select(User).order_by(User.id)


def test_paginate_counts_once_and_fetches_one_page(app, count_queries):
    people = many_users(7)
    with count_queries:
        page = paging.paginate(_users_by_id(), 2, per_page=3)
    assert count_queries.count == 2  # the COUNT, then the page
    assert [u.id for u in page.items] == [p.id for p in people[3:6]]
    assert (page.total, page.number, page.pages, page.first, page.last) == (7, 2, 3, 4, 6)
    assert page.has_previous and page.has_next


def test_a_deferred_join_orders_narrow_rows_and_reads_whole_only_the_page(app, count_queries):
    """``rows_of``: the page is chosen from ids alone, then its rows are read whole, in two queries as ever."""
    people = many_users(7)

    def names_of(page):
        return select(User.id, User.name).join(page, page.c.id == User.id).order_by(User.id)

    with count_queries(keep=True):
        page = paging.paginate(select(User.id).order_by(User.id), 3, per_page=3, rows_of=names_of)
    assert [tuple(row) for row in page.items] == [(people[6].id, people[6].name)]
    assert (page.total, page.number, page.pages, page.first, page.last) == (7, 3, 3, 7, 7)
    count, rows = count_queries.statements
    # The page's size is written into the SQL, so that the database knows the page is small.
    assert re.search(r"LIMIT 3\b", rows), rows
    # Past the end, the last page, as without a deferred join.
    assert [
        row.id for row in paging.paginate(select(User.id).order_by(User.id), 9, per_page=3, rows_of=names_of).items
    ] == [people[6].id]


def test_a_page_past_the_end_is_the_last_page(app):
    people = many_users(7)
    page = paging.paginate(_users_by_id(), 40, per_page=3)
    assert [u.id for u in page.items] == [people[6].id]
    assert (page.number, page.pages, page.first, page.last, page.has_next) == (3, 3, 7, 7, False)


def test_an_empty_list_is_one_empty_page(app, count_queries):
    with count_queries:
        page = paging.paginate(_users_by_id(), 3)
    assert count_queries.count == 1
    assert (page.items, page.total, page.number, page.pages, page.first, page.last) == ([], 0, 1, 1, 0, 0)
    assert not page.has_previous and not page.has_next


def test_the_workers_overview_is_paged_in_sql_and_worked_out_for_that_page_only(app, frameworks, count_queries):
    manager = make_user(Role.MANAGER, name="Sam Viewer")
    many_users(60, tier=tier("link-worker", "link-worker"))
    everyone = [r.worker.id for r in progress_service.overview(actor=manager)]
    with count_queries:
        page = progress_service.overview_page(2, actor=manager)
    assert (page.total, page.number, len(page.items)) == (60, 2, 25)
    assert [r.worker.id for r in page.items] == everyone[25:50]
    # One COUNT, then 25 workers by LIMIT/OFFSET: nobody else's figures are loaded.
    [workers_query] = [s for s in count_queries.statements if s.lstrip().startswith("SELECT users.")]
    assert "LIMIT" in workers_query and "OFFSET" in workers_query
    # "Waiting for review" is a condition in SQL too; "ready" still pages the computed rows.
    assert progress_service.overview_page(1, actor=manager, only="waiting").total == 0
    assert progress_service.overview_page(1, actor=manager, only="ready").total == 0


def test_paginate_list_pages_rows_already_computed():
    page = paging.paginate_list(list(range(1, 11)), 9, per_page=4)
    assert (page.items, page.total, page.number, page.pages, page.first, page.last) == ([9, 10], 10, 3, 3, 9, 10)


def test_page_links_keep_the_filters_and_drop_the_page(app):
    with app.test_request_context("/people/?q=alex&status=&role=worker&page=3"):
        assert paging.page_url(4) == "/people/?q=alex&role=worker&page=4"
        assert paging.page_url(1) == "/people/?q=alex&role=worker"
        assert paging.list_url(format="csv") == "/people/?q=alex&role=worker&format=csv"


# --- The lists -----------------------------------------------------------------------------------


@dataclass
class PagedList:
    """One paged list: where it is, who sees it, how to fill it, and how to read its rows."""

    path: str
    region: str  # the id of the element htmx swaps
    status: str  # the id of the lasting role="status" element
    one: str  # the count's noun for one row
    many: str  # and for several
    matching: str  # how the count says that a filter is on
    fill: Callable[[User, int], None]  # add ``n`` rows to the viewer's list
    row_marker: str  # text that occurs once in each row
    role: Role = Role.MANAGER


def _fill_queue(supervisor: User, n: int) -> None:
    """``n`` waiting items, three per worker (so a search for one worker finds three)."""
    workers = many_users(n // 3, tier=tier("link-worker", "link-worker"))
    waiting_items(supervisor, workers, 3)


def _fill_workers(_manager: User, n: int) -> None:
    many_users(n, tier=tier("link-worker", "link-worker"))


def _fill_compliance(_manager: User, n: int) -> None:
    if not db.session.scalar(select(TrainingItem.id).limit(1)):
        db.session.add_all(
            TrainingItem(
                framework_key="link-worker",
                title=f"Safeguarding adults and children at level {k}",
                statutory=True,
                renewal_months=36,
                position=k,
            )
            for k in range(8)
        )
    many_users(n, tier=tier("link-worker", "link-worker"))


def _fill_people(_manager: User, n: int) -> None:
    many_users(n, tier=tier("link-worker", "link-worker"))


def _fill_assignments(_manager: User, n: int) -> None:
    """``n`` workers, each supervised by one supervisor (one for every fill), written directly."""
    supervisor = make_user(Role.SUPERVISOR, name="Sue Supervisor")
    workers = many_users(n, tier=tier("link-worker", "link-worker"))
    db.session.add_all(
        SupervisionAssignment(supervisor_id=supervisor.id, worker_id=w.id, starts_on=date(2026, 1, 1)) for w in workers
    )
    db.session.commit()


FILTERS = "your filters"
LISTS = {
    "review queue": PagedList(
        "/review/",
        "review-queue",
        "queue-status",
        "submission",
        "submissions",
        FILTERS,
        _fill_queue,
        LONG_TITLE,
        Role.SUPERVISOR,
    ),
    "workers": PagedList(
        "/progress/team", "team-table", "team-status", "worker", "workers", FILTERS, _fill_workers, LONG_NAME
    ),
    # 8 courses: 200 cells a page allow the usual 25 rows.
    "compliance": PagedList(
        "/training/link-worker/compliance",
        "compliance-table",
        "compliance-status",
        "worker",
        "workers",
        FILTERS,
        _fill_compliance,
        LONG_NAME,
    ),
    "people": PagedList(
        "/people/", "people-list", "people-count", "person", "people", "your search", _fill_people, LONG_NAME
    ),
    # A row names its worker twice (the second time for a screen reader, in its link): its link marks it.
    "supervision": PagedList(
        "/supervision/",
        "assignments-list",
        "assignments-count",
        "assignment",
        "assignments",
        "your search",
        _fill_assignments,
        ">Set end date<",
    ),
}


@pytest.fixture(params=list(LISTS))
def paged(request, frameworks, client, auth) -> tuple[PagedList, User]:
    """A list of the parametrised kind and its viewer, signed in."""
    spec = LISTS[request.param]
    viewer = make_user(spec.role, name="Sam Viewer")
    auth.login_as(viewer)
    return spec, viewer


def _rows(body: str, spec: PagedList) -> int:
    region = body.split(f'id="{spec.region}"', 1)[1]
    return region.count(spec.row_marker)


def _get(client, path: str, **headers):
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    assert "HX-Request" in response.headers["Vary"]
    return response.get_data(as_text=True)


def _base_count(spec: PagedList) -> int:
    """Rows the list has before filling: People lists the viewer too."""
    return 1 if spec.path == "/people/" else 0


def _pagination_links(body: str) -> dict[str, str]:
    """The pagination's links: rel ("prev"/"next") to the tag's attributes."""
    nav = re.search(r'<nav class="nhsuk-pagination".*?</nav>', body, re.S)
    if not nav:
        return {}
    return {rel: tag for tag in re.findall(r"<a [^>]*>", nav.group(0), re.S) for rel in re.findall(r'rel="(\w+)"', tag)}


def test_the_full_page_shows_the_first_page_the_count_and_a_link_to_the_next(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 30)
    total = 30 + _base_count(spec)
    page = _get(client, spec.path)
    assert "<html" in page and "hx-swap-oob" not in page
    assert status_of(page, spec.status) == f"{total} {spec.many}, showing 1 to 25 (page 1 of 2)"
    assert _rows(page, spec) == 25
    links = _pagination_links(page)
    assert list(links) == ["next"]
    assert f'href="{spec.path}?page=2"' in links["next"]
    # With htmx the link fetches only the list and puts the page in the address.
    assert f'hx-get="{spec.path}?page=2"' in links["next"]
    assert f'hx-target="#{spec.region}"' in links["next"] and 'hx-push-url="true"' in links["next"]
    assert "Page 2 of 2" in page


def test_htmx_gets_the_region_and_the_count_out_of_band(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 30)
    body, oob = swapped_parts(_get(client, spec.path + "?page=2", **{"HX-Request": "true"}), spec.region)
    assert oob == [
        f'<p id="{spec.status}" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">'
    ]  # the one lasting live region, updated in place
    total = 30 + _base_count(spec)
    assert status_of(body, spec.status) == f"{total} {spec.many}, showing 26 to {total} (page 2 of 2)"
    assert _rows(body, spec) == 5  # and, in People, the viewer
    links = _pagination_links(body)
    assert list(links) == ["prev"]
    assert f'href="{spec.path}"' in links["prev"]  # page 1 has no page number
    # The region itself is not a live region: the status element outside it is the one that speaks.
    assert "aria-live" not in body


def test_boosted_navigation_and_history_restore_get_the_whole_page(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 30)
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    for headers in (boosted, restore):
        page = _get(client, spec.path + "?page=2", **headers)
        assert "<html" in page and "hx-swap-oob" not in page
        assert status_of(page, spec.status).endswith("(page 2 of 2)")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "99999999999", "%00"])
def test_a_bad_page_number_shows_page_1(client, paged, value):
    spec, viewer = paged
    spec.fill(viewer, 30)
    response = client.get(f"{spec.path}?page={value}")
    if value == "%00":
        assert response.status_code == 400  # a NUL in any address is refused (portfolio/params.py)
        return
    assert response.status_code == 200
    assert status_of(response.get_data(as_text=True), spec.status).endswith("showing 1 to 25 (page 1 of 2)")


def test_a_page_past_the_end_shows_the_last_page(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 30)
    page = _get(client, spec.path + "?page=40")
    assert status_of(page, spec.status).endswith("(page 2 of 2)")
    assert list(_pagination_links(page)) == ["prev"]


def test_a_short_list_has_no_pagination(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 3)
    page = _get(client, spec.path)
    assert status_of(page, spec.status) == f"{3 + _base_count(spec)} {spec.many}"
    assert 'class="nhsuk-pagination' not in page


def _search_for(n: int, *more: str) -> str:
    """A search for the worker (or person) numbered ``n``, and ``more`` words."""
    return "q=" + "+".join([*f"{LONG_NAME} {n:03d}".split(), *more])


def _search_for_one_row(spec: PagedList, n: int) -> str:
    """A search that finds one row: in the queue, one of the three items of worker ``n``."""
    return _search_for(n, "group", "2") if spec.role == Role.SUPERVISOR else _search_for(n)


def test_a_filter_answers_with_its_matches_and_keeps_its_filters_in_the_page_links(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 60)
    # A search for one person: the queue has three items of theirs; the other lists one row.
    answer = _get(client, f"{spec.path}?{_search_for(7)}", **{"HX-Request": "true"})
    body, _ = swapped_parts(answer, spec.region)
    if spec.role == Role.SUPERVISOR:
        assert _rows(body, spec) == 3
        assert status_of(body, spec.status) == f"3 {spec.many} match {spec.matching}"
    else:
        assert _rows(body, spec) == 1
        assert status_of(body, spec.status) == f"1 {spec.one} matches {spec.matching}"
    # A search every row matches: page 2 of it keeps the search in its links.
    page = _get(client, f"{spec.path}?q=worthington&page=2")
    assert status_of(page, spec.status).endswith("(page 2 of 3)")
    links = _pagination_links(page)
    assert f'href="{spec.path}?q=worthington"' in links["prev"]
    assert f'href="{spec.path}?q=worthington&amp;page=3"' in links["next"]


def _query_counts(client, count_queries, paths: list[str]) -> list[int]:
    """The queries of each path as a whole page, then of the last one as an htmx fragment."""
    _get(client, paths[0])  # warm up (first-use queries)
    counts = []
    for path, headers in [*((p, {}) for p in paths), (paths[-1], {"HX-Request": "true"})]:
        with count_queries:
            _get(client, path, **headers)
        counts.append(count_queries.count)
    return counts


def test_a_page_stays_small_and_a_filter_answer_is_a_tenth_of_it_with_a_fixed_number_of_queries(
    client, paged, count_queries
):
    spec, viewer = paged
    spec.fill(viewer, 30)
    paths = [spec.path, spec.path + "?page=2", f"{spec.path}?{_search_for_one_row(spec, 7)}"]
    few = _query_counts(client, count_queries, paths)
    spec.fill(viewer, 300)
    assert _query_counts(client, count_queries, paths) == few

    full = _get(client, spec.path)
    assert status_of(full, spec.status).startswith(f"{330 + _base_count(spec)} {spec.many}, showing 1 to 25")
    assert len(full.encode()) < FULL_PAGE_LIMIT
    answer = _get(client, f"{spec.path}?{_search_for_one_row(spec, 7)}", **{"HX-Request": "true"})
    body, _ = swapped_parts(answer, spec.region)
    assert _rows(body, spec) == 1
    assert len(answer.encode()) <= len(full.encode()) / 10
    # A whole page of rows swapped in place is still only the region: no header, filters or footer.
    page_two, _ = swapped_parts(_get(client, spec.path + "?page=2", **{"HX-Request": "true"}), spec.region)
    assert "nhsuk-header" not in page_two and "nhsuk-footer" not in page_two and "<form" not in page_two


# The lists the benchmark loads keep the statements paging builds from theirs (paging._statements); the others
# build a statement on each view, and so do searches.
STATEMENTS_KEPT = {"/review/", "/progress/team", "/training/link-worker/compliance"}


def test_an_unfiltered_list_builds_its_page_statements_once_and_each_page_shows_its_rows(client, paged):
    spec, viewer = paged
    spec.fill(viewer, 30)
    total = 30 + _base_count(spec)
    _get(client, spec.path)  # the first view builds them
    versions.forget()  # and the workers list keeps its page rendered: worked out again here, from the statements
    before = paging._statements.cache_info()
    first, second = _get(client, spec.path), _get(client, spec.path + "?page=2")
    after = paging._statements.cache_info()
    if spec.path in STATEMENTS_KEPT:
        assert (after.hits, after.misses) == (before.hits + 2, before.misses)
    assert status_of(first, spec.status).startswith(f"{total} {spec.many}, showing 1 to 25")
    assert status_of(second, spec.status).startswith(f"{total} {spec.many}, showing 26 to {total}")
    assert (_rows(first, spec), _rows(second, spec)) == (25, 5)  # the 30 rows made (People also lists the viewer)


def test_the_page_offset_is_pagings_own_parameter(app):
    with pytest.raises(ValueError, match="page_offset"):
        paging.paginate(select(User).order_by(User.id), 1, parameters={"page_offset": 3})


# --- My portfolio: paged by the same helper, 20 items a page --------------------------------------


def _add_items(worker: User, count: int, first: int = 1) -> None:
    """``count`` items of ``worker``'s, written directly, searchable by their titles."""
    db.session.add_all(
        Evidence(
            owner_id=worker.id,
            kind=EvidenceKind.OTHER,
            title=f"{LONG_TITLE} {n:03d}",
            search_text=f"{LONG_TITLE} {n:03d}".lower(),
            occurred_on=date(2026, 3, 10),
        )
        for n in range(first, first + count)
    )
    db.session.commit()


def test_my_portfolio_pages_with_the_count_out_of_band_and_stays_small(client, auth, frameworks, count_queries):
    worker = make_user(Role.WORKER, tier=tier("link-worker", "link-worker"))
    auth.login_as(worker)
    _add_items(worker, 30)
    paths = ["/portfolio/", "/portfolio/?page=2", "/portfolio/?q=group+007"]
    few = _query_counts(client, count_queries, paths)
    _add_items(worker, 300, first=31)
    assert _query_counts(client, count_queries, paths) == few

    full = _get(client, "/portfolio/")
    assert "hx-swap-oob" not in full
    assert status_of(full, "evidence-count") == "330 items, showing 1 to 20 (page 1 of 17)"
    assert len(full.encode()) < FULL_PAGE_LIMIT
    answer = _get(client, "/portfolio/?q=group+007", **{"HX-Request": "true"})
    body, oob = swapped_parts(answer, "evidence-list")
    assert oob == ['<p id="evidence-count" class="nhsuk-body portfolio-status" role="status" hx-swap-oob="innerHTML">']
    assert status_of(body, "evidence-count") == "1 item matches your filters"
    assert len(answer.encode()) <= len(full.encode()) / 10
    last = _get(client, "/portfolio/?page=99", **{"HX-Request": "true"})
    assert status_of(last, "evidence-count") == "330 items, showing 321 to 330 (page 17 of 17)"
    assert list(_pagination_links(last)) == ["prev"]
    assert 'href="/portfolio/?page=16"' in _pagination_links(last)["prev"]


# --- The filters' section: open when one of its filters is applied -------------------------------------------------


@pytest.mark.parametrize(
    ("role", "path", "applied"),
    [
        (Role.MANAGER, "/training/link-worker/compliance", "status=expired"),
        (Role.MANAGER, "/progress/team", "only=lapsed"),
        (Role.MANAGER, "/people/", "role=worker"),
        (Role.MANAGER, "/supervision/", "state=ended"),
        (Role.SUPERVISOR, "/review/", "kind=reflection"),
        (Role.WORKER, "/portfolio/", f"date_from-day=1&date_from-month=1&date_from-year={date.today().year}"),
        (Role.WORKER, "/portfolio/map", "status=met"),
    ],
)
def test_a_filtered_list_shows_its_filters_open_and_an_unfiltered_one_closed(
    client, auth, frameworks, role, path, applied
):
    """Found by a helper with JavaScript off: a filter is applied by loading the page again, which came back with its
    Filters section closed and only "1 worker matches your filters" to say what was applied. A search alone is in
    sight above the section, and leaves it closed."""
    viewer = make_user(role, tier=tier("link-worker", "link-worker") if role == Role.WORKER else None)
    auth.login_as(viewer)

    def details_tag(address: str) -> str:
        page = _get(client, address)
        return re.search(r'<details class="nhsuk-details portfolio-filter-details"[^>]*>', page).group(0)

    assert " open" not in details_tag(path)
    assert " open" not in details_tag(f"{path}?q=someone")
    assert " open" in details_tag(f"{path}?{applied}")
    assert " open" not in details_tag(f"{path}?{applied.split('=')[0]}=")  # chosen back to "any": not applied
