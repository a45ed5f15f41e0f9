"""My notifications: the list, opening one, marking all as read."""

from __future__ import annotations

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from .. import paging
from ..evidence.forms import ConfirmForm
from ..rendering import render
from . import service

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("/")
@login_required
def index():
    """My notifications, newest first, a page at a time (the list swaps in place with htmx)."""
    return render(
        "notifications/index.html",
        "notices_list",
        oob=("notices_status",),
        page=service.notices_page(current_user, paging.requested_page()),
        form=ConfirmForm(),
    )


@bp.post("/<id:notification_id>")
@login_required
def open_notice(notification_id: int):
    """Mark one as read and go to what it is about."""
    notice = service.get_notification_or_404(current_user, notification_id)
    if ConfirmForm().validate_on_submit():
        service.mark_read(current_user, notice)
    # Only our own paths are stored, but check: never an open redirect.
    target = notice.url if notice.url.startswith("/") and not notice.url.startswith("//") else url_for(".index")
    return redirect(target, code=303)


@bp.post("/read")
@login_required
def mark_all_read():
    """Mark all my notifications as read."""
    if ConfirmForm().validate_on_submit():
        service.mark_read(current_user)
    return redirect(url_for(".index"), code=303)
