"""What every kind's form shares (each kind's own form is in kinds/), plus the filters and the competence picker."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    Form,
    HiddenField,
    RadioField,
    SearchField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, Optional, ValidationError

from ..fields import DateInputField, DateRequired, choices
from ..idempotency import OnceForm
from ..models import ActionOwner, EvidenceStatus
from ..params import IdField, IdsField
from ..progress.rules import CompetenceStatus

TITLE_MAX = 200
TEXT_MAX = 20_000
NOTE_MAX = 500


def text_field(label: str, required: str | None = None) -> TextAreaField:
    validators: list[DataRequired | Optional | Length] = [DataRequired(required)] if required else [Optional()]
    validators.append(Length(max=TEXT_MAX, message=f"{label} must be {TEXT_MAX:,} characters or fewer"))
    return TextAreaField(label, validators=validators)


class EvidenceForm(OnceForm):
    """Fields every kind has."""

    title = StringField(
        "Title",
        validators=[
            DataRequired("Enter a title"),
            Length(max=TITLE_MAX, message=f"Title must be {TITLE_MAX} characters or fewer"),
        ],
    )
    occurred_on = DateInputField(
        "Date of the event",
        validators=[DateRequired("Enter the date of the event")],
        description_name="Date of the event",
    )
    files = MultipleFileField("Attach files (optional)")
    # On a change only (the files it has are listed to tick): removed as the change is saved.
    remove_file_ids = IdsField("Files already attached", message="Choose files from the list")
    # On a change only: what its page was drawn from (service.drawn_from), so that a change sent from a page drawn
    # before another change (in another tab) is refused, not saved over it.
    seen = HiddenField()


class ActionForm(Form):
    """One action agreed in supervision (a row of the supervision note)."""

    description = StringField(
        "Action",
        validators=[Optional(), Length(max=NOTE_MAX, message=f"Action must be {NOTE_MAX} characters or fewer")],
    )
    owner = SelectField(
        "Owner", choices=choices([("", "Choose")] + [(o.value, o.label) for o in ActionOwner]), validators=[Optional()]
    )
    due_on = DateInputField("Due date", description_name="Due date")


def kind_choices():
    """Every registered kind, as choices (read when a form is made: the kinds' modules import this one)."""
    from .kinds import KINDS

    return choices([(k.value, k.label) for k in KINDS.values()])


class CompetenceChoiceForm(FlaskForm):
    """The competences ticked on a new item's form (read alongside the kind's own form)."""

    class Meta:
        csrf = False  # the kind's form on the same page carries the token

    competence_ids = SelectMultipleField(
        "Competences this evidence shows", coerce=int, validate_choice=False, validators=[Optional()]
    )

    def ids(self) -> list[int]:
        return [i for i in (self.competence_ids.data or []) if isinstance(i, int) and i > 0]


class ChooseKindForm(FlaskForm):
    kind = RadioField(
        "What kind of evidence are you adding?",
        validators=[InputRequired("Choose the kind of evidence")],
    )
    competence = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = kind_choices()


class MapFilterForm(FlaskForm):
    """The competence map's filter by status, in the words My progress uses; read from the query string."""

    class Meta:
        csrf = False

    status = SelectField(
        "Show competences",
        choices=choices([("", "All statuses")] + [(s.value, s.label) for s in CompetenceStatus]),
        validators=[
            Optional(),
            AnyOf(
                [s.value for s in CompetenceStatus],
                message="Choose " + ", ".join(s.label for s in CompetenceStatus) + " or All statuses",
            ),
        ],
        validate_choice=False,  # AnyOf says which words to choose from
    )


class FilterForm(FlaskForm):
    """Portfolio filters; read from the query string so links and the back button keep them."""

    class Meta:
        csrf = False

    q = SearchField(
        "Search titles and text", validators=[Optional(), Length(max=200, message="Search for 200 characters or fewer")]
    )
    # Not WTForms' "Not a valid choice.": a filter's message says what to choose (validate_kind, AnyOf).
    kind = SelectField("Kind", validators=[Optional()], validate_choice=False)
    status = SelectField(
        "Status",
        choices=choices([("", "Any status")] + [(s.value, s.label) for s in EvidenceStatus]),
        validators=[
            Optional(),
            AnyOf(
                [s.value for s in EvidenceStatus],
                message="Choose " + ", ".join(s.label for s in EvidenceStatus) + " or Any status",
            ),
        ],
        validate_choice=False,
    )
    competence = IdField("Competence", validators=[Optional()], message="Choose a competence from the map")
    date_from = DateInputField("From", description_name="The from date")
    date_to = DateInputField("To", description_name="The to date")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = choices([("", "All kinds")]) + kind_choices()

    def validate_kind(self, field):
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError("Choose a kind of evidence from the list, or All kinds")

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The to date must be the same as or after the from date")


class PickerForm(FlaskForm):
    """Competence picker filters (GET)."""

    class Meta:
        csrf = False

    q = SearchField(
        "Search competences", validators=[Optional(), Length(max=200, message="Search for 200 characters or fewer")]
    )
    group = IdField("Area", validators=[Optional()], message="Choose an area from the list")
    tier = IdField("Tier", validators=[Optional()], message="Choose a tier from the list")


class LinkForm(FlaskForm):
    competence_id = IdField(
        "Competence", validators=[InputRequired("Choose a competence")], message="Choose a competence"
    )
    note = StringField(
        "How this evidence shows the competence (optional)",
        validators=[Optional(), Length(max=NOTE_MAX, message=f"The note must be {NOTE_MAX} characters or fewer")],
    )


class LinkAllForm(FlaskForm):
    """ "Link all shown": the competences shown on a page of the picker's results that are not linked yet."""

    competence_ids = IdsField(
        "Competences shown",
        validators=[InputRequired("There are no competences to link on this page")],
        message="Choose competences from your framework",
    )


class LinkItemForm(FlaskForm):
    """ "Link an existing item": one of the worker's items, to the competence of the page."""

    evidence_id = IdField("Item", validators=[InputRequired("Choose an item")], message="Choose one of your items")


class LinkNoteForm(FlaskForm):
    note = StringField(
        "How this evidence shows the competence",
        validators=[Optional(), Length(max=NOTE_MAX, message=f"The note must be {NOTE_MAX} characters or fewer")],
    )


class SubmitForm(FlaskForm):
    confirm_anonymous = BooleanField("The highlighted details are not about a person I support")
    item = HiddenField()  # carries refusals about the item as a whole
    seen = HiddenField()  # what the check page showed (review.content_hash): sent only if the item still is that


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token."""
