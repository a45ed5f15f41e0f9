"""Frameworks in and credentials checked, in headless Chromium: the import preview and the public verification page."""

from __future__ import annotations

import copy
import json
import re

import pytest
from sqlalchemy import select

from portfolio.credentials import service as credentials
from portfolio.extensions import db
from portfolio.models import Framework, Role
from tests.browser.conftest import assert_accessible, sign_in
from tests.factories import PASSWORD, make_user, tier
from tests.factories import case_child_of as child_of

pytestmark = pytest.mark.browser


def node(identifier: str, text: str, code: str = "") -> dict:
    return {"identifier": identifier, "fullStatement": text, **({"humanCodingScheme": code} if code else {})}


def kaiawhina_package() -> dict:
    """A small CASE package: two tiers, an area in each, three statements (macrons included)."""
    return {
        "CFDocument": {"identifier": "doc", "title": "Kaiāwhina Standards", "creator": "Te Whatu Ora"},
        "CFItems": [
            node("t1", "Kaiāwhina"),
            node("t2", "Senior Kaiāwhina"),
            node("a1", "Whanaungatanga"),
            node("a2", "Leading others"),
            node("s1", "Build relationships with whānau", "K.1"),
            node("s2", "Listen without judging", "K.2"),
            node("s3", "Guide newer kaiāwhina", "K.3"),
        ],
        "CFAssociations": [
            child_of("t1", "doc", 1),
            child_of("t2", "doc", 2),
            child_of("a1", "t1", 1),
            child_of("a2", "t2", 1),
            child_of("s1", "a1", 1),
            child_of("s2", "a1", 2),
            child_of("s3", "a2", 1),
        ],
    }


def test_a_manager_uploads_a_case_file_chooses_levels_and_sees_the_framework(page, frameworks, tmp_path):
    make_user(Role.MANAGER, email="manager@example.org")
    db.session.commit()
    upload = tmp_path / "kaiawhina.json"
    upload.write_text(json.dumps(kaiawhina_package(), ensure_ascii=False), "utf-8")
    sign_in(page, "manager@example.org", PASSWORD)

    page.goto("/frameworks/import/")
    assert_accessible(page)
    page.get_by_role("button", name="Upload and preview").click()  # no file yet: said next to the field
    assert "Select a CASE package" in page.locator(".nhsuk-error-message").first.inner_text()
    assert_accessible(page)

    page.get_by_label("Framework file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and preview").click()
    page.wait_for_url(re.compile(r"/frameworks/import/\d+$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Check the framework to import"
    assert page.get_by_text("Kaiāwhina Standards, from Te Whatu Ora").is_visible()
    page.get_by_text("The whole tree (7 items)").click()
    assert page.locator(".nhsuk-details__text li", has_text="K.1 Build relationships with whānau").last.is_visible()
    assert_accessible(page)

    page.get_by_label("Which level holds the tiers?").select_option("1")
    page.get_by_label("Which level holds the areas?").select_option("2")
    page.get_by_label("Import as").select_option("new")
    page.get_by_role("button", name="Import framework").click()

    page.wait_for_url(re.compile(r"/frameworks/\d+$"))
    assert page.get_by_text("Kaiāwhina Standards imported as version 1").is_visible()
    assert page.get_by_text("Guide newer kaiāwhina").is_visible()
    assert page.get_by_role("heading", level=1).inner_text() == "Kaiāwhina Standards"
    assert_accessible(page)
    db.session.expire_all()
    framework = db.session.scalar(select(Framework).where(Framework.title == "Kaiāwhina Standards"))
    assert [t.name for t in framework.tiers] == ["Kaiāwhina", "Senior Kaiāwhina"]
    assert page.url.endswith(f"/frameworks/{framework.id}")


def verdict_on(page, document: dict) -> str:
    """Paste ``document`` into the public check page; the verdict's text."""
    page.goto("/credentials/verify")
    page.get_by_label("Paste the credential (JSON)").fill(json.dumps(document))
    page.get_by_role("button", name="Check credential").click()
    verdict = page.locator("#verdict")
    verdict.wait_for()
    assert_accessible(page)
    return verdict.inner_text()


def test_anyone_pastes_a_credential_and_learns_valid_tampered_or_revoked(page, frameworks):
    worker = make_user(Role.WORKER, email="worker@example.org", tier=tier("link-worker", "link-worker"))
    manager = make_user(Role.MANAGER, email="manager@example.org")
    credential = credentials.issue(worker, tier("link-worker", "link-worker-coach"))
    db.session.commit()

    page.goto("/credentials/verify")  # no sign-in
    assert page.get_by_role("heading", level=1).inner_text() == "Check a credential"
    assert_accessible(page)
    page.get_by_role("button", name="Check credential").click()  # nothing pasted: said next to the field
    assert "Paste the credential, or choose its file" in page.locator(".nhsuk-error-message").first.inner_text()
    assert_accessible(page)

    valid = verdict_on(page, credential.document)
    assert "This credential is valid" in valid and "Link Worker Coach (Link Worker Competency Framework)" in valid

    tampered = copy.deepcopy(credential.document)
    tampered["credentialSubject"]["achievement"]["name"] = "Psychosocial Link Worker"
    changed = verdict_on(page, tampered)
    assert "This credential was changed after it was issued" in changed
    assert "The signature does not match the credential" in changed

    credentials.revoke(manager, credential, "Issued to the wrong person")
    revoked = verdict_on(page, credential.document)
    assert "This credential was revoked" in revoked and "Issued to the wrong person" in revoked
