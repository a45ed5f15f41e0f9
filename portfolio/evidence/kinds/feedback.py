"""Feedback: what a colleague, a partner agency or a person supported said."""

from __future__ import annotations

from typing import Any

from wtforms import RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from ...errors import FieldError
from ...fields import choices
from ...models import EvidenceKind, FeedbackSource
from ..forms import EvidenceForm, text_field
from . import Kind, message_of


class FeedbackForm(EvidenceForm):
    feedback_source = RadioField(
        "Who gave the feedback?",
        choices=choices([(s.value, s.label) for s in FeedbackSource]),
        validators=[InputRequired("Choose who gave the feedback")],
    )
    feedback_from = StringField(
        "Their name or role",
        validators=[
            DataRequired("Enter who gave the feedback"),
            Length(max=200, message="Their name or role must be 200 characters or fewer"),
        ],
    )
    description = text_field("The feedback", "Enter the feedback")


def clean(actor, data, values: dict[str, Any], current) -> dict[str, Any]:
    """Who gave it must be one of the sources (a direct caller may send anything)."""
    if data.feedback_source not in {s.value for s in FeedbackSource}:
        raise FieldError("feedback_source", message_of(KIND.required_rule("feedback_source")))
    return {"feedback_source": FeedbackSource(data.feedback_source)}


KIND: Kind = Kind(
    kind=EvidenceKind.FEEDBACK,
    label="Feedback",
    add_heading="Add feedback",
    hint="What a colleague, a partner agency or a person you supported said about your work",
    form=FeedbackForm,
    short=("feedback_from",),
    export_columns=("feedback_source", "feedback_from"),
    clean=clean,
)
