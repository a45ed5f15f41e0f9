"""Every route for every role: who is let in, who is sent to sign in, who is refused.

A new route fails ``test_every_route_is_in_the_matrix`` until it is added here.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from portfolio.auth.tokens import new_token
from portfolio.cpd import service as cpd_service
from portfolio.credentials import service as credentials_service
from portfolio.documents import service as documents_service
from portfolio.evidence import service as evidence_service
from portfolio.extensions import db
from portfolio.frameworks import service
from portfolio.mfa import service as mfa_service
from portfolio.models import (
    Competence,
    Document,
    DocumentKind,
    EvidenceKind,
    Framework,
    Notification,
    PasswordReset,
    PromotionRequest,
    Requirement,
    Role,
    Submission,
    SupervisionAssignment,
    User,
)
from portfolio.organisation import service as organisation_service
from portfolio.portability import case as case_format
from portfolio.portability import service as import_service
from portfolio.training import service as training_service
from tests import factories, snapshots
from tests.conftest import _empty_all_tables
from tests.factories import TODAY, assign, give_totp, make_passkey, make_user, png_bytes, tier
from tests.pages import count, escaped_markup, page_title

ROLES = ("anonymous", "worker", "supervisor", "manager")
SIGN_IN = "sign-in"  # a redirect to the sign-in page
FORM_KEY = "k" * 43  # a creating form's one-time key, as its address carries one (without, it redirects to one)


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: Callable[[dict], str]
    expected: dict[str, int | str]
    data: dict | None = None


def everyone(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": status, "manager": status}


def managers_only(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": 403, "supervisor": 403, "manager": status}


def workers(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": status, "manager": 403}


def owner_only(status: int) -> dict[str, int | str]:
    """The worker's own item; the supervisor here is another worker, who gets 404 as for a missing item."""
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": 404, "manager": 403}


def requester_only(status: int) -> dict[str, int | str]:
    """A document the worker asked for: anyone else gets 404, as for a missing one."""
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": 404, "manager": 404}


