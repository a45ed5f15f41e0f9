"""The test kit stays one kit: no helper defined in two test files, no test file importing another's helpers.

Helpers belong in tests/pages.py (reading pages), tests/factories.py (domain data), tests/conftest.py (fixtures),
tests/racing.py (requests racing over HTTP) or tests/browser/conftest.py (the browser). A copy in a second file is
where drift starts: the copies of ``text_of``, ``row_counts`` and ``decide_on`` had already started to differ.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Module-level names pytest itself reads in every file that wants them.
PYTEST_NAMES = {"pytestmark", "pytest_plugins"}

# Names still defined in more than one file when the kit was made, each to be moved into the kit (or renamed for
# what it really is, where the copies mean different things). This list only shrinks: the test below fails when
# a name on it is no longer repeated, so that it is taken off.
NOT_YET_IN_THE_KIT = {
    "CASES",
    "People",
    "ROLES",
    "chain",
    "competences",
    "draft_item",
    "maya",
    "notices",
    "open_request",
    "people",
    "portfolio",
    "recommended",
    "required",
    "scene",
    "send",
    "team",
    "team_rows",
    "upload",
    "world",
    # Repeated by branches merged on 2026-11-28 after the kit was made (to move into it next):
    "Answer",
    "HOST",
    "FILTERS",
    "PROJECT",
    "words",
    "new_worker",
    "draft",
    "rows_of",
    "worker",
}

# The accessibility crawl walks the access matrix's own list of routes and the world it builds; moving that
# list and world into the kit is still to do, so this one import is allowed.
IMPORTS_NOT_YET_IN_THE_KIT = {"browser/test_accessibility_crawl.py: from tests.test_access_matrix"}


def extends_the_kit_fixture(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A fixture that takes the kit's fixture of the same name (to sign it in, say) builds on it: not a copy."""
    return function.name in {arg.arg for arg in function.args.args}


def module_level_names(tree: ast.Module) -> set[str]:
    """The helpers a module defines at its top level: functions, classes and assigned names (tests excluded)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and extends_the_kit_fixture(node):
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith(("test_", "Test")) and name not in PYTEST_NAMES}


def python_files() -> list[Path]:
    """Every Python file under tests/, but the benchmark (a tool with names of its own: its sign_in is over HTTP)."""
    return sorted(
        path
        for path in TESTS.rglob("*.py")
        if path.name != "__init__.py" and "bench" not in path.relative_to(TESTS).parts
    )


def files_defining() -> dict[str, list[str]]:
    """For each helper name defined in two or more files under tests/, those files."""
    defined: dict[str, list[str]] = defaultdict(list)
    for path in python_files():
        for name in module_level_names(ast.parse(path.read_text(encoding="utf-8"))):
            defined[name].append(str(path.relative_to(TESTS)))
    return {name: files for name, files in defined.items() if len(files) > 1}


def test_no_helper_is_defined_in_two_test_files():
    repeated = files_defining()
    new = {name: files for name, files in repeated.items() if name not in NOT_YET_IN_THE_KIT}
    assert new == {}, "defined in more than one file: use (or add to) the kit in pages.py, factories.py or conftest.py"


def test_the_list_of_helpers_not_yet_in_the_kit_only_shrinks():
    gone = NOT_YET_IN_THE_KIT - set(files_defining())
    assert gone == set(), "no longer repeated: take these off NOT_YET_IN_THE_KIT"


def test_no_test_file_imports_from_another_test_file():
    imports = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[-1].startswith("test_"):
                    imports.append(f"{path.relative_to(TESTS)}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.ImportFrom) and node.level and not node.module:
                imports += [f"{path.relative_to(TESTS)}: {a.name}" for a in node.names if a.name.startswith("test_")]
    assert [i for i in imports if i not in IMPORTS_NOT_YET_IN_THE_KIT] == [], (
        "helpers shared between test files belong in the kit"
    )


def test_the_kit_finds_a_repeated_helper():
    """The walk itself works: a name defined in two sources is found, a test function or pytestmark is not."""
    one = ast.parse(
        "import pytest\npytestmark = pytest.mark.browser\nX = 1\n"
        "def helper(): pass\ndef test_a(): pass\ndef worker(worker, auth): return worker\n"
    )
    assert module_level_names(one) == {"X", "helper"}
