"""User-facing text (issue 13 item 6): ``--version``, help texts and web labels without the
requirement numbers (S1...S41 stay in docs, comments and tests), examples that Rich markup
does not eat, and ``lab --help`` naming every verb."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer._click.core import Context
from typer.testing import CliRunner

import wolfpack
from wolfpack import __version__
from wolfpack.cli import lab
from wolfpack.cli.main import app
from wolfpack.node import daemon

REQUIREMENT = re.compile(r"\bS\d{1,2}\b")
runner = CliRunner()


@functools.cache
def _help(*args: str) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.output


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under ``group`` (typer's click groups, duck-typed; the root loads
    its nouns when asked for them, so ask as click does)."""
    if not hasattr(group, "list_commands"):
        return
    ctx = Context(group)
    for name in sorted(group.list_commands(ctx)):
        yield (*path, name)
        yield from _commands(group.get_command(ctx, name), (*path, name))


def test_wolfpack_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"wolfpack {__version__}"


def test_no_help_text_shows_a_requirement_number() -> None:
    paths = [(), *_commands(typer.main.get_command(app))]
    assert len(paths) > 50  # every noun and verb
    shown = {" ".join(p): REQUIREMENT.findall(_help(*p)) for p in paths}
    assert {p: found for p, found in shown.items() if found} == {}


def test_wolfpackd_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        daemon.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"wolfpackd {__version__}"


def test_no_help_text_lost_a_bracketed_word_to_markup() -> None:
    """Rich eats ``[word]`` as a style tag, leaving empty quotes or brackets behind: the
    symptom, looked for in every command's help (not only the ones fixed once)."""
    paths = [(), *_commands(typer.main.get_command(app))]
    # ' or ' between two quoted words ('create' or 'join') is prose, not a leftover
    eaten = re.compile(r"(?<!\w)'\s+(and|or)?\s*'|\[\s*\]|e\.g\. *[,.;)]")
    shown = {" ".join(p): eaten.findall(_help(*p)) for p in paths}
    assert {p: found for p, found in shown.items() if found} == {}


def test_the_dependency_examples_keep_their_brackets() -> None:
    """Rich read ``[ip]`` as a style tag: the help said "e.g. ' and '"."""
    assert "e.g. '[ip] and [disk]'" in _help("resource", "create")
    assert "e.g. '[ip] and [disk]'" in _help("resource", "set")
    assert "e.g. '[web-disk] and [web-ip]'" in _help("resource", "depend")


def test_lab_help_names_every_verb() -> None:
    names = [c.name or c.callback.__name__ for c in lab.app.registered_commands if c.callback]
    assert len(names) >= 5
    summary = (lab.app.info.help or "").split("(")[-1]
    assert all(name in summary for name in names), (names, summary)


def test_web_labels_show_no_requirement_number() -> None:
    """Labels and messages of the Cluster Administrator; comments may cite them."""
    static = Path(wolfpack.__file__).parent / "web" / "static"
    found = []
    for path in sorted([*static.rglob("*.js"), *static.rglob("*.html")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//")[0] if path.suffix == ".js" else line
            if REQUIREMENT.search(code):
                found.append(f"{path.name}:{number}: {line.strip()}")
    assert found == []


@pytest.mark.parametrize("verb", [("status",), ("group", "list"), ("node", "list")])
def test_a_verbs_help_loads_no_http_stack(verb: tuple[str, ...]) -> None:
    """Issue 12: ``wolfpack VERB --help`` answers without etcd's client (EtcdStore, its
    endpoints, http.client): it loads when a verb first talks to etcd, not to print help."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from wolfpack.cli.main import app\n"
        f"sys.argv = ['wolfpack', *{list(verb)!r}, '--help']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "etcd = ('http.client', 'wolfpack.store.etcd', 'wolfpack.store.etcd_endpoint')\n"
        "print(sorted(m for m in sys.modules if m in etcd))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
