"""Resource dependencies: AND-of-OR expressions, cycle checks, and start/stop order.

An expression ``([A] or [B]) and [C]`` (WSFC syntax) is held as ``(("A", "B"), ("C",))``.
Online order puts every resource after everything it may depend on; resources in the same
step do not depend on each other and start in parallel. Offline order is the exact reverse,
so an application stops before its disk (S39).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from wolfpack.errors import DependencyCycleError, ValidationError

MAX_DEPTH = 100  # WSFC's limit on the depth of a dependency tree (MS-CMRP)

Expression = tuple[tuple[str, ...], ...]
Steps = tuple[tuple[str, ...], ...]

_TERM = re.compile(r"\[([^\[\]]+)\]")


def parse_expression(text: str, field: str = "dependencies") -> Expression:
    """Parse WSFC dependency syntax: ``[A] and ([B] or [C])``. Empty text means none."""
    text = text.strip()
    if not text:
        return ()
    clauses: list[tuple[str, ...]] = []
    for raw in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        clause = raw.strip()
        if clause.startswith("(") and clause.endswith(")"):
            clause = clause[1:-1].strip()
        names: list[str] = []
        for part in re.split(r"\s+or\s+", clause, flags=re.IGNORECASE):
            match = _TERM.fullmatch(part.strip())
            if match is None:
                raise ValidationError.single(
                    field,
                    f"cannot parse {part.strip()!r}: write resource names in brackets, "
                    "e.g. '[Disk] and ([IP1] or [IP2])'",
                )
            names.append(match.group(1).strip())
        clauses.append(tuple(names))
    return tuple(clauses)


def format_expression(expr: Expression) -> str:
    def clause(c: tuple[str, ...]) -> str:
        inner = " or ".join(f"[{n}]" for n in c)
        return f"({inner})" if len(c) > 1 and len(expr) > 1 else inner

    return " and ".join(clause(c) for c in expr)


def find_cycle(edges: Mapping[str, Iterable[str]]) -> tuple[str, ...] | None:
    """Return one cycle (first name repeated at the end) in ``name -> dependencies``, or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(edges, WHITE)
    for root in sorted(edges):
        if colour[root] != WHITE:
            continue
        path = [root]
        stack = [iter(sorted(edges[root]))]
        colour[root] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                colour[path.pop()] = BLACK
                stack.pop()
            elif colour.get(nxt, BLACK) == GREY:
                return (*path[path.index(nxt) :], nxt)
            elif colour.get(nxt) == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append(iter(sorted(edges[nxt])))
    return None


def online_steps(edges: Mapping[str, Iterable[str]]) -> Steps:
    """Layer ``name -> dependencies`` so each layer depends only on earlier ones.

    Dependencies outside ``edges`` (not part of this start) are taken as already satisfied.
    Raises :class:`DependencyCycleError` on a cycle, naming it.
    """
    deps = {name: {d for d in ds if d in edges} for name, ds in edges.items()}
    depth: dict[str, int] = {}
    remaining = dict(deps)
    while remaining:
        ready = [n for n, ds in remaining.items() if all(d in depth for d in ds)]
        if not ready:
            cycle = find_cycle(remaining) or tuple(sorted(remaining))
            raise DependencyCycleError("dependencies", cycle)
        for n in ready:
            depth[n] = 1 + max((depth[d] for d in deps[n]), default=-1)
            del remaining[n]
    layers: dict[int, list[str]] = {}
    for name, d in depth.items():
        layers.setdefault(d, []).append(name)
    return tuple(tuple(sorted(layers[d])) for d in sorted(layers))


def offline_steps(edges: Mapping[str, Iterable[str]]) -> Steps:
    return tuple(reversed(online_steps(edges)))


def depth_of(edges: Mapping[str, Iterable[str]]) -> int:
    return len(online_steps(edges))


def dependents_closure(edges: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` plus everything that depends on them, directly or not."""
    reverse: dict[str, set[str]] = {}
    for name, ds in edges.items():
        for d in ds:
            reverse.setdefault(d, set()).add(name)
    seen = set(roots)
    todo = list(seen)
    while todo:
        for up in reverse.get(todo.pop(), ()):
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def dependencies_closure(edges: Mapping[str, Iterable[str]], roots: Iterable[str]) -> set[str]:
    """``roots`` plus everything they depend on, directly or not."""
    seen = set(roots)
    todo = list(seen)
    while todo:
        for down in edges.get(todo.pop(), ()):
            if down not in seen:
                seen.add(down)
                todo.append(down)
    return seen
