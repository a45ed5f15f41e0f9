"""Framework pages and managers' locality-specific competences, through the routes."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from portfolio.extensions import db
from portfolio.frameworks import service
from portfolio.models import Competence, CompetenceGroup, Requirement, Role, Section, User
from tests.conftest import csrf_token
from tests.factories import competence, link_draft, make_user, tier
from tests.pages import status_line, text_of, words


@pytest.fixture
def manager(manager, frameworks, auth):
    """The kit's manager, signed in through the form, with the frameworks loaded."""
    auth.sign_in(manager.email)
    return manager


@pytest.fixture
def worker(worker, auth):
    """The kit's worker, signed in through the form."""
    auth.sign_in(worker.email)
    return worker


def locality_count(framework) -> int:
    return db.session.scalar(
        select(func.count(Competence.id)).where(
            Competence.framework_id == framework.id, Competence.section == Section.LOCALITY_SPECIFIC
        )
    )


# --- Reading ------------------------------------------------------------------


def test_index_lists_current_frameworks_with_counts(client, worker, frameworks):
    page = text_of(client.get("/frameworks/"))
    assert "Link Worker Competency Framework" in page
    assert "85 competences across 3 tiers" in page
    assert "Transferable Role Profile: Senior Engagement Worker" in page
    assert "60 competences" in page


def test_the_current_frameworks_are_kept_until_a_framework_changes(client, worker, frameworks, count_queries):
    """Each process keeps the current frameworks (this list, the managers' filters and links): a repeat view reads no
    framework, and a statement a manager adds, or a framework renamed, shows on the very next view."""
    assert "60 competences" in text_of(client.get("/frameworks/"))
    with count_queries(keep=True):
        assert "60 competences" in text_of(client.get("/frameworks/"))
    assert not [q for q in count_queries.besides_the_signed_in_user if "FROM frameworks" in q]

    profile = frameworks["sfh-senior-engagement-worker"]
    service.add_locality_competence(
        make_user(Role.MANAGER),
        profile,
        statement="Run the social prescribing café",
        principle="Local",
        function="Cafés",
    )
    assert "61 competences" in text_of(client.get("/frameworks/"))
    db.session.execute(update(type(profile)).where(type(profile).id == profile.id).values(title="A renamed profile"))
    db.session.commit()  # through the session: the frameworks' token is written as the update commits
    assert "A renamed profile" in text_of(client.get("/frameworks/"))


def test_counts_are_said_in_the_singular_for_one(app):
    """Found by a helper on an imported framework: "61 competences across 1 tiers"."""
    render = app.jinja_env.from_string(
        '{{ 1 | plural("tier") }}; {{ 3 | plural("tier") }}; {{ 1200 | plural("item") }}'
    )
    assert render.render() == "1 tier; 3 tiers; 1,200 items"
    assert app.jinja_env.from_string('{{ 2 | plural("person", "people") }}').render() == "2 people"


def test_link_worker_page_shows_every_statement_and_the_requirements(client, worker, frameworks):
    framework = frameworks["link-worker"]
    response = client.get(f"/frameworks/{framework.id}")
    assert response.status_code == 200
    page = text_of(response)
    statements = db.session.scalars(select(Competence.statement).where(Competence.framework_id == framework.id)).all()
    assert len(statements) == 85
    for statement in statements:
        assert statement in page
    assert "<title>Link Worker Competency Framework – Evidence portfolio</title>" in page
    for heading in ("Link Worker Coach and Psychosocial Link Worker", "Practitioner Skills", "Mandatory Requirements"):
        assert heading in page
    # Tier table: introduced and cumulative totals. The tiers below a tier are listed before it, not "above it".
    assert "48 competences" in page and "68 competences" in page and "85 competences" in page
    assert "a worker meets every competence of that tier and of the tiers listed before it" in words(page)
    requirements = db.session.scalars(
        select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.position)
    ).all()
    assert [r.ref for r in requirements] == ["REQ-DRIVING", "REQ-HOME-VISITS", "REQ-DBS"]
    requirements_part = page.split('id="requirements"', 1)[1]
    for requirement in requirements:
        assert requirement.statement in requirements_part
    assert "Renewed every 3 years" in requirements_part


