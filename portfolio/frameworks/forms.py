"""Forms for locality-specific competences."""

from flask_wtf import FlaskForm
from wtforms import SearchField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..idempotency import OnceForm
from .service import GROUP_NAME_MAX, STATEMENT_MAX


class LocalityCompetenceForm(OnceForm):
    statement = TextAreaField(
        "Competence statement",
        validators=[
            DataRequired("Enter the competence statement"),
            Length(max=STATEMENT_MAX, message=f"The competence statement must be {STATEMENT_MAX} characters or fewer"),
        ],
    )
    principle = StringField(
        "Underpinning principle",
        validators=[
            DataRequired("Enter the underpinning principle"),
            Length(
                max=GROUP_NAME_MAX, message=f"The underpinning principle must be {GROUP_NAME_MAX} characters or fewer"
            ),
        ],
    )
    function = StringField(
        "Reference function",
        validators=[
            DataRequired("Enter the reference function"),
            Length(max=GROUP_NAME_MAX, message=f"The reference function must be {GROUP_NAME_MAX} characters or fewer"),
        ],
    )


class ConfirmForm(FlaskForm):
    """A button that only needs the CSRF token."""


class CompetenceSearchForm(FlaskForm):
    """Filters a framework page's statements (GET, so no CSRF token)."""

    q = SearchField(
        "Find a competence", validators=[Optional(), Length(max=200, message="Search for 200 characters or fewer")]
    )
