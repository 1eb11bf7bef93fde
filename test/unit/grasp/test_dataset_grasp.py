"""Grasp dataset files, loader and splits; the object set (procedural objects, bad meshes)."""

import json

import numpy as np
import pytest
import torch
import trimesh

from semg_grasp_ros import GRASP_TYPES
from semg_grasp_ros.errors import DataError, DatasetError
from semg_grasp_ros.grasp.data import dataset as ds
from semg_grasp_ros.grasp.data.objects import (
    DEFAULT_COUNTS,
    MAX_EXTENT,
    check_object,
    dexgraspnet_objects,
    procedural_object,
    procedural_objects,
)
from semg_grasp_ros.geometry import euler_sxyz_to_matrix
from semg_grasp_ros.hand.convert import from_dexgraspnet_qpos, to_dexgraspnet_qpos
from semg_grasp_ros.hand.model import DEXGRASPNET_JOINTS, DEXGRASPNET_ROTATION, DEXGRASPNET_TRANSLATION
from semg_grasp_ros.perception.sdf import DistanceField


def _random_grasps(n, seed=0):
    rng = np.random.default_rng(seed)
    joints = rng.uniform(-0.3, 1.2, size=(n, 22))
    rot = euler_sxyz_to_matrix(rng.uniform([-3, -1.4, -3], [3, 1.4, 3], size=(n, 3)))
    trans = rng.uniform(-0.2, 0.2, size=(n, 3))
    return joints, rot, trans


def _field():
    d = np.linspace(-0.01, 0.05, 8 ** 3, dtype=np.float32).reshape(8, 8, 8)
    return DistanceField(d, np.array([-0.1, -0.1, -0.1]), 0.02, True, np.zeros(3), np.full(3, 0.1))


def _pieces():
    box = trimesh.creation.box(extents=(0.04, 0.05, 0.06))
    return [(np.asarray(box.vertices), np.asarray(box.faces))]


def test_grasp_vectors_follow_the_dexgraspnet_qpos_layout():
    joints, rot, trans = _random_grasps(5)
    g = ds.arrays_to_grasps(joints, rot, trans)
    qpos = to_dexgraspnet_qpos(joints, rot, trans)  # independent conversion (dict per grasp)
    keys = DEXGRASPNET_JOINTS + DEXGRASPNET_ROTATION + DEXGRASPNET_TRANSLATION
    expected = np.array([[d[k] for k in keys] for d in qpos])
    np.testing.assert_allclose(g, expected, atol=1e-5)
    j2, r2, t2 = ds.grasps_to_arrays(g)
    j3, r3, t3 = from_dexgraspnet_qpos(qpos)
    np.testing.assert_allclose(j2, j3, atol=1e-5)
    np.testing.assert_allclose(r2, rot, atol=1e-5)
    np.testing.assert_allclose(t2, trans, atol=1e-6)
    with pytest.raises(DatasetError):
        ds.grasps_to_arrays(np.zeros((2, 27)))


def test_splits_are_stable_and_by_group():
    groups = [f"proc/box-{i:04d}" for i in range(400)]
    splits = [ds.split_of(g) for g in groups]
    assert splits == [ds.split_of(g) for g in groups]
    share = {s: splits.count(s) / len(splits) for s in ds.SPLITS}
    assert 0.05 < share["test"] < 0.16 and 0.05 < share["val"] < 0.16 and share["train"] > 0.7
    assert ds.split_of("anything", val_fraction=0.0, test_fraction=0.0) == "train"


def test_object_file_round_trip(tmp_path):
    joints, rot, trans = _random_grasps(6)
    types = np.array([0, 1, 2, 3, 4, 5])
    path = tmp_path / "objects" / ds.object_file_name("proc/box-0001")
    assert path.name == "proc_box-0001.npz"
    ds.save_object(path, object_id="proc/box-0001", group="proc/box-0001", family="box", source="synthesis",
                   scale=1.0, grasps=ds.arrays_to_grasps(joints, rot, trans), types=types, field=_field(),
                   pieces=_pieces() * 2, metrics={"physics_success": np.ones(6, bool)})
    rec = ds.load_object(path)
    assert rec.object_id == "proc/box-0001" and rec.family == "box" and len(rec) == 6
    np.testing.assert_array_equal(rec.types, types)
    assert rec.sdf.shape == (8, 8, 8) and rec.sdf_voxel_size == pytest.approx(0.02)
    assert len(rec.pieces) == 2
    np.testing.assert_allclose(rec.pieces[1][0], _pieces()[0][0])
    np.testing.assert_array_equal(rec.pieces[1][1], _pieces()[0][1])
    assert rec.metrics["physics_success"].all()
    assert not list(path.parent.glob("*.tmp*"))
    with pytest.raises(DatasetError):
        ds.save_object(path, object_id="x", group="x", family="box", source="s", scale=1.0,
                       grasps=np.zeros((2, 28)), types=np.zeros(2), field=_field(), pieces=_pieces(),
                       metrics={"bad": np.zeros(3)})


