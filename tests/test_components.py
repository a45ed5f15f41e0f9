"""The NHS.UK components as templates take them (``nhsuk.<macro>``): same output as the macros, cached by parameters."""

import re
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from markupsafe import Markup

from portfolio import navigation
from portfolio.components import CACHE_SIZE, CSRF_TOKEN_MARKER, Components
from portfolio.extensions import db
from portfolio.notifications import service as notifications
from tests.conftest import AuthActions

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Parameter sets the app's templates use, and the awkward cases a cache key must tell apart.
CASES = [
    ("tag", {"text": "Met", "classes": "nhsuk-tag--green"}),
    ("tag", {"text": "<b>Not started</b>"}),
    ("tag", {"text": Markup("<b>Not started</b>")}),
    ("tag", {"html": Markup("<span>In progress</span>"), "attributes": {"data-a": "1", "data-b": "2"}}),
    ("tag", {"text": "Met", "colour": False, "border": False}),
    ("button", {"text": "Save", "classes": "nhsuk-button--secondary", "attributes": {"name": "action", "value": 1}}),
    ("backLink", {"href": "/portfolio/", "text": "Back"}),
    ("insetText", {"html": Markup("<p>Only <em>you</em> see this.</p>")}),
    (
        "summaryList",
        {
            "rows": [
                {"key": {"text": "Title"}, "value": {"text": "Walking group"}},
                {
                    "key": {"text": "Date"},
                    "value": {"text": "3 March 2026"},
                    "actions": {"items": [{"href": "#", "text": "Change", "visuallyHiddenText": "date"}]},
                },
            ]
        },
    ),
    (
        "input",
        {"id": "title", "name": "title", "label": {"text": "Title"}, "value": "A & B", "errorMessage": {"text": "Say"}},
    ),
    (
        "dateInput",
        {
            "id": "occurred_on",
            "namePrefix": "occurred_on",
            "fieldset": {"legend": {"text": "Date"}},
            "items": [{"name": "day", "value": "3"}, {"name": "month", "value": 3}, {"name": "year", "value": 2026}],
        },
    ),
    ("pagination", {"previous": {"href": "?page=1", "text": "Previous"}, "next": {"href": "?page=3", "text": "Next"}}),
    ("skipLink", {"href": "#maincontent", "text": "Skip to main content"}),
]


@pytest.fixture
def jinja(app):
    with app.test_request_context():
        yield app.jinja_env


def original(jinja, name: str, params) -> str:
    """What the NHS.UK macro itself prints, imported as the package's guide says."""
    macro = getattr(jinja.globals["nhsuk"], name).macro
    return str(macro(params))


@pytest.mark.parametrize(("name", "params"), CASES)
def test_a_component_prints_what_its_macro_prints_first_time_and_from_the_cache(jinja, name, params):
    component = getattr(jinja.globals["nhsuk"], name)
    expected = original(jinja, name, params)
    assert str(component(params)) == expected
    hits = component.cache_info().hits
    assert str(component(params)) == expected
    assert component.cache_info().hits == hits + 1


def test_markup_and_the_same_text_as_a_string_are_different_keys(jinja):
    tag = jinja.globals["nhsuk"].tag
    escaped = str(tag({"text": "<b>Met</b>"}))
    trusted = str(tag({"text": Markup("<b>Met</b>")}))
    assert "&lt;b&gt;Met&lt;/b&gt;" in escaped and "<b>Met</b>" not in escaped
    assert "<b>Met</b>" in trusted


def test_true_and_one_are_different_keys(jinja):
    tag = jinja.globals["nhsuk"].tag
    assert "nhsuk-tag--no-colour" in tag({"text": "Met", "colour": False})
    assert "nhsuk-tag--no-colour" not in tag({"text": "Met", "colour": 0})  # 0 is not false for `is false`


def test_an_undefined_value_stays_undefined_for_the_macro(jinja):
    rendered = jinja.from_string('{{ nhsuk.tag({"text": "Met", "classes": missing}) }}').render()
    assert rendered == original(jinja, "tag", {"text": "Met"})


