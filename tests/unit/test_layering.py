"""Import layering (DESIGN §6): modules import downward only, and the pure layers stay pure.

Every package has a floor (``FLOORS``) and imports only from the floors below it.

``wolfpack.model`` may import only ``wolfpack.errors`` and itself; ``wolfpack.policy`` only
``wolfpack.model``, ``wolfpack.errors`` and itself (DESIGN §2: "Policy is pure: no I/O, no
clock reads, no randomness"). Every import is checked, including ``TYPE_CHECKING`` ones and
imports inside functions, by walking each module's AST.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import wolfpack

ROOT = Path(wolfpack.__file__).parent

#: Standard-library modules that read clocks, do I/O, spawn work or give randomness.
IMPURE_MODULES = frozenset(
    {
        "time",
        "random",
        "secrets",
        "uuid",
        "socket",
        "subprocess",
        "os",
        "shutil",
        "pathlib",
        "io",
        "threading",
        "multiprocessing",
        "asyncio",
        "select",
        "signal",
        "sys",
        "urllib",
        "http",
        "importlib",
    }
)
#: Methods that read a clock wherever they come from (datetime.now(), time.monotonic()...);
#: ``ctx.now``, an attribute that is not called, is the injected time and fine.
CLOCK_ATTRIBUTES = frozenset(
    {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns", "monotonic_ns"}
)
#: Builtins that do I/O or import dynamically.
IMPURE_BUILTINS = frozenset({"open", "input", "print", "__import__", "exec", "eval"})

ALLOWED_WOLFPACK_IMPORTS = {
    "wolfpack.model": ("wolfpack.model", "wolfpack.errors"),
    "wolfpack.policy": ("wolfpack.policy", "wolfpack.model", "wolfpack.errors"),
}


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    line: int


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> Iterator[Import]:
    """Every imported module of ``source`` (relative imports resolved), at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield Import(target, node.lineno)
            # ``from wolfpack import model`` imports wolfpack.model
            for alias in node.names:
                yield Import(f"{target}.{alias.name}", node.lineno)


def clock_or_io_uses(source: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_ATTRIBUTES:
            yield f"line {node.lineno}: .{node.func.attr}()"
        elif isinstance(node.func, ast.Name) and node.func.id in IMPURE_BUILTINS:
            yield f"line {node.lineno}: {node.func.id}()"


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT.parent / package.replace(".", "/")).rglob("*.py"))


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layering_violations(source: str, module: str, is_package: bool, layer: str) -> list[str]:
    allowed = ALLOWED_WOLFPACK_IMPORTS[layer]
    out = []
    for imp in imports_of(source, module, is_package):
        top = imp.module.split(".")[0]
        if top == "wolfpack":
            # ``from wolfpack.model import config`` also yields wolfpack.model.config: fine.
            if imp.module != "wolfpack" and not within(imp.module, allowed):
                out.append(f"{module}:{imp.line} imports {imp.module}")
        elif top in IMPURE_MODULES:
            out.append(f"{module}:{imp.line} imports {imp.module} (impure)")
    return out


PURE_MODULES = [(layer, path) for layer in ALLOWED_WOLFPACK_IMPORTS for path in modules_of(layer)]


def test_the_walk_finds_the_pure_modules() -> None:
    names = {module_name(p) for _, p in PURE_MODULES}
    assert {"wolfpack.model.fsm", "wolfpack.model.validation", "wolfpack.policy.engine"} <= names


@pytest.mark.parametrize(
    ("layer", "path"), PURE_MODULES, ids=[module_name(p) for _, p in PURE_MODULES]
)
def test_imports_only_downward_and_nothing_impure(layer: str, path: Path) -> None:
    """DESIGN §6: model <- policy <- node; model and policy never do I/O."""
    source = path.read_text()
    name = module_name(path)
    assert layering_violations(source, name, path.name == "__init__.py", layer) == []


@pytest.mark.parametrize("path", modules_of("wolfpack.policy"), ids=lambda p: module_name(p))
def test_policy_reads_no_clock_and_does_no_io(path: Path) -> None:
    """DESIGN §2: ``plan(snapshot, now)`` gets time as an argument; no clocks, no I/O."""
    assert list(clock_or_io_uses(path.read_text())) == []


@pytest.mark.parametrize("path", modules_of("wolfpack.model"), ids=lambda p: module_name(p))
def test_model_reads_no_clock(path: Path) -> None:
    assert list(clock_or_io_uses(path.read_text())) == []


# -- the checker itself catches what it is meant to catch ------------------------------------


