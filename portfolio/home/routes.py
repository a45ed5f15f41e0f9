"""Home: where each person starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, redirect, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from ..components import drawn_with_forms
from ..rendering import render

if TYPE_CHECKING:
    from ..training.service import CertificatesToCheck
    from .service import WorkerHome

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
        **service.home_for(current_user, _draw_worker_parts, _draw_certificates),
    )


_WORKER_PARTS = ("urgent", "next_steps", "training")


def _draw_worker_parts(worker_home: WorkerHome) -> dict[str, Markup]:
    """The worker's parts of her home, each a block of home/_worker.html (kept between visits)."""
    return {part: Markup(render_block("home/_worker.html", part, worker_home=worker_home)) for part in _WORKER_PARTS}


def _draw_certificates(certificates: CertificatesToCheck) -> Markup:
    """The certificates waiting for the checker, with a form each (kept between visits)."""
    return drawn_with_forms("home/index.html", "certificates_list", certificates=certificates)
