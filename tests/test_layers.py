"""The layers import one way: db <- ingest <- matching <- api, the root ``cli.py`` on top.

Read from the source files' import statements (module level, inside functions, and
``importlib.import_module("…")`` with a literal name), so a lazy import running up the
layers fails here as surely as a top-level one. A package's command module (its
``cli.py``) is in its layer like any other module: ``ingest/sync`` once ran the watches
from its command, a function-level import of ``matching`` that this test let through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("db", "ingest", "matching", "api")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module a file imports, absolute, with its line: ``from .x import y`` resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from ingest import places`` imports the package ``ingest.places``.
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def layer_violations(root: Path = ROOT) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    problems = []
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            for line, target in imported_modules(path, root):
                top = target.split(".")[0]
                if top == "cli" or (top in rank and rank[top] > rank[layer]):
                    problems.append(f"{path.relative_to(root)}:{line} imports {target}")
    return sorted(set(problems))


def test_no_module_imports_up_the_layers() -> None:
    assert layer_violations() == []


def test_the_check_sees_an_import_running_up_the_layers(tmp_path: Path) -> None:
    """The checker itself: a function-level import of matching from ingest is found."""
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "ingest" / "bad.py").write_text("def f() -> None:\n    from matching.match import x\n")
    (tmp_path / "db" / "worse.py").write_text("from ..api import app\n")
    (tmp_path / "matching" / "fine.py").write_text(
        "from ingest.places import distance\nfrom db import models\n"
    )
    # A package's command module is held to its layer, and a literal import_module counts.
    (tmp_path / "ingest" / "sync").mkdir()
    (tmp_path / "ingest" / "sync" / "cli.py").write_text(
        "def sync() -> None:\n    if True:\n        from matching.watch import deliver_pending\n"
    )
    (tmp_path / "ingest" / "lazy.py").write_text(
        "import importlib\n\ndef f() -> None:\n    importlib.import_module('api.app')\n"
    )
    assert layer_violations(tmp_path) == ["db/worse.py:1 imports api", "db/worse.py:1 imports api.app",
                                          "ingest/bad.py:2 imports matching.match",
                                          "ingest/bad.py:2 imports matching.match.x",
                                          "ingest/lazy.py:4 imports api.app",
                                          "ingest/sync/cli.py:3 imports matching.watch",
                                          "ingest/sync/cli.py:3 imports matching.watch.deliver_pending"]  # fmt: skip


@pytest.mark.parametrize("package", ["ingest", "matching"])
def test_every_module_sits_in_a_package_that_says_what_it_offers(package: str) -> None:
    """Each folder of ingest/ and matching/ is a package whose docstring names its job."""
    for folder in [ROOT / package, *(p for p in (ROOT / package).rglob("*") if p.is_dir())]:
        parts = set(folder.relative_to(ROOT).parts)
        if folder.name == "__pycache__" or parts & {"data", "curated"}:  # data folders hold no modules
            continue
        init = folder / "__init__.py"
        assert init.exists(), f"{folder.relative_to(ROOT)} has no __init__.py"
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), f"{init} has no docstring"
