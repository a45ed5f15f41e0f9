"""Slow work (email) leaves the request: a huey task queue.

``PORTFOLIO_TASK_QUEUE`` says where tasks wait for the consumer
(``huey_consumer portfolio.worker.huey``, which ``make run`` starts):

- ``sqlite:///path/tasks.db``, the default (in the instance folder): no server to run;
- ``redis://host:6379/0``: Redis, for production;
- ``postgresql://user@host/db``: PostgreSQL (huey keeps its own tables there).

With ``PORTFOLIO_TASKS_IMMEDIATE=true`` (the default in tests) a task runs at
once, in the process that queues it, so tests stay deterministic.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, has_app_context
from huey import Huey
from huey.storage import MemoryStorage, PostgresStorage, RedisStorage, SqliteStorage

from .config import ConfigError

NAME = "portfolio"

# One queue per process; `configure` points it at the backend the app's settings name.
huey = Huey(NAME, immediate=True, storage_class=MemoryStorage)
_app: Flask | None = None
_configured: tuple[str, bool, str] | None = None


def storage_for(url: str) -> tuple[type, dict[str, Any]]:
    """The huey storage class and its arguments for a queue URL."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        return SqliteStorage, {"filename": url.removeprefix("sqlite:///")}
    if scheme in ("redis", "rediss"):
        return RedisStorage, {"url": url}
    if scheme in ("postgresql", "postgresql+psycopg", "postgres"):
        return PostgresStorage, {"dsn": url.replace("postgresql+psycopg://", "postgresql://", 1)}
    raise ConfigError(f"PORTFOLIO_TASK_QUEUE must start with sqlite:///, redis:// or postgresql://, not {url!r}")


def configure(url: str, *, immediate: bool, name: str = NAME) -> Huey:
    """Point the queue at ``url`` (a no-op when nothing changed); ``immediate`` runs tasks when queued."""
    global _configured
    if _configured == (url, immediate, name):
        return huey
    previous = huey.storage
    huey.storage_class, huey.storage_kwargs = storage_for(url)
    huey.name = name
    if huey.immediate != immediate:
        huey.immediate = immediate  # which makes the storage anew
    else:
        huey.storage = huey.create_storage()
    previous.close()
    _configured = (url, immediate, name)
    return huey


def init_app(app: Flask) -> None:
    """Use the queue that the app's settings name; tasks run in this app's context."""
    global _app
    _app = app
    configure(app.config["TASK_QUEUE"], immediate=app.config["TASKS_IMMEDIATE"], name=app.config["TASK_QUEUE_NAME"])


def app_context():
    """The app context a task runs in: the caller's (immediate mode), else the consumer's app."""
    if has_app_context():
        return nullcontext()
    if _app is None:
        raise RuntimeError("No app: start the consumer with `huey_consumer portfolio.worker.huey`")
    return _app.app_context()
