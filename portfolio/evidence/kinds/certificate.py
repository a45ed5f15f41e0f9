"""A training certificate: the course, its provider, its expiry, CPD hours and the certificate file."""

from __future__ import annotations

from typing import Any

from flask_wtf.file import MultipleFileField
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ...errors import Problems
from ...fields import DateInputField, DateRequired, NumberInputField
from ...models import EvidenceKind
from ..forms import TITLE_MAX, EvidenceForm
from . import Kind, message_of


class CertificateForm(EvidenceForm):
    # First, as on the page (kinds/certificate_fields.html): the error summary follows the form's order.
    training_item_id = SelectField("Which training in the catalogue is this?", coerce=int, validate_choice=False)
    title = StringField(
        "Course title",
        validators=[
            DataRequired("Enter the course title"),
            Length(max=TITLE_MAX, message=f"Course title must be {TITLE_MAX} characters or fewer"),
        ],
    )
    provider = StringField(
        "Training provider",
        validators=[
            DataRequired("Enter the training provider"),
            Length(max=200, message="Training provider must be 200 characters or fewer"),
        ],
    )
    occurred_on = DateInputField(
        "Date completed",
        validators=[DateRequired("Enter the date you completed the course")],
        description_name="Date completed",
    )
    expires_on = DateInputField("Expiry or renewal date (optional)", description_name="Expiry date")
    cpd_hours = NumberInputField(
        "CPD hours (optional)",
        places=2,
        not_a_number="Enter CPD hours as a number, like 7.5",
        validators=[Optional(), NumberRange(min=0, max=1000, message="CPD hours must be between 0 and 1,000")],
    )
    files = MultipleFileField("Certificate")


def clean(actor, data, values: dict[str, Any], current) -> dict[str, Any]:
    """The expiry after completion, the hours in range and the course from the worker's own catalogue (every
    problem at once)."""
    problems = Problems()
    completed = data.occurred_on  # as typed (a date in the future is refused, but still compared with)
    if data.expires_on is not None and completed is not None and data.expires_on < completed:
        problems.add("expires_on", "The expiry date must be the same as or after the date completed")
    hours = KIND.range_rule("cpd_hours")
    if hours is not None and data.cpd_hours is not None and not (hours.min <= data.cpd_hours <= hours.max):
        problems.add("cpd_hours", message_of(hours))
    training_item_id = data.training_item_id or None
    if training_item_id:
        from ...training import service as training

        unchanged = current is not None and training_item_id == current.training_item_id
        if not unchanged and training_item_id not in {i.id for i in training.options_for(actor)}:
            problems.add("training_item_id", "Choose a course from your framework’s training catalogue")
    problems.raise_if_any()
    return {"expires_on": data.expires_on, "cpd_hours": data.cpd_hours, "training_item_id": training_item_id}


KIND: Kind = Kind(
    kind=EvidenceKind.CERTIFICATE,
    label="Training certificate",
    add_heading="Add a training certificate",
    hint="A course you completed, with its certificate file",
    form=CertificateForm,
    written=(),
    date_label="Date completed",
    dated_today=False,
    short=("provider",),
    export_columns=("provider", "expires_on", "cpd_hours"),
    file_required="Select the certificate file",
    last_file="A training certificate needs its certificate file",
    save_label="Save the certificate",
    checked_apart=True,
    clean=clean,
    edit_values=lambda evidence: {"training_item_id": evidence.training_item_id or 0},
)
