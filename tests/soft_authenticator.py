"""A software WebAuthn authenticator (P-256, "none" attestation), for passkey tests without a browser.

It answers the options py_webauthn generates the way a platform
authenticator does, so the server's checks (challenge, origin, RP id,
signature, sign count, user verification) run for real.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

UP, UV, AT = 0x01, 0x04, 0x40


class SoftAuthenticator:
    def __init__(self, origin: str, rp_id: str):
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets.token_bytes(16)
        self.user_handle: bytes | None = None
        self.sign_count = 0

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def create(self, options_json: str) -> dict:
        """The browser's answer to navigator.credentials.create, as JSON-ready dict."""
        options = json.loads(options_json)
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        client_data = self._client_data("webauthn.create", options["challenge"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([UP | UV | AT])
            + struct.pack(">I", self.sign_count)
            + bytes(16)
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return self._answer(client_data, attestationObject=bytes_to_base64url(attestation), transports=["internal"])

    def get(self, options_json: str, *, verified: bool = True, count_up: bool = True) -> dict:
        """The browser's answer to navigator.credentials.get."""
        options = json.loads(options_json)
        if count_up:
            self.sign_count += 1
        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([UP | (UV if verified else 0)])
            + struct.pack(">I", self.sign_count)
        )
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return self._answer(
            client_data,
            authenticatorData=bytes_to_base64url(auth_data),
            signature=bytes_to_base64url(signature),
            userHandle=bytes_to_base64url(self.user_handle or b""),
        )

    def _answer(self, client_data: bytes, **response: object) -> dict:
        """A PublicKeyCredential as the browser's toJSON() writes it."""
        raw_id = bytes_to_base64url(self.credential_id)
        return {
            "id": raw_id,
            "rawId": raw_id,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {"clientDataJSON": bytes_to_base64url(client_data), **response},
        }