def test_load_object_rejects_foreign_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, grasps=np.zeros((1, 28)))
    with pytest.raises(DatasetError, match="lacks"):
        ds.load_object(bad)
    with pytest.raises(DatasetError):
        ds.load_object(tmp_path / "missing.npz")


def _write_dataset(root, n_objects=6):
    index = {"format_version": ds.FORMAT_VERSION, "objects": {}, "skipped": {"proc/x": "too large"}}
    for k in range(n_objects):
        oid = f"proc/sphere-{k:04d}"
        joints, rot, trans = _random_grasps(4, seed=k)
        types = np.array([k % 6, (k + 1) % 6, k % 6, 2])
        ok = np.array([True, True, False, True])
        ds.save_object(root / "objects" / ds.object_file_name(oid), object_id=oid, group=oid, family="sphere",
                       source="synthesis", scale=1.0, grasps=ds.arrays_to_grasps(joints, rot, trans), types=types,
                       field=_field(), pieces=_pieces(), metrics={"physics_success": ok})
        split = ["train", "train", "train", "val", "test", "train"][k]
        counts = {GRASP_TYPES[t]: int(np.sum(types[ok] == t)) for t in np.unique(types[ok])}
        index["objects"][oid] = {"file": ds.object_file_name(oid), "group": oid, "split": split,
                                 "grasps_per_type": counts}
    ds.write_index(root, index)
    return index


def test_torch_dataset_items_splits_and_filters(tmp_path):
    _write_dataset(tmp_path)
    train = ds.GraspDataset(tmp_path, "train")
    assert len(train) == 4 * 3  # objects 0, 1, 2, 5; one grasp each failed physics
    item = train[0]
    assert item["grasp"].shape == (28,) and item["joints"].shape == (22,) and item["rot"].shape == (3, 3)
    assert item["sdf"].shape == (1, 8, 8, 8) and item["sdf"].dtype == torch.float32
    assert item["type"].dtype == torch.int64
    # the item's grasp and its split parts describe the same grasp
    j, r, t = ds.grasps_to_arrays(item["grasp"].numpy()[None])
    np.testing.assert_allclose(j[0], item["joints"].numpy(), atol=1e-4)
    np.testing.assert_allclose(t[0], item["trans"].numpy(), atol=1e-6)
    everything = ds.GraspDataset(tmp_path, "all", physics_only=False)
    assert len(everything) == 24
    hooks = ds.GraspDataset(tmp_path, "all", types=["hook"])
    assert set(hooks.types.tolist()) == {2} and hooks.type_counts()["hook"] == len(hooks)
    loader = torch.utils.data.DataLoader(train, batch_size=5, shuffle=True)
    batch = next(iter(loader))
    assert batch["sdf"].shape == (5, 1, 8, 8, 8)
    with pytest.raises(DatasetError, match="split"):
        ds.GraspDataset(tmp_path, "holdout")
    with pytest.raises(DatasetError, match="unknown grasp types"):
        ds.GraspDataset(tmp_path, "train", types=["power"])
    summary = ds.dataset_summary(tmp_path)
    assert summary["objects"] == 6 and summary["grasps"] == 18 and summary["skipped_objects"] == 1


def test_procedural_objects_are_deterministic_and_independent():
    a = procedural_object("cylinder", 3, seed=7)
    b = procedural_object("cylinder", 3, seed=7)
    c = procedural_object("cylinder", 4, seed=7)
    np.testing.assert_array_equal(a.vertices, b.vertices)
    assert not np.allclose(a.vertices[:10], c.vertices[:10])
    small = procedural_objects({"cylinder": 4, "plate": 1}, seed=7)
    assert small[3].object_id == "proc/cylinder-0003"
    np.testing.assert_array_equal(small[3].vertices, a.vertices)
    with pytest.raises(DataError):
        procedural_object("teapot", 0)


