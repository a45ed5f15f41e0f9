"""The WSGI application for gunicorn (``portfolio/gunicorn_conf.py``) and other servers."""

from __future__ import annotations

import gc

from . import create_app

# Young objects collected after this many allocations, not Python's 700. A page allocates some 600
# container objects, so with the default nearly every request paid a collection (0.1 ms each), and every
# few hundred requests a full one over the whole heap (about 110 ms on the benchmark's worker home).
# 10,000 keeps a few requests' worth of cyclic garbage (a few MB) before it is collected.
YOUNG_COLLECTION_THRESHOLD = 10_000


def settle_heap() -> None:
    """Leave what the app built at start-up out of garbage collection, and collect young objects less often.

    The app's modules, mappers and the templates' machinery live as long as the process; frozen, a full
    collection no longer walks them. Called once per server process (gunicorn loads the app in each
    worker), after the app is built: never in tests, where frozen objects would outlive each test's app.
    """
    gc.collect()
    gc.freeze()
    _young, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)


app = create_app()
settle_heap()
