"""The framework loader and the ``flask frameworks`` commands, against the real database.

Everything here checks what the database holds (and what the CLI prints) after
loading the shipped data files, or copies of them changed in ``tmp_path``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from portfolio.extensions import db
from portfolio.frameworks import loader, service
from portfolio.frameworks.loader import FrameworkDataError
from portfolio.models import Competence, CompetenceGroup, Framework, Requirement, Role, Section, Tier, User
from tests.pages import row_counts

from . import factories

LW = "link-worker"
SFH = "sfh-senior-engagement-worker"
LW_FILE = loader.DATA_FOLDER / "link-worker.yaml"
SFH_FILE = loader.DATA_FOLDER / "skills-for-health-senior-engagement-worker.yaml"
LW_SEED = "004_ccea8d565c2e6b52.txt"
SFH_SEED = "000_2fcc18e06fb9262f.txt"

LW_TIERS = ["link-worker", "link-worker-coach", "psychosocial-link-worker"]
LW_AREAS = {
    # area: introduced at (Link Worker, Link Worker Coach, Psychosocial Link Worker)
    "Practitioner Skills": (13, 5, 4),
    "Personal Development and Learning, Leadership and Supervision": (10, 3, 4),
    "Professionalism and Communication": (9, 6, 6),
    "Data, Information and Technical Skills": (8, 3, 3),
    "Enabling Access to Assets": (8, 3, 0),
}
SHARED_HEADING = "Link Worker Coach and Psychosocial Link Worker"


# --- Helpers (plain functions, fresh data every call) ---------------------------


def current(key: str) -> Framework:
    return db.session.scalar(select(Framework).where(Framework.key == key, Framework.is_current.is_(True)))


def versions(key: str) -> list[Framework]:
    return list(db.session.scalars(select(Framework).where(Framework.key == key).order_by(Framework.version)))


def competences(framework: Framework) -> list[Competence]:
    return list(
        db.session.scalars(
            select(Competence).where(Competence.framework_id == framework.id).order_by(Competence.position)
        )
    )


def statements(framework: Framework) -> list[str]:
    return [c.statement for c in competences(framework)]


def requirement_rows(framework: Framework) -> list[Requirement]:
    return list(
        db.session.scalars(
            select(Requirement).where(Requirement.framework_id == framework.id).order_by(Requirement.position)
        )
    )


def tier_of(framework: Framework, slug: str) -> Tier:
    return db.session.scalar(select(Tier).where(Tier.framework_id == framework.id, Tier.slug == slug))


def required_at(tier: Tier) -> list[Competence]:
    """The competences a worker at ``tier`` must meet: tiers are cumulative."""
    return list(
        db.session.scalars(
            select(Competence)
            .join(Tier, Competence.tier_id == Tier.id)
            .where(Competence.framework_id == tier.framework_id, Tier.position <= tier.position)
            .order_by(Competence.position)
        )
    )


def group_path(competence: Competence) -> list[tuple[str, str]]:
    """(kind, name) from the top group down to the competence's own group."""
    path = []
    group = db.session.get(CompetenceGroup, competence.group_id)
    while group is not None:
        path.insert(0, (group.kind, group.name))
        group = db.session.get(CompetenceGroup, group.parent_id) if group.parent_id else None
    return path


def write_copy(source: Path, folder: Path, change) -> Path:
    """Copy a data file into ``folder`` after ``change(data)`` has edited its parsed content."""
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(data)
    path = folder / source.name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def lw_competence(data: dict, ref: str) -> dict:
    for area in data["areas"]:
        for listing in area["lists"]:
            for item in listing["competences"]:
                if item["ref"] == ref:
                    return item
    raise AssertionError(f"no competence {ref} in the data file")


def sfh_competence(data: dict, ref: str) -> dict:
    for section in data["sections"]:
        for principle in section["principles"]:
            for function in principle["functions"]:
                for item in function["competences"]:
                    if item["ref"] == ref:
                        return item
    raise AssertionError(f"no competence {ref} in the data file")


def lw_listing(data: dict, area_name: str, listed_under: str) -> dict:
    area = next(a for a in data["areas"] if a["name"] == area_name)
    return next(listing for listing in area["lists"] if listing["listed_under"] == listed_under)


