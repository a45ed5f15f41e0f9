"""Response headers every page carries."""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    # No third-party requests: the vendored NHS.UK CSS has its @font-face rules
    # removed (make setup), so pages use the design system's fallback fonts.
    "font-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def static_file_headers(headers, path: str, url: str) -> None:
    """The same protective headers on files that WhiteNoise serves before Flask sees the request."""
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"


def install_security_headers(app: Flask) -> None:
    """Add the headers from SECURITY.md to every response."""

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if app.config["SEND_HSTS"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        # Pages can hold personal data: never keep them in a shared PC's cache.
        if not request.path.startswith(("/static/", "/assets/")):
            headers.setdefault("Cache-Control", "no-store")
        return response
