"""The decision form (one row per linked competence) and the note review form."""

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, HiddenField, RadioField, SearchField, SelectField, TextAreaField
from wtforms.validators import Length, Optional
from wtforms.widgets import HiddenInput

from ..evidence.forms import kind_choices
from ..fields import choices
from ..models import DecisionOutcome, NoteOutcome
from ..params import IdField
from .service import COMMENT_MAX


class CompetenceDecisionForm(Form):
    """The decision on one linked competence: its row is its place among the item's links."""

    accepted = RadioField(
        "Accepted or not",
        choices=choices([("accepted", "Accepted"), ("not-accepted", "Not accepted")]),
        validators=[Optional()],
    )
    comment = TextAreaField("Comment (needed if not accepted)", validators=[Optional()])

    @property
    def choice(self) -> bool | None:
        """True, False, or None when the supervisor did not choose."""
        return {"accepted": True, "not-accepted": False}.get(self.accepted.data)


class DecisionForm(FlaskForm):
    # No validators on the rows: the service checks every rule and names the row it is about.
    decisions = FieldList(FormField(CompetenceDecisionForm), max_entries=200)
    comment = TextAreaField(
        "Comment for the worker",
        validators=[
            Optional(),
            Length(max=COMMENT_MAX, message=f"The comment must be {COMMENT_MAX:,} characters or fewer"),
        ],
    )
    # Posted by the button pressed ("Sign off" or "Return for changes"), so signing off is one action.
    outcome = RadioField(
        "Your decision",
        choices=choices(
            [
                (DecisionOutcome.SIGNED_OFF.value, "Sign off the accepted competences"),
                (DecisionOutcome.RETURNED.value, "Return for changes"),
            ]
        ),
        validators=[Optional()],
    )


class NoteReviewForm(FlaskForm):
    # The note's content hash as the supervisor read it: a note its worker changed since is not confirmed unread.
    seen = HiddenField()
    outcome = RadioField(
        "Is this an accurate record of the session?",
        choices=choices(
            [(NoteOutcome.CONFIRMED.value, "Yes, confirm it"), (NoteOutcome.DISPUTED.value, "No, dispute it")]
        ),
        validators=[Optional()],
    )
    comment = TextAreaField(
        "What is not accurate (needed to dispute)",
        validators=[
            Optional(),
            Length(max=COMMENT_MAX, message=f"The comment must be {COMMENT_MAX:,} characters or fewer"),
        ],
    )


class QueueFilterForm(FlaskForm):
    """The queue's filters, read from the address so links and the back button keep them."""

    class Meta:
        csrf = False

    q = SearchField(
        "Title or worker's name",
        validators=[Optional(), Length(max=100, message="Search for 100 characters or fewer")],
    )
    kind = SelectField("Kind", validators=[Optional()])
    # One worker's items only: where a grouped notification ("Wendy Worker sent 3 items") leads.
    worker = IdField("Worker", validators=[Optional()], message="Choose a worker", widget=HiddenInput())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = choices([("", "All kinds")]) + kind_choices()
