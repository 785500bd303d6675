"""The import graph of the segbench package: no cycle, and no module importing a layer above its own.

Run `python tests/import_graph.py` to print the layers and each unit's imports (exit 1 on a violation);
tests/test_import_graph.py runs the same check. Imports inside functions count like the others.
"""

import ast
import graphlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "segbench"

# Bottom to top. A unit is a top-level module or subpackage of segbench; it may import units of lower
# layers and of its own layer (without a cycle), never of a higher one.
LAYERS = [
    ["__init__", "errors", "text", "identity", "metric_info", "record_schema", "crf", "metrics", "metrics_reference", "samples",
     "progress", "records"],
    ["models", "dataconfig"],
    ["config"],
    ["schema_errors"],
    ["entries", "data", "determinism", "environment", "launch", "interrupt", "distributed"],
    ["trainstate", "suitefile", "matrix", "train", "evaluate", "tta", "score", "report", "results", "jobs", "failures"],
    ["probe", "check"],
    ["runner", "profiling"],
    ["clikit", "datacli", "checkcli", "cli", "__main__"],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The segbench modules `path` imports (relative imports resolved; `from pkg import mod` names mod)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "segbench"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            if base.split(".")[0] == "segbench":
                found |= {f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names}
    return found - {name}


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def problems(modules: dict[str, set[str]]) -> list[str]:
    """Cycles among modules and imports of a higher layer's unit, as readable lines."""
    layer = {u: i for i, units in enumerate(LAYERS) for u in units}
    found = [f"{m}: unit {unit(m)!r} has no layer in LAYERS" for m in modules if unit(m) not in layer]
    for m, deps in modules.items():
        for d in sorted(deps):
            if layer.get(unit(d), -1) > layer.get(unit(m), len(LAYERS)):
                found.append(f"{m} imports {d}: layer {layer[unit(d)]} is above layer {layer[unit(m)]}")
    try:
        graphlib.TopologicalSorter(modules).prepare()
    except graphlib.CycleError as exc:
        found.append(f"import cycle: {' -> '.join(exc.args[1])}")
    return found


def main() -> int:
    modules = graph()
    for i, units in enumerate(LAYERS):
        print(f"layer {i}: {', '.join(units)}")
    by_unit: dict[str, set[str]] = {}
    for m, deps in modules.items():
        by_unit.setdefault(unit(m), set()).update(unit(d) for d in deps if unit(d) != unit(m))
    for u in (u for units in LAYERS for u in units):
        print(f"  {u} -> {', '.join(sorted(by_unit.get(u, ()))) or '(nothing)'}")
    found = problems(modules)
    print("\n".join(found) if found else f"ok: {len(modules)} modules, no cycle, no upward import")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
