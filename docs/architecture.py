"""The package's layers and its import graph, read from the code; writes the diagram of
docs/architecture.md (between its ``diagram`` markers). ``test/unit/core/test_architecture.py``
fails when an import breaks the layer order, closes a circle, or the diagram is stale.

    python docs/architecture.py
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "semg_grasp_ros"
OUT = ROOT / "docs" / "architecture.md"

#: Layers, lowest first: a module imports modules of lower layers and of its own package only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),  # the top-level modules: errors, config, paths, types, topics, checkpoint, geometry, ...
    ("emg", "perception", "hand"),
    ("intent", "grasp", "msgs"),
    ("pipeline",),
    ("ros", "cli"),
)
RANK = {group: rank for rank, groups in enumerate(LAYERS) for group in groups}
#: Third-party modules only the ROS adapters may import.
ROS_ONLY = ("rclpy", "rcl_interfaces", "tf2_ros", "launch", "launch_ros", "builtin_interfaces", "std_msgs",
            "sensor_msgs", "geometry_msgs", "visualization_msgs", "trajectory_msgs", "moveit_msgs")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def group(module: str) -> str:
    """The package a module belongs to (``emg``, ``pipeline``, ...) or ``core``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "core"


def imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) of every import in ``path``, function-level ones included;
    ``from X import name`` counts as X.name where that is a module."""
    module = module_name(path)
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                target = ".".join(base[: len(base) - node.level + 1] + ([target] if target else []))
            for a in node.names:
                sub = f"{target}.{a.name}"
                known = (PACKAGE.parent / sub.replace(".", "/")).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / sub.replace(".", "/") / "__init__.py").is_file()
                out.append((sub if known else target, node.lineno))
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[module_name(path)] = {m for m, _ in imports(path) if m.startswith("semg_grasp_ros") and
                                    m != module_name(path)}
    return graph


def layer_violations() -> list[str]:
    """Imports against the layer order, and ROS imports outside ``ros/``."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = module_name(path)
        for target, line in imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if target.split(".")[0] in ROS_ONLY and group(src) != "ros":
                bad.append(f"{where} imports {target} outside ros/")
            if not target.startswith("semg_grasp_ros"):
                continue
            a, b = group(src), group(target)
            if a != b and RANK[b] >= RANK[a]:
                bad.append(f"{where}: {a} imports {target} ({b}, not a lower layer)")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles between modules (strongly connected components of more than one module)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def diagram() -> str:
    """A Mermaid flowchart of the packages by layer, an arrow from each package to each one it
    imports, drawn from the import graph."""
    edges = set()
    for src, targets in import_graph().items():
        for t in targets:
            a, b = group(src), group(t)
            if a != b:
                edges.add((a, b))
    lines = ["```mermaid", "flowchart TD"]
    for rank in reversed(range(len(LAYERS))):
        lines.append(f"  subgraph L{rank}[\"{' / '.join(LAYERS[rank])}\"]")
        lines += [f"    {g}" for g in LAYERS[rank]]
        lines.append("  end")
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines)


def render() -> str:
    """docs/architecture.md with its diagram replaced by the current one."""
    text = OUT.read_text()
    return re.sub(r"(<!-- diagram -->\n).*?(\n<!-- /diagram -->)", lambda m: m[1] + diagram() + m[2], text,
                  flags=re.S)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