def test_parameters_that_are_not_plain_data_are_rendered_by_the_macro_each_time(jinja):
    tag = jinja.globals["nhsuk"].tag
    before = tag.cache_info()
    params = {"text": date(2026, 3, 3)}
    assert str(tag(params)) == original(jinja, "tag", params)
    assert "2026-03-03" in tag(params)
    after = tag.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


def test_equal_parameters_built_again_are_the_same_key(jinja):
    """Keys are the parameters' values, not the objects: a page builds its parameters afresh every time."""
    tag = jinja.globals["nhsuk"].tag
    first = tag({"text": "Met", "attributes": {"data-a": "1"}, "classes": None})
    hits = tag.cache_info().hits
    assert tag({"text": "Met", "attributes": {"data-a": "1"}, "classes": None}) == first
    assert tag.cache_info().hits == hits + 1
    assert tag({"text": "Met", "attributes": {"data-a": 1}, "classes": None}) == first  # same output, its own key
    assert tag.cache_info().hits == hits + 1


@pytest.mark.parametrize(
    "value",
    [SimpleNamespace(text="Met"), OrderedDict(text="Met"), Decimal("7.5")],
    ids=["an object", "a dict of another class", "a decimal"],
)
def test_values_that_are_not_plain_data_are_never_keys(jinja, value):
    """An object's pickled form would say nothing of what the macro prints from it: it is rendered each time."""
    tag = jinja.globals["nhsuk"].tag
    params = {"text": "Met", "attributes": {"data-value": value}}
    before = tag.cache_info()
    assert str(tag(params)) == original(jinja, "tag", params)
    after = tag.cache_info()
    assert (after.hits, after.misses, after.currsize) == (before.hits, before.misses, before.currsize)


def test_threads_each_get_what_they_asked_for(app):
    """The development server and the race tests serve in threads: a miss renders its own thread's parameters."""
    tag = Components(app.jinja_env).tag  # a cache of its own: every call below is a miss or a hit of these

    def ask(word: str) -> list[bool]:
        with app.test_request_context():
            return [word in tag({"text": f"{word} {n % 300}"}) for n in range(600)]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can: a shared slot would be overwritten
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(ask, ["Alpha", "Bravo", "Charlie", "Delta"]))
    finally:
        sys.setswitchinterval(interval)
    assert all(all(found) for found in answers)


def test_a_call_with_a_body_renders_the_body_each_time(jinja):
    template = jinja.from_string(
        '{% set details = nhsuk.details %}{% call details({"summary": "Filters"}) %}{{ word }}{% endcall %}'
    )
    assert "Kind" in template.render(word="Kind") and "Status" in template.render(word="Status")
    assert "Filters" in template.render(word="Kind")


def test_a_table_is_cached_like_the_others(jinja):
    """The framework page's tiers table cost more than the rest of the page's rendering together."""
    table = jinja.globals["nhsuk"].table
    params = {"head": [{"text": "Tier"}], "rows": [[{"text": "Link Worker"}], [{"text": "Link Worker Coach"}]]}
    first = table(params)
    hits = table.cache_info().hits
    assert table(params) == first and "Link Worker Coach" in first
    assert table.cache_info().hits == hits + 1


def test_the_cache_is_bounded(jinja):
    components = Components(jinja)
    tag = components.tag
    for n in range(CACHE_SIZE + 10):
        tag({"text": f"Tag {n}"})
    assert tag.cache_info().currsize == CACHE_SIZE
    assert "Tag 3" in tag({"text": "Tag 3"})  # evicted, rendered again


def test_an_unknown_component_is_an_attribute_error(jinja):
    with pytest.raises(AttributeError, match="no component macro 'tga'"):
        jinja.globals["nhsuk"].tga  # noqa: B018 - the lookup is what is tested


def test_templates_take_components_from_the_cached_global_not_the_macros():
    """A template importing a component macro would skip the cache: the page would be slower and nobody would see."""
    importing = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if 'from "nhsuk/components/' in path.read_text()
    ]
    assert importing == [], "use {% set name = nhsuk.name %} (portfolio/components.py) in " + ", ".join(importing)


