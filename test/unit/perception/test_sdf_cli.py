"""``semg-grasp sdf`` end to end on small files."""

import numpy as np
import pytest

from semg_grasp_ros.cli import main
from semg_grasp_ros.perception.objects import Primitive
from semg_grasp_ros.perception.sdf import DistanceField


def test_mesh_to_npz(tmp_path):
    Primitive("box", (2.0, 4.0, 6.0)).mesh().export(tmp_path / "box.obj")
    out = tmp_path / "box.npz"
    assert main(["sdf", "--mesh", str(tmp_path / "box.obj"), "--scale", "0.01", "--size", "20",
                 "--margin", "0.01", "--out", str(out)]) == 0
    field = DistanceField.load_npz(out)
    assert field.distances.shape == (20, 20, 20) and field.is_signed
    assert field.voxel_size == pytest.approx((0.06 + 0.02) / 19)
    np.testing.assert_allclose(field.extent, [0.02, 0.04, 0.06], atol=1e-9)
    q = np.abs(field.layout.centres()) - [0.01, 0.02, 0.03]
    true = np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(axis=-1), 0)
    np.testing.assert_allclose(field.distances, true, atol=1e-5)


def test_cloud_files_to_npz(tmp_path):
    import open3d as o3d

    pts = Primitive("sphere", (0.05,)).sample_surface(3000, seed=0)
    o3d.io.write_point_cloud(str(tmp_path / "s.ply"), o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts)))
    np.save(tmp_path / "s.npy", pts)
    for name in ("s.ply", "s.npy"):
        out = tmp_path / f"{name}.npz"
        assert main(["sdf", "--cloud", str(tmp_path / name), "--signed-hull", "--out", str(out)]) == 0
        field = DistanceField.load_npz(out)
        true = np.linalg.norm(field.layout.centres(), axis=-1) - 0.05
        assert field.is_signed and np.abs(field.distances - true)[np.abs(true) < 0.02].mean() < 0.3 * field.voxel_size


def test_user_mistakes_exit_2(tmp_path, capsys):
    assert main(["sdf", "--cloud", str(tmp_path / "none.pcd"), "--out", str(tmp_path / "o.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "c.txt").write_text("1 2 3\n")
    assert main(["sdf", "--cloud", str(tmp_path / "c.txt"), "--out", str(tmp_path / "o.npz")]) == 2
    assert "has suffix '.txt'" in capsys.readouterr().err
