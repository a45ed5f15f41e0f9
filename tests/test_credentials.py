"""Met tiers as Open Badges 3.0 credentials: signed (eddsa-rdfc-2022), published, verified, revoked."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import nacl.signing
import pytest
from jsonschema import Draft201909Validator
from pyld import jsonld
from sqlalchemy import func, select

from portfolio import clock
from portfolio.clock import on_the_clock
from portfolio.credentials import service, signing
from portfolio.extensions import db
from portfolio.models import AuditEntry, DecisionOutcome, IssuedCredential, Notification, Role, Submission, Tier, User
from portfolio.organisation.service import identity
from portfolio.progress import service as progress
from portfolio.review import service as review
from portfolio.templating import long_date
from tests.factories import TODAY, competences, make_ready, make_user, meet, tier
from tests.pages import text_of, words


@pytest.fixture
def people(worker, supervisor, manager):
    """The kit's worker, her supervisor and a manager."""
    return worker, supervisor, manager


VECTORS = Path(__file__).parent / "vectors" / "eddsa-rdfc-2022"
EXAMPLES_V2 = {"https://www.w3.org/ns/credentials/examples/v2": VECTORS / "credentials-examples-v2.jsonld"}
# 1EdTech's Open Badges 3.0 AchievementCredential schema (VCDM 2.0); where it comes from: tests/schemas/README.md.
OB3_SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "ob_v3p0_achievementcredential_schema.json").read_text("utf-8")
)
OB3 = Draft201909Validator(OB3_SCHEMA, format_checker=Draft201909Validator.FORMAT_CHECKER)


def ob3_errors(document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in OB3.iter_errors(document)]


# --- The cryptosuite, against the W3C's own test vector -------------------------------------------


def test_signing_reproduces_the_w3c_eddsa_rdfc_2022_test_vector(app):
    keys = json.loads((VECTORS / "keyPair.json").read_text())
    signed = json.loads((VECTORS / "signedDataInt.json").read_text())
    unsigned = {k: v for k, v in signed.items() if k != "proof"}
    key = signing.private_key_from_multibase(keys["privateKeyMultibase"])

    assert signing.canonical(unsigned, EXAMPLES_V2) == (VECTORS / "canonDocDataInt.txt").read_text()
    assert signing.public_multibase(key.public_key()) == keys["publicKeyMultibase"]
    ours = signing.sign(
        unsigned,
        key,
        verification_method=signed["proof"]["verificationMethod"],
        created=signed["proof"]["created"],
        extra_contexts=EXAMPLES_V2,
    )
    assert ours == signed  # byte for byte the proof the specification publishes
    signing.verify(signed, key.public_key(), EXAMPLES_V2)


def test_the_vector_verifies_with_a_second_library_from_the_published_canonical_forms(app):
    """PyNaCl (libsodium) checks the W3C's signature over the W3C's canonical N-Quads: none of our code."""
    keys = json.loads((VECTORS / "keyPair.json").read_text())
    signed = json.loads((VECTORS / "signedDataInt.json").read_text())
    import base58

    public = base58.b58decode(keys["publicKeyMultibase"][1:])[2:]
    hash_data = (
        hashlib.sha256((VECTORS / "proofCanonDataInt.txt").read_bytes()).digest()
        + hashlib.sha256((VECTORS / "canonDocDataInt.txt").read_bytes()).digest()
    )
    nacl.signing.VerifyKey(public).verify(hash_data, base58.b58decode(signed["proof"]["proofValue"][1:]))


def test_an_unknown_context_is_refused_not_fetched(app):
    document = {"@context": ["https://www.w3.org/ns/credentials/v2", "https://evil.example/context.json"], "id": "x"}
    with pytest.raises(signing.UnknownContext):
        signing.canonical(document)


# --- Issuing --------------------------------------------------------------------------------------


