"""Test data shared by the privacy and anonymity tests."""

from __future__ import annotations

from sqlalchemy import select

from portfolio.extensions import db
from portfolio.models import Competence, Framework
from tests.factories import tier


def competences(slug: str = "link-worker") -> list[Competence]:
    """The current Link Worker framework's competences of one tier, in framework order."""
    return list(
        db.session.scalars(
            select(Competence)
            .join(Framework)
            .where(
                Framework.key == "link-worker",
                Framework.is_current.is_(True),
                Competence.tier_id == tier("link-worker", slug).id,
            )
            .order_by(Competence.position)
        )
    )


def pdf_bytes(marker: str) -> bytes:
    """A small PDF, accepted by its first bytes, whose bytes are unique to ``marker``."""
    return (
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        + f"% {marker}\n".encode()
        + b"trailer\n%%EOF\n"
    )