SIGN_OUT_TOKEN = re.compile(r'<form class="nhsuk-header__account-form".*?name="csrf_token" value="([^"]+)"', re.S)
META_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def test_the_header_is_cached_without_the_csrf_token_which_the_page_puts_in_after(app, worker):
    # Two sessions of one person: their CSRF tokens differ, their headers' parameters do not.
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        AuthActions(client).login_as(worker)
    headers = app.extensions[navigation.HEADERS]  # the headers drawn, by what they show (navigation.py)
    component = app.jinja_env.globals["nhsuk"].header
    first_page = first.get("/").text
    before, drawn = headers.cache_info(), component.cache_info()
    second_page = second.get("/").text
    after = headers.cache_info()
    assert (after.hits, after.misses) == (before.hits + 1, before.misses)
    assert component.cache_info() == drawn  # not drawn again

    tokens = [SIGN_OUT_TOKEN.search(page).group(1) for page in (first_page, second_page)]
    assert tokens[0] != tokens[1]
    assert tokens == [META_TOKEN.search(page).group(1) for page in (first_page, second_page)]
    assert CSRF_TOKEN_MARKER not in first_page + second_page
    # The sign-out button works with the token put in (a marker or another session's token would be refused).
    assert second.post("/auth/sign-out", data={"csrf_token": CSRF_TOKEN_MARKER}).status_code == 400
    assert second.post("/auth/sign-out", data={"csrf_token": tokens[0]}).status_code == 400
    assert second.post("/auth/sign-out", data={"csrf_token": tokens[1]}).status_code == 303
    assert second.get("/").status_code == 302


def test_the_kept_header_follows_what_it_shows(app, worker):
    """Each header is drawn once per process for what it shows: another section, an unread notice or a new name
    draws another, and the page shows it."""
    client = app.test_client()
    AuthActions(client).login_as(worker)

    def header(path: str) -> str:
        page = client.get(path).text
        return page[page.index('class="nhsuk-header"') : page.index("</header>")]

    def current(html: str) -> list[str]:
        return re.findall(r'aria-current="(?:page|true)"><strong[^>]*>([^<]+)</strong>', html)

    home, portfolio = header("/"), header("/portfolio/")
    assert current(home) == ["Home"] and current(portfolio) == ["My portfolio"]
    assert "Notifications" in home and "new)" not in home and "Wendy Worker" in home
    notifications.notify(worker, "Sam signed off your item.", "/portfolio/", email_subject="Signed off")
    db.session.commit()
    assert "Notifications (1 new)" in header("/")
    worker.name = "Wendy Walker"
    db.session.commit()
    renamed = header("/")
    assert "Wendy Walker" in renamed and "Wendy Worker" not in renamed
    assert header("/portfolio/") != portfolio
    assert app.extensions[navigation.HEADERS].cache_info().currsize == 5


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_someone_elses_progress_is_in_the_section_that_led_there_not_my_progress(app, frameworks, headers):
    """Found by a helper: Sam, a link worker who supervises, read Wendy's progress under "My progress"."""
    from portfolio.models import Role
    from tests.factories import assign, make_user, tier

    sam = make_user(Role.WORKER, Role.SUPERVISOR, name="Sam Supervisor", tier=tier("link-worker", "link-worker"))
    wendy = make_user(Role.WORKER, name="Wendy Worker", tier=tier("link-worker", "link-worker"))
    maya = make_user(Role.MANAGER, name="Maya Manager")
    assign(sam, wendy)

    def section(person, path: str) -> list[str]:
        client = app.test_client()
        AuthActions(client).login_as(person)
        page = client.get(path, headers=headers).text
        header = page[page.index('class="nhsuk-header"') : page.index("</header>")]
        return re.findall(r'aria-current="(?:page|true)"><strong[^>]*>([^<]+)</strong>', header)

    assert section(sam, f"/progress/workers/{wendy.id}") == ["Reviews"]
    assert section(sam, "/progress/") == ["My progress"]
    assert section(maya, f"/progress/workers/{wendy.id}") == ["Workers"]
    # A manager who also supervises: the manager's Workers (found by a review).
    mo = make_user(Role.MANAGER, Role.SUPERVISOR, name="Mo Manager")
    assign(mo, wendy)
    assert section(mo, f"/progress/workers/{wendy.id}") == ["Workers"]