def seed_lines(folder: Path, name: str) -> list[str]:
    return (folder / name).read_text(encoding="utf-8").splitlines()


def sfh_seed_rows(lines: list[str]) -> list[tuple[str, str, str, str]]:
    """(section, principle, function, competence) for each row of the core and role tables.

    A row with an empty first cell continues the principle (or function)
    above it. The one row the PDF shifted a column left ends with an empty
    cell: its first cell is the reference function and its second the
    competence.
    """
    start = lines.index("Common/Core Competences for all Level 5 Roles:")
    end = lines.index("Locality Specific Competences")
    section, principle, function = "core", "", ""
    rows = []
    for line in lines[start + 1 : end]:
        if line == "Role Specific Competences":
            section = "role-specific"
        if "\t" not in line or line.startswith("Underpinning Principles"):
            continue
        cells = line.split("\t")
        if cells[-1] == "":  # the shifted row
            cells = [""] + cells[:-1]
        first, second, competence = cells
        principle = first or principle
        function = second or function
        rows.append((section, principle, function, competence))
    return rows


# --- Counts: Link Worker ----------------------------------------------------------


def test_link_worker_tiers_in_order(frameworks):
    fw = current(LW)
    tiers = db.session.scalars(select(Tier).where(Tier.framework_id == fw.id).order_by(Tier.position)).all()
    assert [(t.position, t.slug, t.name) for t in tiers] == [
        (1, "link-worker", "Link Worker"),
        (2, "link-worker-coach", "Link Worker Coach"),
        (3, "psychosocial-link-worker", "Psychosocial Link Worker"),
    ]
    assert fw.kind == "tiered" and fw.version == 1 and fw.is_current is True


def test_link_worker_competences_introduced_per_tier(frameworks):
    fw = current(LW)
    introduced = Counter(c.tier.slug for c in competences(fw))
    assert introduced == {"link-worker": 48, "link-worker-coach": 20, "psychosocial-link-worker": 17}
    assert len(competences(fw)) == 85
    assert all(c.section is None for c in competences(fw))


def test_link_worker_competences_per_area_and_tier(frameworks):
    fw = current(LW)
    per_area: dict[str, list[int]] = {}
    for c in competences(fw):
        path = group_path(c)
        assert [kind for kind, _ in path] == ["area"], c.ref
        counts = per_area.setdefault(path[0][1], [0, 0, 0])
        counts[LW_TIERS.index(c.tier.slug)] += 1
    assert {area: tuple(n) for area, n in per_area.items()} == LW_AREAS
    groups = db.session.scalars(
        select(CompetenceGroup).where(CompetenceGroup.framework_id == fw.id).order_by(CompetenceGroup.position)
    ).all()
    assert [(g.kind, g.name, g.parent_id) for g in groups] == [("area", name, None) for name in LW_AREAS]


def test_shared_assets_list_is_introduced_at_the_coach_tier(frameworks):
    fw = current(LW)
    shared = [c for c in competences(fw) if c.listed_under == SHARED_HEADING]
    assert [c.ref for c in shared] == ["EA-CP-01", "EA-CP-02", "EA-CP-03"]
    assert {c.tier.slug for c in shared} == {"link-worker-coach"}
    assert {group_path(c)[0][1] for c in shared} == {"Enabling Access to Assets"}


def test_mandatory_requirements_are_requirements_not_competences(frameworks):
    fw = current(LW)
    rows = requirement_rows(fw)
    assert [(r.ref, r.renewal_months) for r in rows] == [
        ("REQ-DRIVING", None),
        ("REQ-HOME-VISITS", None),
        ("REQ-DBS", 36),
    ]
    assert {r.applies_to for r in rows} == {"Link Worker, Link Worker Coach and Psychosocial Link Worker"}
    assert rows[2].statement == (
        "Meet DBS reference standards and have a clear criminal record, in line with the law on spent convictions"
    )
    every_statement = set(db.session.scalars(select(Competence.statement)))
    assert not {r.statement for r in rows} & every_statement
    assert not any(c.ref.startswith("REQ") for c in competences(fw))
    assert db.session.scalar(select(func.count(Requirement.id))) == 3 + 5  # and the role profile's five


# --- Counts: Skills for Health ----------------------------------------------------


