"""Forms for promotion and requirement verification."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SearchField, SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from ..fields import DateInputField, choices
from ..idempotency import OnceForm
from .service import REASONS_MAX


class RequestForm(OnceForm):
    request = HiddenField()


class WithdrawForm(FlaskForm):
    """The button that withdraws a promotion request."""

    withdraw = HiddenField()  # where the service's refusal is shown; nothing is typed here


class RecommendForm(FlaskForm):
    supports = RadioField(
        "Do you support this request?",
        choices=choices([("yes", "Yes, I support it"), ("no", "Not yet")]),
        validators=[Optional()],
    )
    reasons = TextAreaField(
        "Your reasons",
        validators=[
            Optional(),
            Length(max=REASONS_MAX, message=f"The reasons must be {REASONS_MAX:,} characters or fewer"),
        ],
    )


class PromotionDecisionForm(FlaskForm):
    approved = RadioField(
        "Your decision",
        choices=choices([("yes", "Approve the promotion"), ("no", "Decline the request")]),
        validators=[Optional()],
    )
    effective_on = DateInputField("Date the new tier takes effect (if approved)", description_name="The effective date")
    reasons = TextAreaField(
        "Reasons (needed to decline)",
        validators=[
            Optional(),
            Length(max=REASONS_MAX, message=f"The reasons must be {REASONS_MAX:,} characters or fewer"),
        ],
    )
    # The recommendations the page showed (service.recommendations_seen): the decision is bound to them.
    recommendations_seen = HiddenField()


class VerifyForm(OnceForm):
    verified_on = DateInputField("Date verified", description_name="The date verified")
    expires_on = DateInputField(
        "Renewal date (leave empty to use the usual period)", description_name="The renewal date"
    )
    note = StringField(
        "Note (optional)", validators=[Optional(), Length(max=500, message="The note must be 500 characters or fewer")]
    )


class OverviewFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField(
        "Name or email", validators=[Optional(), Length(max=100, message="Search for 100 characters or fewer")]
    )
    framework = SelectField("Framework", validators=[Optional()], validate_choice=False)
    only = SelectField(
        "Show",
        choices=choices(
            [
                ("", "Everyone"),
                ("ready", "Ready for their next tier"),
                ("lapsed", "With lapsed requirements"),
                ("unverified", "With requirements never verified"),
                ("waiting", "With items waiting for review"),
            ]
        ),
        validators=[Optional()],
    )
