"""The package's shape, read from its imports: arrows only downward (ros/cli -> pipeline ->
domain -> core), no import circle, no module beyond the size one can hold in the head, and
docs/architecture.md's diagram drawn from the current code."""

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _architecture():
    spec = importlib.util.spec_from_file_location("architecture_doc", DOCS / "architecture.py")
    doc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(doc)
    return doc


ARCH = _architecture()
#: Modules still over MAX_LINES, each with the most lines it may have (a ratchet: only down).
OVERSIZE = {
}
MAX_LINES = 500


def test_every_package_has_a_layer():
    groups = {ARCH.group(m) for m in ARCH.import_graph()}
    assert groups <= set(ARCH.RANK), groups - set(ARCH.RANK)


def test_imports_point_down_the_layers_and_rclpy_stays_in_ros():
    assert ARCH.layer_violations() == []


def test_no_import_circle():
    assert ARCH.cycles(ARCH.import_graph()) == []


def test_the_checks_catch_an_upward_import_and_a_circle():
    graph = {"semg_grasp_ros.emg.a": {"semg_grasp_ros.emg.b"}, "semg_grasp_ros.emg.b": {"semg_grasp_ros.emg.a"}}
    assert ARCH.cycles(graph) == [["semg_grasp_ros.emg.a", "semg_grasp_ros.emg.b"]]
    assert ARCH.RANK[ARCH.group("semg_grasp_ros.pipeline.graph")] > ARCH.RANK[ARCH.group("semg_grasp_ros.emg.x")]
    assert ARCH.group("semg_grasp_ros.errors") == "core" and ARCH.group("semg_grasp_ros.grasp.data.energy") == "grasp"


def test_modules_stay_small():
    root = ARCH.PACKAGE.parent
    sizes = {str(p.relative_to(root)): len(p.read_text().splitlines()) for p in ARCH.PACKAGE.rglob("*.py")}
    over = {p: n for p, n in sizes.items() if n > OVERSIZE.get(p, MAX_LINES)}
    assert over == {}, f"modules over {MAX_LINES} lines (split them by concern): {over}"


def test_the_architecture_diagram_is_current():
    assert ARCH.OUT.read_text() == ARCH.render(), "docs/architecture.md is stale: run python docs/architecture.py"


def _code_constants(path: Path):
    """(line, value) of the string and number constants of a module, docstrings left out."""
    import ast

    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)}
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs]


def test_every_default_model_user_and_object_is_written_once():
    """Shipped model names, simulated users and object specs appear once in the code: in the
    config dataclass that owns the default; everything else refers to that field."""
    import re

    models = ARCH.ROOT / "models"
    shipped = {p.stem for p in models.iterdir() if p.suffix == ".json" and not p.stem.startswith("emg_simulator_")}
    shipped |= {p.name for p in models.iterdir() if p.is_dir()}
    users = {p.stem.removeprefix("emg_simulator_") for p in models.glob("emg_simulator_*.json")}
    assert shipped >= {"intent_150ms", "grasp_improved"} and "female_1" in users
    seen: dict[str, list[str]] = {}
    for path in sorted(ARCH.PACKAGE.rglob("*.py")):
        for line, value in _code_constants(path):
            if isinstance(value, str) and (value in shipped | users or re.fullmatch(r"(sphere|box|cylinder):[\d.,]+", value)):
                seen.setdefault(value, []).append(f"{path.relative_to(ARCH.ROOT)}:{line}")
    twice = {v: places for v, places in seen.items() if len(places) > 1}
    assert twice == {}, f"defaults written more than once: {twice}"


def test_the_candidate_count_is_written_once():
    """The number of grasp candidates per request is the model's sampler setting
    (``SamplerConfig.num_candidates``, stored with each model); nothing else fixes it."""
    import ast

    places = []
    for path in sorted(ARCH.PACKAGE.rglob("*.py")):
        for n in ast.walk(ast.parse(path.read_text())):
            value = None
            if isinstance(n, ast.AnnAssign) and getattr(n.target, "id", "") == "num_candidates":
                value = n.value.args[0] if isinstance(n.value, ast.Call) and n.value.args else n.value
            elif isinstance(n, ast.keyword) and n.arg == "num_candidates":
                value = n.value
            if isinstance(value, ast.Constant) and isinstance(value.value, int) and value.value > 0:
                places.append(f"{path.relative_to(ARCH.ROOT)}:{n.lineno}")
    assert len(places) == 1, places
