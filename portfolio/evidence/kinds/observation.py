"""An observation of practice: what someone saw you do, and who they are."""

from __future__ import annotations

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ...models import EvidenceKind
from ..forms import EvidenceForm, text_field
from . import Kind


class ObservationForm(EvidenceForm):
    observed_by = StringField(
        "Who observed you",
        validators=[
            DataRequired("Enter who observed you"),
            Length(max=200, message="Who observed you must be 200 characters or fewer"),
        ],
    )
    description = text_field("What was observed", "Describe what was observed")


KIND: Kind = Kind(
    kind=EvidenceKind.OBSERVATION,
    label="Observation of practice",
    add_heading="Add an observation of practice",
    hint="Someone watched you work and wrote down what they saw",
    form=ObservationForm,
    short=("observed_by",),
    export_columns=("observed_by",),
)
