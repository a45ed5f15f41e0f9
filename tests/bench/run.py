"""`make bench`: serve the portfolio and a bare Flask "hello" alike, load each page, print and keep the results."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from portfolio import clock
from tests.serving import PROJECT, Browser, Gunicorn, csrf_token, multipart, pdf_of_size

from . import data, load
from .data import Cast

MIB = 1024 * 1024
ROUNDS = 2  # hello and each page are loaded this many times, in turn
DEFAULT_RESULTS = PROJECT / "tests" / "bench" / "RESULTS.md"
DEFAULT_INSTANCE = PROJECT / "instance" / "bench"


@dataclass(frozen=True)
class Page:
    name: str
    who: str  # worker, supervisor or manager
    path: Callable[[Cast], str]


PAGES = [
    # Not a page: the floor under every signed-in page (tests/bench/floor.py).
    Page("Floor: signed in, nothing rendered", "worker", lambda c: "/bench/signed-in"),
    Page("Worker home", "worker", lambda c: "/"),
    Page("My portfolio", "worker", lambda c: "/portfolio/"),
    Page("Competence map", "worker", lambda c: "/portfolio/map"),
    Page("My progress", "worker", lambda c: "/progress/"),
    Page("What's missing", "worker", lambda c: "/progress/missing"),
    Page("Supervisor's view of the worker", "supervisor", lambda c: f"/progress/workers/{c.worker_id}"),
    Page("Review queue", "supervisor", lambda c: "/review/"),
    Page("Supervisor team", "supervisor", lambda c: "/review/team"),
    Page("Supervisor home", "supervisor", lambda c: "/"),
    Page("Manager workers list", "manager", lambda c: "/progress/team"),
    Page("Manager home", "manager", lambda c: "/"),
    Page("Compliance matrix", "manager", lambda c: f"/training/{c.framework_key}/compliance"),
    Page("Framework page", "worker", lambda c: f"/frameworks/{c.framework_id}"),
    # Beyond the list: the page the header links to, a row and a form per notice (1,000 for the worker).
    Page("Notifications", "worker", lambda c: "/notifications/"),
]

# The htmx filter answers that exist: the same address asked by htmx (a fragment) and by a browser (the page).
FRAGMENTS = [
    Page("My portfolio, kind filter", "worker", lambda c: "/portfolio/?kind=reflection"),
    Page("Manager workers list, waiting filter", "manager", lambda c: "/progress/team?only=waiting"),
    Page(
        "Compliance matrix, expired filter",
        "manager",
        lambda c: f"/training/{c.framework_key}/compliance?status=expired",
    ),
    Page("People, active filter", "manager", lambda c: "/people/?status=active"),
]

# The documents the task consumer builds (portfolio/documents/): their names in the results, and their kinds.
DOCUMENTS = [("Panel PDF", "panel-pdf"), ("Data export", "data-export")]


@dataclass
class Load:
    requests: int
    per_second: float
    p50: float  # milliseconds
    p95: float
    failed: int


@dataclass
class PageResult:
    page: Page
    load: Load
    queries: str
    size: int
    hello: Load  # hello, loaded just before the page

    @property
    def ratio(self) -> float:
        return self.load.per_second / self.hello.per_second if self.hello.per_second else 0.0


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(data.SCALES), default="full", help="how much data (default full)")
    parser.add_argument("--seconds", type=float, default=10, help="load per page, in seconds (default 10)")
    parser.add_argument(
        "--hello-seconds", type=float, default=4, help="load on hello before each page, in seconds (default 4)"
    )
    parser.add_argument("--clients", type=int, default=4, help="client processes loading at once (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers, for both apps (default 2)")
    parser.add_argument("--documents", type=int, default=3, help="times each document is built (default 3)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("PORTFOLIO_BENCH_DATABASE_URL"),
        help="the database to build and serve (PORTFOLIO_BENCH_DATABASE_URL; default a SQLite file under instance/bench)",
    )
    parser.add_argument("--instance", type=Path, default=DEFAULT_INSTANCE, help="where the cache and logs live")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the Markdown file to update")
    args = parser.parse_args(argv)
    args.database_url = args.database_url or f"sqlite:///{args.instance / (args.scale + '.db')}"
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.instance.mkdir(parents=True, exist_ok=True)
    backend = make_url(args.database_url).get_backend_name()
    database = "PostgreSQL" if backend == "postgresql" else "SQLite"
    uploads = args.instance / f"uploads-{backend}-{args.scale}"
    print(f"Benchmark on {database}, {args.scale} data")
    cast = data.ensure(args.database_url, args.scale, args.instance, uploads)
    started = datetime.now(UTC)  # the measuring, not the data build
    options = ("--workers", str(args.workers), "--worker-class", "sync", "--timeout", "300")
    env = server_env(args.database_url, uploads)
    print(
        f"Serving with gunicorn {' '.join(options)}; PORTFOLIO_ENV=production, "
        "PORTFOLIO_MFA_REQUIRED_ROLES empty (the benchmark accounts have no second factor), "
        "PORTFOLIO_QUERY_COUNT_HEADER=1 (each answer says its query count)."
    )
    with ProcessPoolExecutor(max_workers=args.clients) as pool, contextlib.ExitStack() as servers:
        list(pool.map(load.ready, range(args.clients)))  # start the client processes before timing anything
        # Both served side by side, one loaded at a time: hello is loaded again just before each page, so a
        # machine whose speed drifts during the run (a shared one does) moves both sides of each ratio.
        hello = Gunicorn(env, args.instance / "hello.log", target="tests.bench.hello:app", options=options)
        servers.callback(hello.stop)
        app = Gunicorn(env, args.instance / "portfolio.log", target="tests.bench.floor:app", options=options)
        servers.callback(app.stop)
        hello.wait_until_ready("/")
        app.wait_until_ready()
        for _ in range(args.workers):
            load.fetch(hello.port, "/", {})
        browsers = {who: sign_in(app.port, cast, who) for who in ("worker", "supervisor", "manager")}
        pages = [measure_page(app.port, hello.port, page, cast, browsers, args, pool) for page in PAGES]
        fragments = [measure_fragment(page, cast, browsers) for page in FRAGMENTS]
        upload = measure_upload(app, cast)
    documents = measure_documents(args, cast, uploads)
    report = Report(
        database=database,
        args=args,
        cast=cast,
        started=started,
        pages=pages,
        fragments=fragments,
        documents=documents,
        upload=upload,
    )
    text = report.markdown()
    print(text)
    write_results(args.results, database, text)
    print(f"Written to {args.results}")
    return 0


def server_env(url: str, uploads: Path) -> dict[str, str]:
    """Production settings with throwaway keys, on the benchmark database."""
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTFOLIO_", "GUNICORN", "SECRET_KEY"))}
    env.update(
        {
            "PORTFOLIO_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "PORTFOLIO_AUDIT_KEY": data.AUDIT_KEY,
            "PORTFOLIO_MFA_KEY": Fernet.generate_key().decode(),
            "PORTFOLIO_MFA_REQUIRED_ROLES": "",
            "PORTFOLIO_QUERY_COUNT_HEADER": "1",
            "PORTFOLIO_DATABASE_URL": url,
            "PORTFOLIO_UPLOAD_FOLDER": str(uploads),
            "PORTFOLIO_AUDIT_CHECKPOINT_FILE": str(uploads.parent / "audit-checkpoints.log"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


# --- Measuring ------------------------------------------------------------------------


def hammer(
    port: int, path: str, headers: dict[str, str], args, pool: ProcessPoolExecutor, seconds: float | None = None
) -> Load:
    """Load ``path`` from every client process at once for ``seconds`` (``args.seconds`` by default)."""
    start_at = time.time() + 0.2
    stop_at = start_at + (seconds or args.seconds)
    futures = [pool.submit(load.hammer, port, path, headers, start_at, stop_at) for _ in range(args.clients)]
    samples = [f.result() for f in futures]
    latencies = sorted(t for s in samples for t in s.latencies)
    elapsed = max(s.ended for s in samples) - start_at
    return Load(
        requests=len(latencies),
        per_second=len(latencies) / elapsed,
        p50=percentile(latencies, 50) * 1000,
        p95=percentile(latencies, 95) * 1000,
        failed=sum(s.failed for s in samples),
    )


def percentile(ordered: list[float], pct: int) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def sign_in(port: int, cast: Cast, who: str) -> Browser:
    """A signed-in session of the benchmark's worker, supervisor or manager."""
    browser = Browser(port, timeout=300)
    form = browser.get("/auth/sign-in")
    email = getattr(cast, f"{who}_email")
    answer = browser.post_form(
        "/auth/sign-in", {"csrf_token": csrf_token(form.text), "email": email, "password": data.PASSWORD}
    )
    if answer.status != 303:
        raise SystemExit(f"Could not sign in as {email}: HTTP {answer.status}")
    return browser


