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
    while time.time() < stop_at:
        began = time.perf_counter()
        status, _, _ = fetch(port, path, headers)
        latencies.append(time.perf_counter() - began)
        failed += status != 200
    return Sample(latencies, failed, time.time())


def ready(_: int = 0) -> bool:
    """Called once per process before measuring, so process start-up is not measured."""
    return True
