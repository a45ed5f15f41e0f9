"""The one clock: the date and time as the service sees them.

Every "today" (due dates, lapsed requirements, supervision on a day, a person's
one digest a day) and the hour the daily digests go out come from here, on the
server's local time zone (``TZ``), so tests and a later change of time zone
have one place to touch.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    """The time on the service's clock: the server's local time zone (aware)."""
    return datetime.now(UTC).astimezone()


def today() -> date:
    return now().date()


def on_the_clock(moment: datetime) -> datetime:
    """``moment`` as the service's clock shows it; a naive ``moment`` is UTC (as the task queue passes it)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone()
