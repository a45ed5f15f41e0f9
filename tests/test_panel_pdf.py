"""The panel PDF as a promotion panel reads it: the summary cover, each competence's evidence in full, print type.

Read back with pypdf. Two limits of pypdf's text extraction, not of the PDF (poppler reads both back as typed):
it puts a space between the glyphs of the Chinese font (it does not read a CID-keyed font's own code-to-CID map,
so it takes the glyphs for narrower than they are); it gives the words of a right-to-left run in the order they
stand on the page; and the dots of Arabic letters, which the font draws as marks of their own, come back as
control characters. So the Arabic and Chinese names are looked for word by word, spaces and controls taken out.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import (
    CpdActivity,
    Decision,
    Evidence,
    EvidenceKind,
    EvidenceStatus,
    PromotionRecommendation,
    Role,
)
from tests.conftest import built_document
from tests.factories import (
    RECENT_DAY,
    SUPERVISED_SINCE,
    TODAY,
    assign,
    certificate,
    competences,
    course,
    decide_on,
    link_draft,
    make_user,
    not_accept,
    promotion_request,
    tier,
    verify_all,
    waiting_item,
)
from tests.pages import long_date, pdf_text

RUNNING_ORGANISATION = "Riverside Community Links"
ARABIC_NAME = "ليلى حسن"
CHINESE_NAME = "王秀英"
SECRET = "zebracrossing"  # in the title or text of everything the panel must not see
DATE = r"\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}"


def shared_reflection(worker, title: str, **written: str) -> Evidence:
    """A shareable reflection of the worker's with written parts (HTML, as stored), written directly."""
    item = Evidence(owner_id=worker.id, kind=EvidenceKind.REFLECTION, title=title, occurred_on=RECENT_DAY, **written)
    db.session.add(item)
    db.session.commit()
    return item


def pdf_pages(data: bytes) -> list[str]:
    """Each page's text, whitespace collapsed."""
    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(data)).pages]


def pdf_lines(data: bytes) -> list[str]:
    """Every line of every page, as set."""
    return [line.strip() for page in PdfReader(io.BytesIO(data)).pages for line in page.extract_text().split("\n")]


def embedded_fonts(data: bytes) -> set[str]:
    """The names of the fonts embedded in the PDF, without their subset prefix."""
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            names.add(str(font.get_object()["/BaseFont"]).split("+")[-1])
    return names


@pytest.fixture
def panel_scene(app, frameworks):
    """Siân Ōtaki, a Link Worker who asked to become a Coach, with evidence in every state, and the people around her."""
    app.config["ORGANISATION_NAME"] = RUNNING_ORGANISATION
    worker = make_user(Role.WORKER, name="Siân Ōtaki", tier=tier("link-worker", "link-worker"))
    supervisor = make_user(Role.SUPERVISOR, name="Łukasz Nguyễn")
    observer = make_user(Role.SUPERVISOR, name=f"Zoë {CHINESE_NAME}")
    manager = make_user(Role.MANAGER, name=ARABIC_NAME)
    other = make_user(Role.WORKER, name="Olive Other", tier=tier("link-worker", "link-worker"))
    assign(supervisor, worker, SUPERVISED_SINCE)
    first, second, third = competences("link-worker", "link-worker", refs=["PS-LW-01", "PS-LW-02", "PS-LW-03"])

    walk = shared_reflection(
        worker,
        "Walking group reflection",
        what_happened="<p>I led the first walk with eight people.</p><p>Two of them had not been out for months.</p>",
        what_learned="<p>Starting slowly kept everyone together.</p>",
        practice_change="<ul><li>Plan a shorter route first</li><li>Ask about mobility before the day</li></ul>",
        next_steps="<p>Hand the group over to a volunteer walk leader.</p>",
    )
    decide_on(worker, [first, second], supervisor=supervisor, evidence=walk, comment="A clear account.")
    observed = Evidence(
        owner_id=worker.id,
        kind=EvidenceKind.OBSERVATION,
        title="Observed first conversation",
        occurred_on=RECENT_DAY - timedelta(days=3),
        description=f"<p>{ARABIC_NAME} and I watched a first conversation about what matters to the person.</p>",
    )
    db.session.add(observed)
    db.session.commit()
    decide_on(worker, [first], supervisor=observer, evidence=observed)

    # None of these reaches a panel: a draft, a private reflection, one waiting, one not accepted, Olive's.
    link_draft(worker, [third], title=f"Draft {SECRET}")
    hidden = shared_reflection(worker, f"Private {SECRET}", what_happened=f"<p>{SECRET} in private</p>")
    hidden.is_private = True
    waiting_item(worker, title=f"Waiting {SECRET}")
    refused = not_accept(worker, [third], supervisor=supervisor)
    refused.title, refused.description = f"Refused {SECRET}", f"<p>{SECRET} refused</p>"
    decide_on(other, [first], supervisor=supervisor, title=f"Olive {SECRET}")
    accepted_then_private = shared_reflection(worker, f"Withdrawn {SECRET}", what_happened=f"<p>{SECRET}</p>")
    decide_on(worker, [second], supervisor=supervisor, evidence=accepted_then_private)
    accepted_then_private.status, accepted_then_private.is_private = EvidenceStatus.DRAFT, True
    db.session.commit()

    verify_all(worker, manager, verified_on=TODAY - timedelta(days=10))
    certificate(worker, course("Safeguarding adults level 2", 36), RECENT_DAY)
    for hours, day in (
        (Decimal("3.5"), TODAY),
        (Decimal("2"), TODAY.replace(month=1, day=1)),
        (Decimal("9"), TODAY.replace(year=TODAY.year - 1)),  # last year's: not counted
    ):
        db.session.add(CpdActivity(worker_id=worker.id, done_on=day, title="Course", hours=hours))
    request = promotion_request(worker)
    db.session.add(
        PromotionRecommendation(
            request_id=request.id, supervisor_id=supervisor.id, supports=True, reasons="Siân leads groups well."
        )
    )
    db.session.commit()
    return {
        "worker": worker,
        "supervisor": supervisor,
        "observer": observer,
        "manager": manager,
        "walk": walk,
        "request": request,
        "other": other,
    }


