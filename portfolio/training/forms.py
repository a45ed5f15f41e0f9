"""Managers' forms for the training catalogue, and the compliance filters."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..fields import choices
from ..idempotency import OnceForm


class TrainingItemForm(OnceForm):
    title = StringField(
        "Title", validators=[Optional(), Length(max=200, message="The title must be 200 characters or fewer")]
    )
    statutory = BooleanField("Statutory or mandatory training")
    renews = RadioField(
        "Must it be renewed?",
        choices=choices([("months", "Yes, every few months"), ("never", "No, it is done once")]),
        validators=[Optional()],
    )
    renewal_months = StringField("Renewal period in months", validators=[Optional()])
    tiers = SelectMultipleField(
        "Which tiers need it? (none ticked: every tier)",
        validators=[Optional()],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )


class ComplianceFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField(
        "Name or email", validators=[Optional(), Length(max=100, message="Search for 100 characters or fewer")]
    )
    status = SelectField(
        "Show workers with",
        choices=choices(
            [
                ("", "Any status"),
                ("expired", "Something expired"),
                ("due", "Something due soon"),
                ("missing", "Something missing"),
                ("unchecked", "A certificate not checked yet"),
            ]
        ),
        validators=[Optional()],
    )


class SendBackForm(FlaskForm):
    """What is wrong with a certificate, for its worker to put right (the service checks it: one message)."""

    reason = TextAreaField("What is wrong with the certificate?", validators=[Optional()])
    version = HiddenField()  # the certificate as the page showed it (service.version_of)