def test_skills_for_health_has_one_tier_and_sixty_competences(frameworks):
    fw = current(SFH)
    assert fw.kind == "role-profile" and fw.version == 1
    assert [(t.slug, t.position) for t in fw.tiers] == [("senior-engagement-worker", 1)]
    rows = competences(fw)
    assert Counter(c.section for c in rows) == {Section.CORE: 20, Section.ROLE_SPECIFIC: 40}
    assert not [c for c in rows if c.section == Section.LOCALITY_SPECIFIC]
    assert {c.tier.slug for c in rows} == {"senior-engagement-worker"}
    # The profile's required experience and formal learning, word for word, to be verified.
    assert [(r.ref, r.renewal_months) for r in requirement_rows(fw)] == [
        ("EXP-HEALTH-NEEDS", None),
        ("EXP-SUPERVISION-RISK", None),
        ("EXP-PSYCHOLOGY", None),
        ("EXP-DBS", 36),
        ("LEARN-FORMAL", None),
    ]
    experience = fw.details["basic_information"]["experience_required"]
    assert [r.statement for r in requirement_rows(fw)][:4] == experience
    assert requirement_rows(fw)[4].statement == fw.details["indicative_learning"]["formal_endorsed_learning"]


def test_skills_for_health_groups_are_principle_then_function(frameworks):
    fw = current(SFH)
    for c in competences(fw):
        assert [kind for kind, _ in group_path(c)] == ["principle", "function"], c.ref
    groups = db.session.scalars(select(CompetenceGroup).where(CompetenceGroup.framework_id == fw.id)).all()
    by_id = {g.id: g for g in groups}
    for g in groups:
        if g.kind == "principle":
            assert g.parent_id is None, g.name
        else:
            assert g.kind == "function", g.name
            assert by_id[g.parent_id].kind == "principle", g.name


def test_skills_for_health_shifted_row_and_continued_table(frameworks):
    fw = current(SFH)
    by_statement = {c.statement: c for c in competences(fw)}
    cpd = by_statement["Take responsibility for the continuing professional development of yourself and others"]
    assert cpd.section == Section.CORE
    assert group_path(cpd) == [
        ("principle", "2. Personal and People Development"),
        ("function", "Support the development of knowledge and practice of individuals"),
    ]
    time = by_statement["Manage and organise your own time and activities"]
    assert time.section == Section.CORE
    assert group_path(time) == [
        ("principle", "5. Quality"),
        ("function", "Manage and organise your own time and activities"),
    ]
    # The shifted function is a group, not a statement.
    assert "Support the development of knowledge and practice of individuals" not in by_statement


def test_skills_for_health_details_kept(frameworks):
    details = current(SFH).details
    for key in ("basic_information", "level_descriptor", "scope", "indicative_learning", "cpd"):
        assert details.get(key), key
    assert details["basic_information"]["named_role"] == "Senior Engagement Worker"
    assert details["basic_information"]["career_framework_level"] == "Level 5"
    assert "DBS clearance or vetting, where appropriate" in details["basic_information"]["experience_required"]
    assert details["level_descriptor"]["title"] == "Definition of the Level 5 Role"
    assert len(details["scope"]) == 2
    learning = details["indicative_learning"]
    assert learning["formal_endorsed_learning"] == (
        "Psychology degree/Forensic Psychology degree or equivalent qualification"
    )
    for training in ("Safeguarding training", "De-escalation training", "PREVENT training or WRAP", "Lone working"):
        assert training in learning["informal_learning"]
    assert details["cpd"]["method_of_capturing_impact"] == "Annual appraisal"
    assert [s["section"] for s in details["sections"]] == ["core", "role-specific", "locality-specific"]


# --- Cumulative tiers -------------------------------------------------------------


def test_tiers_are_cumulative(frameworks):
    fw = current(LW)
    required = {slug: required_at(tier_of(fw, slug)) for slug in LW_TIERS}
    assert {slug: len(rows) for slug, rows in required.items()} == {
        "link-worker": 48,
        "link-worker-coach": 68,
        "psychosocial-link-worker": 85,
    }
    refs = {slug: {c.ref for c in rows} for slug, rows in required.items()}
    assert refs["link-worker"] < refs["link-worker-coach"] < refs["psychosocial-link-worker"]
    shared = {"EA-CP-01", "EA-CP-02", "EA-CP-03"}
    assert shared <= refs["link-worker-coach"]
    assert shared <= refs["psychosocial-link-worker"]
    assert not shared & refs["link-worker"]


