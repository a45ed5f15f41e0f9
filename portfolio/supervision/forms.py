"""Manager's forms for supervision assignments."""

from flask_wtf import FlaskForm
from wtforms import SelectField

from ..fields import DateInputField
from ..idempotency import OnceForm


class AssignmentForm(OnceForm):
    worker_id = SelectField("Worker", coerce=int, validate_choice=False)
    supervisor_id = SelectField("Supervisor", coerce=int, validate_choice=False)
    starts_on = DateInputField("Start date", description_name="Start date")
    ends_on = DateInputField("End date (optional)", description_name="End date")


class EndAssignmentForm(FlaskForm):
    ends_on = DateInputField("Last day of supervision", description_name="End date")
