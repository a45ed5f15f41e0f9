"""The organisation's identity in headless Chromium at 320 px: a manager sets a voluntary organisation's name and
logo, a refused logo is named next to its field, and the header, with or without the NHS logo, reflows and has
no axe-core violations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, assert_accessible, horizontal_overflow, sign_in_by_cookie
from tests.factories import SVG, png_bytes

pytestmark = pytest.mark.browser

ORGANISATION = "Northtown Wellbeing Network"


@pytest.fixture
def phone_context(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport=PHONE)
    yield context
    context.close()


def test_a_manager_gives_a_voluntary_organisation_its_name_and_logo(app, phone_context, live_server, manager):
    sign_in_by_cookie(phone_context, app, live_server, manager)
    page = phone_context.new_page()
    page.goto("/organisation/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisation")
    assert_accessible(page)

    page.get_by_label("Organisation name").fill(ORGANISATION)
    page.get_by_role("group", name="Is it an NHS organisation?").get_by_label("No").check()
    page.get_by_label("Logo (optional)").set_input_files(
        {"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": SVG}
    )
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#logo-error")).to_contain_text("The selected file must be a PNG or JPEG")
    assert_accessible(page)
    assert horizontal_overflow(page) == 0

    page.get_by_label("Logo (optional)").set_input_files(
        {"name": "logo.png", "mimeType": "image/png", "buffer": png_bytes((400, 120))}
    )
    page.get_by_role("button", name="Save").click()

    expect(page.locator(".nhsuk-notification-banner")).to_contain_text("have been saved")
    header = page.locator("header.nhsuk-header")
    expect(header.locator("img.nhsuk-header__organisation-logo")).to_be_visible()
    expect(header.locator(".nhsuk-header__logo")).to_have_count(0)  # no NHS logo
    expect(header.locator(".nhsuk-header__organisation-name")).to_have_text(ORGANISATION)
    logo_width = "() => document.querySelector('img.nhsuk-header__organisation-logo').naturalWidth"
    page.wait_for_function(f"({logo_width})() > 0")  # visible can come before the image is decoded
    assert page.evaluate(logo_width) == 400
    assert_accessible(page)
    assert horizontal_overflow(page) == 0


@pytest.mark.parametrize("is_nhs", [True, False], ids=["nhs", "not nhs"])
def test_the_header_reflows_at_320_px_with_and_without_nhs_identity(app, phone_context, is_nhs):
    app.config.update(
        ORGANISATION_IS_NHS=is_nhs, ORGANISATION_NAME="Anytown NHS Foundation Trust" if is_nhs else ORGANISATION
    )
    page = phone_context.new_page()

    page.goto("/auth/sign-in")

    header = page.locator("header.nhsuk-header")
    expect(header.locator(".nhsuk-header__logo")).to_have_count(1 if is_nhs else 0)
    expect(header.get_by_role("link", name=re.compile("homepage$"))).to_be_visible()
    assert_accessible(page)
    assert horizontal_overflow(page) == 0