def supervisors_only(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": 403, "supervisor": status, "manager": 403}


def everyone_signed_in_gets(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": status, "manager": status}


def item(suffix: str = "") -> Callable[[dict], str]:
    return lambda ids: f"/portfolio/{ids['evidence']}{suffix}"


def case_node(kind: str) -> Callable[[dict], str]:
    """The CASE service path of the Link Worker framework's first item or association."""

    def path(ids: dict) -> str:
        framework = db.session.scalar(select(Framework).where(Framework.key == "link-worker", Framework.is_current))
        package = case_format.package_for(framework)
        nodes = package.items if kind == "CFItems" else package.associations
        return f"/ims/case/v1p1/{kind}/{nodes[0]['identifier']}"

    return path


def held_import(manager):
    """A small CASE package uploaded for preview, not yet confirmed."""
    package = {
        "CFDocument": {"identifier": "d", "title": "Coach standards", "creator": "Coaches UK"},
        "CFItems": [{"identifier": "s", "fullStatement": "Listen well"}],
    }
    return import_service.upload(manager, "coach.json", json.dumps(package).encode())


def public(status: int) -> dict[str, int | str]:
    return {role: status for role in ROLES}


CASES = [
    Case("case_api.documents", "GET", lambda ids: "/ims/case/v1p1/CFDocuments", public(200)),
    Case(
        "case_api.document",
        "GET",
        lambda ids: f"/ims/case/v1p1/CFDocuments/{case_format.identifier('link-worker')}",
        public(200),
    ),
    Case(
        "case_api.package",
        "GET",
        lambda ids: f"/ims/case/v1p1/CFPackages/{case_format.identifier('link-worker')}",
        public(200),
    ),
    Case("case_api.item", "GET", case_node("CFItems"), public(200)),
    Case("case_api.association", "GET", case_node("CFAssociations"), public(200)),
    Case("static", "GET", lambda ids: "/static/css/portfolio.css", {role: 200 for role in ROLES}),
    Case("home.index", "GET", lambda ids: "/", everyone(200)),
    Case(
        "auth.sign_in",
        "GET",
        lambda ids: "/auth/sign-in",
        {"anonymous": 200, "worker": 302, "supervisor": 302, "manager": 302},
    ),
    Case(
        "auth.sign_in",
        "POST",
        lambda ids: "/auth/sign-in",
        {"anonymous": 422, "worker": 302, "supervisor": 302, "manager": 302},
        data={},
    ),
    Case("auth.sign_out", "POST", lambda ids: "/auth/sign-out", everyone(303), data={}),
    Case("frameworks.index", "GET", lambda ids: "/frameworks/", everyone(200)),
    Case("frameworks.show", "GET", lambda ids: f"/frameworks/{ids['sfh']}", everyone(200)),
    Case("frameworks.add_locality", "GET", lambda ids: f"/frameworks/{ids['sfh']}/locality/new", managers_only(200)),
    Case(
        "frameworks.add_locality",
        "POST",
        lambda ids: f"/frameworks/{ids['sfh']}/locality/new",
        managers_only(422),
        data={},
    ),
    Case(
        "frameworks.edit_locality",
        "GET",
        lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/edit",
        managers_only(200),
    ),
    Case(
        "frameworks.edit_locality",
        "POST",
        lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/edit",
        managers_only(422),
        data={"statement": ""},
    ),
    Case("evidence.index", "GET", lambda ids: "/portfolio/", workers(200)),
    Case("evidence.choose_kind", "GET", lambda ids: "/portfolio/new", workers(200)),
    Case("evidence.choose_kind", "POST", lambda ids: "/portfolio/new", workers(422), data={}),
    Case("evidence.new", "GET", lambda ids: f"/portfolio/new/reflection?key={FORM_KEY}", workers(200)),
    Case("evidence.new", "POST", lambda ids: "/portfolio/new/other", workers(422), data={}),
    Case(
        "evidence.suggestions", "GET", lambda ids: "/portfolio/new/reflection/suggestions?title=listening", workers(303)
    ),
    Case(
        "evidence.suggestions",
        "POST",
        lambda ids: "/portfolio/new/reflection/suggestions",
        workers(303),  # not from htmx: the form it belongs to
        data={"title": "listening"},
    ),
    Case("evidence.show", "GET", item(), owner_only(200)),
    Case("evidence.edit", "GET", item("/edit"), owner_only(200)),
    Case("evidence.edit", "POST", item("/edit"), owner_only(422), data={"title": ""}),
    Case("evidence.delete", "GET", item("/delete"), owner_only(200)),
    Case("evidence.delete", "POST", item("/delete"), owner_only(303), data={}),
    Case("evidence.submit", "GET", item("/submit"), owner_only(200)),
    Case("evidence.submit", "POST", item("/submit"), owner_only(303), data={}),
    Case("evidence.download", "GET", lambda ids: f"/portfolio/{ids['evidence']}/files/{ids['file']}", owner_only(200)),
    Case(
        "evidence.remove_file",
        "POST",
        lambda ids: f"/portfolio/{ids['evidence']}/files/{ids['file']}/delete",
        owner_only(303),
        data={},
    ),
    Case("evidence.links", "GET", item("/links"), owner_only(200)),
    Case("evidence.add_link", "POST", item("/links"), owner_only(303), data={"competence_id": "__other__"}),
    Case("evidence.link_all", "POST", item("/links/all"), owner_only(303), data={"competence_ids": "__other__"}),
    Case("evidence.link_all_results", "GET", item("/links/all"), owner_only(303)),
    Case(
        "evidence.update_link",
        "POST",
        lambda ids: f"/portfolio/{ids['evidence']}/links/{ids['link']}",
        owner_only(303),
        data={"note": "n"},
    ),
    Case(
        "evidence.remove_link",
        "POST",
        lambda ids: f"/portfolio/{ids['evidence']}/links/{ids['link']}/delete",
        owner_only(303),
        data={},
    ),
    Case("evidence.competence_map", "GET", lambda ids: "/portfolio/map", workers(200)),
    Case("evidence.competence", "GET", lambda ids: f"/portfolio/competences/{ids['competence']}", workers(200)),
    Case("evidence.link_existing", "GET", lambda ids: f"/portfolio/competences/{ids['competence']}/link", workers(200)),
    # The supervisor here is another worker of the same framework: the competence is theirs too, the item is not.
    Case(
        "evidence.link_item",
        "POST",
        lambda ids: f"/portfolio/competences/{ids['competence']}/link",
        owner_only(303),
        data={"evidence_id": "evidence"},
    ),
    # A draft has no submission to withdraw: the owner is let in and told so on the item's page (422).
    Case("evidence.withdraw", "POST", item("/withdraw"), owner_only(422), data={}),
    Case("review.queue", "GET", lambda ids: "/review/", supervisors_only(200)),
    Case("review.team", "GET", lambda ids: "/review/team", supervisors_only(200)),
    Case(
        "review.shared_evidence",
        "GET",
        lambda ids: f"/review/workers/{ids['worker']}/evidence",
        supervisors_only(200),
    ),
    Case("review.decide", "GET", lambda ids: f"/review/{ids['submission']}", supervisors_only(200)),
    Case("review.decide", "POST", lambda ids: f"/review/{ids['submission']}", supervisors_only(422), data={}),
    Case(
        "review.download",
        "GET",
        lambda ids: f"/review/{ids['submission']}/files/{ids['submitted_file']}",
        supervisors_only(200),
    ),
    Case("review.note", "GET", lambda ids: f"/review/notes/{ids['note']}", supervisors_only(200)),
    Case("review.note", "POST", lambda ids: f"/review/notes/{ids['note']}", supervisors_only(422), data={}),
    Case(
        "review.note_download",
        "GET",
        lambda ids: f"/review/notes/{ids['note']}/files/{ids['note_file']}",
        supervisors_only(200),
    ),
    Case("supervision.index", "GET", lambda ids: "/supervision/", managers_only(200)),
    Case("supervision.assign", "GET", lambda ids: "/supervision/assign", managers_only(200)),
    Case("supervision.assign", "POST", lambda ids: "/supervision/assign", managers_only(422), data={}),
    Case("supervision.end", "GET", lambda ids: f"/supervision/{ids['assignment']}/end", managers_only(200)),
    Case(
        "supervision.end",
        "POST",
        lambda ids: f"/supervision/{ids['assignment']}/end",
        managers_only(422),
        data={"ends_on-day": "", "ends_on-month": "", "ends_on-year": ""},
    ),
    Case("audit.index", "GET", lambda ids: "/audit/", managers_only(200)),
    Case("audit.verify", "POST", lambda ids: "/audit/verify", managers_only(303), data={}),
    Case("organisation.index", "GET", lambda ids: "/organisation/", managers_only(200)),
    Case("organisation.index", "POST", lambda ids: "/organisation/", managers_only(422), data={}),
    Case("organisation.logo", "GET", lambda ids: f"/organisation/logo/{ids['logo']}", public(200)),
    Case("notifications.index", "GET", lambda ids: "/notifications/", everyone_signed_in_gets(200)),
    Case(
        "notifications.open_notice",
        "POST",
        lambda ids: f"/notifications/{ids['notification']}",
        {"anonymous": SIGN_IN, "worker": 404, "supervisor": 303, "manager": 404},
        data={},
    ),
    Case(
        "notifications.mark_all_read", "POST", lambda ids: "/notifications/read", everyone_signed_in_gets(303), data={}
    ),
    Case("progress.index", "GET", lambda ids: "/progress/", workers(200)),
    Case("progress.missing", "GET", lambda ids: "/progress/missing", workers(200)),
    Case("progress.request_promotion", "POST", lambda ids: "/progress/request", workers(422), data={}),
    Case("progress.request_export", "POST", lambda ids: "/progress/export.zip", workers(303), data={}),
    Case("progress.request_pdf", "POST", lambda ids: "/progress/portfolio.pdf", workers(303), data={}),
    Case(
        "progress.request_worker_pdf",
        "POST",
        lambda ids: f"/progress/workers/{ids['worker']}/portfolio.pdf",
        everyone_signed_in_gets(303),
        data={},
    ),
    Case("documents.show", "GET", lambda ids: f"/documents/{ids['document']}", requester_only(200)),
    Case("documents.download", "GET", lambda ids: f"/documents/{ids['document']}/download", requester_only(200)),
    Case("progress.worker", "GET", lambda ids: f"/progress/workers/{ids['worker']}", everyone_signed_in_gets(200)),
    Case(
        "progress.recommend",
        "POST",
        lambda ids: f"/progress/requests/{ids['request']}/recommend",
        supervisors_only(422),
        data={},
    ),
    Case("progress.withdraw", "GET", lambda ids: f"/progress/requests/{ids['request']}/withdraw", owner_only(200)),
    Case(
        "progress.withdraw",
        "POST",
        lambda ids: f"/progress/requests/{ids['request']}/withdraw",
        owner_only(303),
        data={},
    ),
    Case(
        "progress.decide",
        "POST",
        lambda ids: f"/progress/requests/{ids['request']}/decide",
        managers_only(422),
        data={},
    ),
    Case(
        "progress.verify",
        "GET",
        lambda ids: f"/progress/workers/{ids['worker']}/requirements/{ids['requirement']}?key={FORM_KEY}",
        managers_only(200),
    ),
    Case(
        "progress.verify",
        "POST",
        lambda ids: f"/progress/workers/{ids['worker']}/requirements/{ids['requirement']}",
        managers_only(303),
        data={},
    ),
    Case("progress.team", "GET", lambda ids: "/progress/team", managers_only(200)),
    Case("training.index", "GET", lambda ids: "/training/", managers_only(302)),
    Case("training.catalogue", "GET", lambda ids: "/training/link-worker/", managers_only(200)),
    Case("training.catalogue", "POST", lambda ids: "/training/link-worker/", managers_only(422), data={}),
    Case("training.edit", "GET", lambda ids: f"/training/items/{ids['training_item']}/edit", managers_only(200)),
    Case(
        "training.edit",
        "POST",
        lambda ids: f"/training/items/{ids['training_item']}/edit",
        managers_only(422),
        data={"title": ""},
    ),
    Case("training.retire", "GET", lambda ids: f"/training/items/{ids['training_item']}/retire", managers_only(200)),
    Case(
        "training.retire",
        "POST",
        lambda ids: f"/training/items/{ids['training_item']}/retire",
        managers_only(303),
        data={},
    ),
    # A course in the catalogue: restoring it again changes nothing.
    Case(
        "training.restore",
        "POST",
        lambda ids: f"/training/items/{ids['training_item']}/restore",
        managers_only(303),
        data={},
    ),
    Case("training.compliance", "GET", lambda ids: "/training/link-worker/compliance", managers_only(200)),
    Case(
        "training.check_certificate",
        "POST",
        lambda ids: f"/training/certificates/{ids['certificate']}/check",
        {"anonymous": SIGN_IN, "worker": 403, "supervisor": 303, "manager": 303},
        data={},
    ),
    Case(
        "training.send_back_certificate",
        "GET",
        lambda ids: f"/training/certificates/{ids['certificate']}/send-back",
        {"anonymous": SIGN_IN, "worker": 403, "supervisor": 200, "manager": 200},
    ),
    Case(
        "training.send_back_certificate",
        "POST",
        lambda ids: f"/training/certificates/{ids['certificate']}/send-back",
        {"anonymous": SIGN_IN, "worker": 403, "supervisor": 422, "manager": 422},  # no reason given
        data={},
    ),
    Case(
        "training.certificate_file",
        "GET",
        lambda ids: f"/training/certificates/{ids['certificate']}/files/{ids['certificate_file']}",
        {"anonymous": SIGN_IN, "worker": 403, "supervisor": 200, "manager": 200},  # a draft: those who may check it
    ),
    Case("cpd.index", "GET", lambda ids: "/cpd/", workers(200)),
    Case("cpd.new_activity", "GET", lambda ids: f"/cpd/activities/new?key={FORM_KEY}", workers(200)),
    Case("cpd.new_activity", "POST", lambda ids: "/cpd/activities/new", workers(422), data={}),
    Case("cpd.edit_activity", "GET", lambda ids: f"/cpd/activities/{ids['activity']}/edit", owner_only(200)),
    # Fields left out of the post keep what the activity holds: saved as it was.
    Case("cpd.edit_activity", "POST", lambda ids: f"/cpd/activities/{ids['activity']}/edit", owner_only(303), data={}),
    Case("cpd.delete_activity", "GET", lambda ids: f"/cpd/activities/{ids['activity']}/delete", owner_only(200)),
    Case(
        "cpd.delete_activity", "POST", lambda ids: f"/cpd/activities/{ids['activity']}/delete", owner_only(303), data={}
    ),
    Case("cpd.new_appraisal", "GET", lambda ids: "/cpd/appraisals/new", workers(200)),
    Case("cpd.new_appraisal", "POST", lambda ids: "/cpd/appraisals/new", workers(422), data={}),
    Case("cpd.appraisal", "GET", lambda ids: f"/cpd/appraisals/{ids['appraisal']}", everyone_signed_in_gets(200)),
    Case(
        "cpd.appraisal",
        "POST",
        lambda ids: f"/cpd/appraisals/{ids['appraisal']}",
        {"anonymous": SIGN_IN, "worker": 303, "supervisor": 303, "manager": 404},
        data={},
    ),
    Case(
        "cpd.sign",
        "POST",
        lambda ids: f"/cpd/appraisals/{ids['appraisal']}/sign",
        # Reached by both signers: refused (422) without the page's record of what they read, which a signature binds.
        {"anonymous": SIGN_IN, "worker": 422, "supervisor": 422, "manager": 404},
        data={},
    ),
    Case("people.index", "GET", lambda ids: "/people/", managers_only(200)),
    Case("people.invite", "GET", lambda ids: "/people/invite", managers_only(200)),
    Case("people.invite", "POST", lambda ids: "/people/invite", managers_only(422), data={}),
    Case("people.show", "GET", lambda ids: f"/people/{ids['worker']}", managers_only(200)),
    Case("people.edit", "GET", lambda ids: f"/people/{ids['worker']}/edit", managers_only(200)),
    Case("people.edit", "POST", lambda ids: f"/people/{ids['worker']}/edit", managers_only(422), data={"name": ""}),
    Case("people.deactivate", "GET", lambda ids: f"/people/{ids['worker']}/deactivate", managers_only(200)),
    # The manager deactivating themselves: refused with a message, so nothing changes for the other roles' runs.
    Case("people.deactivate", "POST", lambda ids: f"/people/{ids['manager']}/deactivate", managers_only(422), data={}),
    Case("people.reactivate", "POST", lambda ids: f"/people/{ids['worker']}/reactivate", managers_only(422), data={}),
    Case(
        "people.resend", "POST", lambda ids: f"/people/{ids['worker']}/invitation/resend", managers_only(422), data={}
    ),
    Case(
        "people.revoke", "POST", lambda ids: f"/people/{ids['worker']}/invitation/revoke", managers_only(422), data={}
    ),
    Case("people.show", "GET", lambda ids: "/people/999999", managers_only(404)),
    # Public: anyone holding the link; an unknown token gets the same page as a used one.
    Case("invitations.accept", "GET", lambda ids: "/invitation/not-a-token", {role: 404 for role in ROLES}),
    Case("invitations.accept", "POST", lambda ids: "/invitation/not-a-token", {role: 404 for role in ROLES}, data={}),
    Case("account.index", "GET", lambda ids: "/account/", everyone_signed_in_gets(200)),
    Case("account.change_password", "GET", lambda ids: "/account/password", everyone_signed_in_gets(200)),
    Case("account.change_password", "POST", lambda ids: "/account/password", everyone_signed_in_gets(422), data={}),
    Case("account.email_frequency", "POST", lambda ids: "/account/emails", everyone_signed_in_gets(422), data={}),
    Case("account.forgotten_password", "GET", lambda ids: "/account/forgotten-password", {role: 200 for role in ROLES}),
    Case(
        "account.forgotten_password",
        "POST",
        lambda ids: "/account/forgotten-password",
        {role: 422 for role in ROLES},
        data={},
    ),
    Case(
        "account.reset_link_sent", "GET", lambda ids: "/account/forgotten-password/sent", {role: 200 for role in ROLES}
    ),
    Case(
        "account.reset_password",
        "GET",
        lambda ids: f"/account/reset-password/{ids['reset_token']}",
        {role: 200 for role in ROLES},
    ),
    Case(
        "account.reset_password",
        "POST",
        lambda ids: f"/account/reset-password/{ids['reset_token']}",
        {role: 422 for role in ROLES},
        data={},
    ),
    # Second factors (portfolio/mfa): the security section, the sign-in second step, a manager's reset.
    Case("mfa.security", "GET", lambda ids: "/account/security", everyone_signed_in_gets(200)),
    Case(
        "mfa.totp_start",
        "POST",
        lambda ids: "/account/security/totp/start",
        {"anonymous": SIGN_IN, "worker": 422, "supervisor": 303, "manager": 303},
        data={},
    ),
    Case(
        "mfa.totp_setup",
        "GET",
        lambda ids: "/account/security/totp",
        {"anonymous": SIGN_IN, "worker": 302, "supervisor": 200, "manager": 200},
    ),
    Case(
        "mfa.totp_setup",
        "POST",
        lambda ids: "/account/security/totp",
        {"anonymous": SIGN_IN, "worker": 303, "supervisor": 422, "manager": 422},
        data={"code": "000"},
    ),
    Case(
        "mfa.totp_qr",
        "GET",
        lambda ids: "/account/security/totp/qr.svg",
        {"anonymous": SIGN_IN, "worker": 404, "supervisor": 200, "manager": 200},
    ),
    Case("mfa.totp_off", "GET", lambda ids: "/account/security/totp/off", everyone_signed_in_gets(200)),
    Case("mfa.totp_off", "POST", lambda ids: "/account/security/totp/off", everyone_signed_in_gets(422), data={}),
    Case(
        "mfa.recovery_codes",
        "POST",
        lambda ids: "/account/security/recovery-codes",
        {"anonymous": SIGN_IN, "worker": 200, "supervisor": 422, "manager": 422},
        data={},
    ),
    Case(
        "mfa.passkey_options",
        "POST",
        lambda ids: "/account/security/passkeys/options",
        everyone_signed_in_gets(422),
        data={},
    ),
    Case(
        "mfa.passkey_register", "POST", lambda ids: "/account/security/passkeys", everyone_signed_in_gets(422), data={}
    ),
    Case(
        "mfa.passkey_rename",
        "GET",
        lambda ids: f"/account/security/passkeys/{ids['passkey']}/rename",
        {"anonymous": SIGN_IN, "worker": 200, "supervisor": 404, "manager": 404},
    ),
    Case(
        "mfa.passkey_rename",
        "POST",
        lambda ids: f"/account/security/passkeys/{ids['passkey']}/rename",
        {"anonymous": SIGN_IN, "worker": 422, "supervisor": 404, "manager": 404},
        data={"name": ""},
    ),
    Case(
        "mfa.passkey_remove",
        "GET",
        lambda ids: f"/account/security/passkeys/{ids['passkey']}/remove",
        {"anonymous": SIGN_IN, "worker": 200, "supervisor": 404, "manager": 404},
    ),
    Case(
        "mfa.passkey_remove",
        "POST",
        lambda ids: f"/account/security/passkeys/{ids['passkey']}/remove",
        {"anonymous": SIGN_IN, "worker": 303, "supervisor": 404, "manager": 404},
        data={},
    ),
    # Without a password step in progress the second step sends everyone back to sign in (or home).
    Case(
        "mfa.verify",
        "GET",
        lambda ids: "/auth/second-step",
        {"anonymous": SIGN_IN, "worker": 302, "supervisor": 302, "manager": 302},
    ),
    Case(
        "mfa.verify",
        "POST",
        lambda ids: "/auth/second-step",
        {"anonymous": 303, "worker": 302, "supervisor": 302, "manager": 302},
        data={},
    ),
    Case(
        "mfa.passkey_sign_in_options",
        "POST",
        lambda ids: "/auth/passkey/options",
        {role: 200 for role in ROLES},
        data={},
    ),
    Case(
        "mfa.passkey_sign_in",
        "POST",
        lambda ids: "/auth/passkey",
        {"anonymous": 422, "worker": 200, "supervisor": 200, "manager": 200},
        data={},
    ),
    Case("mfa.reset", "GET", lambda ids: f"/mfa/reset/{ids['worker']}", managers_only(200)),
    Case("mfa.reset", "POST", lambda ids: f"/mfa/reset/{ids['worker']}", managers_only(303), data={}),
    Case(
        "frameworks.retire_locality",
        "GET",
        lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/retire",
        managers_only(200),
    ),
    Case(
        "frameworks.retire_locality",
        "POST",
        lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/retire",
        managers_only(303),
        data={},
    ),
    Case("credentials.mine", "GET", lambda ids: "/credentials/", everyone(200)),
    Case(
        "credentials.download",
        "GET",
        lambda ids: f"/credentials/{ids['credential']}.json",
        {"anonymous": SIGN_IN, "worker": 200, "supervisor": 404, "manager": 200},
    ),
    Case("credentials.show", "GET", lambda ids: f"/credentials/{ids['credential']}", public(200)),
    Case("credentials.verify", "GET", lambda ids: "/credentials/verify", public(200)),
    Case("credentials.verify", "POST", lambda ids: "/credentials/verify", public(422), data={}),
    Case("credentials.status_list", "GET", lambda ids: "/credentials/status/1", public(200)),
    Case("credentials.did_document", "GET", lambda ids: "/.well-known/did.json", public(200)),
    Case("credentials.issued", "GET", lambda ids: "/credentials/issued", managers_only(200)),
    Case("credentials.revoke", "GET", lambda ids: f"/credentials/{ids['credential']}/revoke", managers_only(200)),
    Case(
        "credentials.revoke",
        "POST",
        lambda ids: f"/credentials/{ids['credential']}/revoke",
        managers_only(422),
        data={"reason": ""},
    ),
    Case("framework_import.upload", "GET", lambda ids: "/frameworks/import/", managers_only(200)),
    Case("framework_import.upload", "POST", lambda ids: "/frameworks/import/", managers_only(422), data={}),
    Case("framework_import.preview", "GET", lambda ids: f"/frameworks/import/{ids['import']}", managers_only(200)),
    Case(
        "framework_import.preview",
        "POST",
        lambda ids: f"/frameworks/import/{ids['import']}",
        managers_only(422),
        data={"tier_level": "one", "area_level": "9", "target": "new"},
    ),
]


def test_every_route_is_in_the_matrix(app):
    routes = {
        (rule.endpoint, method) for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    covered = {(case.endpoint, case.method) for case in CASES}
    assert routes == covered


def make_world(frameworks) -> tuple[dict, dict]:
    """One of everything the routes' ids point at: the ids by name, and the signed-in people by role.

    Also used by the accessibility crawl (tests/browser/test_accessibility_crawl.py).
    """
    manager = make_user(Role.MANAGER, email="manager@example.org")
    local = service.add_locality_competence(
        manager, frameworks["sfh-senior-engagement-worker"], statement="Local", principle="P", function="F"
    )
    # A voluntary organisation with its own logo: every page's header shows it instead of the NHS logo.
    organisation = organisation_service.update_settings(
        manager,
        organisation_service.Changes(
            service_name="Evidence portfolio",
            organisation_name="Anytown Community Action",
            is_nhs=False,
            logo=FileStorage(io.BytesIO(png_bytes((120, 40))), filename="logo.png"),
        ),
    )
    worker = make_user(Role.WORKER, email="worker@example.org", tier=tier("link-worker", "link-worker"))
    competences = db.session.scalars(
        select(Competence).where(Competence.framework_id == worker.framework_id).order_by(Competence.position).limit(2)
    ).all()
    pdf = FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="plan.pdf", content_type="application/pdf")
    evidence = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(
            title="Asset map", occurred_on=date(2026, 1, 5), description="Mapped local groups"
        ),
        [pdf],
        link_competence_id=competences[0].id,
    )
    supervisor = make_user(
        Role.WORKER,
        Role.SUPERVISOR,
        email="supervisor@example.org",
        tier=tier("link-worker", "psychosocial-link-worker"),
    )
    assign(supervisor, worker)
    submitted = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="Submitted", occurred_on=date(2026, 1, 6), description="For review"),
        [FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="s.pdf", content_type="application/pdf")],
        link_competence_id=competences[0].id,
    )
    evidence_service.submit(worker, submitted)
    note = evidence_service.create_evidence(
        worker,
        EvidenceKind.SUPERVISION_NOTE,
        evidence_service.EvidenceInput(
            occurred_on=date(2026, 2, 1), supervisor_id=supervisor.id, description="We discussed caseload"
        ),
        [FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="n.pdf", content_type="application/pdf")],
    )
    promotion = PromotionRequest(
        worker_id=worker.id, from_tier_id=worker.tier_id, target_tier_id=tier("link-worker", "link-worker-coach").id
    )
    db.session.add(promotion)
    db.session.commit()
    training_item = training_service.add_item(
        manager, frameworks["link-worker"], title="Lone working", statutory=True, renewal_months=36, tier_slugs=[]
    )
    certificate = evidence_service.create_evidence(
        worker,
        EvidenceKind.CERTIFICATE,
        evidence_service.EvidenceInput(
            title="Lone working certificate",
            occurred_on=date(2026, 1, 7),
            provider="NHS e-learning",
            training_item_id=training_item.id,
        ),
        [FileStorage(io.BytesIO(b"%PDF-1.4\n%%EOF\n"), filename="c.pdf", content_type="application/pdf")],
    )
    appraisal = cpd_service.start_appraisal(worker, worker, held_on=TODAY, appraiser_id=supervisor.id)
    reset_token, reset_digest = new_token()
    db.session.add(
        PasswordReset(
            user_id=worker.id, token_digest=reset_digest, expires_at=datetime.now(UTC) + timedelta(minutes=30)
        )
    )
    db.session.commit()
    # The worker has one-time codes and a passkey; the others are half-way through setting up codes.
    give_totp(worker)
    passkey = make_passkey(worker)
    for person in (supervisor, manager):
        mfa_service.start_totp(person)
    ids = {
        "passkey": passkey.id,
        "worker": worker.id,
        "manager": manager.id,
        "request": promotion.id,
        "requirement": db.session.scalar(select(Requirement.id).where(Requirement.framework_id == worker.framework_id)),
        "training_item": training_item.id,
        "certificate": certificate.id,
        "certificate_file": certificate.files[0].id,
        "appraisal": appraisal.id,
        "activity": cpd_service.log_activity(
            worker, cpd_service.ActivityInput(TODAY, "Workshop", "1.5", "What I learned", "Its impact")
        ).id,
        "submission": db.session.scalar(select(Submission.id).where(Submission.evidence_id == submitted.id)),
        "submitted_file": submitted.files[0].id,
        "note": note.id,
        "note_file": note.files[0].id,
        "assignment": db.session.scalar(select(SupervisionAssignment.id)),
        "notification": db.session.scalar(select(Notification.id).where(Notification.user_id == supervisor.id)),
        "sfh": frameworks["sfh-senior-engagement-worker"].id,
        "local": local.id,
        "evidence": evidence.id,
        "reset_token": reset_token,
        "file": evidence.files[0].id,
        "link": evidence.links[0].id,
        "competence": competences[0].id,
        "__other__": competences[1].id,
        "import": held_import(manager).id,
        "credential": credentials_service.issue(worker, worker.tier).public_id,
        "logo": organisation.logo_sha256[:16] if organisation and organisation.logo_sha256 else "",
    }
    db.session.commit()  # the issued credential, for a server on another thread (the crawl)
    # The worker's own data export, built at once (tasks run when queued in tests).
    ids["document"] = documents_service.request_document(worker, DocumentKind.DATA_EXPORT, worker).id
    return ids, {"worker": worker, "supervisor": supervisor, "manager": manager}


