"""The code's shape: no import circles between genrt's modules (imports inside functions count), modules of at
most 300 lines with a docstring, and no environment writes in library code."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genrt"
MAX_LINES = 300


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of genrt (a package's __init__ under the package's name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The genrt modules `path` imports anywhere in it, at the top or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from genrt.runtime import environment` imports a module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def test_no_import_circles_between_modules():
    known = modules()
    packages = {name for name, path in known.items() if path.name == "__init__.py"}
    # A package's __init__ re-exports its modules; a module reaching its package's names is not a circle of design.
    graph = {name: imports(path, name, known) - packages for name, path in known.items() if name not in packages}
    circles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_modules_are_small_and_say_what_they_are():
    for name, path in modules().items():
        lines = path.read_text().count("\n")
        assert lines <= MAX_LINES, f"{name} has {lines} lines (at most {MAX_LINES}): split it by concept"
        assert ast.get_docstring(ast.parse(path.read_text())), f"{name} has no docstring"


def test_library_code_does_not_write_the_environment():
    for name, path in modules().items():
        if name.startswith("genrt.cli"):
            continue  # the command line may set variables for the process it runs
        for node in ast.walk(ast.parse(path.read_text())):
            target = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                    "setdefault", "update", "pop") and ast.unparse(target) == "os.environ":
                raise AssertionError(f"{name}:{node.lineno} writes os.environ")
            if isinstance(node, (ast.Assign, ast.Delete)):
                for t in getattr(node, "targets", []):
                    if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ":
                        raise AssertionError(f"{name}:{node.lineno} writes os.environ")
