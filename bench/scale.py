"""Scaling with workers: grasp synthesis on a local Ray cluster and data-parallel training under
torchrun, 1 against 2 workers on this machine.

    python bench/scale.py [--out bench/results/scale.json] [--parts synthesis training] [--reps 2]

Synthesis: eight objects (two each of sphere, cylinder, box, capsule), one object per unit, all
six types, 16 candidates, 100 steps, 60³ optimisation grids; a Ray cluster of 2 CPUs started
here runs the units with one or two units in flight (warm workers; one warm-up run first;
workers as nice as this process, ``RAY_worker_niceness=0``).
Training: ``torchrun --nproc-per-node N`` running the training loop on the improved model
(``config/grasp_diffusion_improved.yaml``, batch 64) with 1152 grasps on 24 spheres (50³
fields), one thread per process; the time of the epochs after the first (start-up and first
epoch excluded), from stamps taken at the end of every epoch.
The settings alternate (1, 2, 2, 1, ...) so that other load on the machine falls on both;
every run records the load average before and after, and the CPU seconds its workers used
(``cores_used`` = CPU seconds / wall seconds: how many cores the run actually got). Ratios are
1-worker time / 2-worker time.

The Linux scheduler here shares the CPUs between sessions (``sched_autogroup_enabled``), not
between processes: on a machine busy with other sessions, a second worker of the same session
gets no more CPU, and ``cores_used`` shows it. ``ceiling``: the same 1-against-2 comparison on a
bare Python loop, the most any part can scale on this machine at the time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import machine_info  # noqa: E402


def _load():
    return [round(v, 2) for v in os.getloadavg()]


def _worker_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process's Ray worker processes."""
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if p.cmdline()[:1] and p.cmdline()[0].startswith("ray::") and "Agent" not in p.cmdline()[0]:
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _orders(reps: int):
    return [(1, 2) if r % 2 == 0 else (2, 1) for r in range(reps)]


def _outcome_digest(results) -> str:
    import hashlib

    h = hashlib.sha1()
    for unit, outcomes in sorted(results, key=lambda r: r[0].object_ids):
        for o in outcomes:
            for a in (o.joints, o.rot, o.trans, o.types):
                h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def bench_synthesis(reps: int) -> dict:
    import ray

    from semg_grasp_ros.grasp.data.executors import RayExecutor, SynthesisSettings, plan_units
    from semg_grasp_ros.grasp.data.objects import procedural_object
    from semg_grasp_ros.grasp.data.synthesis import SynthesisConfig

    objects = [procedural_object(f, k) for k in range(2) for f in ("sphere", "cylinder", "box", "capsule")]
    units = plan_units(objects, set(), 1)
    settings = SynthesisSettings(SynthesisConfig(candidates=16, steps=100, grid_size=60, surface_samples=1000))
    # Ray starts its workers 15 nicer than the raylet; here they run as nice as the processes they
    # share the cores with, or a busy machine starves them
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False)
    try:
        list(RayExecutor(in_flight=2).run(units[:2], settings))  # start and warm both workers
        runs, digests = [], set()
        for order in _orders(reps):
            for workers in order:
                load = _load()
                cpu0, t0 = _worker_cpu_seconds(), time.perf_counter()
                results = list(RayExecutor(in_flight=workers).run(units, settings))
                seconds = time.perf_counter() - t0
                cpu = _worker_cpu_seconds() - cpu0
                digests.add(_outcome_digest(results))
                grasps = sum(len(o.joints) for _, outs in results for o in outs)
                runs.append({"workers": workers, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                             "cores_used": round(cpu / seconds, 2), "grasps": grasps,
                             "objects_per_s": round(len(objects) / seconds, 3), "load_before": load,
                             "load_after": _load()})
                print(f"synthesis, {workers} worker(s): {seconds:.1f} s, load {load} -> {runs[-1]['load_after']}")
    finally:
        ray.shutdown()
    return {"objects": len(objects), "units": len(units),
            "settings": {"candidates": 16, "steps": 100, "grid_size": 60, "types": "all six"},
            "ray_worker_niceness": int(os.environ["RAY_worker_niceness"]),
            "runs": runs, "identical_outcomes_in_every_run": len(digests) == 1, **_ratios(runs)}


def _ratios(runs) -> dict:
    """Per pair (consecutive 1- and 2-worker runs): time(1) / time(2); their median and range."""
    ratios = []
    for i in range(0, len(runs) - 1, 2):
        a, b = runs[i], runs[i + 1]
        one, two = (a, b) if a["workers"] == 1 else (b, a)
        ratios.append(round(one["seconds"] / two["seconds"], 3))
    return {"speedup_2_vs_1_per_pair": ratios, "speedup_2_vs_1_median": float(np.median(ratios)),
            "speedup_2_vs_1_min": min(ratios), "speedup_2_vs_1_max": max(ratios)}


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


def bench_ceiling(reps: int, n: int = 20_000_000) -> dict:
    """What the machine gives two processes: a bare Python loop (no I/O, no shared state) run
    twice, one after the other in one process against both at once in two; the same alternation
    and ratio as the other parts. A ratio near 2 means two free cores; the synthesis and training
    ratios can reach no more than this one."""
    import multiprocessing as mp

    runs = []
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [1000, 1000])  # workers started before timing
        for order in _orders(reps):
            for workers in order:
                load, t = _load(), time.perf_counter()
                if workers == 1:
                    pool.apply(_spin, (n,))
                    pool.apply(_spin, (n,))
                else:
                    pool.map(_spin, [n, n])
                runs.append({"workers": workers, "seconds": round(time.perf_counter() - t, 3), "load_before": load})
    return {"loop_iterations": n, "runs": runs, **_ratios(runs)}