class KeptWorld:
    """:func:`make_world` built once and put back in each test (``tests/snapshots.py``): building it through the
    use cases is most of an access test's time, and there are some six hundred of them.

    Built again after ten minutes, long before anything in it with a lifetime (the 30-minute reset link) lapses.
    """

    LIFETIME = 600.0

    def __init__(self, folder: Path):
        self.folder = folder
        self.snapshot: snapshots.Snapshot | None = None
        self.ids: dict = {}
        self.people: dict[str, int] = {}

    def enter(self, app) -> tuple[dict, dict]:
        """The world's ids and its people by role, in the test's (empty) database and folder.

        A copy is taken only of a world built on an empty database: rows a test left behind are never copied.
        """
        data = Path(app.config["UPLOAD_FOLDER"]).parent  # the test's folder: uploads, and documents beside them
        snapshot = self.snapshot
        if snapshot is not None and snapshot.age() < self.LIFETIME and snapshots.can_restore(snapshot):
            snapshots.restore(snapshot, data=data)
            return self.ids, {role: db.session.get(User, id) for role, id in self.people.items()}
        empty = not snapshots.any_rows(db.metadata.sorted_tables)
        ids, people = make_world(factories.load_frameworks())
        if empty:
            files = self.folder / f"taken-{len(list(self.folder.iterdir()))}"
            self.snapshot = snapshots.take(db.metadata.sorted_tables, data=data, files=files)
            self.ids, self.people = ids, {role: person.id for role, person in people.items()}
        return ids, people