@pytest.mark.parametrize("family", list(DEFAULT_COUNTS))
def test_every_family_gives_graspable_closed_objects(family):
    for i in range(3):
        o = procedural_object(family, i)
        assert check_object(o.pieces) is None, (o.object_id, check_object(o.pieces))
        assert o.extents.max() <= MAX_EXTENT
        assert set(o.types) <= set(GRASP_TYPES)
        # centred on its bounding box
        v = o.vertices
        np.testing.assert_allclose((v.max(0) + v.min(0)) / 2, 0, atol=1e-9)


def test_family_types_follow_the_definitions():
    assert "lateral" in procedural_object("plate", 0).types
    assert procedural_object("handle", 0).types == ("hook",)
    big = [procedural_object("sphere", i) for i in range(24)]
    for o in big:
        d = o.params["radius"] * 2
        assert ("spherical" in o.types) == (0.045 <= d <= 0.11)
        assert ("tip" in o.types) == (d <= 0.045)


def test_bad_meshes_are_rejected_with_a_reason():
    box = trimesh.creation.box(extents=(0.05, 0.05, 0.05))
    v, f = np.asarray(box.vertices), np.asarray(box.faces)
    assert check_object([(v, f)]) is None
    assert "non-watertight" in check_object([(v, f[:-2])])
    assert "degenerate" in check_object([(v[:3], f[:1])])
    flat = v.copy()
    flat[:, 2] = 0
    assert "zero volume" in check_object([(flat, f)]) or "non-watertight" in check_object([(flat, f)])
    assert "too large" in check_object([(v * 10, f)])
    assert "too small" in check_object([(v * 0.1, f)])
    assert "wrong scale" in check_object([(v, f)], raw_extent=150.0)
    nan = v.copy()
    nan[0, 0] = np.nan
    assert "degenerate" in check_object([(nan, f)])
    assert check_object([]) == "no geometry"


def test_dexgraspnet_sample_objects_at_their_scales(data_root):
    root = data_root / "grasps" / "dexgraspnet_sample"
    if not root.is_dir():
        pytest.skip("DexGraspNet sample not available")
    objects, skipped = dexgraspnet_objects(root)
    ids = {o.object_id for o in objects} | {s[0] for s in skipped}
    assert len(ids) == 20  # 4 meshes x 5 scales
    mug = next(o for o in objects if o.object_id.endswith("core-mug-8570d9a8d24cb0acbebd3c0c0c70fb03@0.100"))
    assert mug.scale == pytest.approx(0.1) and mug.group == "dgn/core-mug-8570d9a8d24cb0acbebd3c0c0c70fb03"
    np.testing.assert_allclose(np.sort(mug.extents), [0.111, 0.124, 0.155], atol=0.002)  # PROVENANCE figures
    assert "hook" in mug.types
    assert all(reason for _, reason in skipped)


def test_index_round_trip(tmp_path):
    assert ds.read_index(tmp_path)["objects"] == {}
    ds.write_index(tmp_path, {"objects": {"a": {"split": "train"}}, "skipped": {}})
    assert json.loads((tmp_path / "index.json").read_text())["objects"]["a"]["split"] == "train"
    (tmp_path / "index.json").write_text("{broken")
    with pytest.raises(DatasetError):
        ds.read_index(tmp_path)


def test_data_synth_cli_writes_and_resumes(tmp_path, capsys):
    from semg_grasp_ros.cli import main

    argv = ["data", "synth", "--out", str(tmp_path), "--objects-per-family", "1", "--limit", "1", "--candidates", "2",
            "--steps", "2", "--dexgraspnet", "none", "--types", "palmar", "tip"]
    assert main(argv) == 0
    first = ds.read_index(tmp_path)
    assert len(first["objects"]) == 1
    (oid, entry), = first["objects"].items()
    path = tmp_path / "objects" / entry["file"]
    stamp = path.stat().st_mtime_ns
    rec = ds.load_object(path)
    assert rec.object_id == oid and rec.sdf.shape == (50, 50, 50) and len(rec.pieces) >= 1
    assert sum(s["candidates"] for s in entry["stats"].values()) >= 2
    assert main(argv) == 0  # resumes: a second object, the first left alone
    second = ds.read_index(tmp_path)
    assert len(second["objects"]) == 2 and path.stat().st_mtime_ns == stamp
    assert main(argv[:-3] + ["--seed", "5"]) == 2  # another seed cannot resume this folder
    assert "seed" in capsys.readouterr().err
