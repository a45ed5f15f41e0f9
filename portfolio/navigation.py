"""The page header: the service, the person's account links and the navigation each signed-in user sees, by role."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import Flask, current_app, request, url_for
from flask_login import current_user
from markupsafe import Markup

from . import components
from .models import Role
from .notifications import service as notifications_service
from .organisation import service as organisation
from .review import service as review_service


@dataclass(frozen=True)
class NavItem:
    text: str
    endpoint: str
    roles: frozenset[Role] | None = None  # None: everyone signed in
    # Endpoints under this prefix mark the item as the current section.
    prefix: str = ""
    # Endpoints of its section outside its prefix, before any prefix: a worker's progress seen by their supervisor
    # or a manager is their Reviews or Workers, not their own "My progress".
    also: tuple[str, ...] = ()


# A worker's progress page as their supervisor or a manager reaches it, with the forms that answer on it.
SOMEONE_ELSES_PROGRESS = (
    "progress.worker",
    "progress.recommend",
    "progress.decide",
    "progress.verify",
    "progress.request_worker_pdf",
)

NAV_ITEMS = (
    NavItem("Home", "home.index", prefix="home."),
    NavItem("Reviews", "review.queue", frozenset({Role.SUPERVISOR}), prefix="review.", also=SOMEONE_ELSES_PROGRESS),
    NavItem("People", "people.index", frozenset({Role.MANAGER}), prefix="people."),
    NavItem("Supervision", "supervision.index", frozenset({Role.MANAGER}), prefix="supervision."),
    NavItem("Workers", "progress.team", frozenset({Role.MANAGER}), prefix="progress.team", also=SOMEONE_ELSES_PROGRESS),
    NavItem("Training", "training.index", frozenset({Role.MANAGER}), prefix="training."),
    NavItem("Audit", "audit.index", frozenset({Role.MANAGER}), prefix="audit."),
    NavItem("Organisation", "organisation.index", frozenset({Role.MANAGER}), prefix="organisation."),
    NavItem("My progress", "progress.index", frozenset({Role.WORKER}), prefix="progress."),
    NavItem("CPD", "cpd.index", frozenset({Role.WORKER}), prefix="cpd."),
    NavItem("My portfolio", "evidence.index", frozenset({Role.WORKER}), prefix="evidence."),
    NavItem("Competence map", "evidence.competence_map", frozenset({Role.WORKER}), prefix="evidence.competence"),
    NavItem("Frameworks", "frameworks.index", prefix="frameworks."),
)


def _navigation(roles: frozenset[Role], endpoint: str) -> tuple[tuple[str, str, bool, bool], ...]:
    """The header's navigation for someone with ``roles`` on the page ``endpoint``: each item's text, endpoint,
    whether it is the page's section, and whether it is the page itself."""
    visible = [item for item in NAV_ITEMS if item.roles is None or roles & item.roles]
    # The section is the last item that names the page (a manager who also supervises: Workers, the manager's,
    # listed after Reviews), else the item with the longest prefix that matches it.
    named = next((item for item in reversed(visible) if endpoint in item.also), None)
    matching = [item for item in visible if endpoint.startswith(item.prefix)]
    section = named or max(matching, key=lambda item: len(item.prefix), default=None)
    counts = {"review.queue": review_service.waiting_label(current_user)} if Role.SUPERVISOR in roles else {}
    return tuple(
        (
            f"{item.text} ({counts[item.endpoint]})" if counts.get(item.endpoint, "0") != "0" else item.text,
            item.endpoint,
            item is section,
            endpoint == item.endpoint,
        )
        for item in visible
    )


def page_header() -> Markup:
    """The page's NHS.UK header: the service and organisation, the person's account links, the navigation.

    Drawn once per process for each distinct set of what it shows (the organisation, the person's name, the
    unread count, the section and the counts in the navigation), kept as plain values: building the macro's
    parameters and their cache key in the template cost every page more than its own content did. The
    sign-out form's CSRF token goes in after (:func:`components.with_csrf_token`).
    """
    org = organisation.identity()
    if current_user.is_authenticated:
        account: tuple[str, str] | None = (current_user.name, unread_notifications())
        navigation = _navigation(current_user.roles, request.endpoint or "")
    else:
        account, navigation = None, ()
    drawn = current_app.extensions[HEADERS](request.script_root, org, account, navigation)
    return components.with_csrf_token(drawn)


def _draw_header(
    _script_root: str,  # the addresses below start with it: part of the key
    org: organisation.Identity,
    account: tuple[str, str] | None,
    navigation: tuple[tuple[str, str, bool, bool], ...],
) -> Markup:
    # The NHS logo only for an NHS organisation (organisation/service.py); otherwise the organisation's own logo
    # if it has one, else none: the macro always draws one, so the NHS logo is taken out of its markup. The
    # macro's defaults (alt "NHS") hold only for keys left out, so the logo has only the keys that apply.
    logo: dict[str, str] = {}
    if org.has_logo:
        logo["src"] = url_for("organisation.logo", version=(org.logo_sha256 or "")[:16])
        logo["alt"] = f"{org.name} logo"
    if not org.is_nhs:
        logo["ariaLabel"] = " ".join(part for part in (org.organisation_name, org.service_name, "homepage") if part)
    account_items = None
    if account is not None:
        name, unread = account
        sign_out = Markup(
            '<form class="nhsuk-header__account-form" action="{}" method="post" hx-boost="false">'
            '<input type="hidden" name="csrf_token" value="{}">'
            '<button class="nhsuk-header__account-button">Sign out</button></form>'
        ).format(url_for("auth.sign_out"), components.CSRF_TOKEN_MARKER)
        account_items = {
            "items": [
                {"href": url_for("account.index"), "text": name, "icon": True},
                {
                    "href": url_for("notifications.index"),
                    "text": f"Notifications ({unread} new)" if unread else "Notifications",
                },
                {"html": sign_out},
            ]
        }
    nhsuk: components.Components = current_app.jinja_env.globals["nhsuk"]  # type: ignore[assignment]
    header = nhsuk.header.macro  # not its own cache too: this one keeps the header
    drawn = header(
        {
            "service": {"text": org.service_name, "href": url_for("home.index")},
            "organisation": {"name": org.organisation_name} if org.organisation_name else None,
            "logo": logo,
            "account": account_items,
            "navigation": {
                "items": [
                    {"href": url_for(endpoint), "text": text, "active": active, "current": current}
                    for text, endpoint, active, current in navigation
                ]
            },
        }
    )
    return drawn if org.is_nhs or org.has_logo else organisation.without_nhs_logo(drawn)


def unread_notifications() -> str:
    """How many notifications the signed-in user has not read, for the header ("" for none, or "99+")."""
    return notifications_service.unread_label(current_user)


# Headers kept per app (tests build many, each with its own settings): a few KB each.
HEADERS = "page_headers"
HEADERS_KEPT = 512


def init_app(app: Flask) -> None:
    app.extensions[HEADERS] = lru_cache(maxsize=HEADERS_KEPT)(_draw_header)
    app.jinja_env.globals["page_header"] = page_header
