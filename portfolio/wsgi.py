"""The WSGI application for gunicorn (``portfolio/gunicorn_conf.py``) and other servers."""

from __future__ import annotations

from . import create_app

app = create_app()
