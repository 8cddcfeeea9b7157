"""One exception tree (COMMON, wolfpack/errors.py): every exception class Wolfpack defines
derives from WolfpackError, and the errors.py docstring lists each one defined elsewhere, so
the tree can be read in one place. Walks each module's AST (no imports needed)."""

from __future__ import annotations

import ast
from pathlib import Path

import wolfpack
from wolfpack import errors

ROOT = Path(wolfpack.__file__).parent
BUILTIN_ERRORS = frozenset(
    {"BaseException", "Exception", "RuntimeError", "ValueError", "OSError", "TypeError"}
)


def _classes() -> dict[str, tuple[str, list[str]]]:
    """class name -> (module path, base names) for every class in the package."""
    out: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
                out[node.name] = (str(path.relative_to(ROOT)), bases)
    return out


def _derives(name: str, target: set[str], classes: dict[str, tuple[str, list[str]]]) -> bool:
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in target:
            return True
        if current in seen or current not in classes:
            continue
        seen.add(current)
        todo += classes[current][1]
    return False


def test_every_exception_is_in_the_one_tree_and_listed() -> None:
    classes = _classes()
    exceptions = [
        name
        for name, (path, _) in classes.items()
        if path != "errors.py" and _derives(name, set(BUILTIN_ERRORS), classes)
    ]
    assert "BindError" in exceptions and "NoClusterError" in exceptions  # the walk works
    outside = [
        f"{classes[n][0]}: {n}"
        for n in exceptions
        if not n.startswith("_") and not _derives(n, {"WolfpackError"}, classes)
    ]
    assert outside == [], "exceptions outside the WolfpackError tree"
    doc = errors.__doc__ or ""
    unlisted = [n for n in exceptions if not n.startswith("_") and f" {n} " not in doc]
    assert unlisted == [], "not listed in the errors.py docstring"
