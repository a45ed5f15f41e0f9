"""A supervision note: what was discussed with a named supervisor, and the actions agreed."""

from __future__ import annotations

import dataclasses
from typing import Any

from wtforms import FieldList, FormField, SelectField, StringField
from wtforms.validators import Length, Optional

from ...errors import FieldError
from ...extensions import db
from ...fields import DateInputField, DateRequired
from ...models import EvidenceKind, User
from ..forms import TITLE_MAX, ActionForm, EvidenceForm, text_field
from . import Kind

CHOOSE_SUPERVISOR = "Choose the supervisor the session was with"


class SupervisionNoteForm(EvidenceForm):
    title = StringField(
        "Title (optional)",
        validators=[Optional(), Length(max=TITLE_MAX, message=f"Title must be {TITLE_MAX} characters or fewer")],
    )
    occurred_on = DateInputField(
        "Date of the session",
        validators=[DateRequired("Enter the date of the session")],
        description_name="Date of the session",
    )
    supervisor_id = SelectField("Supervisor", coerce=int, validate_choice=False)
    description = text_field("What was discussed", "Describe what was discussed")
    actions = FieldList(FormField(ActionForm), min_entries=3, max_entries=20)


def prepare(data):
    """An untitled note is called after its supervisor; with neither, the supervisor is what is missing."""
    if " ".join((data.title or "").split()):
        return data
    if not data.supervisor_id:
        raise FieldError("supervisor_id", CHOOSE_SUPERVISOR)
    supervisor = db.session.get(User, data.supervisor_id)
    return dataclasses.replace(data, title=f"Supervision with {supervisor.name}" if supervisor else "")


def clean(actor, data, values: dict[str, Any], current) -> dict[str, Any]:
    """The supervisor must have been supervising the worker on the day of the session."""
    from ...supervision import service as supervision

    if not data.supervisor_id:
        raise FieldError("supervisor_id", CHOOSE_SUPERVISOR)
    if values["occurred_on"] is None:  # the date is refused, with its own message: nothing to check it against
        return {"supervisor_id": data.supervisor_id}
    if data.supervisor_id not in {s.id for s in supervision.supervisors_of(actor.id, values["occurred_on"])}:
        raise FieldError("supervisor_id", "Choose a supervisor who was supervising you on the date of the session")
    return {"supervisor_id": data.supervisor_id}


def _edit_values(evidence) -> dict[str, Any]:
    rows = [{"description": a.description, "owner": a.owner.value, "due_on": a.due_on} for a in evidence.actions]
    return {"actions": rows + [{}] * max(0, 3 - len(rows))}


KIND: Kind = Kind(
    kind=EvidenceKind.SUPERVISION_NOTE,
    label="Supervision note",
    add_heading="Add a supervision note",
    hint="What you discussed with your supervisor and the actions you agreed",
    form=SupervisionNoteForm,
    written=(("description", "What was discussed"),),
    date_label="Date of the session",
    has_actions=True,
    supervisor_confirms=True,
    save_label="Save the note",
    prepare=prepare,
    clean=clean,
    edit_values=_edit_values,
)
