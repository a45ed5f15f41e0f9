"""Managers' forms for people, the search filters, and setting a password from an invitation."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SearchField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length, Optional

from ..fields import choices
from ..idempotency import OnceForm
from ..models import Role
from ..params import optional_id
from . import service

ROLE_CHOICES = [(role.value, role.label) for role in Role]


# The name's and email's rules are the service's (people/service.py), so that one answer names every problem.
def _name_field() -> StringField:
    return StringField("Full name", validators=[Optional()])


def _roles_field() -> SelectMultipleField:
    return SelectMultipleField("Roles", choices=choices(ROLE_CHOICES), validators=[Optional()], validate_choice=False)


class TierField(SelectField):
    """A tier's id, 0 for "Not a worker"; anything else is said on the field in words (not WTForms' "could not
    coerce")."""

    def process_formdata(self, valuelist):
        if valuelist:
            value = str(valuelist[0]).strip()
            self.data = 0 if value in ("", "0") else optional_id(value)
            if self.data is None:
                self.data = 0
                raise ValueError("Choose a framework and tier from the list")


def _tier_field() -> SelectField:
    return TierField("Framework and tier (workers only)", coerce=int, validate_choice=False)


class PersonForm(FlaskForm):
    """Name, roles, framework and tier: what a manager can change."""

    name = _name_field()
    roles = _roles_field()
    tier_id = _tier_field()

    def chosen_roles(self) -> set[Role]:
        return {Role(value) for value in (self.roles.data or []) if value in {r.value for r in Role}}

    def fill_choices(self) -> None:
        self.tier_id.choices = choices([(0, "Not a worker")] + service.tier_choices())


class InviteForm(PersonForm, OnceForm):
    # Declared again, in the page's order: WTForms (and so the error summary) lists fields in declaration order.
    name = _name_field()
    email = EmailField("Email address", validators=[Optional()])
    roles = _roles_field()
    tier_id = _tier_field()
    supervisor_ids = SelectMultipleField(
        "Supervisors (optional, workers only)", coerce=int, validators=[Optional()], validate_choice=False
    )

    def fill_choices(self) -> None:
        super().fill_choices()
        self.supervisor_ids.choices = choices([(u.id, u.label) for u in service.supervisor_choices()])


class ConfirmForm(FlaskForm):
    """A button that confirms an action (deactivate, reactivate, resend, revoke)."""

    # Where a service's refusal is shown; nothing is typed here.
    confirm = StringField("Confirm", validators=[Optional()])
    invitation = StringField("Invitation", validators=[Optional()])


class PeopleFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = SearchField(
        "Name or email", validators=[Optional(), Length(max=100, message="Search for 100 characters or fewer")]
    )
    status = SelectField(
        "Status",
        choices=choices(
            [("", "Any status"), ("invited", "Invited"), ("active", "Active"), ("deactivated", "Deactivated")]
        ),
        validators=[Optional()],
    )
    role = SelectField("Role", choices=choices([("", "Any role")] + ROLE_CHOICES), validators=[Optional()])


class AcceptForm(FlaskForm):
    password = PasswordField("Create a password", validators=[Optional()])
    confirm = PasswordField("Type the password again", validators=[Optional()])
