"""WebAuthn ceremonies through py_webauthn: options for the browser, and checking its answers.

The relying party is the host of PORTFOLIO_PUBLIC_URL and the origin is that
URL. The challenge of each ceremony is kept in the (signed) session, used
once, and refused after CHALLENGE_LIFETIME.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app, session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..auth.sessions import now

SESSION_KEY = "webauthn"
CHALLENGE_LIFETIME = 300  # seconds: as long as the browser's own timeout, and a little more


class PasskeyError(Exception):
    """The browser's answer could not be accepted; the message says what to do."""


@contextmanager
def _checking_answer() -> Iterator[None]:
    """Turn py_webauthn's refusals (and malformed JSON) into one message for people."""
    try:
        yield
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise PasskeyError("Your passkey could not be checked. Try again") from exc


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str


def relying_party() -> RelyingParty:
    url = urlsplit(current_app.config["PUBLIC_URL"])
    return RelyingParty(id=url.hostname or "", origin=f"{url.scheme}://{url.netloc}")


def available() -> bool:
    """Passkeys need a domain name: WebAuthn refuses an IP address as relying-party id."""
    host = relying_party().id
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def user_handle(user_id: int) -> bytes:
    """The WebAuthn user handle: our user id, which says nothing about the person."""
    return str(user_id).encode()


def _remember(purpose: str, challenge: bytes, user_id: int | None) -> None:
    session[SESSION_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": now(),
        "user": user_id,
    }


def take_challenge(purpose: str, user_id: int | None = None) -> bytes:
    """The challenge issued for ``purpose`` (and ``user_id``), removed so it works once.

    :raises PasskeyError: when there is none, it is for something else, or too old.
    """
    stored = session.pop(SESSION_KEY, None)
    if (
        not isinstance(stored, dict)
        or stored.get("purpose") != purpose
        or stored.get("user") != user_id
        or now() - int(stored.get("at", 0)) > CHALLENGE_LIFETIME
    ):
        raise PasskeyError("Your passkey request has expired. Try again")
    return base64url_to_bytes(stored["challenge"])


def registration_options(user_id: int, email: str, name: str, existing: list[str], *, rp_name: str) -> str:
    """Options (JSON) for ``navigator.credentials.create``: a discoverable credential with user verification.

    ``rp_name`` is only shown (the passkey manager lists the passkey under it); ``rp.id`` is what binds it.
    """
    rp = relying_party()
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp_name,
        user_id=user_handle(user_id),
        user_name=email,
        user_display_name=name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in existing],
    )
    _remember("register", options.challenge, user_id)
    return options_to_json(options)


@dataclass(frozen=True)
class NewCredential:
    credential_id: str
    public_key: bytes
    sign_count: int


def verify_registration(credential: dict, user_id: int) -> NewCredential:
    """Check the browser's answer to ``registration_options``.

    :raises PasskeyError: when it does not verify.
    """
    challenge = take_challenge("register", user_id)
    rp = relying_party()
    with _checking_answer():
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    return NewCredential(
        bytes_to_base64url(verified.credential_id), verified.credential_public_key, verified.sign_count
    )


def authentication_options(purpose: str, user_id: int | None, allowed: list[str]) -> str:
    """Options (JSON) for ``navigator.credentials.get``.

    Without a user (signing in without a password) the browser offers the
    discoverable credentials it holds for us, and must verify the person
    (PIN, fingerprint): the passkey then stands for both factors.
    """
    options = generate_authentication_options(
        rp_id=relying_party().id,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(c)) for c in allowed],
        user_verification=UserVerificationRequirement.PREFERRED if user_id else UserVerificationRequirement.REQUIRED,
    )
    _remember(purpose, options.challenge, user_id)
    return options_to_json(options)


def credential_id_of(credential: dict) -> tuple[str, bytes | None]:
    """The credential id (base64url) and user handle in the browser's answer.

    :raises PasskeyError: when the answer is not a WebAuthn assertion.
    """
    with _checking_answer():
        parsed = parse_authentication_credential_json(credential)
    return bytes_to_base64url(parsed.raw_id), parsed.response.user_handle


def verify_assertion(
    credential: dict, challenge: bytes, *, public_key: bytes, sign_count: int, require_user_verification: bool
) -> int:
    """Check a signed assertion against the stored key; return the new sign count.

    py_webauthn refuses a sign count that did not go up (a cloned authenticator).

    :raises PasskeyError: when it does not verify.
    """
    rp = relying_party()
    with _checking_answer():
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=require_user_verification,
        )
    return verified.new_sign_count
