"""An observation of practice: what someone saw you do."""

from __future__ import annotations

from ...models import EvidenceKind
from ..forms import EvidenceForm, text_field
from . import Kind


class ObservationForm(EvidenceForm):
    description = text_field("What was observed", "Describe what was observed")


KIND: Kind = Kind(
    kind=EvidenceKind.OBSERVATION,
    label="Observation of practice",
    add_heading="Add an observation of practice",
    hint="Someone watched you work and wrote down what they saw",
    form=ObservationForm,
)