def test_framework_outline_agrees_with_the_tier_counts(frameworks):
    outline = service.framework_outline(current(LW))
    assert [(s.tier.slug, s.introduced, s.cumulative) for s in outline.tiers] == [
        ("link-worker", 48, 48),
        ("link-worker-coach", 20, 68),
        ("psychosocial-link-worker", 17, 85),
    ]
    assert outline.shown == 85
    assert [r.ref for r in outline.requirements] == ["REQ-DRIVING", "REQ-HOME-VISITS", "REQ-DBS"]


# --- Word for word against the source documents ---------------------------------------


def test_link_worker_statements_are_the_seed_bullets_word_for_word(frameworks, seeds_folder):
    bullets = [line[2:] for line in seed_lines(seeds_folder, LW_SEED) if line.startswith("- ")]
    assert len(bullets) == 88
    fw = current(LW)
    in_db = statements(fw) + [r.statement for r in requirement_rows(fw)]
    missing = [b for b in bullets if b not in in_db]
    extra = [s for s in in_db if s not in bullets]
    assert missing == [], "seed statements not in the database"
    assert extra == [], "database statements not in the seed"
    assert Counter(in_db) == Counter(bullets)


def test_link_worker_seed_order_matches_positions(frameworks, seeds_folder):
    bullets = [line[2:] for line in seed_lines(seeds_folder, LW_SEED) if line.startswith("- ")]
    fw = current(LW)
    assert [r.statement for r in requirement_rows(fw)] == bullets[:3]
    assert statements(fw) == bullets[3:]


def test_skills_for_health_statements_are_the_seed_cells_word_for_word(frameworks, seeds_folder):
    rows = sfh_seed_rows(seed_lines(seeds_folder, SFH_SEED))
    assert Counter(section for section, *_ in rows) == {"core": 20, "role-specific": 40}
    fw = current(SFH)
    in_db = statements(fw)
    missing = [competence for *_, competence in rows if competence not in in_db]
    assert missing == [], "seed competences not in the database"
    extra = [s for s in in_db if s not in {competence for *_, competence in rows}]
    assert extra == [], "database statements not in the seed"
    # Each statement sits in its section, principle and function as the seed shows.
    seed_places = Counter(rows)
    db_places = Counter(
        (c.section.value, group_path(c)[0][1], group_path(c)[1][1], c.statement) for c in competences(fw)
    )
    assert db_places == seed_places


def test_skills_for_health_group_names_are_the_seed_names(frameworks, seeds_folder):
    rows = sfh_seed_rows(seed_lines(seeds_folder, SFH_SEED))
    fw = current(SFH)
    groups = db.session.scalars(select(CompetenceGroup).where(CompetenceGroup.framework_id == fw.id)).all()
    principles = {g.name for g in groups if g.kind == "principle"}
    functions = {g.name for g in groups if g.kind == "function"}
    assert {principle for _, principle, _, _ in rows} == principles
    assert {function for _, _, function, _ in rows} == functions
    assert "Support the development of knowledge and practice of individuals" in functions
    assert "Ensure you own actions reduce risks to health and safety" in functions  # the source's spelling


# --- Idempotence and the CLI ----------------------------------------------------------