@pytest.mark.parametrize(
    ("source", "layer"),
    [
        ("import time\n", "wolfpack.policy"),
        ("import os.path\n", "wolfpack.policy"),
        ("from random import choice\n", "wolfpack.model"),
        ("import socket\n", "wolfpack.model"),
        ("import subprocess\n", "wolfpack.policy"),
        ("from wolfpack.store import memory\n", "wolfpack.policy"),
        ("from wolfpack import node\n", "wolfpack.policy"),
        ("from wolfpack.policy import plan\n", "wolfpack.model"),
        ("from ..node import lease\n", "wolfpack.policy"),
        ("def f():\n    import time\n", "wolfpack.model"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from wolfpack.cli import x\n",
            "wolfpack.model",
        ),
    ],
)
def test_checker_catches_bad_imports(source: str, layer: str) -> None:
    assert layering_violations(source, f"{layer}.example", False, layer)


@pytest.mark.parametrize(
    ("source", "layer"),
    [
        ("from wolfpack.errors import ValidationError\n", "wolfpack.model"),
        ("from .config import Group\n", "wolfpack.model"),
        ("from wolfpack.model.plan import Plan\n", "wolfpack.policy"),
        ("from collections.abc import Mapping\nimport re\n", "wolfpack.policy"),
    ],
)
def test_checker_accepts_good_imports(source: str, layer: str) -> None:
    assert layering_violations(source, f"{layer}.example", False, layer) == []


@pytest.mark.parametrize(
    "source",
    [
        "import datetime\nx = datetime.datetime.now()\n",
        "import time\ny = time.monotonic()\n",
        "from datetime import date\ny = date.today()\n",
        "with open('f') as f:\n    pass\n",
    ],
)
def test_checker_catches_clock_reads_and_io(source: str) -> None:
    assert list(clock_or_io_uses(source))


def test_checker_accepts_the_injected_now() -> None:
    assert list(clock_or_io_uses("def f(ctx):\n    return ctx.now - 5\n")) == []


# -- every package: the floors of the house ---------------------------------------------------

#: Each package (``wolfpack.<name>``) and the packages it may import, lowest floor first:
#: errors < model < {policy, store, resources, wizards} < {tools, admin} < {web, api} <
#: node (the daemon, the composition root) < lab < cli. No exceptions are listed: a new
#: arrow upward fails here, and the fix is to move the shared thing down a floor.
FLOORS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "model": frozenset({"errors"}),
    "policy": frozenset({"errors", "model"}),
    "store": frozenset({"errors", "model"}),
    "resources": frozenset({"errors", "model"}),
    "wizards": frozenset({"errors", "model"}),
    "tools": frozenset({"errors", "model", "policy"}),
    "admin": frozenset({"errors", "model", "policy", "store"}),
    "web": frozenset({"errors", "model"}),
    "api": frozenset({"errors", "model", "policy", "store", "admin", "web"}),
    "node": frozenset({"errors", "model", "policy", "store", "resources", "admin", "api"}),
    "lab": frozenset({"errors", "model", "policy", "store", "resources", "node"}),
    "cli": frozenset(
        {
            "errors",
            "model",
            "policy",
            "store",
            "resources",
            "admin",
            "tools",
            "wizards",
            "node",
            "lab",
        }
    ),
}


def package_of(module: str) -> str | None:
    """``wolfpack.node.lease`` -> ``node``; ``wolfpack.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "wolfpack" else None


def upward_imports(source: str, module: str, is_package: bool) -> list[str]:
    home = package_of(module)
    assert home in FLOORS, f"{module}: package {home!r} has no floor in FLOORS"
    out = []
    for imp in imports_of(source, module, is_package):
        target = package_of(imp.module)
        if target is None or target == home or not _is_module(target):
            continue  # ``from wolfpack import __version__``: an attribute of the root
        if target not in FLOORS[home]:
            out.append(f"{module}:{imp.line} imports {imp.module} ({home} -> {target})")
    return out


def _is_module(name: str) -> bool:
    return (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()


EVERY_MODULE = [p for p in sorted(ROOT.rglob("*.py")) if module_name(p) != "wolfpack"]


@pytest.mark.parametrize("path", EVERY_MODULE, ids=lambda p: module_name(p))
def test_every_module_imports_only_from_lower_floors(path: Path) -> None:
    """Issue 14: imports flow one way in every package, not only in model and policy."""
    name = module_name(path)
    assert upward_imports(path.read_text(), name, path.name == "__init__.py") == []


def test_the_floors_have_no_cycle() -> None:
    placed: list[str] = []
    left = dict(FLOORS)
    while left:
        ready = [p for p, deps in left.items() if deps <= set(placed)]
        assert ready, f"a cycle among {sorted(left)}"
        placed += ready
        for p in ready:
            del left[p]


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from wolfpack.node.settings import ApiSection\n", "wolfpack.api.server"),
        ("from wolfpack.resources.base import AgentResult\n", "wolfpack.errors"),
        ("from wolfpack.cli.parse import duration\n", "wolfpack.api.routes.admin"),
        ("from wolfpack.node.state_io import parse_view\n", "wolfpack.api.cache"),
        ("from ..lab import world\n", "wolfpack.node.daemon"),
    ],
)
def test_the_floor_checker_catches_upward_imports(source: str, module: str) -> None:
    """The five arrows the structure review found running upward are each caught."""
    assert upward_imports(source, module, False)
