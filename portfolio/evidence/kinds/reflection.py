"""A reflective account: four prompts, private or shareable."""

from __future__ import annotations

from wtforms import BooleanField, RadioField
from wtforms.validators import InputRequired

from ...fields import choices
from ...models import EvidenceKind
from ..forms import EvidenceForm, text_field
from . import Kind


class ReflectionForm(EvidenceForm):
    what_happened = text_field("What happened", "Describe what happened")
    what_learned = text_field("What I learned", "Describe what you learned")
    practice_change = text_field("How it changed or will change my practice")
    next_steps = text_field("What I will do next")
    visibility = RadioField(
        "Who can see this reflection?",
        choices=choices(
            [
                ("private", "Only me (private: it cannot be submitted)"),
                ("shareable", "Me and my supervisors when I submit it"),
            ]
        ),
        default="shareable",
        validators=[InputRequired("Choose who can see this reflection")],
    )
    confirm_anonymous = BooleanField("The highlighted details are not about a person I support")


KIND: Kind = Kind(
    kind=EvidenceKind.REFLECTION,
    label="Reflective account",
    add_heading="Add a reflective account",
    hint="What happened, what you learned and how it changes your practice",
    form=ReflectionForm,
    written=(
        ("what_happened", "What happened"),
        ("what_learned", "What I learned"),
        ("practice_change", "How it changed or will change my practice"),
        ("next_steps", "What I will do next"),
    ),
    confirmable=True,
    edit_values=lambda evidence: {"visibility": "private" if evidence.is_private else "shareable"},
)
