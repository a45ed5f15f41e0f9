"""Counts from several areas read in one query (portfolio/tally.py)."""

from datetime import date

import pytest
from sqlalchemy import Date, Integer, bindparam, func, literal, select

from portfolio import tally
from portfolio.database import rows_as_json, rows_from_json
from portfolio.extensions import db
from portfolio.models import Role, User
from tests.factories import make_user


def users_named(name_param: str = "name"):
    return select(func.count(User.id)).where(User.name == bindparam(name_param))


def test_each_areas_counts_come_back_by_name_in_one_query(app, count_queries):
    make_user(Role.WORKER, name="Wendy Worker")
    make_user(Role.WORKER, name="Walter Worker")
    day = select(bindparam("on", type_=Date()))
    with count_queries:
        found = tally.read(
            ({"wendys": users_named()}, {"name": "Wendy Worker"}),
            ({"others": users_named("other"), "day": day}, {"other": "Nobody", "on": date(2026, 3, 10)}),
            ({"one": select(literal(1, Integer()))}, {}),
        )
    assert found == {"wendys": 1, "others": 0, "day": date(2026, 3, 10), "one": 1}
    assert count_queries.count == 1
    assert tally.read() == {}


def test_two_counts_of_one_name_are_refused(app):
    with pytest.raises(ValueError, match=r"two counts named \['wendys'\]"):
        tally.read(({"wendys": users_named()}, {"name": "Wendy Worker"}), ({"wendys": users_named()}, {}))


def test_a_parameter_with_two_values_is_refused_and_one_value_given_twice_is_not(app):
    """Two areas meaning different things by one name would answer someone's count with the other's value."""
    with pytest.raises(ValueError, match=r"the parameters \['name'\] have two values"):
        tally.read(({"a": users_named()}, {"name": "Wendy Worker"}), ({"b": users_named()}, {"name": "Sam"}))
    found = tally.read(({"a": users_named()}, {"name": "Sam"}), ({"b": users_named()}, {"name": "Sam"}))
    assert found == {"a": 0, "b": 0}


def test_rows_read_as_one_value_beside_counts_come_back_as_the_rows_themselves(app, count_queries):
    """database.rows_as_json: a page's small sets of rows (the states its kept parts are kept under) read in the
    query that reads its counts, one round trip in all. Numbers, text (quotes and all), booleans (1/0 on SQLite,
    equal to true/false) and NULL come back as they were; a date as its ISO text; no rows as none."""
    make_user(Role.WORKER, name='Wendy "Wren" Worker')
    make_user(Role.SUPERVISOR, name="Sam O'Neil")
    people = select(User.id, User.name, User.is_worker, User.digest_sent_on, User.session_version).order_by(User.id)
    nobody = people.where(User.id < 0)
    with count_queries:
        found = tally.read(
            ({"wendys": users_named(), "people": rows_as_json(people)}, {"name": 'Wendy "Wren" Worker'}),
            ({"nobody": rows_as_json(nobody)}, {}),
        )
    assert count_queries.count == 1 and found["wendys"] == 1
    read_back = sorted(rows_from_json(found["people"]))
    assert read_back == [tuple(row) for row in db.session.execute(people)]
    assert [(name, worker, day) for _id, name, worker, day, _version in read_back] == [
        ('Wendy "Wren" Worker', True, None),
        ("Sam O'Neil", False, None),
    ]
    assert rows_from_json(found["nobody"]) == []
    on = date(2026, 3, 10)
    dated = select(bindparam("on", type_=Date()), literal(2, Integer()))
    assert rows_from_json(tally.read(({"dated": rows_as_json(dated)}, {"on": on}))["dated"]) == [("2026-03-10", 2)]
