"""Static files: WhiteNoise serves them compressed, and hashed names with a year's caching.

``make setup`` runs ``flask digest compile`` (Flask-Static-Digest), which writes a
content-hashed copy of every file under ``static/``, gzip and brotli versions of
each, and ``static/cache_manifest.json``. Here ``url_for('static', ...)`` answers
the hashed name from that manifest, and WhiteNoise serves the files before Flask
sees the request: the compressed version the browser accepts, ``immutable`` for a
hashed name (its content can never change), an hour for the rest. The NHS.UK
frontend's images are served the same way under ``/assets/``, where its CSS
expects them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import Flask, request, url_for
from flask_static_digest import FlaskStaticDigest
from whitenoise import WhiteNoise

from .security import static_file_headers

# Flask-Static-Digest's names: ``portfolio-<32 hex digits of md5>.css``.
HASHED_NAME = re.compile(r"-[0-9a-f]{32}\.[^/]+$")
ONE_YEAR = 365 * 24 * 60 * 60
ONE_HOUR = 60 * 60


class StaticFiles(WhiteNoise):
    """WhiteNoise with a year for immutable files: the longest lifetime caches are asked to honour."""

    FOREVER = ONE_YEAR


def _is_hashed(path: str, url: str) -> bool:
    return bool(HASHED_NAME.search(url))


def init_app(app: Flask) -> None:
    """Serve ``static/`` and ``/assets/`` through WhiteNoise; make url_for('static') use hashed names."""
    static = Path(app.static_folder)  # type: ignore[arg-type]
    files = StaticFiles(
        app.wsgi_app,
        root=static,
        prefix="static/",
        max_age=ONE_HOUR,
        # `make dev`: pick up edited and new files without a restart.
        autorefresh=app.debug,
        immutable_file_test=_is_hashed,
        add_headers_function=static_file_headers,
    )
    files.add_files(static / "vendor" / "nhsuk" / "assets", prefix="assets/")
    app.wsgi_app = files  # type: ignore[method-assign]

    digest = FlaskStaticDigest(app)
    # Under `make dev` the sources change as one edits them: serve them by their own names.
    manifest = {} if app.debug else digest.manifests.get("static", {})

    @app.url_defaults
    def _hashed_static_name(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = manifest.get(values["filename"], values["filename"])

    @lru_cache(maxsize=256)
    def _static_url(_script_root: str, filename: str) -> str:
        return url_for("static", filename=filename)

    def static_url(filename: str) -> str:
        """``url_for('static', filename=filename)``, worked out once per process for each file: every page's
        layout names seven, and building an address costs more than the rest of a page's head."""
        return _static_url(request.script_root, filename)

    app.jinja_env.globals["static_url"] = static_url
