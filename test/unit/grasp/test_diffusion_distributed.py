"""Data-parallel training: ``torchrun --nproc-per-node 2`` on CPUs (gloo) trains the model one
process trains, up to float rounding."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from semg_grasp_ros import cli
from semg_grasp_ros.checkpoint import load_weights, read_json
from semg_grasp_ros.grasp.diffusion.networks import GraspDiffusion
from semg_grasp_ros.grasp.diffusion.training import load_train_config

from test_diffusion_training import TINY, toy_arrays

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    toy_arrays(n_objects=3, per_type=2).save_npz(tmp / "toy.npz")  # 36 grasps
    config = yaml.safe_load(TINY.read_text())
    # batches of 7: the last batch holds one grasp, so one process's share of it is empty
    config.update(data=str(tmp / "toy.npz"), epochs=2, batch_size=7, checkpoint_every=1, augment_rotation="z",
                  p_uncond=0.2)
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp


def _train(tmp, out, processes, *extra):
    args = ["train", "grasp", "--config", str(tmp / "config.yaml"), "--out", str(tmp / out), "--no-progress", *extra]
    if processes == 1:
        assert cli.main(args) == 0
        return
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                          str(processes), "-m", "semg_grasp_ros.cli", *args], env=env, cwd=tmp,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("model written to") == 1  # rank 0 reports


def test_two_processes_train_the_model_one_process_trains(setup):
    _train(setup, "one", 1)
    _train(setup, "two", 2)
    one = load_weights(setup / "one" / "model" / "model.safetensors", "torch")
    two = load_weights(setup / "two" / "model" / "model.safetensors", "torch")
    assert one.keys() == two.keys()
    config = load_train_config(setup / "config.yaml")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        init = GraspDiffusion(config.model).state_dict()
    moved = max(float((one[k] - init[k]).abs().max()) for k in one if one[k].is_floating_point())
    differ = max(float((one[k] - two[k]).abs().max()) for k in one if one[k].is_floating_point())
    assert moved > 1e-2 and differ < 1e-4, (moved, differ)
    h1 = read_json(setup / "one" / "state" / "train_state.json")["history"]
    h2 = read_json(setup / "two" / "state" / "train_state.json")["history"]
    assert len(h1) == len(h2) == 2
    np.testing.assert_allclose([h["train_loss"] for h in h2], [h["train_loss"] for h in h1], rtol=1e-5)


def test_two_processes_resume_an_interrupted_run_exactly(setup):
    if not (setup / "two" / "model").is_dir():
        _train(setup, "two", 2)
    _train(setup, "resumed", 2, "--epochs", "1")
    _train(setup, "resumed", 2, "--resume")
    two = load_weights(setup / "two" / "model" / "model.safetensors", "torch")
    resumed = load_weights(setup / "resumed" / "model" / "model.safetensors", "torch")
    assert all(torch.equal(two[k], resumed[k]) for k in two)
    assert read_json(setup / "resumed" / "state" / "train_state.json")["history"] == \
        read_json(setup / "two" / "state" / "train_state.json")["history"]