def test_cli_load_then_list(runner):
    result = runner.invoke(args=["frameworks", "load"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Link Worker Competency Framework: loaded as version 1",
        "Transferable Role Profile: Senior Engagement Worker: loaded as version 1",
    ]
    assert [(f.key, f.version) for f in db.session.scalars(select(Framework).order_by(Framework.key))] == [
        (LW, 1),
        (SFH, 1),
    ]
    listing = runner.invoke(args=["frameworks", "list"])
    assert listing.exit_code == 0, listing.output
    assert listing.output.splitlines() == [
        "link-worker (version 1): Link Worker Competency Framework; 85 competences; "
        "tiers: link-worker, link-worker-coach, psychosocial-link-worker",
        "sfh-senior-engagement-worker (version 1): Transferable Role Profile: Senior Engagement Worker; "
        "60 competences; tiers: senior-engagement-worker",
    ]


def test_cli_list_with_nothing_loaded(runner):
    result = runner.invoke(args=["frameworks", "list"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert row_counts()["frameworks"] == 0


def test_loading_twice_changes_nothing(runner):
    first = runner.invoke(args=["frameworks", "load"])
    assert first.exit_code == 0, first.output
    before = row_counts()
    assert before["frameworks"] == 2 and before["competences"] == 145 and before["requirements"] == 8
    again = runner.invoke(args=["frameworks", "load"])
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        "Link Worker Competency Framework: unchanged (version 1)",
        "Transferable Role Profile: Senior Engagement Worker: unchanged (version 1)",
    ]
    assert row_counts() == before
    results = loader.load_all()
    assert [r.created for r in results] == [False, False]
    assert row_counts() == before


def test_loading_one_path_twice_changes_nothing(runner):
    first = runner.invoke(args=["frameworks", "load", str(SFH_FILE)])
    assert first.output.splitlines() == ["Transferable Role Profile: Senior Engagement Worker: loaded as version 1"]
    before = row_counts()
    assert before["frameworks"] == 1 and before["competences"] == 60
    again = runner.invoke(args=["frameworks", "load", str(SFH_FILE)])
    assert again.exit_code == 0
    assert again.output.splitlines() == ["Transferable Role Profile: Senior Engagement Worker: unchanged (version 1)"]
    assert row_counts() == before


def test_a_reformatted_file_with_the_same_content_is_unchanged(frameworks, tmp_path):
    before = row_counts()
    path = write_copy(LW_FILE, tmp_path, lambda data: None)  # re-dumped: no comments, other layout
    assert path.read_text(encoding="utf-8") != LW_FILE.read_text(encoding="utf-8")
    result = loader.load_file(path)
    assert result.created is False
    assert result.describe() == "Link Worker Competency Framework: unchanged (version 1)"
    assert row_counts() == before


def test_cli_load_rejects_a_missing_path(runner, tmp_path):
    result = runner.invoke(args=["frameworks", "load", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert row_counts()["frameworks"] == 0


# --- Versioning --------------------------------------------------------------------------

NEW_WORDING = "Manage complex conversations with care"


def change_lw_statement(data: dict) -> None:
    lw_competence(data, "PC-LWC-03")["statement"] = NEW_WORDING


def test_changed_file_becomes_version_two(frameworks, tmp_path):
    old = current(LW)
    old_id = old.id
    old_statements = statements(old)
    path = write_copy(LW_FILE, tmp_path, change_lw_statement)

    result = loader.load_file(path)

    assert result.created is True
    new = current(LW)
    assert new.id == result.framework.id != old_id
    assert [(f.version, f.is_current) for f in versions(LW)] == [(1, False), (2, True)]
    # The old version keeps every row.
    old = db.session.get(Framework, old_id)
    assert statements(old) == old_statements
    assert len(old.tiers) == 3 and len(requirement_rows(old)) == 3
    # The new version has the new wording under the same ref, and nothing else changed.
    new_rows = {c.ref: c.statement for c in competences(new)}
    old_rows = {c.ref: c.statement for c in competences(old)}
    assert new_rows.keys() == old_rows.keys() and len(new_rows) == 85
    assert new_rows["PC-LWC-03"] == NEW_WORDING
    assert old_rows["PC-LWC-03"] == "Manage complex conversations"
    assert {ref for ref in new_rows if new_rows[ref] != old_rows[ref]} == {"PC-LWC-03"}
    assert [(t.slug, t.position) for t in new.tiers] == [(slug, n) for n, slug in enumerate(LW_TIERS, start=1)]
    assert [(r.ref, r.renewal_months) for r in requirement_rows(new)] == [
        ("REQ-DRIVING", None),
        ("REQ-HOME-VISITS", None),
        ("REQ-DBS", 36),
    ]
    # The other framework is untouched.
    assert [(f.version, f.is_current) for f in versions(SFH)] == [(1, True)]
    # Loading the changed file again is a no-op.
    counts = row_counts()
    assert loader.load_file(path).created is False
    assert row_counts() == counts


def test_cli_reports_the_new_version(runner, frameworks, tmp_path):
    path = write_copy(LW_FILE, tmp_path, change_lw_statement)
    result = runner.invoke(args=["frameworks", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["Link Worker Competency Framework: loaded as version 2"]
    listing = runner.invoke(args=["frameworks", "list"])
    assert listing.output.splitlines()[0].startswith("link-worker (version 2): Link Worker Competency Framework; 85 ")
    # Loading the shipped file again is a change back: version 3, with the original wording.
    back = runner.invoke(args=["frameworks", "load", str(LW_FILE)])
    assert back.output.splitlines() == ["Link Worker Competency Framework: loaded as version 3"]
    assert [(f.version, f.is_current) for f in versions(LW)] == [(1, False), (2, False), (3, True)]
    assert "Manage complex conversations" in statements(current(LW))


def test_workers_move_to_the_same_tier_of_the_new_version(frameworks, tmp_path):
    coach = factories.make_user(tier=factories.tier(LW, "link-worker-coach"))
    psychosocial = factories.make_user(tier=factories.tier(LW, "psychosocial-link-worker"))
    engagement = factories.make_user(tier=factories.tier(SFH, "senior-engagement-worker"))
    unplaced = factories.make_user()
    old_id = current(LW).id
    ids = (coach.id, psychosocial.id, engagement.id, unplaced.id)
    sfh_before = (engagement.framework_id, engagement.tier_id)

    loader.load_file(write_copy(LW_FILE, tmp_path, change_lw_statement))

    db.session.expire_all()
    new = current(LW)
    assert new.id != old_id
    coach, psychosocial, engagement, unplaced = (db.session.get(User, i) for i in ids)
    assert (coach.framework_id, coach.tier_id) == (new.id, tier_of(new, "link-worker-coach").id)
    assert (psychosocial.framework_id, psychosocial.tier_id) == (new.id, tier_of(new, "psychosocial-link-worker").id)
    assert (engagement.framework_id, engagement.tier_id) == sfh_before
    assert (unplaced.framework_id, unplaced.tier_id) == (None, None)
    assert db.session.scalar(select(func.count(User.id)).where(User.framework_id == old_id)) == 0


def test_locality_competences_carry_over_to_the_new_version(frameworks, tmp_path):
    manager = factories.make_user(Role.MANAGER)
    worker = factories.make_user(tier=factories.tier(SFH, "senior-engagement-worker"))
    old = current(SFH)
    added = service.add_locality_competence(
        manager,
        old,
        statement="Work with local housing providers to secure accommodation",
        principle="C. Health Promotion and Protection",
        function="Work with local housing providers",
    )
    assert (added.ref, added.section, added.created_by_id) == ("LOCAL-01", Section.LOCALITY_SPECIFIC, manager.id)
    old_id, worker_id = old.id, worker.id
    # Adding a locality competence is not a change to the data file.
    assert loader.load_file(SFH_FILE).created is False

    def change(data: dict) -> None:
        sfh_competence(data, "ROLE-14")["statement"] = "Manage lone workers safely"

    loader.load_file(write_copy(SFH_FILE, tmp_path, change))

    db.session.expire_all()
    new = current(SFH)
    assert [(f.version, f.is_current) for f in versions(SFH)] == [(1, False), (2, True)]
    old = db.session.get(Framework, old_id)
    assert len(competences(old)) == 61
    assert [c.ref for c in competences(old) if c.section == Section.LOCALITY_SPECIFIC] == ["LOCAL-01"]
    rows = competences(new)
    assert Counter(c.section for c in rows) == {
        Section.CORE: 20,
        Section.ROLE_SPECIFIC: 40,
        Section.LOCALITY_SPECIFIC: 1,
    }
    carried = next(c for c in rows if c.section == Section.LOCALITY_SPECIFIC)
    assert carried.id != added.id
    assert carried.ref == "LOCAL-01"
    assert carried.statement == "Work with local housing providers to secure accommodation"
    assert carried.created_by_id == manager.id
    assert carried.tier_id == tier_of(new, "senior-engagement-worker").id
    assert carried.position > max(c.position for c in rows if c.section != Section.LOCALITY_SPECIFIC)
    assert group_path(carried) == [
        ("principle", "C. Health Promotion and Protection"),
        ("function", "Work with local housing providers"),
    ]
    carried_group = db.session.get(CompetenceGroup, carried.group_id)
    assert carried_group.framework_id == new.id
    assert db.session.get(CompetenceGroup, carried_group.parent_id).framework_id == new.id
    assert {c.ref: c.statement for c in rows}["ROLE-14"] == "Manage lone workers safely"
    worker = db.session.get(User, worker_id)
    assert (worker.framework_id, worker.tier_id) == (new.id, tier_of(new, "senior-engagement-worker").id)
    # A further locality competence on the new version numbers on from the carried one.
    second = service.add_locality_competence(
        manager,
        new,
        statement="Know the local food banks",
        principle="C. Health Promotion and Protection",
        function="Work with local housing providers",
    )
    assert second.ref == "LOCAL-02"


# --- Bad data files ----------------------------------------------------------------------


def drop_title(data: dict) -> None:
    del data["title"]


def unknown_tier(data: dict) -> None:
    lw_listing(data, "Practitioner Skills", "Link Worker Coach")["tiers"] = ["coach"]


def unknown_second_tier(data: dict) -> None:
    lw_listing(data, "Enabling Access to Assets", SHARED_HEADING)["tiers"] = ["link-worker-coach", "psychosocial"]


def duplicate_ref(data: dict) -> None:
    lw_competence(data, "PS-LW-02")["ref"] = "PS-LW-01"


BAD_FILES = [
    pytest.param(drop_title, "link-worker.yaml: missing 'title'", id="missing-title"),
    pytest.param(
        unknown_tier,
        "link-worker.yaml: 'Practitioner Skills / Link Worker Coach' names unknown tier 'coach'",
        id="unknown-tier",
    ),
    pytest.param(duplicate_ref, "link-worker.yaml: ref 'PS-LW-01' is used twice", id="duplicate-ref"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FILES)
def test_bad_file_raises_and_writes_nothing(app, tmp_path, change, message):
    path = write_copy(LW_FILE, tmp_path, change)
    with pytest.raises(FrameworkDataError) as caught:
        loader.load_file(path)
    assert str(caught.value) == message
    assert set(row_counts().values()) == {0}


@pytest.mark.parametrize(("change", "message"), BAD_FILES)
def test_bad_file_leaves_loaded_frameworks_alone(frameworks, tmp_path, change, message):
    before = row_counts()
    path = write_copy(LW_FILE, tmp_path, change)
    with pytest.raises(FrameworkDataError, match=f"^{re.escape(message)}$"):
        loader.load_file(path)
    assert row_counts() == before
    assert [(f.version, f.is_current) for f in versions(LW)] == [(1, True)]


@pytest.mark.parametrize(("change", "message"), BAD_FILES)
def test_cli_reports_a_bad_file(runner, frameworks, tmp_path, change, message):
    before = row_counts()
    path = write_copy(LW_FILE, tmp_path, change)
    result = runner.invoke(args=["frameworks", "load", str(path)])
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert "loaded as version" not in result.output
    assert row_counts() == before


def test_a_bad_file_among_several_stops_the_run_before_anything_is_written(runner, tmp_path):
    path = write_copy(LW_FILE, tmp_path, duplicate_ref)
    result = runner.invoke(args=["frameworks", "load", str(SFH_FILE), str(path)])
    assert result.exit_code == 1
    assert "Error: link-worker.yaml: ref 'PS-LW-01' is used twice" in result.output
    assert "loaded as version" not in result.output
    assert versions(LW) == []
    assert set(row_counts().values()) == {0}


def test_unknown_second_tier_of_a_shared_list_is_rejected(app, tmp_path):
    """The shared Enabling Access to Assets list names two tiers; a typo in the second must not pass."""
    path = write_copy(LW_FILE, tmp_path, unknown_second_tier)
    with pytest.raises(FrameworkDataError, match="unknown tier 'psychosocial'"):
        loader.load_file(path)
    assert set(row_counts().values()) == {0}


def test_every_load_takes_the_imports_turn_the_command_lines_too(frameworks, monkeypatch):
    """Found by a review: a load from the command line did not take the turn a tier change waits for (people
    service), so on PostgreSQL a worker could be given a tier of a version that load was replacing."""
    taken: list[int] = []
    monkeypatch.setattr(loader, "take_turns", taken.append)
    loader.load_file(loader.DATA_FOLDER / "link-worker.yaml")  # the same file: nothing new, the turn taken still
    assert taken == [loader.TURNS["framework import"]]