def test_role_profile_page_shows_sections_groups_and_profile_details(client, worker, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    page = text_of(client.get(f"/frameworks/{framework.id}"))
    core = page.split('id="core"', 1)[1].split('id="role-specific"', 1)[0]
    assert "2. Personal and People Development" in core
    assert "Support the development of knowledge and practice of individuals" in core
    assert "Take responsibility for the continuing professional development of yourself and others" in core
    assert "20 competences." in core
    assert "40 competences." in page.split('id="role-specific"', 1)[1]
    assert "Locality Specific Competences" in page
    # The profile's other sections are kept and shown.
    assert "Psychology degree/Forensic Psychology degree or equivalent qualification" in page
    assert "Understanding of neurodiversity" in page
    assert "Definition of the Level 5 Role" in page
    # A worker does not get the manager's button.
    assert "Add a locality-specific competence" not in page


def test_missing_framework_is_404(client, worker):
    response = client.get("/frameworks/9999")
    assert response.status_code == 404
    assert "Page not found" in response.text


def test_search_filters_the_full_page(client, worker, frameworks):
    framework = frameworks["link-worker"]
    response = client.get(f"/frameworks/{framework.id}?q=safeguarding")
    page = text_of(response)
    assert "<html" in page
    assert "1 competence matches “safeguarding”" in page
    assert "Demonstrate an understanding of safeguarding vulnerable adults" in page
    assert "Manage complex conversations" not in page
    assert 'value="safeguarding"' in page


def test_search_answers_htmx_with_the_fragment_only(client, worker, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    response = client.get(f"/frameworks/{framework.id}?q=Quality", headers={"HX-Request": "true"})
    page = text_of(response)
    assert "<html" not in page
    assert '<div id="competences">' in page
    # The count goes inside the page's lasting status line, and the tab's title says it.
    assert status_line(page, "search-summary") == ("4 competences match “Quality”", True)
    assert f"<title>{framework.title}: 4 competences match “Quality” – Evidence portfolio</title>" in page
    assert "Act within the limits of your competence and authority" in page  # group name matches
    assert "Communicate effectively in a health care environment" not in page
    assert "HX-Request" in response.headers["Vary"]


def test_boosted_navigation_gets_the_whole_page(client, worker, frameworks):
    framework = frameworks["link-worker"]
    response = client.get(f"/frameworks/{framework.id}?q=data", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in response.text


def test_overlong_search_is_ignored_with_a_message(client, worker, frameworks):
    framework = frameworks["link-worker"]
    page = text_of(client.get(f"/frameworks/{framework.id}?q=" + "x" * 201))
    assert "Search for 200 characters or fewer" in page
    assert "Manage complex conversations" in page  # everything still shown


def test_framework_page_query_count_is_fixed(client, worker, frameworks, count_queries):
    framework = frameworks["sfh-senior-engagement-worker"]
    manager = make_user(Role.MANAGER)
    with count_queries:
        client.get(f"/frameworks/{framework.id}")
    before = count_queries.count
    for number in range(30):
        service.add_locality_competence(
            manager,
            framework,
            statement=f"Local competence {number}",
            principle=f"Principle {number % 5}",
            function=f"Function {number}",
        )
    with count_queries:
        page = client.get(f"/frameworks/{framework.id}")
    assert "Local competence 29" in page.text
    assert count_queries.count == before


# --- Locality-specific competences --------------------------------------------


def add_url(framework) -> str:
    return f"/frameworks/{framework.id}/locality/new"


@pytest.mark.parametrize(
    "headers",
    [{}, {"HX-Request": "true", "HX-Boosted": "true"}, {"HX-Request": "true"}],
    ids=["plain", "boosted", "htmx-swap"],  # the last: a form swapping a part of its page follows the 303 itself
)
def test_a_competence_added_leads_to_its_section_with_javascript_or_without(client, manager, auth, frameworks, headers):
    """Found by a helper: with JavaScript the redirect's #locality-specific was lost (a browser's script never sees
    it) and htmx showed the top of a long page. A boosted form is told where to go (HX-Location), anchor and all;
    without JavaScript the browser follows the 303 to the anchor itself."""
    framework = frameworks["sfh-senior-engagement-worker"]
    data = {
        "csrf_token": auth.token(add_url(framework)),
        "statement": "Work with housing providers to sustain tenancies",
        "principle": "C. Health Promotion and Protection",
        "function": "Work with housing partners",
    }
    response = client.post(add_url(framework), data=data, headers=headers)
    section = f"/frameworks/{framework.id}#locality-specific"
    if "HX-Boosted" in headers:
        assert response.status_code == 200 and response.get_data() == b"" and "Location" not in response.headers
        assert json.loads(response.headers["HX-Location"]) == {
            "path": section,
            "target": "body",
            "headers": {"HX-Boosted": "true"},  # the whole page, as boosted navigation asks for it
        }
    else:
        assert response.status_code == 303 and response.headers["Location"] == section
        assert "HX-Location" not in response.headers
    page = text_of(client.get(f"/frameworks/{framework.id}", headers={"HX-Request": "true", "HX-Boosted": "true"}))
    assert "<html" in page and "Locality-specific competence added" in page  # said once, on the page it leads to
    assert (
        db.session.scalar(select(func.count(Competence.id)).where(Competence.section == Section.LOCALITY_SPECIFIC)) == 1
    )


def test_manager_adds_a_locality_competence(client, manager, auth, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    before = text_of(client.get(f"/frameworks/{framework.id}"))  # kept, rendered, until the framework changes
    assert "Add a locality-specific competence" in before
    assert "Work with housing providers" not in before
    form = client.get(add_url(framework))
    assert form.status_code == 200
    assert "Add a locality-specific competence" in form.text
    assert '<option value="1. Communication">' in form.text  # suggestions from the profile

    response = client.post(
        add_url(framework),
        data={
            "csrf_token": auth.token(add_url(framework)),
            "statement": "  Work with   housing providers to sustain tenancies ",
            "principle": "C. Health Promotion and Protection",
            "function": "Work with housing partners",
        },
    )
    assert response.status_code == 303
    competence = db.session.scalar(select(Competence).where(Competence.section == Section.LOCALITY_SPECIFIC))
    assert competence.statement == "Work with housing providers to sustain tenancies"
    assert competence.ref == "LOCAL-01"
    assert competence.created_by_id == manager.id
    assert competence.group.name == "Work with housing partners"
    assert competence.group.kind == "function"
    assert competence.group.parent.name == "C. Health Promotion and Protection"
    # The existing principle is reused, not duplicated.
    assert (
        db.session.scalar(
            select(func.count(CompetenceGroup.id)).where(
                CompetenceGroup.framework_id == framework.id,
                CompetenceGroup.name == "C. Health Promotion and Protection",
            )
        )
        == 1
    )

    page = text_of(client.get(response.headers["Location"]))
    assert "Locality-specific competence added" in page
    locality = page.split('id="locality-specific"', 1)[1]
    assert "Work with housing providers to sustain tenancies" in locality
    assert "Change" in locality

    # Searching with htmx answers the list alone, with the manager's links to change it.
    found = text_of(client.get(f"/frameworks/{framework.id}?q=housing", headers={"HX-Request": "true"}))
    assert "<html" not in found
    assert "Work with housing providers to sustain tenancies" in found
    assert f"/frameworks/{framework.id}/locality/{competence.id}/edit" in found


def own_progress(page: str, competence: Competence) -> str:
    """What a framework page says of the viewer's progress on ``competence`` ("" when it says nothing)."""
    item = page.split(f'<li id="competence-{competence.id}">', 1)[1].split("</li>", 1)[0]
    return item.split('<span class="competence-progress">', 1)[1].split("</span>", 1)[0] if "progress" in item else ""


def test_the_whole_framework_page_is_kept_for_each_viewer_until_their_portfolio_or_the_framework_changes(
    client, worker, auth, frameworks, monkeypatch
):
    framework = frameworks["link-worker"]
    one = competence("PS-LW-01")
    url = f"/frameworks/{framework.id}"
    outlined = []
    real_outline = service.framework_outline
    monkeypatch.setattr(service, "framework_outline", lambda *a, **k: outlined.append(a) or real_outline(*a, **k))
    assert own_progress(text_of(client.get(url)), one) == "0 items linked · Not started"
    assert own_progress(text_of(client.get(url)), one) == "0 items linked · Not started"
    assert len(outlined) == 1  # the second time, the page kept: nothing worked out again

    link_draft(worker, [one])
    assert own_progress(text_of(client.get(url)), one) == "1 item linked · In progress"

    # Another viewer has a page of their own: a manager sees no progress, and the worker's page stays theirs.
    auth.login_as(make_user(Role.MANAGER))
    assert own_progress(text_of(client.get(url)), one) == ""
    auth.login_as(worker)
    assert own_progress(text_of(client.get(url)), one) == "1 item linked · In progress"

    # Someone on another framework sees this one without progress, and a manager with the links to change it.
    other = frameworks["sfh-senior-engagement-worker"]
    auth.login_as(worker)
    assert "competence-progress" not in text_of(client.get(f"/frameworks/{other.id}"))
    assert "Add a locality-specific competence" not in text_of(client.get(f"/frameworks/{other.id}"))
    auth.login_as(make_user(Role.MANAGER))
    assert "Add a locality-specific competence" in text_of(client.get(f"/frameworks/{other.id}"))
    auth.login_as(worker)

    # A change to the framework is seen at once.
    db.session.execute(update(Competence).where(Competence.id == one.id).values(statement="A reworded statement"))
    db.session.commit()
    assert "A reworded statement" in text_of(client.get(url))


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"statement": "", "principle": "P", "function": "F"}, "statement", "Enter the competence statement"),
        ({"statement": "S", "principle": " ", "function": "F"}, "principle", "Enter the underpinning principle"),
        ({"statement": "S", "principle": "P", "function": ""}, "function", "Enter the reference function"),
        (
            {"statement": "x" * 501, "principle": "P", "function": "F"},
            "statement",
            "The competence statement must be 500 characters or fewer",
        ),
        (
            {"statement": "S", "principle": "P" * 301, "function": "F"},
            "principle",
            "The underpinning principle must be 300 characters or fewer",
        ),
        (
            {"statement": "communicate effectively in a health care environment", "principle": "P", "function": "F"},
            "statement",
            "This competence is already in the profile. Enter a different statement",
        ),
    ],
)
def test_bad_locality_input_is_shown_next_to_the_field_and_writes_nothing(
    client, manager, auth, frameworks, fields, field, message
):
    framework = frameworks["sfh-senior-engagement-worker"]
    groups_before = db.session.scalar(select(func.count(CompetenceGroup.id)))
    response = client.post(add_url(framework), data={"csrf_token": auth.token(add_url(framework)), **fields})
    assert response.status_code == 422
    page = text_of(response)
    assert "There is a problem" in page  # error summary
    assert f'href="#{field}"' in page  # the summary links to the field
    error = page.split(f'id="{field}-error"', 1)[1].split("</span>", 2)
    assert message in "".join(error[:2])
    assert "<title>Error: Add a locality-specific competence" in page
    assert locality_count(framework) == 0
    assert db.session.scalar(select(func.count(CompetenceGroup.id))) == groups_before


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["plain", "boosted"])
def test_the_locality_form_says_whose_progress_it_changes_before_saving(client, manager, auth, frameworks, headers):
    """Found by a helper: a competence added to the profile took every Senior Engagement Worker from 0 of 60 to 0 of
    61, and anyone ready would be ready no more, with no word of it on the form."""
    framework = frameworks["sfh-senior-engagement-worker"]
    for n in range(2):
        make_user(Role.WORKER, name=f"Sol {n}", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    make_user(
        Role.WORKER, name="Left", tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"), active=False
    )
    make_user(Role.WORKER, name="Wendy", tier=tier("link-worker", "link-worker"))  # another framework
    page = text_of(client.get(add_url(framework), headers=headers))
    assert "</html>" in page
    warning = words(page.split('id="who-it-changes">', 1)[1].split("</div>", 1)[0])
    assert warning == (
        "Important: This changes the progress of everyone on this profile 2 workers on this profile will have it to"
        " meet as soon as you save it, so their progress counts one competence more; anyone ready for promotion is"
        " not ready until it is met."
    )
    refused = client.post(add_url(framework), data={"csrf_token": auth.token(add_url(framework))}, headers=headers)
    assert refused.status_code == 422 and 'id="who-it-changes"' in refused.text
    competence = service.add_locality_competence(manager, framework, statement="Original", principle="P", function="F")
    page = text_of(client.get(f"/frameworks/{framework.id}/locality/{competence.id}/edit", headers=headers))
    assert "2 workers on this profile read the changed words at once" in words(page)
    assert "the 2 workers on it no longer have it to meet" in words(page)
    # One, and none: said as such (found by a review: "the 1 worker on it no longer have it").
    db.session.execute(update(User).where(User.name == "Sol 1").values(active=False))
    db.session.commit()
    page = words(text_of(client.get(f"/frameworks/{framework.id}/locality/{competence.id}/edit", headers=headers)))
    assert "1 worker on this profile reads the changed words" in page
    assert "the 1 worker on it no longer has it to meet" in page
    db.session.execute(update(User).where(User.name == "Sol 0").values(active=False))
    db.session.commit()
    page = words(text_of(client.get(add_url(framework), headers=headers)))
    assert "No worker is on this profile yet: whoever joins it will have this competence to meet." in page
    assert "Important:" not in page


def test_manager_edits_a_locality_competence(client, manager, auth, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    competence = service.add_locality_competence(
        manager, framework, statement="Original", principle="P1", function="F1"
    )
    url = f"/frameworks/{framework.id}/locality/{competence.id}/edit"
    form = text_of(client.get(url))
    assert ">Original</textarea>" in form
    assert 'value="P1"' in form and 'value="F1"' in form

    response = client.post(
        url, data={"csrf_token": auth.token(url), "statement": "Changed", "principle": "P1", "function": "F2"}
    )
    assert response.status_code == 303
    db.session.expire_all()
    changed = db.session.get(Competence, competence.id)
    assert changed.statement == "Changed"
    assert changed.group.name == "F2"
    assert "Changed" in text_of(client.get(f"/frameworks/{framework.id}"))


def test_editing_to_a_duplicate_is_refused(client, manager, auth, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    competence = service.add_locality_competence(manager, framework, statement="Original", principle="P", function="F")
    url = f"/frameworks/{framework.id}/locality/{competence.id}/edit"
    response = client.post(
        url,
        data={"csrf_token": auth.token(url), "statement": "Make use of supervision", "principle": "P", "function": "F"},
    )
    assert response.status_code == 422
    assert "This competence is already in the profile" in response.text
    db.session.expire_all()
    assert db.session.get(Competence, competence.id).statement == "Original"
    locality = text_of(client.get(f"/frameworks/{framework.id}")).split('id="locality-specific"', 1)[1]
    assert "1 competence." in locality
    # Saving it unchanged is not a duplicate of itself.
    same = client.post(
        url, data={"csrf_token": auth.token(url), "statement": "Original", "principle": "P", "function": "F"}
    )
    assert same.status_code == 303


def test_manager_retires_a_locality_competence(client, manager, auth, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    competence = service.add_locality_competence(
        manager, framework, statement="Soon retired", principle="P", function="F"
    )
    url = f"/frameworks/{framework.id}/locality/{competence.id}/retire"
    response = client.post(
        url, data={"csrf_token": auth.token(f"/frameworks/{framework.id}/locality/{competence.id}/edit")}
    )
    assert response.status_code == 303
    db.session.expire_all()
    retired = db.session.get(Competence, competence.id)
    assert retired.retired_at is not None  # still in the database
    assert retired.retired_by_id == manager.id
    page = text_of(client.get(f"/frameworks/{framework.id}"))
    assert "Retired: Soon retired" in page  # the notice
    assert f'id="competence-{competence.id}"' not in page
    # Gone from the forms too.
    assert client.get(f"/frameworks/{framework.id}/locality/{competence.id}/edit").status_code == 404
    # A retired statement may be added again.
    again = service.add_locality_competence(manager, framework, statement="Soon retired", principle="P", function="F")
    assert again.ref == "LOCAL-02"


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true", "HX-Boosted": "true"}], ids=["page", "boosted"])
def test_retiring_asks_first_on_a_page_of_its_own(client, manager, auth, frameworks, headers):
    """Retiring cannot be undone and changes every worker's progress at once: the edit page's button leads to a
    page that says so (found by a new user: it acted at the first click)."""
    framework = frameworks["sfh-senior-engagement-worker"]
    competence = service.add_locality_competence(manager, framework, statement="Maybe", principle="P", function="F")
    make_user(Role.WORKER, tier=tier("sfh-senior-engagement-worker", "senior-engagement-worker"))
    url = f"/frameworks/{framework.id}/locality/{competence.id}/retire"
    edit = text_of(client.get(f"/frameworks/{framework.id}/locality/{competence.id}/edit", headers=headers))
    assert f'href="{url}"' in edit and f'action="{url}"' not in edit  # a link to the question, not the act

    question = client.get(url, headers=headers)
    assert question.status_code == 200
    page = text_of(question)
    assert "<h1>Retire this locality-specific competence?</h1>" in page and "Maybe" in page
    warning = words(page.split('id="who-it-changes">', 1)[1].split("</div>", 1)[0])
    assert "You cannot undo this" in warning and "1 worker on this profile will no longer have it to meet" in warning
    assert f'href="/frameworks/{framework.id}/locality/{competence.id}/edit">Keep it</a>' in page
    db.session.expire_all()
    assert db.session.get(Competence, competence.id).retired_at is None  # asking changed nothing

    def went_to(response) -> str:
        """Where the answer sends the browser: a redirect, or htmx's HX-Location (a boosted form, to an anchor)."""
        if headers:
            assert response.status_code == 200
            return json.loads(response.headers["HX-Location"])["path"]
        assert response.status_code == 303
        return response.headers["Location"]

    data = {"csrf_token": csrf_token(page)}
    assert went_to(client.post(url, data=data, headers=headers)) == f"/frameworks/{framework.id}#locality-specific"
    again = client.post(url, data=data, headers=headers)  # a double click, or another tab
    assert "Already retired: Maybe" in text_of(client.get(went_to(again)))
    db.session.expire_all()
    assert db.session.get(Competence, competence.id).retired_at is not None


def test_retire_needs_the_csrf_token(client, manager, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    competence = service.add_locality_competence(manager, framework, statement="Kept", principle="P", function="F")
    response = client.post(f"/frameworks/{framework.id}/locality/{competence.id}/retire")
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Competence, competence.id).retired_at is None


def test_locality_routes_refuse_the_wrong_records(client, manager, frameworks):
    sfh = frameworks["sfh-senior-engagement-worker"]
    link_worker = frameworks["link-worker"]
    core = db.session.scalar(
        select(Competence).where(Competence.framework_id == sfh.id, Competence.section == Section.CORE)
    )
    # Tiered frameworks have no locality-specific section.
    assert client.get(add_url(link_worker)).status_code == 404
    # Core competences are not editable here.
    assert client.get(f"/frameworks/{sfh.id}/locality/{core.id}/edit").status_code == 404
    # A competence through another framework's URL.
    local = service.add_locality_competence(manager, sfh, statement="Local", principle="P", function="F")
    assert client.get(f"/frameworks/{link_worker.id}/locality/{local.id}/edit").status_code == 404
    assert client.get(f"/frameworks/{sfh.id}/locality/99999/edit").status_code == 404


def test_workers_cannot_change_locality_competences(client, worker, auth, frameworks):
    framework = frameworks["sfh-senior-engagement-worker"]
    manager = make_user(Role.MANAGER)
    competence = service.add_locality_competence(manager, framework, statement="Local", principle="P", function="F")
    token = auth.token()
    assert client.get(add_url(framework)).status_code == 403
    response = client.post(
        add_url(framework), data={"csrf_token": token, "statement": "S", "principle": "P", "function": "F"}
    )
    assert response.status_code == 403
    assert "You do not have access to this page" in response.text
    retire = client.post(f"/frameworks/{framework.id}/locality/{competence.id}/retire", data={"csrf_token": token})
    assert retire.status_code == 403
    assert locality_count(framework) == 1
    db.session.expire_all()
    assert db.session.get(Competence, competence.id).retired_at is None


def test_service_refuses_non_managers(app, frameworks):
    from werkzeug.exceptions import Forbidden

    worker = make_user(Role.WORKER)
    with pytest.raises(Forbidden):
        service.add_locality_competence(
            worker, frameworks["sfh-senior-engagement-worker"], statement="S", principle="P", function="F"
        )
    assert locality_count(frameworks["sfh-senior-engagement-worker"]) == 0
