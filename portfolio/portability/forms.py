"""Forms for bringing a framework in."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField
from wtforms.validators import InputRequired, StopValidation

from ..fields import choices
from ..templating import plural

ONE_TIER = "one"


class UploadForm(FlaskForm):
    file = FileField("Framework file")

    def validate_file(self, field) -> None:
        if not getattr(field.data, "filename", ""):
            raise StopValidation("Select a CASE package (.json) or a SmartEvidence matrix (.matrix)")


class ConfirmImportForm(FlaskForm):
    """Which level holds the tiers and which the areas, and what the import becomes."""

    tier_level = SelectField("Which level holds the tiers?", validators=[InputRequired("Choose the tiers' level")])
    area_level = SelectField("Which level holds the areas?", validators=[InputRequired("Choose the areas' level")])
    target = SelectField("Import as", validators=[InputRequired("Choose what the import becomes")])

    def set_choices(self, levels, targets, title: str) -> None:
        numbered = [
            (str(level.number), f"Level {level.number}: {plural(level.count, 'item')}, such as {level.examples[0]}")
            for level in levels
        ]
        self.tier_level.choices = choices([(ONE_TIER, "There is one tier: the framework itself"), *numbered])
        self.area_level.choices = choices(numbered)
        self.target.choices = choices(
            [("new", f"A new framework: {title}")]
            + [(f.key, f"A new version of {f.title} (now version {f.version})") for f in targets]
        )
