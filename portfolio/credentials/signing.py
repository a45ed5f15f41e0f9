"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite (W3C VC Data Integrity EdDSA Cryptosuites v1.0).

A proof signs the SHA-256 of the canonical (RDFC-1.0) N-Quads of the proof's
options followed by the SHA-256 of the document's, with Ed25519. PyLD does
the JSON-LD expansion and canonicalisation; cryptography does Ed25519. JSON-LD
contexts come only from the local copies in ``contexts/``: nothing is fetched
at run time, and a document naming any other context is refused.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pyld import jsonld

CONTEXTS_FOLDER = Path(__file__).parent / "contexts"
CREDENTIALS_V2 = "https://www.w3.org/ns/credentials/v2"
OPEN_BADGES_V3 = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
LOCAL_CONTEXTS: dict[str, Path] = {
    CREDENTIALS_V2: CONTEXTS_FOLDER / "credentials-v2.jsonld",
    OPEN_BADGES_V3: CONTEXTS_FOLDER / "ob-v3p0-context-3.0.3.jsonld",
}
CRYPTOSUITE = "eddsa-rdfc-2022"
# Multicodec prefixes (varint) of Ed25519 keys in multibase form.
_ED25519_PUBLIC = b"\xed\x01"
_ED25519_PRIVATE = b"\x80\x26"


class ProofError(ValueError):
    """The document's proof does not verify; the message says why."""


class UnknownContext(ProofError):
    """The document names a JSON-LD context we do not hold a copy of."""


def _loader(extra: dict[str, Path]):
    contexts = {**LOCAL_CONTEXTS, **extra}

    def load(url: str, options: dict | None = None) -> dict[str, Any]:
        path = contexts.get(url)
        if path is None:
            raise jsonld.JsonLdError(
                f"Unknown context {url}", "jsonld.LoadDocumentError", code="loading document failed"
            )
        return {"contextUrl": None, "documentUrl": url, "document": json.loads(path.read_text("utf-8"))}

    return load


def canonical(document: dict[str, Any], extra_contexts: dict[str, Path] | None = None) -> str:
    """The RDFC-1.0 canonical N-Quads of ``document``.

    :raises UnknownContext: for a context that is not held locally.
    """
    try:
        return jsonld.normalize(
            document,
            {
                "algorithm": "URDNA2015",
                "format": "application/n-quads",
                "documentLoader": _loader(extra_contexts or {}),
                "safe": True,  # a term no context defines is an error, not silently dropped
            },
        )
    except jsonld.JsonLdError as error:
        causes = []
        cause: BaseException | None = error
        while cause is not None:  # PyLD wraps the loader's error several times
            causes.append(cause)
            cause = cause.__cause__
        if any(getattr(c, "type", "") == "jsonld.LoadDocumentError" for c in causes):
            raise UnknownContext("The credential names a JSON-LD context this service does not know.") from error
        detail = next((str(c.args[0]) for c in reversed(causes) if c.args), "")
        raise ProofError(f"The credential is not valid JSON-LD: {detail}") from error


def _hash_data(document: dict[str, Any], options: dict[str, Any], extra: dict[str, Path] | None) -> bytes:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    config = {**{k: v for k, v in options.items() if k != "proofValue"}, "@context": document["@context"]}
    return (
        hashlib.sha256(canonical(config, extra).encode()).digest()
        + hashlib.sha256(canonical(unsecured, extra).encode()).digest()
    )


def sign(
    document: dict[str, Any],
    private_key: Ed25519PrivateKey,
    *,
    verification_method: str,
    created: str,
    extra_contexts: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """``document`` with a ``DataIntegrityProof`` added (``assertionMethod``)."""
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": created,
        "verificationMethod": verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = private_key.sign(_hash_data(document, options, extra_contexts))
    signed = copy.deepcopy(document)
    signed["proof"] = {**options, "proofValue": "z" + base58.b58encode(signature).decode()}
    return signed


def only_proof(document: dict[str, Any]) -> dict[str, Any]:
    """The document's one proof, given as an object or as a set of one (Open Badges 3.0 asks for an array).

    :raises ProofError: for no proof, or more than one.
    """
    proof = document.get("proof")
    if isinstance(proof, list) and len(proof) == 1:
        proof = proof[0]
    elif isinstance(proof, list) and proof:
        raise ProofError("The credential has more than one proof; this service signs with one.")
    if not isinstance(proof, dict):
        raise ProofError("The credential has no proof.")
    return proof


def as_proof_set(signed: dict[str, Any]) -> dict[str, Any]:
    """``signed`` with its proof as a set of one, the form the Open Badges 3.0 schema requires."""
    return {**signed, "proof": [signed["proof"]]}


def verify(
    document: dict[str, Any], public_key: Ed25519PublicKey, extra_contexts: dict[str, Path] | None = None
) -> None:
    """Check the document's ``eddsa-rdfc-2022`` proof with ``public_key``.

    :raises ProofError: saying why it does not verify.
    """
    proof = only_proof(document)
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        raise ProofError(f"The proof is not a DataIntegrityProof with the {CRYPTOSUITE} cryptosuite.")
    if proof.get("proofPurpose") != "assertionMethod":
        raise ProofError("The proof's purpose is not assertionMethod.")
    value = proof.get("proofValue")
    if not isinstance(value, str) or not value.startswith("z"):
        raise ProofError("The proof value is not base58btc multibase.")
    try:
        signature = base58.b58decode(value[1:])
    except ValueError as error:
        raise ProofError("The proof value is not base58btc multibase.") from error
    try:
        public_key.verify(signature, _hash_data(document, proof, extra_contexts))
    except InvalidSignature as error:
        raise ProofError("The signature does not match the credential: it was changed after it was signed.") from error


# --- Keys in multibase (Multikey) form --------------------------------------------------------


def public_multibase(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "z" + base58.b58encode(_ED25519_PUBLIC + raw).decode()


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    """:raises ValueError: for a value that is not a base58btc Ed25519 Multikey."""
    raw = base58.b58decode(value[1:]) if value.startswith("z") else b""
    if len(raw) != 34 or not raw.startswith(_ED25519_PUBLIC):
        raise ValueError("not an Ed25519 public key in multibase form")
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def private_multibase(private_key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return "z" + base58.b58encode(_ED25519_PRIVATE + seed).decode()


def private_key_from_multibase(value: str) -> Ed25519PrivateKey:
    """:raises ValueError: for a value that is not a base58btc Ed25519 private key."""
    raw = base58.b58decode(value[1:]) if value.startswith("z") else b""
    if len(raw) != 34 or not raw.startswith(_ED25519_PRIVATE):
        raise ValueError("not an Ed25519 private key in multibase form")
    return Ed25519PrivateKey.from_private_bytes(raw[2:])
