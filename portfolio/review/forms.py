"""The decision form (its per-competence choices are read by the view) and the note review form."""

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import Length, Optional

from ..fields import choices
from ..models import DecisionOutcome, NoteOutcome
from .service import COMMENT_MAX


class DecisionForm(FlaskForm):
    outcome = RadioField(
        "Your decision",
        choices=choices([(DecisionOutcome.SIGNED_OFF.value, "Sign off the accepted competences"), (DecisionOutcome.RETURNED.value, "Return for changes")]),
        validators=[Optional()],
    )
    comment = TextAreaField(
        "Comment for the worker",
        validators=[Optional(), Length(max=COMMENT_MAX, message=f"The comment must be {COMMENT_MAX:,} characters or fewer")],
    )


class NoteReviewForm(FlaskForm):
    outcome = RadioField(
        "Is this an accurate record of the session?",
        choices=choices([(NoteOutcome.CONFIRMED.value, "Yes, confirm it"), (NoteOutcome.DISPUTED.value, "No, dispute it")]),
        validators=[Optional()],
    )
    comment = TextAreaField(
        "What is not accurate (needed to dispute)",
        validators=[Optional(), Length(max=COMMENT_MAX, message=f"The comment must be {COMMENT_MAX:,} characters or fewer")],
    )
