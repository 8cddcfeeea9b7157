"""Resource dependencies (reference/wsfc.md §3.2, S30, S39): WSFC expression syntax, start
and stop order, closures and cycles.

WSFC expressions are an AND of OR lists, ``([A] or [B]) and [C]``; online order starts the
most depended-upon resources first with independent branches in parallel, and offline order
is the exact reverse, so an application stops before its disk (S39).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wolfpack.errors import DependencyCycleError, ValidationError
from wolfpack.model.config import ClusterConfig, Group, Resource
from wolfpack.model.dependencies import (
    MAX_DEPTH,
    Expression,
    dependencies_closure,
    dependents_closure,
    depth_of,
    find_cycle,
    format_expression,
    offline_steps,
    online_steps,
    parse_expression,
)

from .strategies import dags, expressions

Edges = Mapping[str, Iterable[str]]

# -- expressions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("   ", ()),
        ("[Disk]", (("Disk",),)),
        ("[A] and ([B] or [C])", (("A",), ("B", "C"))),
        ("([A] or [B]) and ([C] or [D]) and [E]", (("A", "B"), ("C", "D"), ("E",))),
        ("[IP subnet1] or [IP subnet2]", (("IP subnet1", "IP subnet2"),)),  # multi-site name
        ("([IP1] or [IP2])", (("IP1", "IP2"),)),
        ("([A]) and [B]", (("A",), ("B",))),
        ("[A] AND ([B] Or [C])", (("A",), ("B", "C"))),  # keywords in any case
        ("[A]and([B]or[C])", (("A",), ("B", "C"))),  # spaces between tokens are optional
        ("  [A]   and   [B]  ", (("A",), ("B",))),
        # names are free text (MSCS: "Cluster IP Address", "Disk Q:")
        ("[Cluster IP Address] and [Disk Q:]", (("Cluster IP Address",), ("Disk Q:",))),
        ("[Disk and Share]", (("Disk and Share",),)),
        ("[IP or Name] and [x]", (("IP or Name",), ("x",))),
        ("[Disk (Q:)] and ([a)b(] or [c])", (("Disk (Q:)",), ("a)b(", "c"))),
    ],
)
def test_parse_expression(text: str, expected: Expression) -> None:
    """reference/wsfc.md §3.2: ``([A] or [B]) and ([C] or [D]) and [E]``."""
    assert parse_expression(text) == expected


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ((), ""),
        ((("A",),), "[A]"),
        ((("A", "B"),), "[A] or [B]"),
        ((("A",), ("B", "C")), "[A] and ([B] or [C])"),
        ((("A", "B"), ("C",), ("D", "E")), "([A] or [B]) and [C] and ([D] or [E])"),
    ],
)
def test_format_expression_writes_wsfc_syntax(expr: Expression, text: str) -> None:
    assert format_expression(expr) == text


@given(expressions)
def test_format_then_parse_round_trips(expr: Expression) -> None:
    assert parse_expression(format_expression(expr)) == expr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Disk", ["brackets"]),
        ("[Disk", ["closed with ']'"]),
        ("[A]]", ["']'"]),
        ("[]", ["empty brackets"]),
        ("[A] and", ["expected a resource name", "found the end"]),
        ("and [A]", ["expected a resource name", "found 'and'"]),
        ("[A] [B]", ["expected 'and' or the end", "found '[B]'"]),
        ("[A] and ([B] and [C])", ["expected ')' or 'or'"]),  # not AND of ORs
        ("[A] and ([B] or [C]", ["expected ')' or 'or'", "found the end"]),
        ("[A] or ([B] or [C])", ["expected a resource name"]),
        ("(([A] or [B]))", ["expected a resource name", "found '('"]),
        ("[A] xor [B]", ["'xor'"]),
        ("[A], [B]", ["','"]),
        # ambiguous: by the usual precedence it means A or (B and C), not an AND of ORs
        ("[A] or [B] and [C]", ["ambiguous", "parentheses"]),
        ("[A] and [B] or [C]", ["ambiguous", "parentheses"]),
    ],
)
def test_parse_error_names_the_field(text: str, words: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        parse_expression(text, "resources.www.dependencies")
    (error,) = info.value.errors
    assert error.field == "resources.www.dependencies"
    for word in words:
        assert word in error.message
    assert "[Disk] and ([IP1] or [IP2])" in error.message  # shows how to write it


def test_parse_error_default_field() -> None:
    with pytest.raises(ValidationError) as info:
        parse_expression("oops")
    assert info.value.errors[0].field == "dependencies"


# -- online and offline order ----------------------------------------------------------------


def _check_layering(edges: Edges, steps: tuple[tuple[str, ...], ...]) -> None:
    """Each name once; after every dependency (in ``edges``); as early as possible, so
    independent branches share a step; each step sorted for a stable output."""
    flat = [n for step in steps for n in step]
    assert sorted(flat) == sorted(edges)
    assert all(steps) and all(list(step) == sorted(step) for step in steps)
    layer = {n: i for i, step in enumerate(steps) for n in step}
    for name, deps in edges.items():
        inside = [d for d in deps if d in edges]
        for d in inside:
            assert layer[d] < layer[name], (d, name)
        # longest-path layering: nothing could have started a step earlier
        expected = 1 + max((layer[d] for d in inside), default=-1)
        assert layer[name] == expected, name


def test_online_steps_typical_virtual_server() -> None:
    """S39/S40: disk and IP first (in parallel), the name on the IP, then the database on
    disk and name."""
    edges = {
        "disk": set(),
        "ip": set(),
        "name": {"ip"},
        "sql": {"disk", "name"},
    }
    assert online_steps(edges) == (("disk", "ip"), ("name",), ("sql",))
    assert offline_steps(edges) == (("sql",), ("name",), ("disk", "ip"))


def test_independent_branches_share_a_step() -> None:
    edges = {"a1": set(), "a2": {"a1"}, "b1": set(), "b2": {"b1"}, "c": set()}
    assert online_steps(edges) == (("a1", "b1", "c"), ("a2", "b2"))


def test_or_dependency_orders_after_every_alternative() -> None:
    """``name`` depends on ``[ip1] or [ip2]``: both are dependencies for ordering."""
    edges = {"ip1": set(), "ip2": set(), "name": {"ip1", "ip2"}}
    assert online_steps(edges) == (("ip1", "ip2"), ("name",))


def test_dependencies_outside_the_set_count_as_satisfied() -> None:
    """Restarting ``app`` alone: its disk is already online and is not part of the start."""
    assert online_steps({"app": {"disk"}}) == (("app",),)


def test_empty_graph() -> None:
    assert online_steps({}) == ()
    assert offline_steps({}) == ()
    assert depth_of({}) == 0


def test_online_steps_names_a_cycle() -> None:
    with pytest.raises(DependencyCycleError) as info:
        online_steps({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()})
    assert info.value.cycle == ("a", "b", "c", "a")
    assert "a -> b -> c -> a" in str(info.value)


@given(dags())
def test_online_steps_layering_on_random_graphs(edges: dict[str, frozenset[str]]) -> None:
    _check_layering(edges, online_steps(edges))


@given(dags())
def test_offline_steps_are_the_exact_reverse(edges: dict[str, frozenset[str]]) -> None:
    """S39: dependents stop first; the order is the online order reversed, step by step."""
    assert offline_steps(edges) == tuple(reversed(online_steps(edges)))
    done: set[str] = set()
    for step in offline_steps(edges):
        for name in step:
            # everything that depends on ``name`` is already stopped
            assert {n for n, ds in edges.items() if name in ds} <= done
        done |= set(step)


@given(dags())
def test_depth_is_the_longest_chain(edges: dict[str, frozenset[str]]) -> None:
    def longest(n: str) -> int:
        return 1 + max((longest(d) for d in edges[n]), default=0)

    assert depth_of(edges) == max((longest(n) for n in edges), default=0)


def test_max_depth_is_wsfcs() -> None:
    """MS-CMRP: a dependency tree is at most 100 deep."""
    assert MAX_DEPTH == 100


# -- closures --------------------------------------------------------------------------------

#   sql -> name -> ip ;  sql -> disk ;  share -> disk
CHAIN = {
    "ip": frozenset(),
    "disk": frozenset(),
    "name": frozenset({"ip"}),
    "sql": frozenset({"name", "disk"}),
    "share": frozenset({"disk"}),
}


@pytest.mark.parametrize(
    ("roots", "expected"),
    [
        (["ip"], {"ip", "name", "sql"}),  # taking the IP offline takes its dependents (S34)
        (["disk"], {"disk", "sql", "share"}),
        (["sql"], {"sql"}),
        (["name", "share"], {"name", "sql", "share"}),
        ([], set()),
    ],
)
def test_dependents_closure(roots: list[str], expected: set[str]) -> None:
    assert dependents_closure(CHAIN, roots) == expected


@pytest.mark.parametrize(
    ("roots", "expected"),
    [
        (["sql"], {"sql", "name", "ip", "disk"}),  # bringing sql online brings its needs
        (["share"], {"share", "disk"}),
        (["ip"], {"ip"}),
        (["name", "share"], {"name", "ip", "share", "disk"}),
    ],
)
def test_dependencies_closure(roots: list[str], expected: set[str]) -> None:
    assert dependencies_closure(CHAIN, roots) == expected


def _reachable(edges: Edges, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for d in edges.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


@given(dags(), st.data())
def test_closures_agree_with_reachability(
    edges: dict[str, frozenset[str]], data: st.DataObject
) -> None:
    roots = data.draw(st.sets(st.sampled_from(sorted(edges)))) if edges else set()
    down = set().union(*(_reachable(edges, r) for r in roots)) if roots else set()
    assert dependencies_closure(edges, roots) == down
    up = {n for n in edges if _reachable(edges, n) & roots}
    assert dependents_closure(edges, roots) == up


def test_closures_do_not_change_their_input() -> None:
    roots = ["disk"]
    edges = {k: set(v) for k, v in CHAIN.items()}
    dependents_closure(edges, roots)
    dependencies_closure(edges, roots)
    assert roots == ["disk"] and edges == {k: set(v) for k, v in CHAIN.items()}


# -- cycles ----------------------------------------------------------------------------------


def _is_cycle_of(edges: Edges, cycle: tuple[str, ...]) -> bool:
    return (
        len(cycle) >= 2
        and cycle[0] == cycle[-1]
        and len(set(cycle[:-1])) == len(cycle) - 1
        and all(b in edges[a] for a, b in itertools.pairwise(cycle))
    )


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"a"}}, ("a", "a")),
        ({"a": {"b"}, "b": {"a"}}, ("a", "b", "a")),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ("a", "b", "c", "a")),
        ({"x": {"b"}, "b": {"c"}, "c": {"b"}}, ("b", "c", "b")),  # tail not included
    ],
)
def test_find_cycle_names_the_loop(edges: Edges, expected: tuple[str, ...]) -> None:
    assert find_cycle(edges) == expected


def test_find_cycle_ignores_unknown_names() -> None:
    """A dependency on a resource that does not exist is another error, not a cycle."""
    assert find_cycle({"a": {"ghost"}}) is None


@given(dags())
def test_no_cycle_in_a_dag(edges: dict[str, frozenset[str]]) -> None:
    assert find_cycle(edges) is None


@given(dags(max_size=7), st.data())
def test_a_back_edge_makes_a_cycle_that_is_found(
    edges: dict[str, frozenset[str]], data: st.DataObject
) -> None:
    """Add one edge from a resource to itself or to something that (transitively) depends
    on it: the graph now has a cycle, and it is found and named."""
    candidates = sorted((low, high) for high in edges for low in _reachable(edges, high))
    if not candidates:
        return
    low, high = data.draw(st.sampled_from(candidates))
    looped = {**edges, low: edges[low] | {high}}
    cycle = find_cycle(looped)
    assert cycle is not None and _is_cycle_of(looped, cycle)
    with pytest.raises(DependencyCycleError) as info:
        online_steps(looped)
    assert _is_cycle_of(looped, info.value.cycle)


# -- one resource's relations (S36: only a resource without any may change group) ------------


def _config_with(deps: Mapping[str, tuple[tuple[str, ...], ...]]) -> ClusterConfig:
    resources = {n: Resource(n, "generic_script", "g", dependencies=d) for n, d in deps.items()}
    return ClusterConfig(groups={"g": Group("g")}, resources=resources)


def test_dependents_and_relations_name_both_directions_sorted() -> None:
    cfg = _config_with(
        {"disk": (), "ip": (), "app": (("ip",), ("disk",)), "web": (("app",),), "log": (("app",),)}
    )
    assert cfg.dependents("app") == ("log", "web")
    assert cfg.dependents("disk") == ("app",)
    assert cfg.dependents("web") == ()
    # what it depends on first (sorted), then what depends on it (sorted)
    assert cfg.dependency_relations("app") == ("disk", "ip", "log", "web")
    assert cfg.dependency_relations("web") == ("app",)
    assert cfg.dependency_relations("disk") == ("app",)


def test_a_resource_without_dependencies_has_no_relations() -> None:
    cfg = _config_with({"alone": (), "a": (("b",),), "b": ()})
    assert cfg.dependency_relations("alone") == ()
    assert cfg.dependents("alone") == ()
