"""The README's two command tables keep up with the code: every `/baton` sub-command in
handlers/commands.py's SUBCOMMANDS is in the "Commands" table, and every word the console's
command dispatcher (bot/console/terminal.py) acts on is in "The console's commands" table.
Both lists are read from the code, so a new sub-command or console command fails here
until the README names it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from handlers.commands import SUBCOMMANDS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TERMINAL = ROOT / "bot" / "console" / "terminal.py"

WORD = re.compile(r"[a-z][a-z-]*")


def _section(text: str, heading: str) -> str:
    """The README's text under `heading` (any level), up to the next heading of that level
    or higher."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+)\s+(.*)", line)
        if m and m.group(2).strip().lower() == heading.lower():
            level = len(m.group(1))
            body = []
            for later in lines[i + 1:]:
                n = re.match(r"(#+)\s", later)
                if n and len(n.group(1)) <= level:
                    break
                body.append(later)
            return "\n".join(body)
    raise AssertionError(f"README.md has no heading “{heading}”")


def _first_cells(section: str) -> list[str]:
    """The first cell of every row of the first table in `section` (header and rule left
    out)."""
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert len(rows) > 2, "the section has no table"
    cells = []
    for row in rows[2:]:
        # A cell may hold `\|` (an escaped bar inside code): split on bars not escaped.
        cells.append(re.split(r"(?<!\\)\|", row)[1])
    return cells


def test_command_table_names_every_baton_subcommand() -> None:
    cells = " ".join(_first_cells(_section(README.read_text(encoding="utf-8"), "Commands")))
    named = set(re.findall(r"/baton ([a-z]+)", cells))
    wanted = {word for word in SUBCOMMANDS if word}  # "" is `/baton` alone: help
    assert wanted, "SUBCOMMANDS is empty: the test reads nothing"
    missing = sorted(wanted - named)
    assert not missing, (f"README.md's command table does not name /baton {', '.join(missing)} "
                         "(handlers/commands.py SUBCOMMANDS)")


def _dispatcher_words(source: str) -> set[str]:
    """The words the console's command dispatcher acts on, read from terminal.py: the
    function that handles `quit` and `help` (the dispatcher must), and in it every string a line is
    compared with (`==`, `in (…)`), tested with `startswith`/`removeprefix`, or looked up in
    a dict of commands (a literal in the function, or a module-level one it names). Only
    command-like words count: `/` (slash commands) and `#` (comments) are not words."""
    tree = ast.parse(source)
    module_dicts = {
        target.id: node.value
        for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict)
    }

    def strings(node: ast.AST | None) -> list[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [s for e in node.elts for s in strings(e)]
        return []

    def handles(fn: ast.AST, *words: str) -> bool:
        said = {n.value for n in ast.walk(fn) if isinstance(n, ast.Constant)}
        return all(w in said for w in words)

    def dispatchers(*words: str) -> list[ast.AST]:
        found = [n for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and handles(n, *words)]
        # The innermost such function: the one whose own body dispatches.
        return [f for f in found
                if not any(g is not f and handles(g, *words) for g in ast.walk(f)
                           if isinstance(g, (ast.FunctionDef, ast.AsyncFunctionDef)))]

    # The dispatcher answers both `quit` and `help` (a form's prompt may answer `quit` too,
    # but never `help`); failing that, whatever answers `quit`.
    functions = dispatchers("quit", "help") or dispatchers("quit")
    found: set[str] = set()
    for fn in functions:
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    found.update(strings(side))
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr in ("startswith", "removeprefix")):
                for arg in node.args:
                    found.update(strings(arg))
            elif isinstance(node, ast.Dict):
                for key in node.keys:
                    found.update(strings(key))
            elif isinstance(node, ast.Name) and node.id in module_dicts:
                for key in module_dicts[node.id].keys:
                    found.update(strings(key))
    words = {text.split()[0] for text in found if text.strip()}
    return {w for w in words if WORD.fullmatch(w)}


def test_console_table_names_every_console_command() -> None:
    words = _dispatcher_words(TERMINAL.read_text(encoding="utf-8"))
    # What the dispatcher must at least know today; if reading it finds none of these, the
    # reader has lost the dispatcher, not the README its commands.
    assert {"quit", "click", "clock"} <= words, f"the dispatcher was not found (read {words})"
    cells = _first_cells(_section(README.read_text(encoding="utf-8"),
                                  "The console's commands"))
    named = {m.split()[0] for cell in cells for m in re.findall(r"`([^`]+)`", cell)
             if m.split()}
    missing = sorted(words - named)
    assert not missing, (f"README.md's console table does not name {', '.join(missing)} "
                         "(bot/console/terminal.py's command dispatcher)")


def test_the_reader_finds_a_dispatcher_written_another_way() -> None:
    """A dispatcher by table (a module-level dict of commands) is read as well as the
    if/elif one; strings elsewhere in the module (block types, a form's own `quit`) are
    not."""
    source = (
        'KINDS = {"section": 1}\n'
        'COMMANDS = {"as": None, "click": None, "clock": None}\n'
        'def render(block):\n'
        '    return block["type"] == "section"\n'
        'def ask(answer, element):\n'
        '    if answer == "quit" or element["type"] == "datepicker":\n'
        '        return None\n'
        'def run(line):\n'
        '    if line == "help":\n'
        '        return\n'
        '    if line in ("quit", "exit"):\n'
        '        return\n'
        '    word = line.split()[0]\n'
        '    if line.startswith("/"):\n'
        '        return\n'
        '    COMMANDS[word]()\n'
    )
    assert _dispatcher_words(source) == {"as", "click", "clock", "help", "quit", "exit"}


@pytest.mark.parametrize("heading", ["Commands", "The console's commands"])
def test_the_tables_are_where_the_tests_look(heading: str) -> None:
    assert _first_cells(_section(README.read_text(encoding="utf-8"), heading))
