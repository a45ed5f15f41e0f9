"""Manager's forms for supervision assignments."""

from flask_wtf import FlaskForm
from wtforms import SearchField, SelectField
from wtforms.validators import DataRequired, Length, Optional

from ..fields import DateInputField, DateRequired, choices
from ..idempotency import OnceForm
from .service import ASSIGNMENT_STATES, CHOOSE_SUPERVISOR, CHOOSE_WORKER, ENTER_START_DATE


class AssignmentForm(OnceForm):
    # Required here too (the service checks them again): an empty field is said with a date the form refuses.
    worker_id = SelectField("Worker", coerce=int, validate_choice=False, validators=[DataRequired(CHOOSE_WORKER)])
    supervisor_id = SelectField(
        "Supervisor", coerce=int, validate_choice=False, validators=[DataRequired(CHOOSE_SUPERVISOR)]
    )
    starts_on = DateInputField("Start date", [DateRequired(ENTER_START_DATE)], description_name="Start date")
    ends_on = DateInputField("End date (optional)", description_name="End date")


class EndAssignmentForm(FlaskForm):
    ends_on = DateInputField("Last day of supervision", description_name="End date")


class AssignmentFilterForm(FlaskForm):
    """Which assignments the list shows (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = SearchField(
        "Worker or supervisor",
        description="Part of a name or email",
        validators=[Optional(), Length(max=100, message="Search for 100 characters or fewer")],
    )
    state = SelectField(
        "Assignments",
        choices=choices([("", "Every assignment"), *ASSIGNMENT_STATES.items()]),
        validators=[Optional()],
    )
