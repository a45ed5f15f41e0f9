"""The header navigation: what each signed-in user sees, by role."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, url_for
from flask_login import current_user

from .models import Role
from .notifications import service as notifications_service
from .review import service as review_service


@dataclass(frozen=True)
class NavItem:
    text: str
    endpoint: str
    roles: frozenset[Role] | None = None  # None: everyone signed in
    # Endpoints under this prefix mark the item as the current section.
    prefix: str = ""


NAV_ITEMS = (
    NavItem("Home", "home.index", prefix="home."),
    NavItem("Reviews", "review.queue", frozenset({Role.SUPERVISOR}), prefix="review."),
    NavItem("People", "people.index", frozenset({Role.MANAGER}), prefix="people."),
    NavItem("Supervision", "supervision.index", frozenset({Role.MANAGER}), prefix="supervision."),
    NavItem("Workers", "progress.team", frozenset({Role.MANAGER}), prefix="progress.team"),
    NavItem("Training", "training.index", frozenset({Role.MANAGER}), prefix="training."),
    NavItem("Audit", "audit.index", frozenset({Role.MANAGER}), prefix="audit."),
    NavItem("Organisation", "organisation.index", frozenset({Role.MANAGER}), prefix="organisation."),
    NavItem("My progress", "progress.index", frozenset({Role.WORKER}), prefix="progress."),
    NavItem("CPD", "cpd.index", frozenset({Role.WORKER}), prefix="cpd."),
    NavItem("My portfolio", "evidence.index", frozenset({Role.WORKER}), prefix="evidence."),
    NavItem("Competence map", "evidence.competence_map", frozenset({Role.WORKER}), prefix="evidence.competence"),
    NavItem("Frameworks", "frameworks.index", prefix="frameworks."),
)


def navigation_items() -> list[dict]:
    """Header navigation items (NHS.UK header macro format) for the current user."""
    if not current_user.is_authenticated:
        return []
    roles = current_user.roles
    endpoint = request.endpoint or ""
    visible = [item for item in NAV_ITEMS if item.roles is None or roles & item.roles]
    # The section is the item with the longest prefix that matches the page.
    matching = [item for item in visible if endpoint.startswith(item.prefix)]
    section = max(matching, key=lambda item: len(item.prefix), default=None)
    counts = {"review.queue": review_service.waiting_label(current_user)} if Role.SUPERVISOR in roles else {}
    return [
        {
            "href": url_for(item.endpoint),
            "text": f"{item.text} ({counts[item.endpoint]})" if counts.get(item.endpoint, "0") != "0" else item.text,
            "active": item is section,
            "current": endpoint == item.endpoint,
        }
        for item in visible
    ]


def unread_notifications() -> str:
    """How many notifications the signed-in user has not read, for the header ("" for none, or "99+")."""
    if not current_user.is_authenticated:
        return ""
    return notifications_service.unread_label(current_user)


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"navigation_items": navigation_items, "unread_notifications": unread_notifications})
