"""Synthesis work units and executors: fixed units, the same outcomes in this process and on a
local Ray cluster (also when a worker is killed mid-run), and ``data synth --ray``."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from semg_grasp_ros.errors import ConfigError
from semg_grasp_ros.grasp.data import dataset as ds
from semg_grasp_ros.grasp.data.executors import (
    LocalExecutor,
    RayExecutor,
    SynthesisSettings,
    WorkUnit,
    plan_units,
    synthesise_unit,
)
from semg_grasp_ros.grasp.data.objects import procedural_object
from semg_grasp_ros.grasp.data.synthesis import SynthesisConfig

# small enough for seconds per unit, large enough that some candidates pass (see test_synthesis_grasp)
SETTINGS = SynthesisSettings(SynthesisConfig(candidates=6, steps=80, grid_size=40, surface_samples=400),
                             types=("tip", "palmar"), seed=3)


def _objects():
    return [procedural_object("sphere", 7), procedural_object("sphere", 2), procedural_object("box", 1)]


def _flat(outcomes):
    """Every number an outcome holds, by name (for exact comparisons)."""
    out = {}
    for o in outcomes:
        key = o.obj.object_id
        out[key] = {"joints": o.joints, "rot": o.rot, "trans": o.trans, "types": o.types, "stats": o.stats,
                    "sdf": None if o.sdf is None else o.sdf.distances, **o.metrics}
    return out


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].keys() == b[key].keys()
        for name, value in a[key].items():
            if isinstance(value, np.ndarray):
                assert value.dtype == b[key][name].dtype and np.array_equal(value, b[key][name]), (key, name)
            else:
                assert value == b[key][name], (key, name)


def test_plan_units_cuts_fixed_groups():
    objs = [procedural_object("sphere", k) for k in range(5)]
    ids = lambda units: [u.object_ids for u in units]
    full = plan_units(objs, set(), 2)
    assert ids(full) == [[o.object_id for o in objs[i : i + 2]] for i in (0, 2, 4)]
    # a resumed run cuts the same groups, less what is done: the units keep their seeds
    done = {objs[2].object_id, objs[3].object_id}
    again = plan_units(objs, done, 2)
    assert ids(again) == [ids(full)[0], ids(full)[2]]
    assert [u.seed(0) for u in again] == [full[0].seed(0), full[2].seed(0)]
    assert ids(plan_units(objs, set(), 2, limit=3)) == [ids(full)[0], [objs[2].object_id]]
    assert ids(plan_units(objs, {objs[0].object_id}, 2, limit=1)) == [[objs[1].object_id]]
    assert plan_units(objs, set(), 2, limit=0) == []
    assert full[0].seed(0) != full[0].seed(1) and full[0].seed(0) != full[1].seed(0)
    with pytest.raises(ConfigError):
        plan_units(objs, set(), 0)
    with pytest.raises(ConfigError):
        SynthesisSettings(types=("grip",))


@pytest.fixture(scope="module")
def local_run():
    units = plan_units(_objects(), set(), 2)
    return units, _flat(o for _, outs in LocalExecutor().run(units, SETTINGS) for o in outs)


def test_local_run_finds_grasps_and_units_do_not_depend_on_each_other(local_run):
    units, flat = local_run
    assert len(units) == 2 and len(flat) == 3
    stats = [s for o in flat.values() for s in o["stats"].values()]
    assert sum(s["pre_accepted"] for s in stats) > 0  # a comparison of real grasps, not of empty sets
    assert sum(len(o["joints"]) for o in flat.values()) > 0
    # the second unit alone gives what it gave after the first: nothing leaks between units
    _assert_same(_flat(synthesise_unit(units[1], SETTINGS)), {k: flat[k] for k in units[1].object_ids})


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_run_gives_the_same_outcomes(local_run, ray_cluster):
    units, flat = local_run
    results = list(RayExecutor().run(units, SETTINGS))
    assert sorted(u.object_ids for u, _ in results) == sorted(u.object_ids for u in units)
    _assert_same(_flat(o for _, outs in results for o in outs), flat)


def _workers_running(name="ray::synthesise_unit"):
    import psutil

    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.cmdline()[:1] == [name]:
                found.append(p)
        except psutil.Error:
            pass
    return found


def test_ray_worker_killed_mid_run_loses_nothing(local_run, ray_cluster):
    units, flat = local_run
    results, errors = [], []

    def drive():
        try:
            results.extend(RayExecutor(max_retries=2).run(units, SETTINGS))
        except Exception as exc:  # reported below
            errors.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    killed = None
    deadline = time.time() + 60
    while killed is None and driver.is_alive() and time.time() < deadline:
        running = _workers_running()
        if running:
            time.sleep(0.5)  # mid-unit
            killed = running[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    driver.join(120)
    assert killed is not None, "no unit was seen running"
    assert not errors and not driver.is_alive()
    _assert_same(_flat(o for _, outs in results for o in outs), flat)


def _kill_session(sid):
    """SIGKILL every process of session ``sid`` (one this test started with ``start_new_session``)."""
    import psutil

    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid:
                p.kill()
        except (psutil.Error, ProcessLookupError, PermissionError):
            pass


def _dataset(root):
    index = ds.read_index(root)
    files = {oid: dict(np.load(root / "objects" / e["file"])) for oid, e in index["objects"].items()}
    entries = {oid: {k: v for k, v in e.items() if k != "seconds"} for oid, e in index["objects"].items()}
    return entries, files, index["skipped"]


def test_data_synth_on_ray_writes_the_local_dataset(tmp_path, ray_cluster):
    from semg_grasp_ros.cli import main

    argv = ["data", "synth", "--objects-per-family", "1", "--limit", "3", "--batch-objects", "2", "--candidates", "2",
            "--steps", "2", "--dexgraspnet", "none", "--types", "palmar", "tip"]
    assert main(argv + ["--out", str(tmp_path / "local"), "--limit", "2"]) == 0  # a driver stopped after one unit
    assert main(argv + ["--out", str(tmp_path / "local"), "--limit", "1"]) == 0  # ... and resumed
    assert main(argv + ["--out", str(tmp_path / "ray"), "--ray"]) == 0  # the cluster started above
    local, ray_ = _dataset(tmp_path / "local"), _dataset(tmp_path / "ray")
    assert len(local[0]) == 3 and local[0] == ray_[0] and local[2] == ray_[2]
    for oid, arrays in local[1].items():
        assert arrays.keys() == ray_[1][oid].keys()
        for k, v in arrays.items():
            assert np.array_equal(v, ray_[1][oid][k]), (oid, k)


def test_data_synth_driver_killed_mid_run_resumes_to_the_same_dataset(tmp_path, ray_cluster):
    import subprocess
    import sys

    from semg_grasp_ros.cli import main

    argv = ["data", "synth", "--objects-per-family", "1", "--limit", "4", "--batch-objects", "1", "--candidates", "2",
            "--steps", "2", "--dexgraspnet", "none", "--types", "palmar", "tip"]
    assert main(argv + ["--out", str(tmp_path / "local")]) == 0
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "semg_grasp_ros.cli", *argv, "--out", str(tmp_path / "ray"), "--ray", "local"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    index = tmp_path / "ray" / "index.json"
    deadline = time.time() + 90
    while driver.poll() is None and time.time() < deadline:
        if index.exists() and ds.read_index(tmp_path / "ray")["objects"]:
            break
        time.sleep(0.05)
    _kill_session(driver.pid)  # the driver and the cluster it started
    driver.wait()
    done = len(ds.read_index(tmp_path / "ray")["objects"])
    assert 1 <= done < 4, "the driver was not killed mid-run"
    assert main(argv + ["--out", str(tmp_path / "ray"), "--ray"]) == 0  # rerun: finishes the set
    local, ray_ = _dataset(tmp_path / "local"), _dataset(tmp_path / "ray")
    assert local[0] == ray_[0] and local[2] == ray_[2]
    for oid, arrays in local[1].items():
        assert all(np.array_equal(v, ray_[1][oid][k]) for k, v in arrays.items()), oid
