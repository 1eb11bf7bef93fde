"""DexGraspNet files: grasp .npy (safe loading), convex pieces, the eval CLI and grasp pictures."""

import json
import pickle

import numpy as np
import pytest

from semg_grasp_ros.cli import main as cli_main
from semg_grasp_ros.errors import DatasetError
from semg_grasp_ros.grasp.data.dexgraspnet import load_convex_pieces, load_grasps, mesh_path, read_object_npy
from semg_grasp_ros.hand.model import DEXGRASPNET_JOINTS

OBJ = """o convex_0
v 0 0 0
v 1 0 0
v 0 1 0
v 0 0 1
f 1 3 2
f 1 2 4
f 1 4 3
f 2 3 4
o convex_1
v 2 0 0
v 3 0 0
v 2 1 0
v 2 0 1
f 5 7 6
f 5 6 8
f 5 8 7
f 6 7 8
"""


def _qpos(seed):
    rng = np.random.default_rng(seed)
    keys = list(DEXGRASPNET_JOINTS) + ["WRJRx", "WRJRy", "WRJRz", "WRJTx", "WRJTy", "WRJTz"]
    return {k: float(v) for k, v in zip(keys, rng.uniform(-0.3, 0.3, 28))}


def test_grasp_file_round_trip_and_refusal(tmp_path):
    entries = np.array([{"qpos": _qpos(i), "scale": 0.1} for i in range(3)], dtype=object)
    np.save(tmp_path / "obj.npy", entries, allow_pickle=True)
    g = load_grasps(tmp_path / "obj.npy")
    assert len(g) == 3 and g.object_code == "obj" and np.all(g.scale == 0.1)
    assert g.joints[0, 0] == pytest.approx(-entries[0]["qpos"]["robot0:FFJ3"])
    np.testing.assert_allclose(g.trans[2], [entries[2]["qpos"][k] for k in ("WRJTx", "WRJTy", "WRJTz")])

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    evil = np.empty(1, dtype=object)
    evil[0] = Evil()
    with open(tmp_path / "evil.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(evil, f, protocol=3)
    with pytest.raises(DatasetError, match="refusing"):
        read_object_npy(tmp_path / "evil.npy")
    np.save(tmp_path / "plain.npy", np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(read_object_npy(tmp_path / "plain.npy"), np.arange(6.0).reshape(2, 3))
    with pytest.raises(DatasetError):
        load_grasps(tmp_path / "plain.npy")
    with pytest.raises(DatasetError):
        load_grasps(tmp_path / "missing.npy")


def test_convex_pieces_split_and_scale(tmp_path):
    (tmp_path / "m.obj").write_text(OBJ)
    pieces = load_convex_pieces(tmp_path / "m.obj", scale=0.5)
    assert len(pieces) == 2
    v1, f1 = pieces[1]
    np.testing.assert_allclose(v1, [[1.0, 0, 0], [1.5, 0, 0], [1.0, 0.5, 0], [1.0, 0, 0.5]])
    assert f1.min() == 0 and f1.max() == 3
    (tmp_path / "empty.obj").write_text("v 0 0 0\n")
    with pytest.raises(DatasetError):
        load_convex_pieces(tmp_path / "empty.obj")


def test_sample_files(data_root):
    sample = data_root / "grasps" / "dexgraspnet_sample"
    files = sorted((sample / "dataset").glob("*.npy")) if sample.is_dir() else []
    if len(files) != 4:
        pytest.skip("DexGraspNet sample not found")
    counts = {f.stem.split("-")[0]: len(load_grasps(f)) for f in files}
    assert sorted(counts.values()) == [205, 236, 246, 248]
    pieces = load_convex_pieces(mesh_path(sample, "core-mug-8570d9a8d24cb0acbebd3c0c0c70fb03"), 0.1)
    assert len(pieces) == 27
    extent = np.ptp(np.vstack([v for v, _ in pieces]), axis=0)
    np.testing.assert_allclose(extent, [0.111, 0.124, 0.155], atol=0.002)  # mug at scale 0.1, metres


def test_eval_cli(data_root, tmp_path):
    f = data_root / "grasps" / "dexgraspnet_sample" / "dataset" / "ddg-gd_banana_poisson_002.npy"
    if not f.exists():
        pytest.skip("DexGraspNet sample not found")
    out = tmp_path / "eval.json"
    assert cli_main(["eval", "grasps", str(f), "--json", str(out), "--limit", "3", "--workers", "1",
                     "--pictures", "2"]) == 0
    from PIL import Image

    drawn = sorted((tmp_path / "eval_pictures").glob("*.png"))
    assert [p.name for p in drawn] == ["grasp_0000.png", "grasp_0002.png"]  # the first and the last
    assert all(Image.open(p).size == (1280, 720) for p in drawn)
    d = json.loads(out.read_text())
    assert d["summary"]["n"] == 3 and len(d["grasps"]) == 3 and d["protocol"]["friction"] == 0.6
    assert cli_main(["eval", "grasps", str(f), "--json", str(out), "--limit", "1", "--protocol", "lenient"]) == 0
    assert json.loads(out.read_text())["protocol"]["friction"] == 3.0
    assert cli_main(["eval", "grasps", str(tmp_path / "none.npy"), "--json", str(out)]) == 2


def test_render_png(tmp_path):
    import trimesh

    from semg_grasp_ros.grasp.render import render_grasp

    box = trimesh.creation.box(extents=[0.04, 0.04, 0.04])
    pieces = [(np.asarray(box.vertices) + [0.0, -0.04, 0.08], np.asarray(box.faces))]
    q = np.zeros(22)
    q[[1, 5, 9, 14]] = 0.8
    for backend in ("matplotlib", "auto"):
        path = tmp_path / f"{backend}.png"
        img = render_grasp(q, np.eye(3), np.zeros(3), pieces, path, width=160, height=120, backend=backend)
        assert img.shape == (120, 320, 3) and path.stat().st_size > 1000
        orange = (img[..., 0] > 180) & (img[..., 1] > 80) & (img[..., 1] < 170) & (img[..., 2] < 100)
        grey = (np.abs(img[..., 0].astype(int) - img[..., 2]) < 25) & (img[..., 0] > 90) & (img[..., 0] < 220)
        assert orange.sum() > 50 and grey.sum() > 50  # object and hand both visible


def test_captioned_picture_and_animation_over_the_table(tmp_path):
    import trimesh
    from PIL import Image

    from semg_grasp_ros.grasp.render import grasp_animation, grasp_picture
    from semg_grasp_ros.hand.trajectory import plan_grasp

    box = trimesh.creation.box(extents=[0.05, 0.05, 0.1])
    pieces = [(np.asarray(box.vertices) + [0.0, 0.0, 0.05], np.asarray(box.faces))]  # standing on z = 0
    rot = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # palm (-y) facing down
    trans = np.array([-0.03, 0.0, 0.14])
    q = np.zeros(22)
    q[[1, 2, 5, 6, 9, 10, 14, 15]] = 0.8
    img = grasp_picture(q, rot, trans, pieces, "tip grasp of a box\nphysics: held", tmp_path / "g.png")
    assert img.shape == (720, 1280, 3) and Image.open(tmp_path / "g.png").size == (1280, 720)
    caption = img[-80:]
    assert (caption.min(axis=2) < 100).sum() > 500  # dark text on the light band
    lo, hi = -np.ones(22), 2 * np.ones(22)
    trajectory = plan_grasp(np.zeros(22), q, rot, trans, lo, hi, np.full(22, 2.0))
    n = grasp_animation(trajectory, pieces, tmp_path / "g.gif", frames=6, size=(160, 120))
    if n == 0:
        pytest.skip("no OpenGL context for MuJoCo here")
    gif = Image.open(tmp_path / "g.gif")
    assert gif.n_frames == 6 and gif.size == (160, 120)
    first = np.asarray(gif.convert("RGB"), dtype=int)
    gif.seek(5)
    assert np.abs(np.asarray(gif.convert("RGB"), dtype=int) - first).sum() > 1000  # the hand moved
