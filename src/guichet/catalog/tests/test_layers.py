"""The catalog reaches the dossiers app only through what that app offers others: its
`service.py` to read and its `actions.py` to write (docs/architecture.md), never its models."""

import ast
from pathlib import Path

CATALOG = Path(__file__).parents[1]
ALLOWED = {"guichet.dossiers.service", "guichet.dossiers.actions"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_catalog_imports_only_the_dossiers_service_and_actions() -> None:
    wrong = {
        f"{path.relative_to(CATALOG)}: {module}"
        for path in CATALOG.rglob("*.py")
        if "tests" not in path.parts
        for module in _imports(path)
        if module.startswith("guichet.dossiers")
        and not any(module == allowed or module.startswith(f"{allowed}.") for allowed in ALLOWED)
        and module != "guichet.dossiers"
    }
    assert not wrong, sorted(wrong)
