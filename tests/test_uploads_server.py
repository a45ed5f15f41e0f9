"""Over-size uploads through a real WSGI server (gunicorn), not the test client.

The test client hands Flask the whole body at once; a real server streams it
from a socket, and that is where limits matter: a request over
MAX_CONTENT_LENGTH must get the NHS.UK 413 page with nothing written, and a
file over the per-file limit (but inside the request limit) must get the form
back with the message next to the field, again with nothing written.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.models import Evidence, EvidenceFile, Role
from tests.conftest import PROJECT
from tests.factories import MIB
from tests.racing import HOST, Answer

from . import factories
from .conftest import csrf_token

START_TIMEOUT = 15.0
WORKER_EMAIL = "uploader@example.org"


def _pdf_of_size(size: int) -> bytes:
    """A PDF-looking file of exactly ``size`` bytes (accepted by its first bytes)."""
    head = b"%PDF-1.4\n% certificate\n"
    tail = b"\n%%EOF\n"
    return head + b"0" * (size - len(head) - len(tail)) + tail


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
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
class Browser:
    """Just enough of a browser over http.client: one connection per request, cookies kept."""

    port: int
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
        connection = http.client.HTTPConnection(HOST, self.port, timeout=30)
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

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_form(self, path: str, data: dict[str, str]) -> Answer:
        return self.request(
            "POST", path, urlencode(data).encode(), {"Content-Type": "application/x-www-form-urlencoded"}
        )

    def post_multipart(self, path: str, body: bytes, content_type: str) -> Answer:
        return self.request("POST", path, body, {"Content-Type": content_type})


class Gunicorn:
    """gunicorn serving ``portfolio:create_app()`` on a loopback socket this test made."""

    def __init__(self, env: dict[str, str], log_path: Path):
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
                    "--workers",
                    "1",
                    "--worker-class",
                    "sync",
                    "--timeout",
                    "60",
                    "--graceful-timeout",
                    "5",
                    "--no-control-socket",
                    "--log-level",
                    "info",
                    "--error-logfile",
                    "-",
                    "portfolio:create_app()",
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

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            connection = http.client.HTTPConnection(HOST, self.port, timeout=2)
            try:
                connection.request("GET", "/auth/sign-in")
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
        pytest.fail(f"gunicorn did not answer within {START_TIMEOUT:.0f} s ({last_error!r}):\n{self.log()}")

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


@pytest.fixture
def gunicorn(app, database_url, frameworks, tmp_path):
    """gunicorn on the test database and upload folder, with a 1 MB per-file limit; a worker to sign in."""
    factories.make_user(Role.WORKER, email=WORKER_EMAIL, tier=factories.tier("link-worker", "link-worker"))
    db.session.commit()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFOLIO_", "GUNICORN"))}
    env.update(
        {
            "PORTFOLIO_ENV": "testing",
            "SECRET_KEY": secrets.token_hex(32),
            "PORTFOLIO_DATABASE_URL": database_url,
            "PORTFOLIO_UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
            "PORTFOLIO_MAX_UPLOAD_MB": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    gunicorn = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        gunicorn.wait_until_ready()
        yield gunicorn
    finally:
        gunicorn.stop()
        db.session.rollback()


def _signed_in(server: Gunicorn) -> Browser:
    browser = Browser(server.port)
    form = browser.get("/auth/sign-in")
    assert form.status == 200, form.text
    answer = browser.post_form(
        "/auth/sign-in",
        {"csrf_token": csrf_token(form.text), "email": WORKER_EMAIL, "password": factories.PASSWORD},
    )
    assert answer.status == 303, answer.text
    home = browser.get("/")
    assert home.status == 200
    assert "Sign out" in home.text
    return browser


def _certificate_form(browser: Browser) -> dict[str, str]:
    page = browser.get("/portfolio/new/certificate")
    assert page.status == 200, page.text
    completed = date.today() - timedelta(days=30)
    return {
        "csrf_token": csrf_token(page.text),
        "title": "Safeguarding adults level 2",
        "provider": "County Council Learning",
        "occurred_on-day": str(completed.day),
        "occurred_on-month": str(completed.month),
        "occurred_on-year": str(completed.year),
        "expires_on-day": "",
        "expires_on-month": "",
        "expires_on-year": "",
        "cpd_hours": "3.5",
    }


def _nothing_written(app) -> None:
    db.session.commit()  # end this test's snapshot: see what the server wrote
    assert db.session.scalar(select(func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(select(func.count()).select_from(EvidenceFile)) == 0
    folder = Path(app.config["UPLOAD_FOLDER"])
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert left == [], f"files left in the upload folder: {left}"


def _visible_text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_request_over_the_limit_gets_the_413_page_and_leaves_nothing(app, gunicorn):
    browser = _signed_in(gunicorn)
    fields = _certificate_form(browser)
    body, content_type = _multipart(fields, "files", "certificate.pdf", _pdf_of_size(6 * MIB))
    request_limit = 1 * 5 * MIB + MIB  # MAX_CONTENT_LENGTH for MAX_UPLOAD_MB=1, as config.py sets it
    assert len(body) > request_limit

    answer = browser.post_multipart("/portfolio/new/certificate", body, content_type)

    assert answer.status == 413, f"{answer.status}: {answer.text[:500]}\n{gunicorn.log()}"
    text = _visible_text(answer.text)
    assert "The file is too large" in text
    assert "Each file must be smaller than 1 MB" in text
    assert "<title>" in answer.text and "Evidence portfolio" in answer.text  # the NHS.UK layout, not a bare error
    _nothing_written(app)
    # The server is still there for the next request, and the worker still signed in.
    assert browser.get("/portfolio/").status == 200


def test_a_file_over_the_per_file_limit_is_refused_next_to_the_field_and_leaves_nothing(app, gunicorn):
    browser = _signed_in(gunicorn)
    fields = _certificate_form(browser)
    body, content_type = _multipart(fields, "files", "certificate.pdf", _pdf_of_size(MIB + MIB // 2))
    assert len(body) < 1 * 5 * MIB + MIB  # inside the request limit: the app itself must refuse it

    answer = browser.post_multipart("/portfolio/new/certificate", body, content_type)

    assert answer.status == 422, f"{answer.status}: {answer.text[:500]}\n{gunicorn.log()}"
    error = re.search(r'<span class="nhsuk-error-message" id="files-error">(.*?)</span>\s*<input', answer.text, re.S)
    assert error, "no error message next to the file field"
    assert "The selected file must be smaller than 1 MB" in _visible_text(error.group(1))
    assert 'aria-describedby="files-hint files-error"' in answer.text
    # What was typed is kept for the next try.
    assert 'value="Safeguarding adults level 2"' in answer.text
    _nothing_written(app)
