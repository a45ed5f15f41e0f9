"""Forms for second factors. Buttons that only confirm an action still carry a form (for CSRF)."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class CodeForm(FlaskForm):
    """The second step of signing in: a one-time code or a recovery code."""

    code = StringField(
        "Code",
        validators=[
            DataRequired("Enter the code from your authenticator app, or a recovery code"),
            Length(max=40, message="Code must be 40 characters or fewer"),
        ],
    )


class ConfirmTotpForm(FlaskForm):
    code = StringField(
        "Code from your authenticator app",
        validators=[
            DataRequired("Enter the 6-digit code from your authenticator app"),
            Length(max=20, message="Code must be 20 characters or fewer"),
        ],
    )


class ConfirmForm(FlaskForm):
    """A button that confirms an action; errors from the service land on ``confirm``."""

    confirm = HiddenField(default="yes")


class PasswordForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[
            DataRequired("Enter your current password"),
            Length(max=256, message="Password must be 256 characters or fewer"),
        ],
    )


class PasskeyNameForm(FlaskForm):
    name = StringField(
        "Name of this passkey",
        validators=[
            DataRequired("Enter a name for this passkey, for example ‘Work laptop’"),
            Length(max=80, message="Name must be 80 characters or fewer"),
        ],
    )
