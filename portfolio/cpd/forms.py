"""Forms for appraisals and the CPD log."""

from flask_wtf import FlaskForm
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional

from ..fields import DateInputField, choices
from ..idempotency import OnceForm
from ..models import GoalStatus


class StartAppraisalForm(OnceForm):
    held_on = DateInputField("Date of the appraisal", description_name="The date of the appraisal")
    appraiser_id = SelectField("Appraiser", coerce=int, validate_choice=False)


class GoalForm(Form):
    description = StringField("Goal", validators=[Optional()])
    method = StringField("How (the method)", validators=[Optional()])
    target_on = DateInputField("Target date", description_name="The target date")
    status = SelectField("Status", choices=choices([(s.value, s.label) for s in GoalStatus]), validators=[Optional()])


class AppraisalForm(FlaskForm):
    review = TextAreaField("Review of the past year", validators=[Optional()])
    objectives = TextAreaField("Objectives for the coming year", validators=[Optional()])
    learning_needs = TextAreaField("Learning needs", validators=[Optional()])
    goals = FieldList(FormField(GoalForm), min_entries=3, max_entries=30)


class SignAppraisalForm(FlaskForm):
    # What the page showed (cpd.service.signed_content_hash): a signature binds what its signer read.
    seen = HiddenField()


class ActivityForm(OnceForm):
    # In the page's order: the error summary lists the fields' problems in this order.
    title = StringField("What was the activity?", validators=[Optional()])
    done_on = DateInputField("Date", description_name="The date")
    hours = StringField("Hours", validators=[Optional()])
    learned = TextAreaField("What I learned", validators=[Optional()])
    impact = TextAreaField("Impact on my practice", validators=[Optional()])
    goal_id = SelectField("CPD goal it counts towards (optional)", coerce=int, validate_choice=False)
    competence_ids = SelectMultipleField("Competences it relates to (optional)", coerce=int, validate_choice=False)