def test_the_cover_is_one_page_summing_up_the_worker_for_the_panel(client, auth, panel_scene):
    worker, supervisor = panel_scene["worker"], panel_scene["supervisor"]
    auth.login_as(supervisor)
    pages = pdf_pages(built_document(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf"))
    cover = pages[0]
    for expected in (
        "Portfolio for a promotion panel Siân Ōtaki",
        "Framework: Link Worker Competency Framework",
        "Current tier: Link Worker",
        "Shown against the tier: Link Worker Coach",
        f"Promotion request: Link Worker Coach, made on {long_date(panel_scene['request'].requested_at)}",
        f"Prepared on {long_date(TODAY)}",
        "Ready for Link Worker Coach: not yet",
        "Competences met Link Worker: 2 of 48 competences met Practitioner Skills: 2 of 13",
        "Link Worker Coach: 0 of 20 competences met Practitioner Skills: 0 of 5",
        "Mandatory requirements Full driving license",
        "verified (verified by",  # a name in Arabic: see test_names_in_any_language_come_back_from_the_pdf
        "Training Safeguarding adults level 2: Valid (renew by",
        f"CPD hours in {TODAY.year}: 5.5",
        f"Supervisor’s recommendation Łukasz Nguyễn supports the request (on {long_date(TODAY)}): "
        "Siân leads groups well.",
    ):
        assert expected in cover, f"{expected!r} not on the cover:\n{cover}"
    # Each area of a tier with its own count, adding up to the tier's.
    link_worker = cover.split("Link Worker: 2 of 48 competences met")[1].split("Link Worker Coach:")[0]
    counts = re.findall(r": (\d+) of (\d+)", link_worker)
    assert len(counts) == 5 and sum(int(m) for m, _ in counts) == 2 and sum(int(t) for _, t in counts) == 48
    # The psychosocial tier is beyond the request: not summed up; the competences start on page 2.
    assert "Psychosocial Link Worker:" not in cover
    assert "Competences for Link Worker Coach" not in cover and "Competences for Link Worker Coach" in pages[1]


def test_the_covers_cpd_hours_count_her_training_certificates_and_say_how_many(client, auth, panel_scene):
    """The year's total is the CPD page's (cpd.service.hours_by_year): the log and the CPD hours of her certificates
    that someone other than her has seen (checked, or sent for review), never a draft of hers alone."""
    worker, supervisor = panel_scene["worker"], panel_scene["supervisor"]
    for owner, hours, day, checked in (
        (worker, Decimal("3.5"), TODAY, True),  # checked: counted
        (worker, Decimal("2"), TODAY, False),  # a draft nobody has checked: not in a panel's document
        (worker, Decimal("6"), TODAY.replace(year=TODAY.year - 1), True),  # last year's: not counted
        (worker, None, TODAY, True),  # no hours recorded
        (panel_scene["other"], Decimal("7"), TODAY, True),  # Olive's
    ):
        certificate(owner, None, day, title="Motivational interviewing", checked=checked).cpd_hours = hours
    db.session.commit()
    auth.login_as(supervisor)
    cover = pdf_pages(built_document(client, auth, f"/progress/workers/{worker.id}/portfolio.pdf"))[0]
    assert (
        f"Continuing professional development CPD hours in {TODAY.year}: 9 (3.5 from training certificates) "
        "Supervisor’s recommendation"
    ) in cover, cover


def test_each_competence_shows_its_accepted_evidence_in_full_with_who_signed_it_off_and_when(client, auth, panel_scene):
    worker, walk = panel_scene["worker"], panel_scene["walk"]
    decided = long_date(db.session.scalar(select(Decision.decided_at).where(Decision.evidence_id == walk.id)))
    auth.login_as(worker)
    text = pdf_text(built_document(client, auth, "/progress/portfolio.pdf"))
    walk_line = (
        f"Walking group reflection (Reflective account, {long_date(RECENT_DAY)}): "
        f"signed off by Łukasz Nguyễn on {decided}"
    )
    # Under the first competence: both items, oldest first, each reflection part under its own heading, in full.
    first = text.split("PS-LW-01 ")[1].split("PS-LW-02 ")[0]
    assert first.startswith("Demonstrate conversations skills") and "[Met]" in first
    assert first.index("Observed first conversation (Observation of practice") < first.index(walk_line)
    assert (
        f"{walk_line} Supervisor’s comment: A clear account. "
        "What happened I led the first walk with eight people. Two of them had not been out for months. "
        "What I learned Starting slowly kept everyone together. "
        "How it changed or will change my practice Plan a shorter route first Ask about mobility before the day "
        "What I will do next Hand the group over to a volunteer walk leader."
    ) in first
    assert "signed off by Zoë" in first and "What was observed" not in first  # the observation's label is "Description"
    assert "watched a first conversation about what matters to the person." in first
    # The same item under a second competence points back to its text rather than printing it again.
    second = text.split("PS-LW-02 ")[1].split("PS-LW-03 ")[0]
    assert f"{walk_line} Supervisor’s comment: A clear account. Its text is printed above, under PS-LW-01." in second
    assert second.count("I led the first walk") == 0
    # Statements with nothing accepted say so; nothing the panel may not see is there, title or text.
    assert "PS-LW-03 " in text and "[In progress] No accepted evidence yet" in text
    assert SECRET not in text
    assert text.count("I led the first walk with eight people.") == 1


def test_every_page_is_numbered_and_carries_the_running_header(client, auth, panel_scene):
    worker = panel_scene["worker"]
    auth.login_as(worker)
    data = built_document(client, auth, "/progress/portfolio.pdf")
    pages = pdf_pages(data)
    total = len(pages)
    assert total == len(PdfReader(io.BytesIO(data)).pages) and 3 <= total <= 12
    header = f"Siân Ōtaki · Link Worker Competency Framework · {RUNNING_ORGANISATION}"
    for number, page in enumerate(pages, start=1):
        assert page.startswith(header), page[:120]
        assert page.endswith(f"Page {number} of {total}"), page[-40:]


def test_no_date_stands_alone_on_a_line(client, auth, panel_scene):
    """Dates are held together and to the word before them, however the lines fall."""
    worker, supervisor = panel_scene["worker"], panel_scene["supervisor"]
    pool = competences("link-worker", "link-worker")
    # Titles of every length, so that some line ends near each date whatever the widths.
    for n in range(40):
        decide_on(worker, [pool[n % 5]], supervisor=supervisor, title="Group " + "walk " * (n % 20) + f"{n}")
    auth.login_as(worker)
    lines = pdf_lines(built_document(client, auth, "/progress/portfolio.pdf"))
    alone = [line for line in lines if re.fullmatch(rf"\(?(on )?{DATE}\)?[.:)]*", line)]
    assert not alone, alone
    broken = [line for line in lines if re.search(r"\b(on|\d{1,2})$", line) and "signed off" in line]
    assert not broken, broken  # "on" or the day never ends a line with the rest of the date on the next


def test_names_in_any_language_come_back_from_the_pdf(client, auth, panel_scene):
    worker = panel_scene["worker"]
    auth.login_as(worker)
    data = built_document(client, auth, "/progress/portfolio.pdf")
    text = pdf_text(data)
    for name in ("Siân Ōtaki", "Łukasz Nguyễn", "Zoë"):
        assert name in text
    # Marks HarfBuzz sets as glyphs of their own (the dots of Arabic letters) come back as control characters.
    squeezed = "".join(char for char in text if char.isprintable() and not char.isspace())
    for word in (*ARABIC_NAME.split(), CHINESE_NAME):
        assert word in squeezed, word
    # The glyphs come from fonts embedded in the document, not from the reader's machine.
    assert {"NotoSans", "NotoSansBold", "NotoSansArabic", "NotoSansSChineseRegular"} <= embedded_fonts(data)
    assert "?" not in text.replace("...", "")  # nothing replaced for want of a glyph


def test_a_portfolio_in_latin_letters_embeds_only_noto_sans(client, auth, worker):
    """The Arabic and Chinese fonts are added only when a document needs them (the Chinese one is 8 MB)."""
    auth.login_as(worker)
    data = built_document(client, auth, "/progress/portfolio.pdf")
    assert embedded_fonts(data) == {"NotoSans", "NotoSansBold"}
    assert "Wendy Worker" in pdf_text(data)
