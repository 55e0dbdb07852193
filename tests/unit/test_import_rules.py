"""The house's import rules, read from every module's imports with ast.

Each folder answers one question, and the arrows between them point one way (README,
"Layout"). A rule broken here names the file, the line and the import, and says what that
room may import instead. Imports inside functions and under TYPE_CHECKING count too: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "scheduler", "store")

# A room is a set of modules with one job. The first matching prefix wins.
ROOMS: tuple[tuple[str, str], ...] = (
    ("bot.domain", "domain"),
    ("bot.services", "services"),
    ("bot.slack", "slack"),
    ("bot.web", "web"),
    ("bot.report", "report"),
    ("bot.console", "console"),
    ("bot.settings", "core"),
    ("bot.clock", "core"),
    ("bot.redact", "core"),
    ("bot.app", "assembly"),
    ("bot.runtime", "assembly"),
    ("bot.cli", "entry"),
    ("handlers", "handlers"),
    ("scheduler", "scheduler"),
    ("store", "store"),
    ("bot", "core"),  # bot/__init__.py
)

# What each room may import of Baton's (its own room always).
MAY_IMPORT: dict[str, frozenset[str]] = {
    "domain": frozenset(),
    "core": frozenset({"domain"}),
    "store": frozenset({"domain"}),
    "services": frozenset({"domain", "core", "store"}),
    "slack": frozenset({"domain", "core", "store", "services"}),
    "report": frozenset({"domain", "core", "store"}),
    "web": frozenset({"domain", "core", "store", "services", "slack"}),
    "handlers": frozenset({"domain", "core", "services", "slack", "web", "report"}),
    "scheduler": frozenset({"domain", "core", "store", "services", "slack"}),
    # The console drives the assembled app in-process, as `serve` does over HTTP.
    "console": frozenset({"domain", "core", "store", "services", "slack", "web", "report",
                          "assembly"}),
    # bot/app.py and bot/runtime.py wire the whole; bot/cli.py (the `baton` command) runs it.
    "assembly": frozenset({"domain", "core", "store", "services", "slack", "web", "report",
                           "handlers", "scheduler"}),
    "entry": frozenset({"domain", "core", "store", "services", "slack", "web", "report",
                        "console", "assembly"}),
}

# Libraries that would tie a room to Slack, the web or SQL.
SLACK = ("slack_sdk", "slack_bolt")
WEB = ("httpx", "waitress", "requests", "urllib.request", "http.server", "wsgiref")
SQL = ("sqlalchemy", "alembic", "psycopg", "sqlite3")
SCHEDULING = ("apscheduler",)
MAY_NOT_USE: dict[str, tuple[str, ...]] = {
    "domain": SLACK + WEB + SQL + SCHEDULING,
    "services": SLACK + WEB + SCHEDULING,
    "store": SLACK + WEB,
    "report": SLACK + WEB,
}

WHY: dict[str, str] = {
    "domain": "the pure rules import nothing of Baton's but the domain, and no Slack, web or "
              "SQL library",
    "services": "use cases reach Slack only through bot/services/delivery.py's Protocol; "
                "they import the domain, core (settings, clock) and store",
    "store": "the store knows the domain's records and nothing above it",
    "core": "settings, clock and redaction sit under everything but the domain",
    "slack": "what Slack sees is rendered from the domain and the services' results",
    "report": "the report reads the store; it knows nothing of Slack",
    "web": "the HTTP edge never reaches into listeners, the engine or the assembly",
    "handlers": "listeners get the runtime through their context (handlers/context.py), "
                "never by importing the assembly or the engine",
    "scheduler": "the engine never imports listeners, the HTTP edge or the assembly",
    "console": "the console drives the assembled app, never a listener or the engine directly",
    "assembly": "",
    "entry": "the `baton` command runs what bot/app.py and bot/runtime.py assemble",
}
# slack_sdk's SQLAlchemy installation and OAuth-state stores define the store's tables for
# installs (bot/slack/clients.py uses them): the one part of slack_sdk the store may use.
STORE_MAY_USE = ("slack_sdk.oauth.installation_store.sqlalchemy",
                 "slack_sdk.oauth.state_store.sqlalchemy")


def room_of(module: str) -> str | None:
    for prefix, room in ROOMS:
        if module == prefix or module.startswith(prefix + "."):
            return room
    return None


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, posix
    line: int
    module: str  # the imported module, absolute

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    rel = path.relative_to(root).as_posix()
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from bot import cli` imports the module bot.cli, not the package bot.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if room_of(target) is not None and _is_module(candidate):
                    found.append(Import(rel, node.lineno, candidate))
                else:
                    found.append(Import(rel, node.lineno, target))
    return sorted(set(found), key=lambda i: (i.line, i.module))


def _is_module(dotted: str) -> bool:
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def broken_rules(files: list[Path], root: Path = ROOT) -> list[str]:
    problems: list[str] = []
    for path in files:
        mine = room_of(module_name(path, root))
        if mine is None:
            continue
        for imp in imports_of(path, root):
            theirs = room_of(imp.module)
            if theirs is not None:
                if theirs != mine and theirs not in MAY_IMPORT[mine]:
                    allowed = ", ".join(sorted(MAY_IMPORT[mine])) or "nothing of Baton's"
                    problems.append(f"{imp}: {mine} may import only {allowed} "
                                    f"({WHY[mine]})")
                continue
            for lib in MAY_NOT_USE.get(mine, ()):
                if mine == "store" and imp.module in STORE_MAY_USE:
                    continue
                if imp.module == lib or imp.module.startswith(lib + "."):
                    problems.append(f"{imp}: {mine} may not use {lib} ({WHY[mine]})")
    return problems


def room_graph(files: list[Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in files:
        mine = room_of(module_name(path))
        if mine is None:
            continue
        for imp in imports_of(path):
            theirs = room_of(imp.module)
            if theirs is not None and theirs != mine:
                graph.setdefault(mine, set()).add(theirs)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_every_module_keeps_its_rooms_import_rules() -> None:
    problems = broken_rules(sources())
    assert not problems, "import rules broken:\n  " + "\n  ".join(problems)


def test_no_two_rooms_import_each_other() -> None:
    loops = cycles(room_graph(sources()))
    assert not loops, "rooms that import each other: " + "; ".join(" -> ".join(c) for c in loops)


def test_only_the_assembly_imports_listeners_and_the_engine() -> None:
    """The top-level packages point one way: bot (but its assembly) never imports handlers
    or scheduler, they never import each other, and store imports nothing above the domain."""
    bad = []
    for path in sources():
        mine = room_of(module_name(path))
        for imp in imports_of(path):
            top, theirs = imp.module.split(".")[0], room_of(imp.module)
            if top in ("handlers", "scheduler") and mine not in ("assembly", "entry", top):
                bad.append(str(imp))
            if mine == "store" and theirs not in (None, "store", "domain"):
                bad.append(str(imp))
    assert not bad, "only bot/app.py and bot/runtime.py assemble the whole:\n  " \
        + "\n  ".join(bad)


def test_every_module_belongs_to_a_room() -> None:
    lost = [module_name(p) for p in sources() if room_of(module_name(p)) is None]
    assert not lost


@pytest.mark.parametrize("room, line, verdict", [
    ("bot/domain/_planted.py", "import sqlalchemy", "domain may not use sqlalchemy"),
    ("bot/domain/_planted.py", "from store import queries", "domain may import only nothing"),
    ("bot/services/_planted.py", "from bot.slack.blocks import records",
     "services may import only core, domain, store"),
    ("bot/services/_planted.py", "from slack_sdk import WebClient",
     "services may not use slack_sdk"),
    ("store/_planted.py", "from bot.services import records", "store may import only domain"),
    ("scheduler/_planted.py", "from handlers import commands", "scheduler may import only"),
    ("handlers/_planted.py", "from bot import runtime", "handlers may import only"),
    ("bot/web/_planted.py", "def f():\n    from scheduler import engine\n",
     "web may import only"),
])
def test_a_planted_bad_import_is_named(tmp_path: Path, room: str, line: str,
                                       verdict: str) -> None:
    """The rules can fail: a bad import planted in a module beside the tree's (written under
    tmp_path, so the real tree is never touched) is found and named."""
    planted = tmp_path / room
    planted.parent.mkdir(parents=True)
    planted.write_text(line + "\n", encoding="utf-8")
    problems = broken_rules([planted], root=tmp_path)
    assert any(p.startswith(room + ":") and verdict in p for p in problems), problems


def test_a_loop_between_rooms_is_named() -> None:
    assert cycles({"slack": {"services"}, "services": {"slack"}}) == [
        ["services", "slack", "services"]]
    assert cycles({"web": {"slack"}, "slack": {"services"}}) == []


if __name__ == "__main__":  # `python tests/unit/test_import_rules.py`: the list, for a refactor
    for problem in broken_rules(sources()):
        print(problem)
    for loop in cycles(room_graph(sources())):
        print("loop:", " -> ".join(loop))
    sys.exit(0)
