"""A real WSGI server and a small HTTP client, for tests (and the benchmark) that must go over a socket."""

from __future__ import annotations

import http.client
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

PROJECT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # an upper bound, not a measure: a busy machine takes a while to import the app
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


class ServerError(RuntimeError):
    """The server did not start or answer."""


def pdf_of_size(size: int) -> bytes:
    """A PDF-looking file of exactly ``size`` bytes (accepted by its first bytes)."""
    head = b"%PDF-1.4\n% certificate\n"
    tail = b"\n%%EOF\n"
    return head + b"0" * (size - len(head) - len(tail)) + tail


def multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = "----portfolio-" + secrets.token_hex(12)
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str


@dataclass
class Browser:
    """Just enough of a browser over http.client: one connection per request, cookies kept."""

    port: int
    timeout: float = 30
    cookies: dict[str, str] = field(default_factory=dict)
    send_errors: list[str] = field(default_factory=list)

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        headers = {"Host": f"{HOST}:{self.port}", "Referer": f"http://{HOST}:{self.port}/", **extra}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        """Send a request, the body in chunks as a browser does, and read the answer.

        A server may answer and close before the whole body is sent (a 413
        does); the send error is recorded and the answer still read.
        """
        connection = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in self._headers({**(headers or {}), "Content-Length": str(len(body))}).items():
                connection.putheader(name, value)
            connection.endheaders()
            try:
                for start in range(0, len(body), 64 * 1024):
                    connection.send(body[start : start + 64 * 1024])
            except OSError as error:
                self.send_errors.append(repr(error))
            response = connection.getresponse()
            try:
                data = response.read()
                self._keep_cookies(response)
                return Answer(
                    response.status, {k.lower(): v for k, v in response.getheaders()}, data.decode("utf-8", "replace")
                )
            finally:
                response.close()
        finally:
            connection.close()

    def get(self, path: str, follow_redirects: bool = False) -> Answer:
        if follow_redirects:
            return following_redirects(self.get, path)
        return self.request("GET", path)

    def post_form(self, path: str, data: dict[str, str]) -> Answer:
        return self.request(
            "POST", path, urlencode(data).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def post_multipart(self, path: str, body: bytes, content_type: str) -> Answer:
        return self.request("POST", path, body, {"Content-Type": content_type})


class _Answered(Protocol):
    status: int
    headers: dict[str, str]


A = TypeVar("A", bound=_Answered)


def following_redirects(get: Callable[[str], A], path: str) -> A:
    """``get(path)``, then on to where its redirects lead, as a browser goes (a few at most)."""
    answer = get(path)
    for _ in range(5):
        if answer.status not in (301, 302, 303, 307, 308):
            break
        location = urlsplit(answer.headers["location"])
        answer = get(location._replace(scheme="", netloc="").geturl())
    return answer


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


class Gunicorn:
    """gunicorn serving ``target`` (the app by default) on a loopback socket made here.

    ``options`` are gunicorn's own command-line options, the same for every
    app a caller compares.
    """

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        target: str = "portfolio:create_app()",
        options: tuple[str, ...] = ("--workers", "1", "--worker-class", "sync", "--timeout", "60"),
    ):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))  # a free port, held from now on: no race with other processes
        listener.listen(64)
        listener.set_inheritable(True)
        self.port = listener.getsockname()[1]
        self.log_path = log_path
        self._log = open(log_path, "wb")
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"fd://{listener.fileno()}",
                    *options,
                    "--graceful-timeout",
                    "5",
                    "--no-control-socket",
                    "--log-level",
                    "info",
                    "--error-logfile",
                    "-",
                    target,
                ],
                cwd=PROJECT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
            )
        except BaseException:
            self._log.close()
            raise
        finally:
            listener.close()  # gunicorn has its own copy

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_until_ready(self, path: str = "/auth/sign-in") -> None:
        """:raises ServerError: when gunicorn exits or ``path`` does not answer 200 in time."""
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                response.close()
                if response.status == 200:
                    return
                last_error = RuntimeError(f"HTTP {response.status}")
            except OSError as error:
                last_error = error
            finally:
                connection.close()
            time.sleep(0.1)
        raise ServerError(f"gunicorn did not answer within {START_TIMEOUT:.0f} s ({last_error!r}):\n{self.log()}")

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (Linux: the master's children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            self._log.close()
