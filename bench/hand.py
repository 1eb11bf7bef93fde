"""ShadowHand benchmark: FK accuracy against MuJoCo, and the physics check on DexGraspNet's sample grasps.

    python bench/hand.py --out bench/results/hand.json [--workers 2] [--limit N]

Writes:
    fk_max_error_mm                 fingertips, E3M5 URDF vs MuJoCo on the Menagerie model (1,000 configs)
    fk_dexgraspnet_max_error_mm     fingertips, free URDF vs MuJoCo on DexGraspNet's MJCF (1,000 configs)
    fk_batch_ms                     torch FK of 4,096 configurations (22 joints), median of 5
    dexgraspnet_sample              physics check summary over the sample grasps (+ per object)
    physics_grasps_per_s            wall-clock throughput with --workers processes
    physics_grasps_per_cpu_s        grasps per CPU-second of the workers (independent of machine load)
    machine                         CPU, cores, load average, versions
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import machine_info  # noqa: E402  (bench/common.py)

from semg_grasp_ros.grasp import physics, physics_batch  # noqa: E402
from semg_grasp_ros.grasp.data.dexgraspnet import (  # noqa: E402
    hand_mjcf_text, load_convex_pieces, load_grasps, mesh_path)
from semg_grasp_ros.hand.kinematics import HandKinematics  # noqa: E402
from semg_grasp_ros.hand.model import DEXGRASPNET_JOINTS, DEXGRASPNET_SIGN  # noqa: E402
from semg_grasp_ros.paths import data_root  # noqa: E402


def fk_menagerie_error(root: Path, n: int = 1000) -> float:
    import mujoco

    fk = HandKinematics.load("fixed")
    m = mujoco.MjModel.from_xml_path(str(root / "hand" / "shadow_menagerie" / "right_hand.xml"))
    d = mujoco.MjData(m)
    q = np.random.default_rng(0).uniform(fk.lower.numpy(), fk.upper.numpy(), size=(n, fk.n_joints))
    ours = fk.fingertips(torch.tensor(q)).numpy()
    adr = [m.joint(j).qposadr[0] for j in fk.joint_names]
    bodies = [m.body(f"rh_{f}distal").id for f in ("ff", "mf", "rf", "lf", "th")]
    off = [0.026] * 4 + [0.0275]
    rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # menagerie forearm -> ours
    fa = m.body("rh_forearm").id
    err = 0.0
    for k in range(n):
        d.qpos[adr] = q[k]
        mujoco.mj_kinematics(m, d)
        frame = d.xmat[fa].reshape(3, 3) @ rz
        for i, (b, o) in enumerate(zip(bodies, off)):
            tip = d.xpos[b] + d.xmat[b].reshape(3, 3) @ np.array([0.0, 0.0, o])
            err = max(err, float(np.linalg.norm(frame.T @ (tip - d.xpos[fa]) - ours[k, i])))
    return err * 1000


def fk_dexgraspnet_error(root: Path, n: int = 1000) -> float:
    import mujoco

    fk = HandKinematics.load("free")
    m = mujoco.MjModel.from_xml_string(hand_mjcf_text(root / "hand" / "shadow_dexgraspnet"))
    d = mujoco.MjData(m)
    q = np.random.default_rng(1).uniform(fk.lower.numpy(), fk.upper.numpy(), size=(n, 22))
    ours = fk.fingertips(torch.tensor(q)).numpy()
    adr = [m.joint(j).qposadr[0] for j in DEXGRASPNET_JOINTS]
    sites = [m.site(f"robot0:S_{f}tip").id for f in ("ff", "mf", "rf", "lf", "th")]
    err = 0.0
    for k in range(n):
        d.qpos[adr] = q[k] * DEXGRASPNET_SIGN
        mujoco.mj_kinematics(m, d)
        err = max(err, float(np.linalg.norm(d.site_xpos[sites] - ours[k], axis=1).max()))
    return err * 1000


def fk_batch_ms() -> float:
    fk = HandKinematics.load("free")
    q = torch.zeros(4096, 22)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        fk.fingertips(q)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def physics_sample(root: Path, workers: int, limit: int | None) -> tuple[dict, float, float]:
    sample = root / "grasps" / "dexgraspnet_sample"
    joints, rot, trans, index, objects, keys, codes = [], [], [], [], [], {}, []
    for f in sorted((sample / "dataset").glob("*.npy")):
        g = load_grasps(f)
        take = range(len(g)) if limit is None else range(min(limit, len(g)))
        for i in take:
            key = (g.object_code, round(float(g.scale[i]), 4))
            if key not in keys:
                keys[key] = len(objects)
                objects.append(load_convex_pieces(mesh_path(sample, g.object_code), g.scale[i]))
            joints.append(g.joints[i])
            rot.append(g.rot[i])
            trans.append(g.trans[i])
            index.append(keys[key])
            codes.append(g.object_code)
    cpu0 = _children_cpu()
    t = time.perf_counter()
    results = physics_batch.evaluate_grasps(
        np.array(joints), np.array(rot), np.array(trans), objects, np.array(index), workers=workers
    )
    wall = time.perf_counter() - t
    cpu = _children_cpu() - cpu0 if workers > 1 else time.process_time()
    summary = physics_batch.summarize(results)
    summary["per_object"] = {
        code: physics_batch.summarize([r for r, c in zip(results, codes) if c == code]) for code in sorted(set(codes))
    }
    summary["protocol"] = {k: v for k, v in vars(physics.PhysicsConfig()).items()}
    return summary, len(results) / wall, len(results) / max(cpu, 1e-9)


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--workers", type=int, default=2, help="physics worker processes")
    parser.add_argument("--limit", type=int, default=None, help="grasps per object (default all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = data_root()
    result = {"machine": machine_info("mujoco")}
    result["fk_max_error_mm"] = fk_menagerie_error(root)
    result["fk_dexgraspnet_max_error_mm"] = fk_dexgraspnet_error(root)
    result["fk_batch_ms"] = fk_batch_ms()
    summary, per_s, per_cpu_s = physics_sample(root, args.workers, args.limit)
    result["dexgraspnet_sample"] = summary
    result["physics_grasps_per_s"] = per_s
    result["physics_grasps_per_cpu_s"] = per_cpu_s
    result["physics_workers"] = args.workers
    result["machine"]["load_average_1min_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    s = result["dexgraspnet_sample"]
    print(
        f"FK error {result['fk_max_error_mm']:.4f} mm (menagerie), {result['fk_dexgraspnet_max_error_mm']:.2e} mm "
        f"(DexGraspNet); physics: {s['success_rate']:.3f} held, {s['rejected_rate']:.3f} rejected, "
        f"{s['mean_penetration_mm']:.2f} mm penetration, {per_s:.1f} grasps/s ({per_cpu_s:.1f} per CPU-s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
