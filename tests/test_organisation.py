"""The organisation's own identity: the manager's page, the header with and without the NHS logo, the logo, emails."""

from __future__ import annotations

import hashlib
import io
import os
import re

import pytest
from PIL import Image, PngImagePlugin
from pypdf import PdfReader
from sqlalchemy import delete, select
from werkzeug.datastructures import FileStorage

from portfolio import create_app
from portfolio.config import ConfigError
from portfolio.errors import FieldError
from portfolio.extensions import db
from portfolio.models import AuditEntry, OrganisationSettings, Role
from portfolio.notifications import service as notifications
from portfolio.organisation import service
from portfolio.organisation.service import Changes, identity

from .conftest import body_of, built_document, csrf_token
from .factories import SVG, emailed_at_once, make_user, png_bytes
from .pages import (
    assert_error_shown,
    audit_rows,
    count,
    error_next_to,
    files_on_disk,
    page_title,
    pdf_text,
    reload,
    text_of,
    words,
)
from .racing import HttpClient, overlapped, race

NHS_LOGO = 'class="nhsuk-header__logo"'
VCS = "Anytown Community Action"


def header_of(page: str) -> str:
    found = re.search(r"<header\b.*?</header>", page, re.S)
    assert found, "no header"
    return found.group(0)


def save(client, auth, *, logo: tuple[bytes, str] | None = None, headers=None, **fields):
    """Post the Organisation form as a manager's browser does."""
    data = {
        "csrf_token": auth.token("/organisation/"),
        "service_name": "Link worker portfolio",
        "organisation_name": VCS,
        "is_nhs": "no",
        **fields,
    }
    if logo is not None:
        data["logo"] = (io.BytesIO(logo[0]), logo[1])
    return client.post("/organisation/", data=data, headers=headers or {}, content_type="multipart/form-data")