def independently_verified(document: dict) -> None:
    """Re-verify a credential without our signing module: PyLD straight, then PyNaCl over its hashes."""

    def loader(url, options=None):
        return {"contextUrl": None, "documentUrl": url, "document": json.loads(signing.LOCAL_CONTEXTS[url].read_text())}

    def nquads(doc):
        return jsonld.normalize(
            doc, {"algorithm": "URDNA2015", "format": "application/n-quads", "documentLoader": loader}
        )

    import base58

    (proof,) = document["proof"]  # a set of one, as Open Badges 3.0 asks
    proof = dict(proof)
    value = proof.pop("proofValue")
    config = {**proof, "@context": document["@context"]}
    body = {k: v for k, v in document.items() if k != "proof"}
    hash_data = hashlib.sha256(nquads(config).encode()).digest() + hashlib.sha256(nquads(body).encode()).digest()
    did = json.loads(json.dumps(service.did_document()))
    public = base58.b58decode(did["verificationMethod"][0]["publicKeyMultibase"][1:])[2:]
    nacl.signing.VerifyKey(public).verify(hash_data, base58.b58decode(value[1:]))


def verdict_card(page: str) -> str:
    """The verdict's card (the form below it keeps what was pasted)."""
    return page.split('id="verdict"', 1)[1].split("</div>\n</div>", 1)[0]


def issued_to(worker: User, slug: str = "link-worker-coach") -> IssuedCredential:
    credential = service.issue(worker, tier("link-worker", slug))
    db.session.commit()
    return credential


def test_an_approved_promotion_issues_a_signed_open_badges_credential(app, people):
    worker, supervisor, manager, *_ = people
    make_ready(worker, supervisor, manager)
    request = progress.request_promotion(worker)
    progress.recommend(supervisor, request, supports=True, reasons="Ready for coaching work")

    # Today, read now: a fixed day stopped being on or after the request's once the calendar passed it.
    progress.decide_promotion(manager, request, approved=True, effective_on=clock.today(), reasons="")

    credential = db.session.scalar(select(IssuedCredential).where(IssuedCredential.worker_id == worker.id))
    document = credential.document
    assert document["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert document["@context"] == [signing.CREDENTIALS_V2, signing.OPEN_BADGES_V3]
    assert document["issuer"]["id"] == "did:web:127.0.0.1%3A5000" == service.issuer_did()
    achievement = document["credentialSubject"]["achievement"]
    assert achievement["name"] == "Link Worker Coach"
    # Aligned to the CASE items of every statement the tier covers (tiers are cumulative: 48 + 20).
    assert len(achievement["alignment"]) == len(competences("link-worker", "link-worker", "link-worker-coach")) == 68
    assert all("/ims/case/v1p1/CFItems/" in a["targetUrl"] for a in achievement["alignment"])
    # The subject is a hashed email, never the address itself.
    identity = document["credentialSubject"]["identifier"][0]
    assert identity["hashed"] is True and worker.email not in json.dumps(document)
    assert service.email_matches(document, worker.email.upper())
    assert [proof["cryptosuite"] for proof in document["proof"]] == ["eddsa-rdfc-2022"]
    signing.verify(document, service.public_key())
    independently_verified(document)
    assert service.verify(document).status == service.VALID
    assert db.session.scalar(select(func.count()).where(AuditEntry.action == "credential.issued")) == 1
    assert any("credential for Link Worker Coach" in n.message for n in db.session.scalars(select(Notification)))


def test_a_role_profile_met_in_full_issues_its_credential_on_the_last_sign_off(app, frameworks):
    worker = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    supervisor = make_user(Role.SUPERVISOR)
    statements = competences("sfh-senior-engagement-worker")
    meet(worker, statements[:-1], supervisor=supervisor)
    assert service.issue_if_profile_complete(worker) is None

    meet(worker, statements[-1:], supervisor=supervisor)
    credential = service.issue_if_profile_complete(worker)
    db.session.commit()

    assert credential.document["credentialSubject"]["achievement"]["name"] == "Senior Engagement Worker"
    assert len(credential.document["credentialSubject"]["achievement"]["alignment"]) == len(statements)
    # Once per tier: the next sign-off finds it.
    assert service.issue_if_profile_complete(worker).id == credential.id


def test_review_decide_issues_the_role_profile_credential(app, frameworks):
    from tests.factories import assign

    worker = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    supervisor = make_user(Role.SUPERVISOR)
    assign(supervisor, worker, starts_on=date(2026, 1, 1), audited=True)
    statements = competences("sfh-senior-engagement-worker")
    meet(worker, statements[:-1], supervisor=supervisor)
    from portfolio.evidence import service as evidence_service
    from portfolio.models import EvidenceKind

    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="The last one", occurred_on=date(2026, 3, 1), description="What I did"),
        link_competence_id=statements[-1].id,
    )
    evidence_service.submit(worker, item, confirm_anonymous=True)
    submission = db.session.scalar(select(Submission).where(Submission.evidence_id == item.id))
    review.decide(
        supervisor,
        submission,
        outcome=DecisionOutcome.SIGNED_OFF,
        comment="",
        outcomes={statements[-1].id: review.CompetenceOutcome(accepted=True, comment="")},
    )

    assert (
        db.session.scalar(select(func.count(IssuedCredential.id)).where(IssuedCredential.worker_id == worker.id)) == 1
    )


