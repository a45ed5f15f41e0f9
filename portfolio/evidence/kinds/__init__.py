"""Every kind of evidence in one place: what it asks for, checks, shows and exports.

Each kind is one module here holding its form class and one ``Kind``; pages,
the service, search, the content hash, the anonymity check and the data
export ask this registry instead of branching on the kind. Adding a kind: see
"Adding an evidence kind" in README.md.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from ... import richtext
from ...models import EvidenceKind

if TYPE_CHECKING:  # pragma: no cover
    from ...models import Evidence, User
    from ..forms import EvidenceForm


def message_of(rule: object) -> str:
    """The message a kind's form gives with ``rule`` (a validator): the service repeats it word for word.

    :raises LookupError: when the form gives the rule no message of its own (a mistake in the kind's module).
    """
    message = getattr(rule, "message", None)
    if not isinstance(message, str):
        raise LookupError(f"{rule!r} on an evidence form has no message of its own")
    return message


#: Checks a form cannot make (the database, other columns): (actor, input, cleaned values, current item) -> more values.
Clean = Callable[["User", Any, dict[str, Any], "Evidence | None"], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    """One kind of evidence: its form, its written and typed fields, its pages and its export."""

    kind: EvidenceKind
    label: str
    add_heading: str
    hint: str
    form: type[EvidenceForm]
    #: Written (rich-text HTML) columns with the heading they are shown under, in reading order.
    written: tuple[tuple[str, str], ...] = (("description", "Description"),)
    #: Short typed columns besides the title (shown in lists: always checked for identifying details).
    short: tuple[str, ...] = ()
    #: Its own columns in the data export, besides the columns every item has.
    export_columns: tuple[str, ...] = ()
    #: A reflection: private or shareable, and its written parts may keep a detail the author confirms.
    confirmable: bool = False
    #: What its date is called on its page.
    date_label: str = "Date"
    #: A new one starts dated today: most evidence is written the day it happens. Not a certificate, whose
    #: expiry and compliance follow from the day the course was done, which a default would quietly move.
    dated_today: bool = True
    #: Rows of agreed actions are recorded with it (a supervision note).
    has_actions: bool = False
    #: The supervisor it names confirms it as an accurate record (a supervision note).
    supervisor_confirms: bool = False
    #: What its form's button for saving it without sending it for review says.
    save_label: str = "Save as draft"
    #: Checked on its own (a certificate, for compliance, from a checker's home): saving is its main step, and
    #: sending it for review is only for the competences it may show as well.
    checked_apart: bool = False
    #: The message when it is saved without a file; None when files are optional.
    file_required: str | None = None
    #: Why its last file cannot be removed (each page adds what to do instead); None when it may have none.
    last_file: str | None = None
    #: Kind-specific checks the form cannot make; returns the kind's other columns.
    clean: Clean | None = None
    #: Runs before every check, on the input as typed (a supervision note's default title).
    prepare: Callable[[Any], Any] | None = None
    #: Form values that are not plain columns (visibility, rows of actions).
    edit_values: Callable[[Evidence], dict[str, Any]] | None = None

    @property
    def value(self) -> str:
        return self.kind.value

    @property
    def fields_template(self) -> str:
        return f"evidence/kinds/{self.value.replace('-', '_')}_fields.html"

    @property
    def show_template(self) -> str:
        return f"evidence/kinds/{self.value.replace('-', '_')}_show.html"

    @property
    def text_columns(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.written)

    @property
    def plain_columns(self) -> tuple[str, ...]:
        return ("title", *self.short)

    # --- What its form says (the one place each message is written) --------------

    def _field(self, name: str) -> UnboundField:
        field = getattr(self.form, name, None)
        if not isinstance(field, UnboundField):
            raise KeyError(f"{self.form.__name__} has no field {name!r}")
        return field

    def _validator(self, name: str, kind: type | tuple[type, ...]):
        validators = self._field(name).kwargs.get("validators") or ()
        return next((v for v in validators if isinstance(v, kind)), None)

    def form_fields(self) -> list[str]:
        return [name for name in dir(self.form) if isinstance(getattr(self.form, name), UnboundField)]

    def field_label(self, name: str) -> str:
        """What people see the field called on the form, without "(optional)" (for messages)."""
        field = self._field(name)
        label = field.args[0] if field.args else field.kwargs.get("label", name)
        return label.removesuffix(" (optional)")

    def required_rule(self, name: str) -> DataRequired | InputRequired | None:
        return self._validator(name, (DataRequired, InputRequired))

    def required_message(self, name: str) -> str | None:
        """The form's message for an empty required field; None when the field is optional."""
        rule = self.required_rule(name)
        return message_of(rule) if rule else None

    def length_rule(self, name: str) -> Length | None:
        return self._validator(name, Length)

    def range_rule(self, name: str) -> NumberRange | None:
        return self._validator(name, NumberRange)

    def form_data(self, evidence: Evidence) -> dict[str, Any]:
        """An item's values in the shape its form expects (for changing it)."""
        from ...models import Evidence

        data: dict[str, Any] = {}
        for name in self.form_fields():
            if name in self.text_columns:
                data[name] = richtext.to_editable(getattr(evidence, name))
            elif name in Evidence.__table__.columns:
                value = getattr(evidence, name)
                data[name] = value.value if isinstance(value, enum.Enum) else value
        if self.edit_values:
            data.update(self.edit_values(evidence))
        return data


def _ordered_union(groups) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for group in groups for name in group))


from . import certificate, feedback, observation, other, reflection, supervision_note  # noqa: E402  (the modules need Kind)

#: The registry: every kind, once, in the order people choose from.
KINDS: dict[EvidenceKind, Kind] = {
    k.kind: k
    for k in (reflection.KIND, certificate.KIND, supervision_note.KIND, observation.KIND, feedback.KIND, other.KIND)
}

#: Every kind's columns together (for search text, the content hash and the export).
TEXT_COLUMNS = _ordered_union(k.text_columns for k in KINDS.values())
PLAIN_COLUMNS = _ordered_union(k.plain_columns for k in KINDS.values())
EXPORT_COLUMNS = _ordered_union(k.export_columns for k in KINDS.values())


def get(kind: EvidenceKind | str) -> Kind:
    """The registered kind. :raises KeyError: for a kind nobody registered."""
    return KINDS[EvidenceKind(kind)]
