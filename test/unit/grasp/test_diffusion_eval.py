"""Generator evaluation (shared by ``semg-grasp eval generator`` and bench/grasp.py) on a small mesh."""

import json

import numpy as np
import pytest
import torch
import trimesh

from semg_grasp_ros import cli
from semg_grasp_ros.cli.eval_generator import evaluate_generator, object_from_mesh
from semg_grasp_ros.errors import DataError
from semg_grasp_ros.grasp.diffusion.checkpoint import save_pretrained
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion, ModelConfig
from semg_grasp_ros.grasp.diffusion.sampler import GraspSampler, SamplerConfig
from semg_grasp_ros.grasp.refine import GraspRefiner, RefineConfig


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    trimesh.creation.box((60.0, 40.0, 100.0)).export(root / "box.stl")  # millimetres
    torch.manual_seed(0)
    m = GraspDiffusion(ModelConfig(network=dict(sdf_channels=(4, 8), sdf_dim=16, time_embed_dim=16, width=32,
                                                wrist_blocks=1, finger_blocks=1),
                                   scheduler={"num_train_timesteps": 10}))
    m.info["sampler"] = {"method": "ddim", "steps": 2, "num_candidates": 4}
    return root, save_pretrained(m, root / "tiny")


def test_mesh_objects(files):
    root, _ = files
    obj = object_from_mesh(root / "box.stl", scale=0.001, types=("tip",))
    assert obj.field.distances.shape == (50, 50, 50) and obj.field.is_signed
    # the field's centre is inside the box: about -20 mm (half the thinnest side)
    assert obj.field.sample(np.zeros((1, 3)))[0] == pytest.approx(-0.02, abs=2e-3)
    assert len(obj.pieces) == 1 and obj.types == ("tip",)
    with pytest.raises(DataError, match="scale"):
        object_from_mesh(root / "box.stl", scale=0.0)
    with pytest.raises(DataError):
        object_from_mesh(root / "missing.stl")
    with pytest.raises(DataError, match="views"):
        object_from_mesh(root / "box.stl", scale=0.001, views=2)
    # one depth view of the box on the table: the field is in the camera frame; mapped to the
    # object's frame, its surface lies on the box's visible faces and its centre near the box's
    view = object_from_mesh(root / "box.stl", scale=0.001, views=1)
    t = view.field_to_object
    assert t is not None and np.allclose(t[:3, :3] @ t[:3, :3].T, np.eye(3))
    centre_obj = t[:3, :3] @ view.field.centroid + t[:3, 3]
    assert np.linalg.norm(centre_obj[:2]) < 0.03  # the seen half of a 6 x 4 x 10 cm box


def test_evaluate_generator_reports_every_metric(files):
    root, model = files
    sampler = GraspSampler.from_pretrained(model, SamplerConfig(steps=2, num_candidates=4),
                                           GraspRefiner(RefineConfig(steps=1)))
    obj = object_from_mesh(root / "box.stl", scale=0.001, types=("cylindrical", "tip"))
    report = evaluate_generator(sampler, [obj], workers=1, progress=False)
    assert report["requests"] == 2 and set(report["per_type"]) == {"cylindrical", "tip"}
    for key in ("success_rate", "rejected_rate", "type_consistency", "type_consistency_all"):
        assert 0.0 <= report[key] <= 1.0
    assert set(report["protocols"]) == {"standard", "lenient"}
    assert report["protocols"]["standard"]["success_rate"] == report["success_rate"]
    with pytest.raises(DataError, match="DexGraspBench"):
        evaluate_generator(sampler, [obj], workers=1, progress=False, export=root / "dgb")
    assert report["mean_penetration_mm"] >= 0 and report["palm_distance_mm"] >= 0
    assert report["diversity_joint_std_rad"] > 0  # four different samples
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    json.dumps(report)
    twice = evaluate_generator(sampler, [obj], workers=1, progress=False, repeats=2)
    assert twice["requests"] == 4 and twice["repeats"] == 2
    assert {t: m["n"] for t, m in twice["per_type"].items()} == {"cylindrical": 2, "tip": 2}
    with pytest.raises(DataError, match="repeats"):
        evaluate_generator(sampler, [obj], workers=1, progress=False, repeats=0)


def test_eval_cli_writes_json(files, capsys):
    root, model = files
    out = root / "report.json"
    argv = ["eval", "generator", "--mesh", str(root / "box.stl"), "--scale", "0.001", "--json", str(out),
            "--model", str(model), "--types", "palmar", "--refine-steps", "1", "--workers", "1", "--no-progress"]
    assert cli.main(argv) == 0
    report = json.loads(out.read_text())
    assert report["requests"] == 1 and report["model"] == str(model)
    assert "report written" in capsys.readouterr().out
    assert cli.main(argv[:3] + [str(root / "nothing.stl")] + argv[4:]) == 2
