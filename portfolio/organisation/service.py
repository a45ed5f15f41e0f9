"""The organisation's identity, in one place: the header, emails and documents all read ``identity()``.

A manager's saved settings (one row) win; until there are any, configuration
decides (PORTFOLIO_SERVICE_NAME, PORTFOLIO_ORGANISATION_NAME,
PORTFOLIO_ORGANISATION_IS_NHS, PORTFOLIO_ORGANISATION_LOGO). An uploaded logo
wins over the configured one. Only an NHS organisation shows the NHS logo.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app, g
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import FileStorage

from ..audit import ledger
from ..config import ConfigError
from ..database import begin_write, lock
from ..errors import FieldError
from ..evidence import files
from ..extensions import db
from ..models import OrganisationSettings, User

ROW_ID = 1
LOGO_MAX_BYTES = 1024 * 1024
LOGO_MAX_SIDE = 2000
LOGO_HINT = "A PNG or JPEG image, smaller than 1 MB and at most 2000 pixels wide and high. SVG files are not accepted."
_CACHE = "organisation_identity"
_CONFIGURED_LOGO = "organisation_logo"


@dataclass(frozen=True)
class Logo:
    content_type: str
    data: bytes
    sha256: str


@dataclass(frozen=True)
class Identity:
    """What the header, emails and documents say about who runs the service."""

    service_name: str
    organisation_name: str  # may be empty: no organisation named
    is_nhs: bool
    logo_type: str | None
    logo_sha256: str | None  # names the logo's version in its address, so browsers may keep it

    @property
    def has_logo(self) -> bool:
        return self.logo_sha256 is not None

    @property
    def name(self) -> str:
        """Who issues and signs things: the organisation, or the service when no organisation is named."""
        return self.organisation_name or self.service_name


# What identity() reads of the settings row; the user loader reads them in its own query too.
IDENTITY_COLUMNS = (
    OrganisationSettings.service_name,
    OrganisationSettings.organisation_name,
    OrganisationSettings.is_nhs,
    OrganisationSettings.logo_type,
    OrganisationSettings.logo_sha256,
)


def identity() -> Identity:
    """The organisation's identity, read once per request (or app context) at most."""
    cached = g.get(_CACHE)
    if cached is None:
        cached = _load()
        setattr(g, _CACHE, cached)
    return cached


def remember_identity(row) -> None:
    """Keep the IDENTITY_COLUMNS of ``row`` (all None: no settings row) as this request's identity.

    The user loader reads them with the signed-in user, saving every page a round trip.
    """
    setattr(g, _CACHE, _identity_from(row if row is not None and row[0] is not None else None))


def _load() -> Identity:
    # Its own connection, not the session: emails are signed as their transaction commits, when the
    # session can run no SQL; and a reader never joins a use case's write transaction.
    with db.engine.connect() as connection:
        row = connection.execute(select(*IDENTITY_COLUMNS).where(OrganisationSettings.id == ROW_ID)).first()
    return _identity_from(row)


def _identity_from(row) -> Identity:
    configured = _configured_logo()
    config = current_app.config
    if row is None:
        return Identity(
            service_name=config["SERVICE_NAME"],
            organisation_name=config["ORGANISATION_NAME"],
            is_nhs=config["ORGANISATION_IS_NHS"],
            logo_type=configured.content_type if configured else None,
            logo_sha256=configured.sha256 if configured else None,
        )
    service_name, organisation_name, is_nhs, logo_type, logo_sha256 = row
    if logo_sha256 is None and configured is not None:
        return Identity(service_name, organisation_name, is_nhs, configured.content_type, configured.sha256)
    return Identity(service_name, organisation_name, is_nhs, logo_type, logo_sha256)


def logo() -> Logo | None:
    """The logo's image (the uploaded one, else the configured one), or None."""
    row = db.session.execute(
        select(OrganisationSettings.logo, OrganisationSettings.logo_type, OrganisationSettings.logo_sha256).where(
            OrganisationSettings.id == ROW_ID, OrganisationSettings.logo.is_not(None)
        )
    ).first()
    if row is not None:
        return Logo(row.logo_type, row.logo, row.logo_sha256)
    return _configured_logo()


def has_uploaded_logo() -> bool:
    """Whether a manager uploaded the logo (which they can remove), rather than configuration naming it."""
    return (
        db.session.scalar(select(OrganisationSettings.logo_sha256).where(OrganisationSettings.id == ROW_ID)) is not None
    )


def _configured_logo() -> Logo | None:
    return current_app.extensions.get(_CONFIGURED_LOGO)


def _accept_logo(data: bytes, field: str) -> Logo:
    """The logo checked by its content and re-encoded (no metadata, nothing hidden after the picture).

    :raises FieldError: on ``field``, for an empty, too large or refused file.
    """
    if not data:
        raise FieldError(field, "The selected file is empty")
    if len(data) > LOGO_MAX_BYTES:
        raise FieldError(field, "The logo must be smaller than 1 MB")
    content_type, clean = files.clean_image(data, field=field, max_side=LOGO_MAX_SIDE)
    return Logo(content_type, clean, hashlib.sha256(clean).hexdigest())


