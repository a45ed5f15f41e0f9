"""Access guards: the one place that says who may reach what."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import abort
from flask_login import current_user, login_required

from .models import Role

F = TypeVar("F", bound=Callable)


def role_required(*roles: Role) -> Callable[[F], F]:
    """Let a signed-in user through only if they hold one of ``roles``.

    :raises 403: for a signed-in user without the role (sign-in first otherwise).
    """

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


manager_required = role_required(Role.MANAGER)