def test_production_without_an_issuer_key_issues_nothing(app, people):
    worker, *_ = people
    app.config["ISSUER_KEY"] = None

    assert service.issue(worker, tier("link-worker", "link-worker-coach")) is None
    assert db.session.scalar(select(func.count(IssuedCredential.id))) == 0


# --- Verifying ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["credentialSubject"]["achievement"].update(name="Psychosocial Link Worker"),
        lambda d: d.update(validFrom="2020-01-01T00:00:00Z"),
        lambda d: d["credentialSubject"]["identifier"][0].update(salt="0000"),
        lambda d: d["credentialSubject"]["achievement"]["alignment"].pop(),
        lambda d: d["issuer"].update(name="Another organisation"),
        lambda d: d["credentialStatus"].update(statusListIndex="999"),
        lambda d: d["proof"][0].update(created="2020-01-01T00:00:00Z"),
    ],
)
def test_changing_any_field_breaks_the_proof(app, people, change):
    worker, *_ = people
    document = copy.deepcopy(issued_to(worker).document)
    change(document)

    verdict = service.verify(document)

    assert verdict.status == service.TAMPERED
    assert "changed after it was signed" in verdict.reasons[0]


def test_a_foreign_issuer_and_a_foreign_key_are_said_so(app, people):
    worker, *_ = people
    document = copy.deepcopy(issued_to(worker).document)
    other = copy.deepcopy(document)
    other["issuer"]["id"] = "did:web:elsewhere.example"
    foreign = service.verify(other)
    assert foreign.status == service.FOREIGN
    assert foreign.reasons == [
        f"It was issued by did:web:elsewhere.example, not by {identity().name} ({service.issuer_did()})."
    ]
    document["proof"][0]["verificationMethod"] = "did:web:elsewhere.example#key-1"
    assert service.verify(document).status == service.TAMPERED


def test_revocation_is_published_in_the_status_list_and_seen_by_verifiers(app, people):
    worker, supervisor, manager, *_ = people
    credential = issued_to(worker)
    index = int(credential.document["credentialStatus"]["statusListIndex"])
    assert not service.is_set(service.status_list_credential()["credentialSubject"]["encodedList"], index)

    service.revoke(manager, credential, "Issued to the wrong person")

    status = service.status_list_credential()
    signing.verify(status, service.public_key())
    assert service.is_set(status["credentialSubject"]["encodedList"], index)
    assert not service.is_set(status["credentialSubject"]["encodedList"], index + 1)
    verdict = service.verify(credential.document)
    assert verdict.status == service.REVOKED and "Issued to the wrong person" in verdict.reasons[-1]
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "credential.revoked"))
    assert entry.subject == f"user:{worker.id}"


def test_a_revocation_needs_a_reason_and_happens_once_and_never_by_the_holder(app, people):
    worker, supervisor, manager, *_ = people
    from portfolio.errors import FieldError

    credential = issued_to(worker)
    with pytest.raises(FieldError, match="Give the reason"):
        service.revoke(manager, credential, "  ")
    service.revoke(manager, credential, "In error")
    with pytest.raises(FieldError, match="already revoked"):
        service.revoke(manager, credential, "Again")
    manager_worker = make_user(Role.MANAGER, email="mw@example.org", tier=tier("link-worker", "link-worker"))
    own = issued_to(manager_worker)
    with pytest.raises(FieldError, match="your own credential"):
        service.revoke(manager_worker, own, "Mine")
    assert db.session.get(IssuedCredential, own.id).revoked_at is None


# --- Pages ----------------------------------------------------------------------------------------