def cookie_header(browser: Browser) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in browser.cookies.items())}


def first_answer(port: int, path: str, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    status, body, answer_headers = load.fetch(port, path, headers)
    if status != 200:
        raise SystemExit(f"GET {path} answered {status}, not 200: {body[:300]!r}")
    return body, answer_headers


def measure_page(port: int, hello_port: int, page: Page, cast: Cast, browsers, args, pool) -> PageResult:
    path, browser = page.path(cast), browsers[page.who]
    # As a browser does, the client sends the session cookie the app last set: it is signed again once a
    # minute (auth/sessions.py), and one kept from the start of the run would be signed again on every request.
    browser.get(path)
    headers = cookie_header(browser)
    # Each worker renders the page before it is timed (gunicorn does not deal requests out in turn: a few
    # each). The first time a process shows a page it keeps what it counted (progress/versions.py): the
    # queries column says both, when they differ.
    counts = []
    for _ in range(3 * args.workers):
        body, answer_headers = first_answer(port, path, headers)
        counts.append(answer_headers.get("x-query-count", "?"))
    kept, first = min(counts, key=_as_number), max(counts, key=_as_number)
    print(f"  {page.name}: {path}", flush=True)
    queries = kept if kept == first else f"{kept} ({first} first)"
    # Two rounds of hello then the page, half the time each; the faster round of each is kept. Noise on a
    # shared machine only ever slows a round down (one slow round of the same page measured 417 req/s,
    # the next 986), and the best of two comes closer to what the code costs.
    hellos, loads = [], []
    for _ in range(ROUNDS):
        hellos.append(hammer(hello_port, "/", {}, args, pool, seconds=args.hello_seconds / ROUNDS))
        loads.append(hammer(port, path, headers, args, pool, seconds=args.seconds / ROUNDS))
    best = replace(max(loads, key=lambda x: x.per_second), failed=sum(x.failed for x in loads))
    return PageResult(page, best, queries, len(body), max(hellos, key=lambda x: x.per_second))


def _as_number(count: str) -> int:
    return int(count) if count.isdigit() else -1


@dataclass
class FragmentResult:
    page: Page
    path: str
    fragment: int
    full: int


def measure_fragment(page: Page, cast: Cast, browsers) -> FragmentResult:
    browser, path = browsers[page.who], page.path(cast)
    headers = cookie_header(browser)
    full, _ = first_answer(browser.port, path, headers)
    fragment, _ = first_answer(browser.port, path, {**headers, "HX-Request": "true"})
    return FragmentResult(page, path, len(fragment), len(full))


@dataclass
class DocumentResult:
    name: str
    seconds: list[float]
    size: int
    queries: str


def measure_documents(args, cast: Cast, uploads: Path) -> list[DocumentResult]:
    """Build each document as the task consumer does, in this process on the benchmark database.

    A request only claims a document and queues its build (``documents.service.request_document``), so what is
    timed is the task's work, ``documents.service.build_now``: the builder, the stored file and the row marked
    ready. The claims go to a queue of the benchmark's own that nothing consumes (emptied afterwards), and the
    documents and their files are deleted afterwards, so the cached data stays as built.
    """
    from sqlalchemy import delete, event, select

    from portfolio import tasks
    from portfolio.database import is_query
    from portfolio.documents import service as documents
    from portfolio.extensions import db
    from portfolio.models import Document, DocumentKind, DocumentStatus, User
    from portfolio.progress import rules

    queue = args.instance / "bench-tasks.db"
    app = data.app_for(
        args.database_url,
        uploads,
        TASKS_IMMEDIATE=False,
        TASK_QUEUE=f"sqlite:///{queue}",
        TASK_QUEUE_NAME=f"bench-{secrets.token_hex(4)}",
    )
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if is_query(statement):
            statements.append(statement)

    results = []
    with app.app_context():
        worker = db.session.scalar(select(User).where(User.email == cast.worker_email))
        assert worker is not None and worker.framework is not None
        tier = rules.next_tier(worker, worker.framework.tiers) or worker.tier  # the PDF's default, as its button
        built: list[int] = []
        try:
            for name, kind_name in DOCUMENTS:
                kind = DocumentKind(kind_name)
                seconds, size, queries = [], 0, 0
                for _ in range(max(1, args.documents)):
                    document = documents.request_document(
                        worker, kind, worker, tier if kind == DocumentKind.PANEL_PDF else None
                    )
                    built.append(document.id)
                    statements.clear()
                    event.listen(db.engine, "before_cursor_execute", count)
                    began = time.perf_counter()
                    try:
                        documents.build_now(document.id)
                    finally:
                        seconds.append(time.perf_counter() - began)
                        event.remove(db.engine, "before_cursor_execute", count)
                    queries = len(statements)  # the last build's, as the pages' counts are a warm server's
                    finished = db.session.get(Document, document.id)
                    if finished is None or finished.status != DocumentStatus.READY or not finished.size:
                        raise SystemExit(f"Building the {name} failed: see the log above")
                    size = finished.size
                print(f"  {name}: built {len(seconds)} times", flush=True)
                results.append(DocumentResult(name, seconds, size, str(queries)))
        finally:
            db.session.rollback()
            names = db.session.scalars(select(Document.stored_name).where(Document.id.in_(built))).all()
            db.session.execute(delete(Document).where(Document.id.in_(built)))
            db.session.commit()
            for stored in names:
                if stored:
                    documents.stored_path(stored).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                documents.folder().rmdir()  # when the benchmark made it
            tasks.huey.storage.flush_all()
            tasks.huey.storage.close()
            db.session.remove()
            db.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{queue}{suffix}").unlink(missing_ok=True)
    return results


@dataclass
class UploadResult:
    size: int
    seconds: float
    before_mb: float  # the worker's resident memory before the upload
    peak_mb: float  # its peak while it handled the upload
    how: str


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure_upload(server: Gunicorn, cast: Cast) -> UploadResult:
    """Post a file just under the 20 MB limit as a new item; the peak resident memory of the worker that took it.

    Linux only: the peak (VmHWM) is reset through /proc/<pid>/clear_refs first,
    so it is this request's. The item is deleted afterwards, so the cached data
    stays as built.
    """
    browser = sign_in(server.port, cast, "uploader")
    form = browser.get("/portfolio/new/other", follow_redirects=True)
    today = clock.today() - timedelta(days=1)
    fields = {
        "csrf_token": csrf_token(form.text),
        "form_key": _hidden(form.text, "form_key"),
        "title": "Benchmark upload",
        "occurred_on-day": str(today.day),
        "occurred_on-month": str(today.month),
        "occurred_on-year": str(today.year),
        "description": "A large file, to measure memory.",
    }
    content = pdf_of_size(20 * MIB - 64 * 1024)
    body, content_type = multipart(fields, "files", "large.pdf", content)
    pids = server.worker_pids()
    how = "peak RSS (VmHWM) of the gunicorn worker, reset before the upload"
    before = {}
    for pid in pids:
        before[pid] = _status_kb(pid, "VmRSS")
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            how = "peak RSS (VmHWM) since the gunicorn worker started (could not reset it)"
    began = time.perf_counter()
    answer = browser.post_multipart("/portfolio/new/other", body, content_type)
    seconds = time.perf_counter() - began
    if answer.status != 303:
        raise SystemExit(f"The upload answered {answer.status}, not 303: {answer.text[:500]}")
    peaks = {pid: _status_kb(pid, "VmHWM") for pid in pids}
    busiest = max(peaks, key=lambda pid: peaks[pid] - before[pid]) if peaks else None
    _delete_uploaded(browser, answer.headers.get("location", ""))
    return UploadResult(
        size=len(content),
        seconds=seconds,
        before_mb=before.get(busiest, 0) / 1024,
        peak_mb=peaks.get(busiest, 0) / 1024,
        how=how,
    )


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"|value="([^"]*)"[^>]*name="{name}"', html)
    return (match.group(1) or match.group(2)) if match else ""


def _delete_uploaded(browser: Browser, location: str) -> None:
    match = re.search(r"/portfolio/(\d+)", urlsplit(location).path)
    if not match:
        raise SystemExit(f"The upload did not lead to the new item (Location: {location!r})")
    path = f"/portfolio/{match.group(1)}/delete"
    page = browser.get(path)
    answer = browser.post_form(path, {"csrf_token": csrf_token(page.text)})
    if answer.status != 303:
        raise SystemExit(f"Deleting the uploaded item answered {answer.status}")


# --- Reporting ------------------------------------------------------------------------


@dataclass
class Report:
    database: str
    args: argparse.Namespace
    cast: Cast
    started: datetime
    pages: list[PageResult]
    fragments: list[FragmentResult]
    documents: list[DocumentResult]
    upload: UploadResult

    def markdown(self) -> str:
        hellos = [r.hello.per_second for r in self.pages]
        scale = data.SCALES[self.args.scale]
        lines = [
            f"## {self.database}",
            "",
            f"Run {self.started:%Y-%m-%d %H:%M} UTC on {machine()}.",
            f"Data ({self.args.scale}): {scale.workers} workers and {scale.supervisors} supervisors; one worker "
            f"with {scale.items:,} items linked to 3 competences each, {self.cast.waiting:,} of the supervisor's "
            f"items waiting for review; every other worker {scale.others_items} items and some certificates.",
            f"gunicorn: {self.args.workers} sync workers for both apps, PORTFOLIO_ENV=production, "
            "PORTFOLIO_MFA_REQUIRED_ROLES empty (the benchmark accounts have no second factor). "
            f"Load: {self.args.clients} client processes for {self.args.seconds:g} s per page, "
            "one new connection per request.",
            "",
            f"hello and each page: loaded in turn, {ROUNDS} rounds, {self.args.hello_seconds / ROUNDS:g} s of hello "
            f"then {self.args.seconds / ROUNDS:g} s of the page; the faster round of each is shown (requests: that "
            f"round's; failed: all rounds'). hello: {min(hellos):,.0f} to {max(hellos):,.0f} req/s (mean "
            f"{statistics.mean(hellos):,.0f}; p50 {self.pages[0].hello.p50:.1f} ms). × hello is a page's requests/s "
            "over those of the hello loaded next to it.",
            "",
            "| Page | req/s | × hello | p50 ms | p95 ms | queries | KB | requests | failed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in self.pages:
            lines.append(
                f"| {r.page.name} | {r.load.per_second:,.1f} | {r.ratio:.4f} | "
                f"{r.load.p50:,.0f} | {r.load.p95:,.0f} | {r.queries} | {r.size / 1024:,.1f} | "
                f"{r.load.requests:,} | {r.load.failed} |"
            )
        lines += [
            "",
            "| Fragment (htmx filter answer) | address | fragment KB | page KB | fragment / page |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for f in self.fragments:
            lines.append(
                f"| {f.page.name} | `{f.path}` | {f.fragment / 1024:,.1f} | {f.full / 1024:,.1f} | "
                f"{f.fragment / f.full:.2f} |"
            )
        lines += [
            "",
            f"Documents: built {self.args.documents} times each as the task consumer builds them "
            "(`documents.service.build_now`: the builder, the stored file, the row marked ready), in the benchmark "
            "process on the same database; the request that asks for one only claims and queues it.",
            "",
            "| Document | median s | slowest s | KB | queries |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for d in self.documents:
            lines.append(
                f"| {d.name} | {statistics.median(d.seconds):.2f} | {max(d.seconds):.2f} | "
                f"{d.size / 1024:,.0f} | {d.queries} |"
            )
        u = self.upload
        lines += [
            "",
            f"20 MB upload ({u.size / MIB:.2f} MiB PDF as a new item, then deleted): {u.seconds:.2f} s; "
            f"{u.how}: {u.peak_mb:,.0f} MB (it was {u.before_mb:,.0f} MB before).",
            "",
        ]
        return "\n".join(lines)


def machine() -> str:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else ""
    load_average = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu or 'unknown model'}), "
        f"Python {platform.python_version()}, load average {load_average} at the end"
    )


HEADER = """# Benchmark results

Written by `make bench` (see the README's "Benchmark" section and `tests/bench/`). Each run replaces the
section of its database. Ratios (× hello) compare with a bare Flask app served the same way in the same run,
so they say more than the raw numbers on a shared machine; timings move with whatever else the machine does.
"""


def write_results(path: Path, database: str, section: str) -> None:
    """Replace this database's section of the results file, keeping the other's."""
    old = path.read_text() if path.exists() else HEADER
    parts = re.split(r"(?m)^(?=## )", old)
    head, sections = parts[0], {p.split("\n", 1)[0][3:].strip(): p for p in parts[1:]}
    sections[database] = section.rstrip("\n") + "\n\n"
    ordered = [sections[k] for k in ("SQLite", "PostgreSQL") if k in sections]
    text = head.rstrip("\n") + "\n\n" + "".join(ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
        out.write(text.rstrip("\n") + "\n")
    Path(out.name).replace(path)


if __name__ == "__main__":
    sys.exit(main())
