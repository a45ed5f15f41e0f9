"""Forms for changing a password, resetting a forgotten one, and how often notifications are emailed."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from ..auth.passwords import MIN_LENGTH
from ..fields import choices
from ..models import EmailFrequency

NEW_PASSWORD_HINT = (
    f"At least {MIN_LENGTH} characters. Three or four random words make a good password. "
    "Do not use your name, your email address or a common password."
)


def _new_password(label: str = "New password") -> PasswordField:
    # Length and strength are the policy's (auth/passwords.py), checked by the service.
    return PasswordField(label, validators=[DataRequired("Enter a new password")])


def _confirmation(other: str) -> PasswordField:
    return PasswordField(
        "Confirm your new password",
        validators=[DataRequired("Enter your new password again"), EqualTo(other, "The passwords do not match")],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[
            DataRequired("Enter your current password"),
            Length(max=256, message="Password must be 256 characters or fewer"),
        ],
    )
    new_password = _new_password()
    confirm_password = _confirmation("new_password")


class ForgottenPasswordForm(FlaskForm):
    email = EmailField(
        "Email address",
        validators=[
            DataRequired("Enter your email address"),
            Length(max=254, message="Email address must be 254 characters or fewer"),
            Regexp(
                r"^\s*[^@\s]+@[^@\s]+\s*$",
                message="Enter an email address in the correct format, like name@example.org",
            ),
        ],
    )


class ResetPasswordForm(FlaskForm):
    password = _new_password()
    confirm_password = _confirmation("password")


class EmailFrequencyForm(FlaskForm):
    # The service refuses anything but the two choices, with a message next to the radios.
    email_frequency = RadioField(
        "How often should we email you about your notifications?",
        choices=choices([(f.value, f.label) for f in EmailFrequency]),
        validators=[Optional()],
        validate_choice=False,
    )
