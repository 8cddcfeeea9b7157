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

_TOKEN = re.compile(r"\s*(?:(\[)([^\[\]]*)(\])|([()])|([A-Za-z]+)|(\S))")
_EXAMPLE = "e.g. '[Disk] and ([IP1] or [IP2])'"


def _tokens(text: str, field: str) -> list[tuple[str, str]]:
    """``(kind, value)`` pairs: ``name``, ``(``, ``)``, ``and``, ``or``."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # only trailing whitespace is left
            break
        pos = match.end()
        opened, name, _closed, paren, word, other = match.groups()
        if opened:
            if not name.strip():
                raise ValidationError.single(
                    field,
                    f"empty brackets '[]' in {text.strip()!r}: name a resource in them, {_EXAMPLE}",
                )
            out.append(("name", name.strip()))
        elif paren:
            out.append((paren, paren))
        elif word and word.lower() in ("and", "or"):
            out.append((word.lower(), word))
        else:
            bad = word or other or ""
            hint = " (a name must be closed with ']')" if bad == "[" else ""
            raise ValidationError.single(
                field,
                f"cannot parse {text.strip()!r} at {bad!r}{hint}: write resource names in "
                f"brackets joined by 'and' and 'or', {_EXAMPLE}",
            )
    return out


def parse_expression(text: str, field: str = "dependencies") -> Expression:
    """Parse WSFC dependency syntax, an AND of ORs: ``[A] and ([B] or [C])``.

    Empty text means no dependencies. Names are free text in brackets (they may contain
    spaces, "and", "or" and parentheses). An OR list joined to other clauses by AND must be
    in parentheses: ``[A] or [B] and [C]`` is ambiguous and refused.
    """
    tokens = _tokens(text, field)
    if not tokens:
        return ()

    def fail(expected: str) -> ValidationError:
        found = "the end"
        if pos < len(tokens):
            kind, value = tokens[pos]
            found = f"'[{value}]'" if kind == "name" else repr(value)
        return ValidationError.single(
            field, f"cannot parse {text.strip()!r}: expected {expected}, found {found}; {_EXAMPLE}"
        )

    pos = 0

    def take(kind: str) -> bool:
        nonlocal pos
        if pos < len(tokens) and tokens[pos][0] == kind:
            pos += 1
            return True
        return False

    def names() -> tuple[str, ...]:
        """``[X] (or [Y])*``"""
        nonlocal pos
        out: list[str] = []
        while True:
            if pos >= len(tokens) or tokens[pos][0] != "name":
                raise fail("a resource name in brackets")
            out.append(tokens[pos][1])
            pos += 1
            if not take("or"):
                return tuple(out)

    clauses: list[tuple[str, ...]] = []
    bare_or = False
    while True:
        if take("("):
            clauses.append(names())
            if not take(")"):
                raise fail("')' or 'or'")
        else:
            clause = names()
            bare_or = bare_or or len(clause) > 1
            clauses.append(clause)
        if pos == len(tokens):
            break
        if not take("and"):
            raise fail("'and' or the end")
    if bare_or and len(clauses) > 1:
        raise ValidationError.single(
            field,
            f"{text.strip()!r} is ambiguous: put each 'or' list joined by 'and' in parentheses, "
            + _EXAMPLE,
        )
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


def clauses_met(expr: Expression, available: Iterable[str] | set[str]) -> bool:
    """An AND of ORs is met when every clause has a member in ``available`` (the one
    dependency test, shared by the cluster plan and each node's plan)."""
    have = available if isinstance(available, set | frozenset) else set(available)
    return all(any(m in have for m in clause) for clause in expr)
