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
    "semg_grasp_ros/grasp/physics.py": 891,
    "semg_grasp_ros/pipeline/bag_storage.py": 610,
    "semg_grasp_ros/emg/datasets.py": 599,
    "semg_grasp_ros/grasp/diffusion/training.py": 581,
    "semg_grasp_ros/grasp/refine.py": 514,
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