def test_the_did_document_and_status_list_are_public(client, app, people):
    worker, *_ = people
    issued_to(worker)
    did = client.get("/.well-known/did.json").get_json()
    assert did["id"] == service.issuer_did()
    assert did["assertionMethod"] == [service.key_id()]
    assert signing.public_key_from_multibase(did["verificationMethod"][0]["publicKeyMultibase"])
    status = client.get("/credentials/status/1")
    assert status.status_code == 200 and status.get_json()["type"][1] == "BitstringStatusListCredential"
    assert client.get("/credentials/status/2").status_code == 404


def test_a_worker_downloads_their_credential_and_shares_its_page(client, auth, app, people):
    worker, *_ = people
    credential = issued_to(worker)
    auth.login_as(worker)

    page = client.get("/credentials/").get_data(as_text=True)
    assert "Link Worker Coach (Link Worker Competency Framework)" in page
    download = client.get(f"/credentials/{credential.public_id}.json")
    assert download.mimetype == "application/json" and "attachment" in download.headers["Content-Disposition"]
    assert json.loads(download.get_data(as_text=True)) == credential.document
    assert f"/credentials/{credential.public_id}" in page

    # Someone else's credential is not there to download.
    other = make_user(Role.WORKER, email="other@example.org", tier=tier("link-worker", "link-worker"))
    auth.login_as(other)
    assert client.get(f"/credentials/{credential.public_id}.json").status_code == 404


def test_the_shared_page_says_valid_and_checks_an_email_without_sign_in(client, app, people):
    worker, *_ = people
    credential = issued_to(worker)

    page = client.get(f"/credentials/{credential.public_id}").get_data(as_text=True)
    assert "This credential is valid" in page and worker.email not in page
    right = client.get(f"/credentials/{credential.public_id}?email={worker.email}", headers={"HX-Request": "true"})
    assert "<html" not in right.get_data(as_text=True) and "That email address is the holder" in right.get_data(
        as_text=True
    )
    wrong = client.get(f"/credentials/{credential.public_id}?email=someone@example.org").get_data(as_text=True)
    assert "That email address is not the holder" in wrong
    empty = client.get(f"/credentials/{credential.public_id}?email=")
    assert empty.status_code == 422 and "Enter the email address to check" in empty.get_data(as_text=True)


def test_a_credential_issued_across_midnight_says_one_day_everywhere(client, auth, app, people, monkeypatch):
    """The record, the credential and its proof take one moment: signing takes a while, and read apart the record
    said the day after the proof that a verifier reads (it failed CI at 23:59)."""
    worker, *_ = people
    ticks = iter(
        datetime(2026, 12, 4, 23, 59, 59, 900_000, tzinfo=UTC) + timedelta(milliseconds=50 * n) for n in range(10_000)
    )
    monkeypatch.setattr(clock, "now", lambda: next(ticks))

    credential = issued_to(worker)

    assert credential.issued_at.replace(tzinfo=UTC) == datetime(2026, 12, 4, 23, 59, 59, tzinfo=UTC)
    proof = signing.only_proof(credential.document)
    assert credential.document["validFrom"] == proof["created"] == "2026-12-04T23:59:59Z"
    token = auth.token("/credentials/verify")
    checked = client.post(
        "/credentials/verify", data={"csrf_token": token, "credential": json.dumps(credential.document)}
    )
    said = words(text_of(checked))
    assert f"Signed by {identity().name} on 4 December 2026, and unchanged since." in said
    assert "5 December" not in said