def _toy_npz(path: Path, n_objects: int = 24, per_type: int = 8, size: int = 50) -> None:
    """Spheres on ``size``³ grids with grasps that depend on the sphere and the type (random, fixed seed)."""
    from semg_grasp_ros.grasp.diffusion.training_data import GraspArrays
    from semg_grasp_ros.geometry import axis_angle_rotations
    from semg_grasp_ros.hand.model import load_hand

    rng = np.random.default_rng(0)
    lo, hi = load_hand("free").limits()
    voxel = 0.2 / (size - 1)
    axis = np.arange(size) * voxel
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1)
    n = n_objects * 6 * per_type
    centre = rng.uniform(0.07, 0.13, (n_objects, 3))
    radius = rng.uniform(0.02, 0.05, n_objects)
    fields = np.linalg.norm(grid[None] - centre[:, None, None, None], axis=-1) - radius[:, None, None, None]
    field_index = np.repeat(np.arange(n_objects), 6 * per_type)
    types = np.tile(np.repeat(np.arange(6), per_type), n_objects)
    joints = lo + (hi - lo) * rng.uniform(0.2, 0.8, (n, len(lo)))
    axes = rng.normal(size=(n, 3))
    rot = axis_angle_rotations(axes / np.linalg.norm(axes, axis=1, keepdims=True), rng.uniform(0, np.pi, n))
    trans = centre[field_index] + rng.normal(0, 0.05, (n, 3))
    GraspArrays(joints, rot, trans, types, field_index, fields.astype(np.float32), np.zeros((n_objects, 3)),
                np.full(n_objects, voxel)).save_npz(path)


def bench_training(reps: int, epochs: int = 5) -> dict:
    import yaml

    tmp = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    _toy_npz(tmp / "toy.npz")
    config = yaml.safe_load((ROOT / "config" / "grasp_diffusion_improved.yaml").read_text())
    config.update(data=str(tmp / "toy.npz"), epochs=epochs, checkpoint_every=epochs, val_fraction=0.0, device="cpu",
                  num_threads=1)
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    runs = []
    for order in _orders(reps):
        for workers in order:
            out = tmp / f"run{len(runs)}"
            load = _load()
            cpu0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                   str(workers), __file__, "--train-worker", str(tmp / "config.yaml"), str(out)],
                                  env=env, cwd=tmp, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(proc.stderr[-3000:])
            stamps = json.loads((out / "epoch_stamps.json").read_text())
            seconds = stamps[-1] - stamps[0]
            loss = json.loads((out / "state" / "train_state.json").read_text())["history"][-1]["train_loss"]
            cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter() - t0
            cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
            runs.append({"workers": workers, "seconds": round(seconds, 2), "wall_s": round(wall, 1),
                         "cpu_seconds_whole_run": round(cpu, 1), "cores_used_whole_run": round(cpu / wall, 2),
                         "epochs_timed": len(stamps) - 1, "final_train_loss": loss, "load_before": load,
                         "load_after": _load()})
            print(f"training, {workers} process(es): {seconds:.1f} s for {len(stamps) - 1} epochs, load {load}")
    grasps = 24 * 6 * 8
    return {"grasps": grasps, "batch_size": config["batch_size"], "model": "improved", "runs": runs, **_ratios(runs)}


def train_worker(config_path: str, out: str) -> int:
    """One torchrun process: train, and (rank 0) write the time at the end of every epoch."""
    from semg_grasp_ros.grasp.diffusion.training import load_train_config, train

    stamps = [time.perf_counter()]
    train(load_train_config(config_path, out_dir=out), progress=False,
          on_epoch=lambda entry: stamps.append(time.perf_counter()))
    if int(os.environ.get("RANK", 0)) == 0:
        # from the end of the first epoch: start-up, process group and first-epoch warm-up excluded
        (Path(out) / "epoch_stamps.json").write_text(json.dumps(stamps[1:]))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json", help="result JSON")
    parser.add_argument("--parts", nargs="+", choices=("ceiling", "synthesis", "training"),
                        default=["ceiling", "synthesis", "training"])
    parser.add_argument("--reps", type=int, default=2, help="pairs of 1- and 2-worker runs (default 2)")
    parser.add_argument("--train-worker", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_worker:
        return train_worker(*args.train_worker)
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update(what=__doc__.split("\n\n")[0], machine=machine_info("ray"))
    t0 = time.perf_counter()
    if "ceiling" in args.parts:
        result["ceiling"] = bench_ceiling(args.reps)
    if "synthesis" in args.parts:
        result["synthesis"] = bench_synthesis(args.reps)
    if "training" in args.parts:
        result["training"] = bench_training(args.reps)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["machine"]["load_average_end"] = _load()
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    result["machine"]["sched_autogroup"] = autogroup.read_text().strip() == "1" if autogroup.exists() else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k].get("speedup_2_vs_1_median") for k in ("ceiling", "synthesis", "training")
                      if k in result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
