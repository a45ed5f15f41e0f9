"""Dates and times as pages say them: on the service's clock (``TZ``), in the NHS.UK style guide's words."""

from __future__ import annotations

from datetime import UTC, date, datetime

from jinja2 import DictLoader

from portfolio.progress import typesetting
from portfolio.templating import Environment, date_and_time, long_date


def test_a_moment_is_shown_on_the_day_of_the_services_clock(in_london):
    """00:30 on 1 June in London is 23:30 on 31 May UTC: the person did it on 1 June."""
    assert long_date(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == "1 June 2026"
    assert long_date(datetime(2026, 5, 31, 23, 30)) == "1 June 2026"  # naive, as SQLite gives it back: UTC
    assert long_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "31 December 2026"  # winter: GMT is UTC
    assert long_date(date(2026, 5, 31)) == "31 May 2026"  # a day is a day
    assert long_date(None) == ""


def test_a_time_of_day_reads_as_the_style_guide_writes_it(in_london):
    assert date_and_time(datetime(2026, 12, 1, 9, 5, tzinfo=UTC)) == "1 December 2026 at 9:05am"
    assert date_and_time(datetime(2026, 12, 1, 13, 45, tzinfo=UTC)) == "1 December 2026 at 1:45pm"
    assert date_and_time(datetime(2026, 7, 1, 11, 0, tzinfo=UTC)) == "1 July 2026 at midday"  # BST
    assert date_and_time(datetime(2026, 7, 1, 23, 0, tzinfo=UTC)) == "2 July 2026 at midnight"
    assert date_and_time(datetime(2026, 7, 1, 23, 1)) == "2 July 2026 at 12:01am"
    assert date_and_time(None) == ""


def test_the_panel_pdf_says_the_same_day_as_the_pages(in_tokyo):
    """Found by a review: the PDF's own date helper took the UTC day."""
    evening = datetime(2026, 5, 31, 20, 0, tzinfo=UTC)  # 5am on 1 June in Tokyo
    assert long_date(evening) == "1 June 2026"
    assert typesetting.long_date(evening) == "1\u00a0June\u00a02026"
    assert typesetting.on(evening) == "on\u00a01\u00a0June\u00a02026"


def test_an_imported_macro_sees_the_globals_of_the_environment_and_of_the_page_that_imports_it(app):
    """The app's environment keeps each template's globals with their names as a set (templating.Environment): an
    import still hands the imported template the importing page's own globals, and the environment's."""
    assert isinstance(app.jinja_env, Environment)
    env = Environment(
        app,
        loader=DictLoader(
            {
                "macros.html": "{% macro greet() %}{{ greeting }}, {{ name }}{% endmacro %}",
                "page.html": "{% from 'macros.html' import greet %}{{ greet() }}",
            }
        ),
    )
    env.globals["greeting"] = "Hello"
    assert env.get_template("page.html").render() == "Hello, "
    assert env.get_template("page.html", globals={"name": "Wendy"}).render() == "Hello, Wendy"
    assert env.get_template("macros.html").globals.keys() == {"greeting"} | set(env.globals)