def test_anyone_can_check_a_pasted_credential(client, auth, app, people):
    worker, supervisor, manager, *_ = people
    credential = issued_to(worker)
    token = auth.token("/credentials/verify")

    valid = client.post(
        "/credentials/verify", data={"csrf_token": token, "credential": json.dumps(credential.document)}
    )
    assert valid.status_code == 200 and "This credential is valid" in valid.get_data(as_text=True)
    issued_on = long_date(on_the_clock(credential.issued_at))
    said = words(text_of(valid))
    # In words a panel reads: the organisation and the day, not a did:web identifier and an ISO time.
    assert f"Signed by {identity().name} on {issued_on}, and unchanged since." in said
    claim = "<strong>Link Worker Coach (Link Worker Competency Framework)</strong>"
    assert f"{claim}, issued by {identity().name} on {issued_on}." in valid.get_data(as_text=True)
    assert "did:web" not in verdict_card(valid.get_data(as_text=True))

    tampered = copy.deepcopy(credential.document)
    tampered["name"] = "Psychosocial Link Worker (Link Worker Competency Framework)"
    answer = text_of(client.post("/credentials/verify", data={"csrf_token": token, "credential": json.dumps(tampered)}))
    assert "This credential was changed after it was issued" in answer
    assert "This credential was changed" in verdict_card(answer)
    assert "Psychosocial Link Worker" not in verdict_card(answer)  # the forged claim is not repeated under it

    service.revoke(manager, credential, "Issued in error")
    revoked = words(
        text_of(
            client.post(
                "/credentials/verify", data={"csrf_token": token, "credential": json.dumps(credential.document)}
            )
        )
    )
    assert "This credential was revoked" in revoked and f"Revoked on {long_date(TODAY)}: Issued in error" in revoked
    auth.login_as(worker)
    assert "Revoked Reason: Issued in error" in words(text_of(client.get("/credentials/")))

    bad = client.post("/credentials/verify", data={"csrf_token": token, "credential": "{not json"})
    assert bad.status_code == 422 and 'id="credential-error"' in bad.get_data(as_text=True)
    empty = client.post("/credentials/verify", data={"csrf_token": token, "credential": ""})
    assert empty.status_code == 422 and "Paste the credential, or choose its file" in empty.get_data(as_text=True)


def test_a_manager_revokes_from_the_list_with_a_reason_next_to_the_field(client, auth, app, people):
    worker, supervisor, manager, *_ = people
    credential = issued_to(worker)
    auth.login_as(manager)
    assert worker.name in client.get("/credentials/issued").get_data(as_text=True)
    path = f"/credentials/{credential.public_id}/revoke"
    token = auth.token(path)

    missing = client.post(path, data={"csrf_token": token, "reason": ""})
    assert missing.status_code == 422 and 'id="reason-error"' in missing.get_data(as_text=True)
    done = client.post(path, data={"csrf_token": token, "reason": "Issued to the wrong person"})
    assert done.status_code == 303
    assert db.session.get(IssuedCredential, credential.id).revoked_reason == "Issued to the wrong person"
    auth.login_as(supervisor)
    assert client.get(path).status_code == 403


def test_one_credential_per_tier_and_distinct_status_indexes(app, people):
    worker, *_ = people
    first = issued_to(worker)
    assert issued_to(worker).id == first.id
    second = issued_to(make_user(Role.WORKER, email="w2@example.org", tier=tier("link-worker", "link-worker")))
    assert first.status_index != second.status_index
    assert db.session.scalar(select(Tier.slug).where(Tier.id == first.tier_id)) == "link-worker-coach"


# --- A standard verifier accepts what we issue --------------------------------------------------

NODE_VERIFIER = Path(__file__).parent / "js" / "verify-credential.mjs"


