"""The one clock: the date and time as the service sees them.

Every "today" (due dates, lapsed requirements, supervision on a day, a person's
one digest a day) and the hour the daily digests go out come from here, on the
server's local time zone (``TZ``), so tests and a later change of time zone
have one place to touch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

# The earliest day a portfolio records something done (an event, a course, a CPD activity). A person has no date
# of birth or start date here to judge by, so a fixed floor: nobody still working did any of it before 1980, and
# a year such as 1900 is a slip of the keyboard.
EARLIEST_DAY = date(1980, 1, 1)


def now() -> datetime:
    """The time on the service's clock: the server's local time zone (aware)."""
    return datetime.now(UTC).astimezone()


def today() -> date:
    return now().date()


def on_the_clock(moment: datetime) -> datetime:
    """``moment`` as the service's clock shows it; a naive ``moment`` is UTC (as the task queue passes it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone()


def day_of(moment: datetime) -> date:
    """The day of ``moment`` on the service's clock, the day pages say (templating.long_date): 00:30 in London in
    summer is the day after its UTC day."""
    return on_the_clock(moment).date()


def done_on_problem(day: date, on: date | None = None, name: str = "The date") -> str | None:
    """Why ``day`` cannot be when something was done, seen ``on`` a day (today): in the future, or before
    :data:`EARLIEST_DAY`. ``name``: the date's name in the message ("The date of the appraisal")."""
    if day > (on or today()):
        return f"{name} must be today or in the past"
    if day < EARLIEST_DAY:
        return f"{name} must be on or after {EARLIEST_DAY.day} {EARLIEST_DAY:%B %Y}"
    return None