def labelled_png(size=(300, 80)) -> bytes:
    """A PNG carrying a text chunk, which the stored logo must not keep."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "written by a stranger")
    return png_bytes(size, pnginfo=info)


# --- the header ----------------------------------------------------------------------------------------


def test_without_settings_the_header_names_the_service_and_has_no_nhs_logo(client):
    page = text_of(client.get("/auth/sign-in"))

    header = header_of(page)
    assert NHS_LOGO not in header and "<img" not in header
    assert "nhsuk-header__organisation-name" not in header  # no organisation configured
    assert words(header).startswith("Evidence portfolio")
    assert 'aria-label="Evidence portfolio homepage"' in header  # not "NHS ... homepage"
    assert page_title(page) == "Sign in – Evidence portfolio"
    assert "favicon" not in page and "nhsuk-icon" not in page  # the NHS.UK icons are the NHS logo too
    assert '<link rel="icon" href="data:,">' in page  # and no request for /favicon.ico that would answer 404


def test_an_nhs_organisation_has_the_nhs_logo_beside_its_name(app, client):
    app.config.update(ORGANISATION_IS_NHS=True, ORGANISATION_NAME="Anytown NHS Foundation Trust")

    page = text_of(client.get("/auth/sign-in"))

    header = header_of(page)
    assert NHS_LOGO in header
    assert "Anytown NHS Foundation Trust" in words(header) and "Evidence portfolio" in words(header)
    assert 'aria-label="NHS Anytown NHS Foundation Trust Evidence portfolio homepage"' in header
    assert '<link rel="icon" href="/assets/images/favicon.ico"' in page


def test_a_voluntary_organisation_shows_its_name_and_logo_not_the_nhs_logo(client, auth, manager):
    auth.login_as(manager)
    assert save(client, auth, logo=(labelled_png(), "logo.png")).status_code == 303

    page = text_of(client.get("/"))

    header = header_of(page)
    assert NHS_LOGO not in header
    sha = reload(OrganisationSettings, 1).logo_sha256
    assert f'<img class="nhsuk-header__organisation-logo" src="/organisation/logo/{sha[:16]}"' in header
    assert f'alt="{VCS} logo"' in header
    assert f'aria-label="{VCS} Link worker portfolio homepage"' in header
    assert VCS in words(header) and "Link worker portfolio" in words(header)
    assert page_title(page).endswith("– Link worker portfolio")
    footer = page.split('<footer class="nhsuk-footer"', 1)[1]
    assert f"Link worker portfolio – {VCS}" in words(footer)


def test_every_page_reads_the_identity_once(client, auth, manager, count_queries):
    auth.login_as(manager)
    with count_queries:
        assert client.get("/organisation/").status_code == 200
    reads = [s for s in count_queries.statements if "organisation_settings" in s]
    # The header's identity (one, read with the signed-in user), and the page's own question: is the logo an
    # uploaded one?
    assert len(reads) == 2, reads
    with count_queries:
        client.get("/")
    reads = [s for s in count_queries.statements if "organisation_settings" in s]
    assert len(reads) == 1, reads
    assert "FROM users LEFT OUTER JOIN organisation_settings" in reads[0]


def test_a_signed_out_page_reads_the_identity_on_its_own(client, count_queries):
    with count_queries:
        page = client.get("/auth/sign-in").get_data(as_text=True)
    reads = [s for s in count_queries.statements if "organisation_settings" in s]
    assert len(reads) == 1 and "FROM organisation_settings" in reads[0], reads
    assert page_title(page) == "Sign in – Evidence portfolio"


# --- the manager's page --------------------------------------------------------------------------------


def test_the_page_shows_the_identity_now(client, auth, manager):
    auth.login_as(manager)

    page = text_of(client.get("/organisation/"))

    assert page.count("<h1") == 1 and "<h1>Organisation</h1>" in page
    assert 'name="service_name" type="text" value="Evidence portfolio"' in page
    assert re.search(r'<input[^>]*value="no"[^>]*checked', page)
    assert 'name="remove_logo"' not in page  # nothing uploaded to remove


def test_saving_stores_the_identity_and_records_it_in_the_audit_ledger(client, auth, manager):
    auth.login_as(manager)

    response = save(client, auth, logo=(labelled_png(), "logo.png"))

    assert response.status_code == 303 and response.location == "/organisation/"
    settings = reload(OrganisationSettings, 1)
    assert (settings.service_name, settings.organisation_name, settings.is_nhs) == ("Link worker portfolio", VCS, False)
    assert settings.logo_type == "image/png" and settings.logo_sha256 == hashlib.sha256(settings.logo).hexdigest()
    [entry] = audit_rows("organisation.changed")
    assert entry.actor_id == manager.id and entry.subject == "organisation"
    assert entry.details == {
        "changed": ["logo_sha256", "organisation_name", "service_name"],
        "service_name": "Link worker portfolio",
        "organisation_name": VCS,
        "is_nhs": False,
        "logo_sha256": settings.logo_sha256,
    }
    assert "have been saved" in text_of(client.get("/organisation/"))
    assert files_on_disk(client.application) == []  # the logo is in its row, not the upload folder


def test_the_logo_is_served_re_encoded_as_an_image_that_is_never_sniffed(client, auth, manager):
    auth.login_as(manager)
    save(client, auth, logo=(labelled_png((300, 80)) + b"<script>alert(1)</script>", "logo.png"))
    sha = reload(OrganisationSettings, 1).logo_sha256
    client.post("/auth/sign-out", data={"csrf_token": auth.token()})

    response = client.get(f"/organisation/logo/{sha[:16]}")  # anyone: it is in the sign-in page's header

    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert b"stranger" not in response.data and b"<script>" not in response.data
    assert Image.open(io.BytesIO(response.data)).size == (300, 80)
    assert client.get("/organisation/logo/0123456789abcdef").status_code == 404  # an older version's address


def test_an_nhs_organisation_can_be_saved(client, auth, manager):
    auth.login_as(manager)

    assert save(client, auth, is_nhs="yes", organisation_name="Anytown NHS Foundation Trust").status_code == 303

    assert NHS_LOGO in header_of(text_of(client.get("/")))
    assert audit_rows("organisation.changed")[0].details["is_nhs"] is True


def test_a_manager_can_remove_the_uploaded_logo(client, auth, manager):
    auth.login_as(manager)
    save(client, auth, logo=(png_bytes((40, 40)), "logo.png"))
    sha = reload(OrganisationSettings, 1).logo_sha256
    assert 'name="remove_logo"' in client.get("/organisation/").text

    assert save(client, auth, remove_logo="y").status_code == 303

    header = header_of(text_of(client.get("/")))
    assert "<img" not in header and NHS_LOGO not in header
    assert client.get(f"/organisation/logo/{sha[:16]}").status_code == 404
    assert audit_rows("organisation.changed")[-1].details["changed"] == ["logo_sha256"]


def test_saving_what_is_already_there_records_nothing(client, auth, manager):
    auth.login_as(manager)
    save(client, auth)

    response = save(client, auth)

    assert response.status_code == 303
    assert "Nothing was changed" in text_of(client.get("/organisation/"))
    assert len(audit_rows("organisation.changed")) == 1


def too_large_png() -> bytes:
    noise = Image.frombytes("RGB", (700, 700), os.urandom(700 * 700 * 3))  # noise does not compress
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert len(buffer.getvalue()) > service.LOGO_MAX_BYTES
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (SVG, "logo.svg", "The selected file must be a PNG or JPEG"),
        (b"%PDF-1.4\n%%EOF\n", "logo.png", "The selected file must be a PNG or JPEG"),
        (b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 10, "logo.png", "The selected file must be a PNG or JPEG"),
        (png_bytes((2001, 10)), "wide.png", "The selected image must be at most 2000 pixels wide and 2000 pixels high"),
        (b"", "empty.png", "The selected file is empty"),
    ],
    ids=["svg", "pdf", "broken png", "too wide", "empty"],
)
def test_a_refused_logo_is_named_next_to_its_field_and_nothing_is_written(
    client, auth, manager, content, name, message
):
    auth.login_as(manager)

    response = save(client, auth, logo=(content, name))

    page = assert_error_shown(response, "logo", message)
    assert f'value="{VCS}"' in page  # what was typed stays
    assert count(OrganisationSettings) == 0 and count(AuditEntry) == 0
    assert files_on_disk(client.application) == []
    assert NHS_LOGO not in header_of(page) and VCS not in words(header_of(page))


def test_a_logo_over_1_mb_is_refused_before_anything_is_written(app, manager):
    # Through the service: the test client spools an upload this size to a file it never closes.
    upload = FileStorage(io.BytesIO(too_large_png()), filename="large.png")

    with pytest.raises(FieldError) as refused:
        service.update_settings(manager, Changes("Portfolio", VCS, False, logo=upload))

    assert (refused.value.field, refused.value.message) == ("logo", "The logo must be smaller than 1 MB")
    assert count(OrganisationSettings) == 0 and count(AuditEntry) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service_name", "  ", "Enter the service name"),
        ("organisation_name", "", "Enter the organisation's name"),
        ("organisation_name", "x" * 121, "The organisation's name must be 120 characters or fewer"),
    ],
)
def test_missing_or_long_names_are_refused_next_to_their_field(client, auth, manager, field, value, message):
    auth.login_as(manager)

    assert_error_shown(save(client, auth, **{field: value}), field, message)
    assert count(OrganisationSettings) == 0


def test_an_empty_name_and_a_refused_logo_are_said_in_one_answer(client, auth, manager):
    auth.login_as(manager)

    response = save(client, auth, service_name="", logo=(b"%PDF-1.4\n%%EOF\n", "logo.pdf"))

    page = assert_error_shown(response, "service_name", "Enter the service name")
    assert "The selected file must be a PNG or JPEG" in error_next_to(page, "logo")
    assert "Choose logo.pdf again" not in page  # the refused file is not to be chosen again
    assert count(OrganisationSettings) == 0 and count(AuditEntry) == 0


def test_whether_it_is_an_nhs_organisation_must_be_answered(client, auth, manager):
    auth.login_as(manager)

    response = save(client, auth, is_nhs="")

    assert_error_shown(response, "is_nhs", "Select yes if it is an NHS organisation")


def test_a_boosted_request_gets_the_whole_page(client, auth, manager):
    auth.login_as(manager)
    boosted = {"HX-Request": "true", "HX-Boosted": "true"}

    assert "<html" in client.get("/organisation/", headers=boosted).text
    response = save(client, auth, logo=(SVG, "logo.svg"), headers=boosted)

    page = assert_error_shown(response, "logo", "The selected file must be a PNG or JPEG")
    assert "<html" in page and response.headers["Vary"] == "HX-Request, Cookie"


def test_the_page_is_for_managers_only(client, auth, worker):
    auth.login_as(worker)

    assert client.get("/organisation/").status_code == 403
    assert "Organisation" not in words(header_of(text_of(client.get("/"))))


# --- configuration, emails, credentials ----------------------------------------------------------------


def test_a_configured_logo_is_checked_at_start_up_and_shown(app, tmp_path, database_url):
    good = tmp_path / "logo.png"
    good.write_bytes(png_bytes((50, 20)))
    settings = {"PORTFOLIO_ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url}
    configured = create_app({**settings, "ORGANISATION_LOGO": str(good), "ORGANISATION_NAME": VCS})

    page = text_of(configured.test_client().get("/auth/sign-in"))
    with configured.app_context():
        db.engine.dispose()  # its connection closed now, not when collected (the engine is the run's: conftest)

    assert '<img class="nhsuk-header__organisation-logo" src="/organisation/logo/' in header_of(page)
    bad = tmp_path / "logo.svg"
    bad.write_bytes(SVG)
    with pytest.raises(ConfigError, match="PORTFOLIO_ORGANISATION_LOGO: The selected file must be a PNG or JPEG"):
        create_app({**settings, "ORGANISATION_LOGO": str(bad)})
    with pytest.raises(ConfigError, match="PORTFOLIO_ORGANISATION_LOGO cannot be read"):
        create_app({**settings, "ORGANISATION_LOGO": str(tmp_path / "missing.png")})


def test_emails_are_signed_with_the_service_and_organisation(app, manager, worker, smtp):
    service.update_settings(manager, Changes(service_name="Link worker portfolio", organisation_name=VCS, is_nhs=False))

    # Sent as the notice's transaction commits (the task queue runs at once in tests).
    emailed_at_once(worker)
    notifications.notify(worker, "Something happened", "/", email_subject="Something happened")
    db.session.commit()

    [message] = smtp.messages
    assert body_of(message).replace("\r\n", "\n").endswith(f"\n-- \nLink worker portfolio\n{VCS}\n")


def test_the_identity_falls_back_to_configuration_until_saved(app, manager):
    app.config.update(SERVICE_NAME="Portfolio", ORGANISATION_NAME="", ORGANISATION_IS_NHS=True)
    assert identity() == service.Identity("Portfolio", "", True, None, None)
    assert identity().name == "Portfolio"  # who issues credentials when no organisation is named

    service.update_settings(manager, Changes(service_name="Portfolio", organisation_name=VCS, is_nhs=False))

    assert identity() == service.Identity("Portfolio", VCS, False, None, None)
    assert identity().name == VCS


def test_the_panel_pdf_names_the_service_and_the_organisation(client, auth, worker, manager):
    service.update_settings(manager, Changes(service_name="Link worker portfolio", organisation_name=VCS, is_nhs=False))
    auth.login_as(worker)

    pdf = built_document(client, auth, "/progress/portfolio.pdf")

    assert f"by Link worker portfolio - {VCS}" in pdf_text(pdf)


def test_the_panel_pdf_cover_carries_the_organisations_logo(client, auth, worker, manager):
    logo = FileStorage(io.BytesIO(png_bytes((300, 90))), filename="logo.png", content_type="image/png")
    service.update_settings(manager, Changes(service_name="Portfolio", organisation_name=VCS, is_nhs=False, logo=logo))
    auth.login_as(worker)

    cover = PdfReader(io.BytesIO(built_document(client, auth, "/progress/portfolio.pdf"))).pages[0]

    [image] = cover.images
    assert image.image.size == (300, 90)


def test_two_managers_saving_the_first_settings_at_once_both_land_in_order(app, server):
    """The row does not exist yet: both insert it, one wins, the other waits and then updates the locked row."""
    outcomes = []
    for round_ in range(3):
        db.session.execute(delete(OrganisationSettings))
        db.session.commit()
        people = [make_user(Role.MANAGER, email=f"m{round_}{n}@example.org", name=f"Manager {n}") for n in "ab"]
        clients = [HttpClient(server, person.name) for person in people]
        for person, http in zip(people, clients, strict=True):
            http.sign_in(person.email)
        pending = [
            http.start_post(
                "/organisation/",
                {
                    "csrf_token": csrf_token(http.get("/organisation/").text),
                    "service_name": "Portfolio",
                    "organisation_name": f"Organisation {n}",
                    "is_nhs": "no",
                },
            )
            for n, http in zip("ab", clients, strict=True)
        ]
        answers = race(pending)

        assert [a.status for a in answers] == [303, 303], [a.describe() for a in answers]
        db.session.rollback()  # a fresh snapshot: see what the server committed
        saved = db.session.scalar(select(OrganisationSettings.organisation_name))
        entries = audit_rows("organisation.changed")[-2:]
        assert saved == entries[-1].details["organisation_name"]  # the last write is the one the ledger ends with
        outcomes.append(overlapped(answers))
    assert any(outcomes)


def test_an_htmx_fragment_titles_the_tab_with_the_service_name(client, auth, worker, manager):
    service.update_settings(manager, Changes(service_name="Link worker portfolio", organisation_name=VCS, is_nhs=False))
    auth.login_as(worker)

    fragment = text_of(client.get("/portfolio/?kind=reflection", headers={"HX-Request": "true"}))

    assert "<html" not in fragment
    assert "<title>My portfolio: No items match your filters – Link worker portfolio</title>" in fragment
