"""Form fields shared by several areas."""

from __future__ import annotations

from datetime import date

from wtforms import DecimalField, Field, SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; types-WTForms is at 3.2
from wtforms.utils import unset_value
from wtforms.validators import StopValidation, ValidationError

from .clock import today

PARTS = ("day", "month", "year")


class DateInputField(Field):
    """A date typed as day, month and year boxes (the NHS.UK date input pattern).

    The boxes post as ``<name>-day``, ``<name>-month`` and ``<name>-year``;
    ``data`` is a ``date`` or None, and ``parts`` keeps what was typed so a
    form with errors shows it again.
    """

    def __init__(self, label=None, validators=None, *, description_name: str | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        # How messages name the date: "Date of the event must be a real date".
        self.description_name = description_name

    @property
    def name_in_messages(self) -> str:
        return self.description_name or str(self.label.text)

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.process_errors = []
        if data is unset_value:
            data = self.default() if callable(self.default) else self.default
        self.object_data = data
        self.data = data if isinstance(data, date) else None
        self.parts = (
            {"day": str(data.day), "month": str(data.month), "year": str(data.year)}
            if isinstance(data, date)
            else dict.fromkeys(PARTS, "")
        )
        if formdata is None or not any(f"{self.name}-{part}" in formdata for part in PARTS):
            return
        self.parts = {part: (formdata.get(f"{self.name}-{part}") or "").strip() for part in PARTS}
        self.data = None
        if not any(self.parts.values()):
            return
        missing = [part for part in PARTS if not self.parts[part]]
        if missing:
            self.process_errors.append(f"{self.name_in_messages} must include a {' and '.join(missing)}")
            return
        if self.parts["year"].isdigit() and len(self.parts["year"]) < 4:  # "26": the year, not the date, is wrong
            self.process_errors.append(f"{self.name_in_messages} must have a year of 4 numbers, like {today().year}")
            return
        try:
            day, month, year = (int(self.parts[p]) for p in PARTS)
            if year < 1900 or year > 2200:
                raise ValueError
            self.data = date(year, month, day)
        except ValueError:
            self.process_errors.append(f"{self.name_in_messages} must be a real date")

    def _value(self):
        return self.data.isoformat() if self.data else ""


class DateRequired:
    """Like DataRequired, for a DateInputField that reports its own format errors: a date typed wrong is not also
    a date left out, so its one message is the one that says what to mend."""

    def __init__(self, message: str):
        self.message = message
        self.field_flags = {"required": True}

    def __call__(self, form, field):
        if field.data is None and not field.process_errors:
            raise ValidationError(self.message)


class NumberInputField(DecimalField):
    """A decimal number typed in a box, with one clear message when what was typed is not a number.

    WTForms says "Not a valid decimal value." and then runs the range rule on the missing value too, so a person
    read two messages, one about a range they never reached.
    """

    def __init__(self, label=None, validators=None, *, not_a_number: str, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.not_a_number = not_a_number

    def process_formdata(self, valuelist):
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None  # left blank: for the field's own rules (Optional, InputRequired) to judge
            return
        try:
            super().process_formdata(valuelist)
        except ValueError as error:
            raise ValueError(self.not_a_number) from error
        if self.data is not None and not self.data.is_finite():  # "NaN", "sNaN", "Infinity": Decimal reads them
            self.data = None
            raise ValueError(self.not_a_number)

    def pre_validate(self, form):
        if self.process_errors:
            raise StopValidation()  # the message above is the only one


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the SelectChoice objects WTForms 3.3 expects."""
    return [SelectChoice(value, label) for value, label in pairs]
