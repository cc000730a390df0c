"""The import direction of the package (TEAM.md): cli → commands → net → store → db → config.

Capability packages (codec, luabind, convert, web, hl7, services) sit above net and plug in
through registries and hooks (dgate.hub.plugins); the layers below them never import them,
not even lazily inside a function. The foundation (log, uids, version, runtime) imports
nothing above itself. The scan reads every ``import``/``from`` statement (and
``importlib.import_module("dgate.…")`` with a literal name) anywhere in a module's AST.
"""
from __future__ import annotations

import ast
from pathlib import Path

import dgate

PACKAGE = Path(dgate.__file__).parent

FOUNDATION = {"log", "uids", "version", "runtime"}
CAPABILITIES = {"codec", "luabind", "convert", "web", "hl7", "services"}
LAYERS = ["config", "db", "store", "net", "commands", "cli"]      # lowest first
TOP = {"cli", "hub"}                                                # nothing imports these but cli/hub

# (importing package, imported package) pairs that are allowed against the rules, each with its reason.
ALLOWED: dict[tuple[str, str], str] = {}


def imported_modules(tree: ast.AST, module_parts: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree`` of module ``dgate.<module_parts>``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["dgate", *module_parts[:-1]]
                base = base[:len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
                found.append((node.lineno, name))
                if not node.module:     # from . import x, from .. import y: x/y are modules of base
                    found.extend((node.lineno, f"{name}.{alias.name}") for alias in node.names)
            else:
                found.append((node.lineno, node.module or ""))
                if node.module == "dgate":
                    found.extend((node.lineno, f"dgate.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def allowed(source: str, target: str) -> bool:
    """May package ``source`` of dgate import package ``target``?"""
    if source == target or (source, target) in ALLOWED:
        return True
    if target in FOUNDATION:
        return True
    if source in FOUNDATION:
        return False
    if source in TOP:
        return True
    if target in TOP:
        return False
    if source in CAPABILITIES:
        return target in CAPABILITIES or target in LAYERS[:4]
    if target in CAPABILITIES:
        return source == "commands"
    return LAYERS.index(target) <= LAYERS.index(source)


def violations(root: Path) -> list[str]:
    """``path:line: dgate.a imports dgate.b.c`` for every import against the layer order."""
    bad: list[str] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        source = parts[0][:-3] if len(parts) == 1 else parts[0]
        if source in ("__init__", "__main__") or path.name == "__main__.py":
            continue        # entry points (python3 -m dgate.x) are at the top, as cli
        for line, name in imported_modules(ast.parse(path.read_text(), str(path)), parts):
            pieces = name.split(".")
            if pieces[0] != "dgate" or len(pieces) < 2:
                continue
            if not allowed(source, pieces[1]):
                bad.append(f"{path.relative_to(root.parent)}:{line}: dgate.{source} imports {name}")
    return bad


def test_no_lower_layer_imports_a_higher_one():
    assert violations(PACKAGE) == []


def test_allow_list_entries_are_still_needed():
    """An allowance nobody uses any more is removed, so the list stays honest."""
    used = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).parts
        source = parts[0][:-3] if len(parts) == 1 else parts[0]
        for _, name in imported_modules(ast.parse(path.read_text()), parts):
            pieces = name.split(".")
            if pieces[0] == "dgate" and len(pieces) > 1:
                used.add((source, pieces[1]))
    assert [pair for pair in ALLOWED if pair not in used] == []


def test_the_scan_finds_each_kind_of_violation(tmp_path):
    """The checker itself: absolute, relative, lazy (in a function), ``from dgate import x``
    and ``importlib.import_module`` imports against the order are all reported; allowed ones not."""
    root = tmp_path / "dgate"
    files = {
        "net/bad.py": "from ..services import plugin\n",
        "store/bad.py": "def f():\n    import dgate.hl7.importer\n",
        "db/bad.py": "from ..store import devices\n",
        "config/bad.py": "from dgate import net\n",
        "runtime/bad.py": "import importlib\nimportlib.import_module('dgate.store.ingest')\n",
        "hl7/bad.py": "from ..commands import context\n",
        "services/good.py": "from ..net.hooks import PRINTSERVER\nfrom ..store import dropped\nfrom . import table\n",
        "commands/good.py": "from ..hl7 import plugin\nfrom ..net import server\n",
        "cli/good.py": "from ..hub import plugins\n",
        "web/__main__.py": "from ..hub import plugins\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    found = violations(root)
    assert [line.split(": ", 1)[1] for line in found] == [
        "dgate.config imports dgate.net",
        "dgate.db imports dgate.store",
        "dgate.hl7 imports dgate.commands",
        "dgate.net imports dgate.services",
        "dgate.runtime imports dgate.store.ingest",
        "dgate.store imports dgate.hl7.importer",
    ], found
    assert found[0].startswith("dgate/config/bad.py:1: ")
