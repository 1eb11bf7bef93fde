"""Real objects load: convex decompositions as they come (V-HACD, CoACD) become closed convex
pieces MuJoCo compiles; degenerate pieces are thickened or dropped; DexGraspBench grasp files
round-trip."""

import logging

import numpy as np
import pytest
import trimesh

from semg_grasp_ros.errors import DataError
from semg_grasp_ros.grasp.data.dexgraspbench import posture_from_qpos, posture_to_qpos, read_grasp, write_grasp
from semg_grasp_ros.grasp.data.objects import MIN_PIECE_THICKNESS, close_pieces, mesh_pieces
from semg_grasp_ros.grasp.physics import PhysicsConfig, build_model
from semg_grasp_ros.grasp.posture import GraspPostures, HandPosture
from semg_grasp_ros.perception.sdf import GridSpec, sdf_from_mesh


def test_close_pieces_thickens_flat_and_drops_degenerate(caplog):
    cube = trimesh.creation.box(extents=(0.02, 0.02, 0.02))
    square = np.array([[0, 0, 0], [0.03, 0, 0], [0, 0.03, 0], [0.03, 0.03, 0]], float)  # coplanar
    line = np.array([[0, 0, 0], [0.01, 0, 0], [0.02, 0, 0]], float)
    with caplog.at_level(logging.WARNING):
        out = close_pieces([(cube.vertices, cube.faces), (square, np.zeros((0, 3))), (line, np.zeros((0, 3)))], "test")
    assert len(out) == 2 and "1 of 3 convex pieces thickened" in caplog.text and "1 dropped" in caplog.text
    flat = trimesh.Trimesh(*out[1])
    assert flat.is_watertight and np.ptp(flat.vertices[:, 2]) == pytest.approx(MIN_PIECE_THICKNESS)
    build_model(out, PhysicsConfig(hand="urdf"))  # MuJoCo compiles the thickened piece
    with pytest.raises(DataError, match="nothing graspable"):
        close_pieces([(line, np.zeros((0, 3)))], "test")


def test_every_ycb_object_loads(data_root):
    """Every object of the YCB folder (V-HACD decompositions, metres) gives closed pieces that
    compile into the physics model and a mesh for its field."""
    folders = sorted(p for p in (data_root / "objects" / "ycb").glob("*") if (p / "collision_vhacd.obj").is_file())
    if not folders:
        pytest.skip("YCB objects not found")
    for folder in folders:
        pieces, mesh = mesh_pieces(folder / "collision_vhacd.obj")
        assert pieces and all(trimesh.Trimesh(v, f).is_watertight for v, f in pieces), folder.name
        assert 0.01 < np.ptp(mesh.vertices, axis=0).max() < 0.5, folder.name
        # solid, not a shell of faces: the pieces fill a good part of their bounding box, and the
        # field's inside holds the pieces' volume (a box whose faces came apart encloses nothing)
        volume = sum(trimesh.Trimesh(v, f).volume for v, f in pieces)
        assert volume > 0.1 * np.prod(np.ptp(mesh.vertices, axis=0)), folder.name
        field = sdf_from_mesh(mesh, GridSpec())
        inside = (field.distances < 0).sum() * field.voxel_size**3
        assert inside == pytest.approx(volume, rel=0.25), folder.name
        build_model(pieces, PhysicsConfig(hand="urdf"))


def test_polygon_faces_are_split_into_triangles(tmp_path):
    """A decomposition stored with quads (as V-HACD files of boxes are) keeps every face."""
    from semg_grasp_ros.grasp.data.dexgraspnet import load_convex_pieces

    box = trimesh.creation.box(extents=(0.04, 0.06, 0.08))
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    lines = ["o box"] + [f"v {x} {y} {z}" for x, y, z in box.vertices] + [f"f {' '.join(str(i + 1) for i in q)}" for q in quads]
    (tmp_path / "box.obj").write_text("\n".join(lines) + "\n")
    [(v, f)] = load_convex_pieces(tmp_path / "box.obj")
    assert f.shape == (12, 3)
    mesh = trimesh.Trimesh(v, f)
    mesh.fix_normals()
    assert mesh.is_watertight and mesh.volume == pytest.approx(0.04 * 0.06 * 0.08, rel=1e-6)
    pieces, solid = mesh_pieces(tmp_path / "box.obj")  # one block: loaded as a mesh, one closed body
    assert len(pieces) == 1 and solid.is_watertight


def test_dexgraspbench_grasp_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    rot = trimesh.transformations.random_rotation_matrix(rng.random(3))[:3, :3]
    g = HandPosture(rng.uniform(0, 1, 22), rot, np.array([0.01, -0.02, 0.1]))
    q = posture_to_qpos(g)
    assert q.shape == (29,)
    back = posture_from_qpos(q)
    np.testing.assert_allclose(back.rot, g.rot, atol=1e-12)
    np.testing.assert_allclose(back.trans, g.trans, atol=1e-12)
    # the benchmark's hand root lies 34 mm below the palm along the palm's z axis
    np.testing.assert_allclose(q[:3], g.trans - rot[:, 2] * 0.034)
    write_grasp(tmp_path / "a" / "0.npy", GraspPostures(g, g, g), tmp_path, 0.08)
    posts, meta = read_grasp(tmp_path / "a" / "0.npy")
    assert meta["obj_scale"] == 0.08 and meta["obj_path"] == str(tmp_path)
    np.testing.assert_allclose(posts.squeeze.joints, g.joints)
    with pytest.raises(DataError):
        write_grasp(tmp_path / "b.npy", GraspPostures(g), tmp_path, 0.08)
    with pytest.raises(DataError):
        read_grasp(tmp_path / "missing.npy")
