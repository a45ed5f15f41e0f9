"""Other evidence: anything else that shows a competence."""

from __future__ import annotations

from ...models import EvidenceKind
from ..forms import EvidenceForm, text_field
from . import Kind


class OtherForm(EvidenceForm):
    description = text_field("Description", "Describe this evidence")


KIND: Kind = Kind(
    kind=EvidenceKind.OTHER,
    label="Other evidence",
    add_heading="Add other evidence",
    hint="Anything else that shows a competence, such as a report or a resource you made",
    form=OtherForm,
)
