"""The managers' Audit page form."""

from flask_wtf import FlaskForm


class VerifyForm(FlaskForm):
    """ "Verify now": no fields, only the CSRF token."""
