"""The package's layers, read from its imports (function-level ones included): no module imports
another that imports it back, the core never imports the lesson code, and the settings import
nothing heavy."""

import ast
from pathlib import Path

from helpers.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "helpers"
LESSONS = {"original", "inspect_lstm", "exercises"}
# Where the rest of the package imports these modules from.
CORE = {"paths", "checks", "config", "backend", "data", "corpus", "encoding", "batches", "model",
        "step", "evaluation", "sampling"}
MACHINERY = {"rundir", "checkpoints", "training", "budget", "replicas", "distributed", "runs",
             "comparing", "generate", "plots"}


def helpers_imported_by(path: Path) -> set[str]:
    """The helpers modules ``path`` (a module of helpers/) imports, anywhere in it: absolute
    imports and relative ones (``from . import data``, ``from .data import load_split``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level <= 1:
            if node.level == 1:  # relative to helpers/
                parts = ["helpers", *(node.module.split(".") if node.module else [])]
            elif node.module:
                parts = node.module.split(".")
            else:
                continue
            if parts[0] == "helpers":
                if len(parts) > 1:
                    found.add(parts[1])
                else:  # from helpers import data, rundir
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "helpers" and len(parts) > 1:
                    found.add(parts[1])
    return found - {"__init__"}


def import_graph() -> dict[str, set[str]]:
    return {path.stem: helpers_imported_by(path) for path in sorted(PACKAGE.glob("*.py"))
            if path.stem != "__init__"}


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        module, path = stack.pop()
        for imported in graph.get(module, ()):
            if imported == start:
                return [*path, start]
            if imported not in seen:
                seen.add(imported)
                stack.append((imported, [*path, imported]))
    return None


def test_the_graph_is_read_whole():
    graph = import_graph()
    assert {"training", "config", "step", "runs"} <= set(graph)
    assert "step" in graph["training"] and "backend" in graph["step"]
    # Function-level imports count: generate imports checkpoints only inside its functions.
    assert "checkpoints" in graph["generate"]


def test_no_module_imports_itself_back():
    graph = import_graph()
    cycles = {module: cycle for module in graph if (cycle := cycle_from(graph, module))}
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles.values())


def test_a_cycle_is_found_where_there_is_one():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": set()}, "a") is None


def test_the_core_never_imports_the_lessons():
    graph = import_graph()
    offending = {module: sorted(graph[module] & LESSONS) for module in CORE
                 if graph[module] & LESSONS}
    assert not offending


def test_every_module_has_its_layer():
    assert set(import_graph()) == CORE | MACHINERY | LESSONS


def test_the_core_never_imports_the_machinery():
    graph = import_graph()
    assert not {module: sorted(graph[module] & MACHINERY) for module in CORE
                if graph[module] & MACHINERY}


def test_relative_imports_are_read_too(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("from . import data, rundir\nfrom .model import CharLSTM\n"
                      "def f():\n    from .training import train\n"
                      "from .. import elsewhere\nfrom helpers.step import train_step\n")
    assert helpers_imported_by(module) == {"data", "rundir", "model", "training", "step"}


def test_the_settings_import_only_the_foundations():
    assert import_graph()["config"] <= {"paths", "checks"}
    assert import_graph()["checks"] == set() and import_graph()["paths"] == set()


def test_architecture_md_gives_each_modules_size_as_it_is():
    """docs/architecture.md's table of modules says about how long each is, and names the
    modules over 400 lines (each with a reason): both read against the files, so the page
    cannot drift far from them."""
    import re

    page = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    lines = {p.stem: len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    sized = {}
    for names, sizes in re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|.*\| (~[\d, ~]+) \|$", page, re.M):
        modules = re.findall(r"`(\w+)`", names)
        numbers = [int(n) for n in re.findall(r"~(\d+)", sizes)]
        assert len(modules) == len(numbers), names
        sized.update(zip(modules, numbers, strict=True))
    assert {m for m, n in lines.items() if n > 400} <= set(sized) and len(sized) >= 20, sized
    for module, about in sized.items():
        assert abs(lines[module] - about) <= max(30, 0.1 * lines[module]), (module, about)
    over = re.search(r"modules over 400 lines \| [^|]+ \| \d+: ([^|(]+)", page).group(1)
    assert set(re.findall(r"`(\w+)`", over)) == {m for m, n in lines.items() if n > 400}
