"""The load: client processes that fetch one page over and over for a fixed time.

Processes rather than threads, so the client is not held back by one
interpreter lock while it measures a server on the same machine. Plain
``http.client`` with a new connection per request: gunicorn's sync workers
close every connection anyway, and the standard library adds the least
client time to each measurement.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie

HOST = "127.0.0.1"


@dataclass
class Sample:
    latencies: list[float]  # seconds, one per completed request
    failed: int  # answers other than 200
    ended: float  # time.time() when the last request finished


def fetch(port: int, path: str, headers: dict[str, str], timeout: float = 300) -> tuple[int, bytes, dict[str, str]]:
    """One GET: status, body and headers (names in lower case)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def hammer(port: int, path: str, headers: dict[str, str], start_at: float, stop_at: float) -> Sample:
    """Fetch ``path`` back to back from ``start_at`` until ``stop_at`` (wall-clock times)."""
    time.sleep(max(0.0, start_at - time.time()))
    latencies: list[float] = []
    failed = 0
    headers = dict(headers)
    while time.time() < stop_at:
        began = time.perf_counter()
        status, _, answer_headers = fetch(port, path, headers)
        latencies.append(time.perf_counter() - began)
        failed += status != 200
        if "set-cookie" in answer_headers:
            headers["Cookie"] = keep_cookies(headers.get("Cookie", ""), answer_headers["set-cookie"])
    return Sample(latencies, failed, time.time())


def keep_cookies(sent: str, set_cookie: str) -> str:
    """The Cookie header a browser sends next: ``sent`` with what ``set_cookie`` set.

    The session cookie is signed again once a minute (auth/sessions.py): a client that kept sending the one it
    started with would have it signed again on every request, which no browser costs the app.
    """
    cookies = {name: morsel.value for name, morsel in SimpleCookie(sent).items()}
    cookies.update({name: morsel.value for name, morsel in SimpleCookie(set_cookie).items()})
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def ready(_: int = 0) -> bool:
    """Called once per process before measuring, so process start-up is not measured."""
    return True
