"""Requests racing over real HTTP: clients that send a POST up to its last byte, then release them together.

The ``server`` fixture (tests/conftest.py) serves the test app on a loopback port, one thread per request.
``signed_in(port, (name, email), ...)`` gives signed-in ``HttpClient``s; ``client.start_post(path, data)`` a
``PendingPost``; ``race(pending)`` releases them together and returns their ``Answer``s; ``overlapped(answers)``
says whether they really overlapped, and ``Rounds`` repeats a race until enough rounds did; ``no_server_errors``
fails on any 5xx.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from tests import factories
from tests.conftest import csrf_token
from tests.serving import following_redirects

HOST = "127.0.0.1"
TIMEOUT = 30.0  # the longest any one wait may take (SQLite's busy_timeout is 10 s)
ROUNDS = 5


# --- A small HTTP client: one connection per request, its own cookie jar ------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str
    sent_at: float = 0.0  # when the request's last byte went out
    answered_at: float = 0.0  # when the status line came back

    def describe(self) -> str:
        return f"{self.status} {self.headers.get('location', '')} {self.text[:300]!r}"


class PendingPost:
    """A POST sent up to its last byte: the server is already working on it."""

    def __init__(self, client: HttpClient, path: str, body: bytes, headers: dict[str, str]):
        self.client = client
        self.connection = client.connect()
        self.body = body
        try:
            self.connection.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for name, value in client.headers({**headers, "Content-Length": str(len(body))}).items():
                self.connection.putheader(name, value)
            self.connection.endheaders()
            self.connection.send(body[:-1])
        except BaseException:
            self.connection.close()
            raise

    def finish(self) -> Answer:
        """Send the last byte and read the answer."""
        try:
            self.connection.send(self.body[-1:])
            sent_at = time.perf_counter()
            answer = self.client.read(self.connection)
            answer.sent_at = sent_at
            return answer
        finally:
            self.connection.close()

    def close(self) -> None:
        self.connection.close()


@dataclass
class HttpClient:
    """Just enough of a browser over http.client: cookies kept, every wait bounded."""

    port: int
    name: str
    cookies: dict[str, str] = field(default_factory=dict)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)

    def headers(self, extra: dict[str, str]) -> dict[str, str]:
        base = f"http://{HOST}:{self.port}"
        headers = {"Host": f"{HOST}:{self.port}", "Origin": base, "Referer": f"{base}/", **extra}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def read(self, connection: http.client.HTTPConnection) -> Answer:
        response = connection.getresponse()
        answered_at = time.perf_counter()
        try:
            data = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            headers = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, headers, data.decode("utf-8", "replace"), answered_at=answered_at)
        finally:
            response.close()

    def get(self, path: str, follow_redirects: bool = False) -> Answer:
        if follow_redirects:
            return following_redirects(self.get, path)
        connection = self.connect()
        try:
            connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers({}).items():
                connection.putheader(name, value)
            connection.endheaders()
            return self.read(connection)
        finally:
            connection.close()

    def post(self, path: str, data: dict[str, str | list[str]], headers: dict[str, str] | None = None) -> Answer:
        return self.start_post(path, data, headers).finish()

    def start_post(
        self, path: str, data: dict[str, str | list[str]], headers: dict[str, str] | None = None
    ) -> PendingPost:
        """``data``: a list value sends that field once per item, as repeated inputs of one name do."""
        body = urlencode(data, doseq=True).encode()
        return PendingPost(self, path, body, {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def start_upload(self, path: str, body: bytes, content_type: str) -> PendingPost:
        """A form with files: ``body`` and ``content_type`` as ``tests.serving.multipart`` builds them."""
        return PendingPost(self, path, body, {"Content-Type": content_type})

    def sign_in(self, email: str) -> None:
        """Through the real form, CSRF token included."""
        page = self.get("/auth/sign-in")
        assert page.status == 200, page.describe()
        answer = self.post(
            "/auth/sign-in", {"csrf_token": csrf_token(page.text), "email": email, "password": factories.PASSWORD}
        )
        assert answer.status == 303 and answer.headers["location"].endswith("/"), answer.describe()


def htmx_headers(client: HttpClient, path: str) -> dict[str, str]:
    """What htmx sends for a form that swaps #decision-form (not a boosted navigation)."""
    return {
        "HX-Request": "true",
        "HX-Target": "decision-form",
        "HX-Current-URL": f"http://{HOST}:{client.port}{path}",
    }


def race(pending: list[PendingPost]) -> list[Answer]:
    """Release every pending request at the same moment; return their answers in order.

    :raises AssertionError: when one does not finish within TIMEOUT (a deadlock, say),
        or fails on the client side.
    """
    barrier = threading.Barrier(len(pending), timeout=TIMEOUT)
    results: list[Answer | BaseException | None] = [None] * len(pending)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = pending[index].finish()
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"race-{i}") for i in range(len(pending))]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + TIMEOUT + 5
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f"requests still waiting after {TIMEOUT + 5:.0f} s (a deadlock?): {stuck}"
    finally:
        for item in pending:
            item.close()
    failures = [r for r in results if not isinstance(r, Answer)]
    assert not failures, f"a request failed on the client side: {failures!r}"
    return results  # type: ignore[return-value]


def overlapped(answers: list[Answer]) -> bool:
    """Every request was fully sent before any answer came back."""
    return max(a.sent_at for a in answers) < min(a.answered_at for a in answers)


class Rounds:
    """The rounds of a race, played until ``wanted`` of them truly overlapped.

    On a busy machine one request can be answered before the other's last byte goes out: that round is
    still checked like any other, but it proves nothing about the race, so another round is played, up
    to ``limit``. ``record(answers)`` after each round; ``assert_enough()`` at the end.
    """

    def __init__(self, wanted: int = ROUNDS, limit: int | None = None):
        self.wanted = wanted
        self.limit = limit or 3 * wanted
        self.played = 0
        self.overlapping = 0

    def __iter__(self):
        while self.overlapping < self.wanted and self.played < self.limit:
            self.played += 1
            yield self.played - 1

    def record(self, answers: list[Answer]) -> bool:
        both = overlapped(answers)
        self.overlapping += both
        return both

    def assert_enough(self, detail: object = "") -> None:
        assert self.overlapping >= self.wanted, (
            f"only {self.overlapping} of {self.played} rounds had every request in flight at once {detail}"
        )


def fire(*starts: Callable[[], PendingPost]) -> list[Answer]:
    """Start every request (``start()``: each sent but for its last byte), then release them together; if one
    cannot start, close those already started."""
    pending: list[PendingPost] = []
    try:
        for start in starts:
            pending.append(start())
    except BaseException:
        for item in pending:
            item.close()
        raise
    return race(pending)


def no_server_errors(answers: dict[str, Answer], round_number: int) -> None:
    """Fail if any answer of the round was a server error."""
    errors = [f"{name}: {a.describe()}" for name, a in answers.items() if a.status >= 500]
    assert not errors, f"round {round_number}: the server failed under the race: {errors}"


def signed_in(port: int, *people_: tuple[str, str]) -> list[HttpClient]:
    """One client per (name, email), each signed in through the real form."""
    clients = []
    for name, email in people_:
        client = HttpClient(port, name)
        client.sign_in(email)
        clients.append(client)
    return clients
