"""Forms for credentials: revoking one, and checking one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import EmailField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .service import REASON_MAX

PASTE_MAX = 512 * 1024


class RevokeForm(FlaskForm):
    reason = TextAreaField(
        "Why are you revoking it?",
        validators=[
            DataRequired("Give the reason for revoking the credential"),
            Length(max=REASON_MAX, message=f"The reason must be {REASON_MAX} characters or fewer"),
        ],
    )


class VerifyForm(FlaskForm):
    """A credential pasted or uploaded; no sign-in, so the check is open to anyone."""

    credential = TextAreaField(
        "Paste the credential (JSON)",
        validators=[Optional(), Length(max=PASTE_MAX, message="The credential must be smaller than 512 KB")],
    )
    upload = FileField("Or upload the credential file")

    def credential_text(self) -> str:
        if self.upload.data and getattr(self.upload.data, "filename", ""):
            return self.upload.data.read(PASTE_MAX + 1).decode("utf-8", errors="replace")
        return self.credential.data or ""


class EmailCheckForm(FlaskForm):
    email = EmailField(
        "Email address to check",
        validators=[
            DataRequired("Enter the email address to check"),
            Length(max=254, message="Email address must be 254 characters or fewer"),
        ],
    )
