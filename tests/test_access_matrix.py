"""Every route for every role: who is let in, who is sent to sign in, who is refused.

A new route fails ``test_every_route_is_in_the_matrix`` until it is added here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from portfolio.frameworks import service
from portfolio.models import Role
from tests.factories import make_user, tier

ROLES = ("anonymous", "worker", "supervisor", "manager")
SIGN_IN = "sign-in"  # a redirect to the sign-in page


@dataclass(frozen=True)
class Case:
    endpoint: str
    method: str
    path: Callable[[dict], str]
    expected: dict[str, int | str]
    data: dict | None = None


def everyone(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": status, "supervisor": status, "manager": status}


def managers_only(status: int) -> dict[str, int | str]:
    return {"anonymous": SIGN_IN, "worker": 403, "supervisor": 403, "manager": status}


CASES = [
    Case("static", "GET", lambda ids: "/static/css/portfolio.css", {role: 200 for role in ROLES}),
    Case("assets.nhsuk_asset", "GET", lambda ids: "/assets/images/favicon.svg", {role: 200 for role in ROLES}),
    Case("home.index", "GET", lambda ids: "/", everyone(200)),
    Case("auth.sign_in", "GET", lambda ids: "/auth/sign-in", {"anonymous": 200, "worker": 302, "supervisor": 302, "manager": 302}),
    Case("auth.sign_in", "POST", lambda ids: "/auth/sign-in", {"anonymous": 422, "worker": 302, "supervisor": 302, "manager": 302}, data={}),
    Case("auth.sign_out", "POST", lambda ids: "/auth/sign-out", everyone(303), data={}),
    Case("frameworks.index", "GET", lambda ids: "/frameworks/", everyone(200)),
    Case("frameworks.show", "GET", lambda ids: f"/frameworks/{ids['sfh']}", everyone(200)),
    Case("frameworks.add_locality", "GET", lambda ids: f"/frameworks/{ids['sfh']}/locality/new", managers_only(200)),
    Case("frameworks.add_locality", "POST", lambda ids: f"/frameworks/{ids['sfh']}/locality/new", managers_only(422), data={}),
    Case("frameworks.edit_locality", "GET", lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/edit", managers_only(200)),
    Case("frameworks.edit_locality", "POST", lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/edit", managers_only(422), data={"statement": ""}),
    Case("frameworks.retire_locality", "POST", lambda ids: f"/frameworks/{ids['sfh']}/locality/{ids['local']}/retire", managers_only(303), data={}),
]


def test_every_route_is_in_the_matrix(app):
    routes = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    covered = {(case.endpoint, case.method) for case in CASES}
    assert routes == covered


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.endpoint}")
def test_access(client, auth, frameworks, role, case):
    manager = make_user(Role.MANAGER, email="manager@example.org")
    local = service.add_locality_competence(
        manager, frameworks["sfh-senior-engagement-worker"], statement="Local", principle="P", function="F"
    )
    ids = {"sfh": frameworks["sfh-senior-engagement-worker"].id, "local": local.id}
    users = {
        "worker": lambda: make_user(Role.WORKER, email="worker@example.org", tier=tier("link-worker", "link-worker")),
        "supervisor": lambda: make_user(
            Role.WORKER, Role.SUPERVISOR, email="supervisor@example.org", tier=tier("link-worker", "psychosocial-link-worker")
        ),
        "manager": lambda: manager,
    }
    if role == "anonymous":
        token = auth.token("/auth/sign-in")  # anyone can have a session with a token
    else:
        auth.sign_in(users[role]().email)
        token = auth.token()

    path = case.path(ids)
    if case.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={**(case.data or {}), "csrf_token": token})

    response.close()  # static files are streamed from open files
    expected = case.expected[role]
    if expected == SIGN_IN:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/sign-in")
    else:
        assert response.status_code == expected
        if expected == 403:
            assert "You do not have access to this page" in response.text