@pytest.fixture(scope="session")
def kept_world(tmp_path_factory) -> KeptWorld:
    return KeptWorld(tmp_path_factory.mktemp("world"))


@pytest.fixture
def world(app, kept_world) -> tuple[dict, dict]:
    """:func:`make_world`'s ids and people."""
    return kept_world.enter(app)


def test_the_world_put_back_is_the_world_as_built(app, tmp_path_factory):
    """Every access test but a few gets the world put back: it must be what ``make_world`` writes."""
    kept = KeptWorld(tmp_path_factory.mktemp("kept"))
    data = Path(app.config["UPLOAD_FOLDER"]).parent
    ids, people = kept.enter(app)  # built: make_world, through the use cases
    built, built_files = snapshots.contents(), snapshots.files_under(data)
    assert {"uploads", "documents"} <= {name.split("/")[0] for name in built_files}  # its uploads and its export
    _empty_all_tables()
    shutil.rmtree(data)

    db.session.expunge_all()
    again, again_people = kept.enter(app)  # put back
    assert snapshots.contents() == built
    assert snapshots.files_under(data) == built_files
    assert {role: person.email for role, person in again_people.items()} == {
        "worker": "worker@example.org",
        "supervisor": "supervisor@example.org",
        "manager": "manager@example.org",
    }  # read from the database put back
    # New rows take the next ids: the worker's next export follows the world's.
    worker = again_people["worker"]
    assert documents_service.request_document(worker, DocumentKind.DATA_EXPORT, worker).id == again["document"] + 1


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.endpoint}")
def test_access(client, auth, world, role, case):
    ids, users = world
    if role == "anonymous":
        token = auth.token("/auth/sign-in")  # anyone can have a session with a token
    else:
        auth.login_as(users[role])
        token = auth.token()

    path = case.path(ids)
    if case.method == "GET":
        response = client.get(path)
    else:
        data = {key: ids.get(value, value) for key, value in (case.data or {}).items()}
        response = client.post(path, data={**data, "csrf_token": token})

    response.close()  # static files are streamed from open files
    expected = case.expected[role]
    if expected == SIGN_IN:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/sign-in")
    else:
        assert response.status_code == expected
        if expected == 403:
            assert "You do not have access to this page" in response.text
    if response.mimetype == "text/html":
        assert escaped_markup(response.text) == []


# The documents are built by the task consumer: their addresses take a POST (the button), never a GET.
DOCUMENT_ADDRESSES = (
    lambda ids: "/progress/export.zip",
    lambda ids: "/progress/portfolio.pdf",
    lambda ids: f"/progress/workers/{ids['worker']}/portfolio.pdf",
)


@pytest.mark.parametrize("role", ROLES)
def test_a_get_to_a_documents_address_is_refused_on_the_services_own_page(client, auth, world, role):
    """The old downloads that built the document during the request are gone: 405, with nothing built."""
    ids, users = world
    if role != "anonymous":
        auth.login_as(users[role])
    built = count(Document)

    for address in DOCUMENT_ADDRESSES:
        response = client.get(address(ids))
        assert response.status_code == 405, address(ids)
        assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
        assert page_title(response.text) == "This page cannot be opened again – Evidence portfolio"
        assert 'class="nhsuk-header' in response.text and "It was the answer to a form you sent" in response.text
    assert count(Document) == built