def node_verdict(tmp_path: Path, document: dict) -> dict:
    """Digital Bazaar's reference JavaScript verifier's answer on ``document`` (our contexts, key and list)."""
    files = {
        "credential.json": document,
        "did.json": service.did_document(),
        "status.json": service.status_list_credential(),
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content), "utf-8")
    contexts = [f"{url}={path}" for url, path in signing.LOCAL_CONTEXTS.items()]
    run = subprocess.run(
        ["node", str(NODE_VERIFIER), *(str(tmp_path / name) for name in files), *contexts],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.stdout, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_reference_javascript_verifier_accepts_our_credential_and_sees_changes_and_revocations(
    app,
    people,
    tmp_path,
):
    worker, supervisor, manager, *_ = people
    credential = issued_to(worker)

    assert node_verdict(tmp_path, credential.document) == {"verified": True, "revoked": False, "error": None}

    changed = copy.deepcopy(credential.document)
    changed["credentialSubject"]["achievement"]["name"] = "Psychosocial Link Worker"
    assert node_verdict(tmp_path, changed)["verified"] is False

    service.revoke(manager, credential, "Issued in error")
    verdict = node_verdict(tmp_path, credential.document)
    assert verdict["verified"] is False and verdict["revoked"] is True


# --- The 1EdTech Open Badges 3.0 JSON schema ----------------------------------------------------


def test_a_promotion_credential_validates_against_the_open_badges_3_schema(app, people):
    worker, *_ = people
    document = issued_to(worker).document

    assert ob3_errors(document) == []
    # The schema bites: a VCDM 1.1 credential (issuanceDate, no validFrom), a subject with no achievement
    # and an identity that is not an IdentityObject are each refused.
    broken = copy.deepcopy(document)
    broken["issuanceDate"] = broken.pop("validFrom")
    del broken["credentialSubject"]["achievement"]
    broken["credentialSubject"]["identifier"][0]["type"] = "Email"
    errors = ob3_errors(broken)
    assert any("'validFrom' is a required property" in e for e in errors)
    assert any("'achievement' is a required property" in e for e in errors)
    assert any(e.startswith("credentialSubject/identifier/0/type") for e in errors)
    bad_date = copy.deepcopy(document)
    bad_date["validFrom"] = "1 December 2026"
    assert ob3_errors(bad_date) == ["validFrom: '1 December 2026' is not a 'date-time'"]


def test_a_role_profile_credential_validates_against_the_open_badges_3_schema(app, frameworks):
    worker = make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    meet(worker, competences("sfh-senior-engagement-worker"), supervisor=make_user(Role.SUPERVISOR))

    credential = service.issue_if_profile_complete(worker)
    db.session.commit()

    assert ob3_errors(credential.document) == []


def test_the_proof_is_a_set_of_one_and_credentials_signed_with_a_bare_proof_still_verify(app, people):
    worker, *_ = people
    document = issued_to(worker).document
    assert isinstance(document["proof"], list) and len(document["proof"]) == 1

    # Credentials issued before the proof became a set carried it as an object: still ours, still valid.
    bare = {**document, "proof": document["proof"][0]}
    assert service.verify(bare).status == service.VALID
    doubled = {**document, "proof": document["proof"] * 2}
    verdict = service.verify(doubled)
    assert verdict.status == service.TAMPERED and "more than one proof" in verdict.reasons[0]


# --- A sign-off checks the role profile cheaply ---------------------------------------------------


def signed_off_queries(count_queries, worker: User, supervisor: User, statement) -> int:
    """The queries of signing off one item of ``worker``'s that accepts ``statement``."""
    from portfolio.evidence import service as evidence_service
    from portfolio.models import EvidenceKind

    item = evidence_service.create_evidence(
        worker,
        EvidenceKind.OTHER,
        evidence_service.EvidenceInput(title="One more", occurred_on=date(2026, 3, 1), description="What I did"),
        link_competence_id=statement.id,
    )
    evidence_service.submit(worker, item, confirm_anonymous=True)
    submission = db.session.scalar(select(Submission).where(Submission.evidence_id == item.id))
    db.session.expire_all()
    with count_queries:
        review.decide(
            supervisor,
            submission,
            outcome=DecisionOutcome.SIGNED_OFF,
            comment="",
            outcomes={statement.id: review.CompetenceOutcome(accepted=True, comment="")},
        )
    return count_queries.count


def test_a_sign_off_costs_the_same_queries_whatever_the_size_of_the_profile_and_portfolio(
    app, frameworks, count_queries
):
    from portfolio.frameworks import service as frameworks_service
    from tests.factories import assign

    profile = tier("sfh-senior-engagement-worker", "senior-engagement-worker")
    supervisor = make_user(Role.SUPERVISOR)
    manager = make_user(Role.MANAGER, email="m@example.org")
    small, large = (make_user(Role.WORKER, email=f"{name}@example.org", tier=profile) for name in ("small", "large"))
    for worker in (small, large):
        assign(supervisor, worker, starts_on=date(2026, 1, 1), audited=True)
    statements = competences("sfh-senior-engagement-worker")
    first = signed_off_queries(count_queries, small, supervisor, statements[0])

    # A bigger profile (ten more statements) and a fuller portfolio (an item for each statement but two).
    for n in range(10):
        frameworks_service.add_locality_competence(
            manager, frameworks["sfh-senior-engagement-worker"], statement=f"Local {n}", principle="Local", function="F"
        )
    for statement in statements[:-2]:
        meet(large, [statement], supervisor=supervisor)
    later = signed_off_queries(count_queries, large, supervisor, statements[-2])

    assert later == first
    assert db.session.scalar(select(func.count(IssuedCredential.id))) == 0  # neither completed the profile
