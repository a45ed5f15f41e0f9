"""Real-browser fixtures: the app on a loopback port, Playwright driving Debian's Chromium.

Chromium comes from PORTFOLIO_CHROMIUM or /usr/bin/chromium; Playwright never
downloads a browser. Without one the browser tests are skipped with the reason,
except under CI=true, where a missing browser fails the run.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import date

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from werkzeug.serving import make_server

from tests.conftest import PROJECT

AXE = PROJECT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    return os.environ.get("PORTFOLIO_CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if not os.access(path, os.X_OK):
        message = (
            f"Chromium not found at {path}: install it with 'sudo apt-get install chromium' "
            "or set PORTFOLIO_CHROMIUM to its path"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def closing_each_response(app):
    """WSGI middleware: read each response fully and close it before the server writes it.

    A browser drops some requests mid-response (a favicon when the page moves
    on); werkzeug's development server can then leave the file of a static
    response open, and with warnings as errors that ResourceWarning fails a
    random later test. Our responses are small, so buffering costs nothing.
    """

    def middleware(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return middleware


@pytest.fixture
def live_server(app):
    """The test app served on a free loopback port for the length of one test."""
    server = make_server("127.0.0.1", 0, closing_each_response(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


class PageErrors:
    """Console errors a page logged, apart from the NHS font it cannot fetch offline
    and the network log of answers the app gives on purpose (422 for a form with errors)."""

    def __init__(self):
        self.messages: list[str] = []

    def record(self, message) -> None:
        text = message.text
        expected = "assets.nhs.uk" in text or "ERR_" in text or "status of 422" in text
        if message.type == "error" and not expected:
            self.messages.append(text)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors = PageErrors()
    page.on("console", errors.record)
    page.on("pageerror", lambda exc: errors.messages.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors.messages == [], f"the page logged errors: {errors.messages}"


# A small phone: pages must reflow into it without scrolling sideways (WCAG 1.4.10).
PHONE = {"width": 320, "height": 720}

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


COMPONENTS_STARTED = (
    "() => [...document.querySelectorAll('[data-module]')]"
    ".every((e) => e.hasAttribute('data-' + e.dataset.module + '-init'))"
)


def axe_violations(page) -> list[dict]:
    """Run axe-core in the page; return its violations (WCAG 2.2 A and AA rules and best practice)."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run `make setup` (npm ci) first")
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    # Judge the page once the NHS.UK components are set up (each marks itself data-<module>-init): nhsuk-init.mjs
    # imports the frontend after the load event may have fired, and a header mid-setup is not what people see.
    page.wait_for_function(COMPONENTS_STARTED)
    # The pointer stays where the last click was; after a page change it can rest on a link, whose hover style
    # (NHS.UK: another colour, no underline) axe would judge instead of the link as people see it.
    page.mouse.move(0, 0)
    # Only violations are wanted: axe then skips building selectors for every passing node, half its time.
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]
    ]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=2)


_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
_REFLOWS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def horizontal_overflow(page) -> int:
    """How far the page scrolls sideways, in CSS pixels (0 when it reflows into the window: WCAG 1.4.10).

    Read once the page has settled: after the window narrows, the NHS.UK header moves the links that no longer fit
    into its "More" menu on the next animation frame, and until then they stick out (measured at 270 px).
    """
    try:
        page.wait_for_function(_REFLOWS, polling="raf", timeout=2000)
    except PlaywrightTimeoutError:
        pass  # It does not reflow: the number says by how much.
    return page.evaluate(_OVERFLOW)


def sign_in_by_cookie(context, app, base_url: str, user) -> None:
    """Give a browser context a signed-in session for ``user`` without the sign-in form (and its slow hashing)."""
    from portfolio.auth.sessions import now

    user.signed_in_at = now()
    cookie = app.session_interface.get_signing_serializer(app).dumps(
        {"_user_id": user.get_id(), "_fresh": True, "_permanent": True}
    )
    context.add_cookies([{"name": app.config["SESSION_COOKIE_NAME"], "value": cookie, "url": base_url}])


def settled(page) -> None:
    """Wait until htmx has settled its last swap: only then do the new content's triggers listen.

    A boosted page's heading shows at once, but htmx attaches its triggers (a filter's ``change``) when the swap
    settles, a moment later; a choice made before then is missed.
    """
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-swapping, .htmx-request')")


def sign_in(page, email: str, password: str) -> None:
    page.goto("/auth/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")


def fill_date(page, legend: str, when: date) -> None:
    """Type a date into the NHS.UK date input (day, month, year boxes) whose fieldset has ``legend``."""
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(when.day))
    group.get_by_label("Month").fill(str(when.month))
    group.get_by_label("Year").fill(str(when.year))


def evidence_id_from(url: str) -> int:
    """The id of the evidence item a portfolio URL points at."""
    match = re.search(r"/portfolio/(\d+)", url)
    assert match, url
    return int(match.group(1))


def chart_value(chart, label: str):
    """The value written beside ``label``'s bar in a progress chart (templates/progress/_chart.html)."""
    row = chart.locator(".progress-chart__row").filter(has=chart.page.locator("dt").get_by_text(label, exact=True))
    return row.locator(".progress-chart__value")
