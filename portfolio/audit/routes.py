"""Managers see when the audit ledger was last verified, and can verify it now."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from ..access import manager_required
from ..rendering import render
from . import ledger
from .forms import VerifyForm

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.app_template_filter("date_time")
def date_time(value: datetime | None) -> str:
    """28 November 2026 at 06:40 UTC (SQLite hands back naive UTC datetimes)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value.day} {value:%B %Y} at {value:%H:%M} UTC"


def _checkpoint() -> tuple[ledger.Checkpoint | None, str]:
    try:
        return ledger.latest_checkpoint(), ""
    except ledger.CheckpointError as error:
        return None, str(error)


@bp.get("/")
@manager_required
def index():
    """The last verification runs, the newest checkpoint and a Verify now button."""
    checkpoint, checkpoint_problem = _checkpoint()
    checks = ledger.recent_checks()
    return render(
        "audit/index.html",
        form=VerifyForm(),
        checks=checks,
        last=checks[0] if checks else None,
        checkpoint=checkpoint,
        checkpoint_problem=checkpoint_problem,
        rows=ledger.ledger_size(),
    )


@bp.post("/verify")
@manager_required
def verify():
    """Verify the ledger now and keep the result."""
    form = VerifyForm()
    if form.validate_on_submit():  # the CSRF token: CSRFProtect has already refused a bad one
        result, _check = ledger.run_check(current_user)
        if result.ok:
            flash(
                f"The audit ledger is intact: {result.checked} rows and {result.records_checked} records checked, "
                "and nothing was changed or removed",
                "success",
            )
        else:
            flash(f"The audit ledger is not intact: {result.first_problem}", "warning")
    return redirect(url_for(".index"), code=303)
