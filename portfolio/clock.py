"""The one clock: today's date as the service sees it.

Every "today" (due dates, lapsed requirements, supervision on a day) comes
from here, so tests and a later change of time zone have one place to touch.
"""

from __future__ import annotations

from datetime import date


def today() -> date:
    return date.today()
