"""Home: where each person starts."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user

from ..rendering import render

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    """Signed-in users see their home page; everyone else signs in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))
    return home_page()


def home_page(*, status: int = 200, conflict: str | None = None):
    """The signed-in person's home; ``conflict`` says why an action from it did not happen (409)."""
    from . import service

    return render(
        "home/index.html",
        status=status,
        conflict=conflict,
        **service.home_for(current_user),
    )
