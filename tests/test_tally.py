"""Counts from several areas read in one query (portfolio/tally.py)."""

from datetime import date

import pytest
from sqlalchemy import Date, Integer, bindparam, func, literal, select

from portfolio import tally
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
