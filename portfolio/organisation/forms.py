"""The manager's form for the organisation's identity."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from ..fields import choices

YES, NO = "yes", "no"


def _name(label: str, missing: str, what: str, limit: int) -> StringField:
    # Stripped, so a name of spaces is missing rather than blank in the header.
    return StringField(
        label,
        validators=[DataRequired(missing), Length(max=limit, message=f"{what} must be {limit} characters or fewer")],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
    )


class OrganisationForm(FlaskForm):
    service_name = _name("Service name", "Enter the service name", "The service name", 80)
    organisation_name = _name("Organisation name", "Enter the organisation's name", "The organisation's name", 120)
    is_nhs = RadioField(
        "Is it an NHS organisation?",
        choices=choices([(YES, "Yes"), (NO, "No")]),
        validators=[InputRequired("Select yes if it is an NHS organisation")],
    )
    logo = FileField("Logo (optional)")
    remove_logo = BooleanField("Remove the uploaded logo")