@dataclass(frozen=True)
class Changes:
    service_name: str
    organisation_name: str
    is_nhs: bool
    logo: FileStorage | None = None  # a new logo, if one was chosen
    remove_logo: bool = False


def check_logo(upload: FileStorage) -> None:
    """What :func:`update_settings` would say of this logo file, without saving anything (for a form refused
    for another field, so that one answer names every problem).

    :raises FieldError: on ``logo`` when the file would be refused.
    """
    _checked_logo(upload)


def _checked_logo(upload: FileStorage | None) -> Logo | None:
    """The chosen logo file, checked and re-encoded; None when no file was chosen.

    :raises FieldError: on ``logo`` when the file is refused.
    """
    if upload is None or not upload.filename:
        return None
    # One byte past the limit is enough to know it is too large; never the whole upload in memory.
    return _accept_logo(upload.stream.read(LOGO_MAX_BYTES + 1), "logo")


def update_settings(actor: User, changes: Changes) -> OrganisationSettings | None:
    """Save the organisation's identity and record it in the audit ledger; None when nothing changed.

    A new logo is checked and re-encoded before the write transaction starts,
    so a refused one leaves nothing written.

    :raises FieldError: on ``logo`` when the file is refused.
    """
    new_logo = _checked_logo(changes.logo)

    begin_write()
    settings = _locked_settings()
    before = _summary(settings)
    settings.service_name = changes.service_name
    settings.organisation_name = changes.organisation_name
    settings.is_nhs = changes.is_nhs
    if new_logo is not None:
        settings.logo, settings.logo_type, settings.logo_sha256 = new_logo.data, new_logo.content_type, new_logo.sha256
    elif changes.remove_logo:
        settings.logo = settings.logo_type = settings.logo_sha256 = None
    after = _summary(settings)
    changed = sorted(key for key in after if after[key] != before[key])
    if not changed:
        db.session.rollback()
        return None
    ledger.record(actor, "organisation.changed", "organisation", changed=changed, **after)
    db.session.commit()
    g.pop(_CACHE, None)  # this request's pages show the new identity
    return settings


def _locked_settings() -> OrganisationSettings:
    """The settings row under a write lock, made from configuration first if there is none yet."""
    settings = lock(OrganisationSettings, ROW_ID)
    if settings is not None:
        return settings
    config = current_app.config
    try:
        # Two managers saving the first settings at once: one insert wins, the other
        # (PostgreSQL) waits for it and then locks the row it made.
        with db.session.begin_nested():
            db.session.add(
                OrganisationSettings(
                    id=ROW_ID,
                    service_name=config["SERVICE_NAME"],
                    organisation_name=config["ORGANISATION_NAME"],
                    is_nhs=config["ORGANISATION_IS_NHS"],
                )
            )
    except IntegrityError:
        pass
    settings = lock(OrganisationSettings, ROW_ID)
    assert settings is not None  # inserted above, by us or by whoever won
    return settings


def _summary(settings: OrganisationSettings) -> dict[str, object]:
    """What the ledger row says (names and a digest: the logo's bytes stay out of the ledger)."""
    return {
        "service_name": settings.service_name,
        "organisation_name": settings.organisation_name,
        "is_nhs": bool(settings.is_nhs),
        "logo_sha256": settings.logo_sha256,
    }


def email_signature() -> str:
    """The lines that close every email: the service, and the organisation that runs it."""
    org = identity()
    lines = [org.service_name] + ([org.organisation_name] if org.organisation_name else [])
    return "-- \n" + "\n".join(lines) + "\n"


def init_app(app: Flask) -> None:
    """Check the configured logo once at start-up, and let templates read the identity."""
    path = app.config.get("ORGANISATION_LOGO")
    if path:
        app.extensions[_CONFIGURED_LOGO] = _read_configured_logo(Path(path))
    # A global, not a context processor: imported macros (the htmx answers' <title>) see it too.
    app.jinja_env.globals["organisation"] = identity


# The NHS.UK header macro draws the NHS logo whenever it is given no other image.
_NHS_LOGO = re.compile(r'<svg class="nhsuk-header__logo".*?</svg>\s*', re.DOTALL)


def without_nhs_logo(header: str) -> Markup:
    """The NHS.UK header's markup without the NHS logo, for an organisation that may not use it."""
    return Markup(_NHS_LOGO.sub("", str(header), count=1))


def _read_configured_logo(path: Path) -> Logo:
    try:
        with open(path, "rb") as image:
            data = image.read(LOGO_MAX_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"PORTFOLIO_ORGANISATION_LOGO cannot be read: {error.strerror} ({path})") from None
    try:
        return _accept_logo(data, "logo")
    except FieldError as error:
        raise ConfigError(f"PORTFOLIO_ORGANISATION_LOGO: {error.message} ({path})") from None
