"""Serves the NHS.UK frontend's images and manifest where its CSS expects them (``/assets/``)."""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("assets", __name__)


@bp.get("/assets/<path:filename>")
def nhsuk_asset(filename: str):
    """An image or manifest copied from the nhsuk-frontend package by ``make``."""
    folder = current_app.static_folder + "/vendor/nhsuk/assets"  # type: ignore[operator]
    return send_from_directory(folder, filename, max_age=86400)
