"""``semg-grasp data synth`` and ``semg-grasp data import``: build grasp datasets.

``data synth`` generates type-conditioned, physics-checked grasps for the object set
(``grasp.data.objects``) into a dataset folder (``grasp.data.dataset``). It resumes: objects already
in the folder's ``index.json`` are skipped, so an interrupted run continues where it stopped
when started again with the same folder (and the same settings, which the manifest keeps).
The objects run in fixed work units of ``--batch-objects`` (``grasp.data.executors``), in this
process or, with ``--ray``, as tasks on a Ray cluster; both write the same dataset bit for bit,
and each finished unit is written at once, so a run that dies loses only the units in flight.

``data import`` converts DexGraspNet grasp files (``dataset/*.npy`` + ``meshdata``) into the
same format, labelling every grasp with the hand-pose descriptor (``grasp.data.labels``, with the
contact descriptors on the object); grasps no type fits are kept with type -1 (the loader
skips them). DexGraspNet sets the coupled joints J1 and J2 independently: imported grasps are
projected onto the hand's coupled set (``hand.model.couple``); the index records per object the
mean largest joint move this took (``coupling_projection_rad``).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from .. import GRASP_TYPES
from ..errors import ConfigError, DataError, DatasetError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.prog.split()[-1] == "import":
        parser.add_argument("source", nargs="?", default=None,
                            help="DexGraspNet folder with dataset/*.npy and meshdata/ (default: the shared "
                                 "data's grasps/dexgraspnet_sample)")
        parser.add_argument("--out", required=True, help="dataset folder to write (index.json + objects/)")
        parser.add_argument("--references", default=None,
                            help="label with the original work's method instead of the descriptor: a JSON file "
                                 "{type: [28 DexGraspNet values], ...} of reference grasps (nearest within --threshold)")
        parser.add_argument("--threshold", type=float, default=1.0,
                            help="largest Euclidean distance to a reference grasp over the 28 values (default 1.0)")
        parser.add_argument("--physics", action="store_true", help="also run the physics check on every grasp")
        parser.add_argument("--workers", type=int, default=1, help="physics processes (default 1)")
        parser.set_defaults(_run=_run_import)
        return
    parser.add_argument("--out", required=True, help="dataset folder (created; resumed when it exists)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the object set and the synthesis (default 0)")
    parser.add_argument("--objects-per-family", type=int, default=None,
                        help="procedural objects per family (default: the object set's defaults, 176 in all)")
    parser.add_argument("--family-counts", nargs="+", default=None, metavar="FAMILY=N",
                        help="procedural objects of given families, e.g. plate=60 box=36 (others keep their "
                             "default or --objects-per-family); raising a count adds objects, the existing ones "
                             "stay the same")
    parser.add_argument("--dexgraspnet", default="auto",
                        help="DexGraspNet folder whose objects join the set; 'auto' = the shared sample if "
                             "present, 'none' = procedural objects only")
    parser.add_argument("--limit", type=int, default=None, help="process at most this many new objects, then stop")
    parser.add_argument("--types", nargs="+", choices=GRASP_TYPES, default=list(GRASP_TYPES),
                        help="grasp types to synthesise (default all six)")
    parser.add_argument("--candidates", type=int, default=32, help="candidates per (object, type) task (default 32)")
    parser.add_argument("--steps", type=int, default=200, help="optimiser iterations (default 200)")
    parser.add_argument("--batch-objects", type=int, default=4,
                        help="objects optimised together in one batch (default 4; larger on a GPU)")
    parser.add_argument("--device", default="auto",
                        help="torch device: auto (cuda when present here), cpu, cuda (with --ray: one GPU per unit)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="physics-check processes per unit (default 1)")
    parser.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                        help="run the units on a Ray cluster: 'auto' (the default when ADDRESS is left out: the "
                             "cluster of this machine, 'ray start'), 'local' (start one here) or the head's address "
                             "(ray://HEAD:10001); same output as a local run")
    parser.set_defaults(_run=_run_synth)


def run(args: argparse.Namespace) -> int:
    return args._run(args)


def _dexgraspnet_root(value: str | None) -> Path | None:
    from ..paths import data_root

    if value in (None, "auto"):
        try:
            path = data_root() / "grasps" / "dexgraspnet_sample"
        except DatasetError:
            return None
        return path if path.is_dir() else None
    if value == "none":
        return None
    path = Path(value)
    if not (path / "dataset").is_dir():
        raise DatasetError(f"{path} is not a DexGraspNet folder (expected {path}/dataset/*.npy and {path}/meshdata)")
    return path


def _interleave(objects):
    """Round-robin over families, so a partial run covers every family (and so every type)."""
    by_family: dict[str, list] = {}
    for o in objects:
        by_family.setdefault(o.family, []).append(o)
    out, i = [], 0
    while len(out) < len(objects):
        for fam in by_family.values():
            if i < len(fam):
                out.append(fam[i])
        i += 1
    return out


#: Share of candidates accepted per type, measured on pilot runs (CPU, 200 steps); used only to
#: balance the types by repeating the tasks of rare or hard ones.
EXPECTED_YIELD = {"spherical": 0.5, "cylindrical": 0.3, "hook": 0.3, "palmar": 0.7, "tip": 0.8, "lateral": 0.35}


def _repeats(objects, types) -> dict[str, int]:
    """Task repeats per type (1-4) so that each type expects about the median number of grasps
    (types few objects afford, or with a low yield, get more candidates)."""
    expect = {t: sum(t in o.types for o in objects) * EXPECTED_YIELD[t] for t in types}
    target = float(np.median([v for v in expect.values() if v > 0])) if any(expect.values()) else 1.0
    return {t: int(np.clip(np.ceil(target / max(expect[t], 1e-9)), 1, 4)) for t in types}


def _run_synth(args) -> int:
    import torch
    from tqdm import tqdm

    from ..grasp.data.dataset import read_index, write_index
    from ..grasp.data.executors import SynthesisSettings, make_executor, plan_units
    from ..grasp.data.objects import DEFAULT_COUNTS, object_set
    from ..grasp.data.synthesis import SynthesisConfig

    if args.candidates < 1 or args.steps < 1 or args.batch_objects < 1 or args.workers < 1 or args.threads < 1:
        raise ConfigError("--candidates, --steps, --batch-objects, --workers and --threads must be positive")
    torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device.startswith("cuda") and not torch.cuda.is_available() and args.ray is None:  # on Ray: the workers' GPUs
        raise ConfigError(f"--device {device}: this torch has no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "auto") and not device.startswith("cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda[:N], got {device!r}")
    out = Path(args.out)
    counts = dict(DEFAULT_COUNTS) if args.objects_per_family is None else dict.fromkeys(DEFAULT_COUNTS, args.objects_per_family)
    for item in args.family_counts or ():
        family, _, n = item.partition("=")
        if family not in DEFAULT_COUNTS or not n.isdigit():
            raise ConfigError(f"--family-counts takes FAMILY=N with FAMILY in {list(DEFAULT_COUNTS)}, got {item!r}")
        counts[family] = int(n)
    dgn = _dexgraspnet_root(args.dexgraspnet)
    cfg = SynthesisConfig(candidates=args.candidates, steps=args.steps)
    settings = {"seed": args.seed, "counts": counts, "dexgraspnet": str(dgn) if dgn else None,
                "types": list(args.types), "candidates": cfg.candidates, "steps": cfg.steps,
                "batch_objects": args.batch_objects,
                "grid_size": cfg.grid_size, "max_penetration_mm": cfg.max_penetration_mm,
                "mean_contact_mm": cfg.mean_contact_mm, "max_contact_mm": cfg.max_contact_mm,
                "max_physics_penetration_mm": cfg.max_physics_penetration_mm}
    index = read_index(out)
    if index.get("settings") and index["settings"].get("seed") != args.seed:
        raise ConfigError(f"{out} was generated with seed {index['settings'].get('seed')}; resume it with that "
                          "seed or write to another folder")
    index.setdefault("settings", settings)
    index.setdefault("runs", []).append({**settings, "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    index["generator"] = "semg-grasp data synth"
    objects, skipped = object_set(args.seed, counts, dgn)
    for oid, reason in skipped:
        index["skipped"][oid] = reason
    types = tuple(args.types)
    objects = [o for o in objects if set(o.types) & set(types)]
    units = plan_units(_interleave(objects), set(index["objects"]) | set(index["skipped"]), args.batch_objects,
                       args.limit)
    todo = [o for u in units for o in u.objects]
    repeats = _repeats(objects, types)
    executor = make_executor(args.ray)
    write_index(out, index)
    print(f"{len(objects)} objects in the set, {len(index['objects'])} done, {len(todo)} to do in {len(units)} "
          f"units, {len(index['skipped'])} skipped; device {device}; executor {executor.name}; task repeats {repeats}")
    totals = dict.fromkeys(GRASP_TYPES, 0)
    for entry in index["objects"].values():
        for t, k in entry.get("grasps_per_type", {}).items():
            totals[t] += k
    settings = SynthesisSettings(cfg, types, repeats, args.seed, device, args.threads, args.workers)
    bar = tqdm(total=len(todo), unit="obj", desc="synth", dynamic_ncols=True)
    for unit, outcomes in executor.run(units, settings):
        for outcome in outcomes:
            _record(out, index, outcome, totals)
        write_index(out, index)
        bar.update(len(unit.objects))
        bar.set_postfix_str(" ".join(f"{t[:3]}={totals[t]}" for t in GRASP_TYPES) + f" all={sum(totals.values())}")
    bar.close()
    print(f"{sum(totals.values())} grasps over {sum(1 for e in index['objects'].values() if e['grasps_per_type'])} "
          f"objects: " + ", ".join(f"{t} {totals[t]}" for t in GRASP_TYPES) + f"; {len(index['skipped'])} skipped")
    return 0


def _record(out: Path, index: dict, outcome, totals: dict) -> None:
    """Write one object's outcome (``grasp.data.executors.ObjectOutcome``) and enter it in ``index``
    (written by the caller); add its grasps to ``totals`` (per type)."""
    from ..grasp.data.dataset import arrays_to_grasps, object_file_name, save_object, split_of

    o = outcome.obj
    if outcome.skipped is not None:
        index["skipped"][o.object_id] = outcome.skipped
        return
    save_object(out / "objects" / object_file_name(o.object_id), object_id=o.object_id, group=o.group,
                family=o.family, source="synthesis", scale=o.scale,
                grasps=arrays_to_grasps(outcome.joints, outcome.rot, outcome.trans), types=outcome.types,
                field=outcome.sdf, pieces=o.pieces, metrics=outcome.metrics)
    per_type = {t: int(np.sum(outcome.types == k)) for k, t in enumerate(GRASP_TYPES)}
    per_type = {t: k for t, k in per_type.items() if k}
    for t, k in per_type.items():
        totals[t] += k
    index["objects"][o.object_id] = {
        "file": object_file_name(o.object_id), "group": o.group, "family": o.family, "scale": o.scale,
        "split": split_of(o.group), "source": "synthesis", "types": list(o.types), "grasps_per_type": per_type,
        "stats": outcome.stats, "params": o.params, "seconds": outcome.seconds,
    }


def _run_import(args) -> int:
    from tqdm import tqdm

    from ..grasp.data.dataset import arrays_to_grasps, object_file_name, read_index, save_object, split_of, write_index
    from ..grasp.data.dexgraspnet import load_grasps
    from ..grasp.data.labels import classify
    from ..grasp.data.objects import dexgraspnet_objects
    from ..hand.model import couple, coupling_error
    from ..perception.sdf import GridSpec, sdf_from_mesh

    labeller = None
    if args.references:
        import json

        from ..grasp.data.labels import ReferenceLabeller

        try:
            refs = json.loads(Path(args.references).read_text())
            labeller = ReferenceLabeller(np.array(list(refs.values()), dtype=np.float64),
                                         np.array([GRASP_TYPES.index(t) for t in refs]), args.threshold)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"--references {args.references}: expected a JSON object {{type: [28 numbers]}} with "
                              f"types from {GRASP_TYPES}: {exc}") from exc
    root = _dexgraspnet_root(args.source or "auto")
    if root is None:
        raise DatasetError("no DexGraspNet folder given and the shared sample was not found")
    out = Path(args.out)
    index = read_index(out)
    index["generator"] = "semg-grasp data import"
    objects, skipped = dexgraspnet_objects(root, scales=None)
    for oid, reason in skipped:
        index["skipped"][oid] = reason
    grasps = {}
    for o in tqdm(objects, unit="obj", desc="import", dynamic_ncols=True):
        code = o.params["code"]
        if code not in grasps:
            grasps[code] = load_grasps(root / "dataset" / f"{code}.npy")
        g = grasps[code]
        m = np.isclose(g.scale, o.scale)
        # DexGraspNet sets J1 and J2 independently; the hand drives them by one tendon: the
        # imported grasps are projected onto the coupled set (the pair's mean, J1 + J2 unchanged)
        joints, rot, trans = couple(g.joints[m]), g.rot[m], g.trans[m]
        field = sdf_from_mesh(o.mesh(), GridSpec())
        if labeller is None:
            labels = classify(joints, rot, trans, field)
        else:
            labels = labeller.label(arrays_to_grasps(joints, rot, trans))
        metrics = {}
        if args.physics:
            from ..grasp.physics_batch import evaluate_grasps

            res = evaluate_grasps(joints, rot, trans, [list(o.pieces)], workers=args.workers)
            metrics = {"physics_success": np.array([r is not None and r.success for r in res]),
                       "penetration_mm": np.array([r.penetration_mm if r else np.nan for r in res]),
                       "contact_distance_mm": np.array([r.contact_distance_mm if r else np.nan for r in res])}
        save_object(out / "objects" / object_file_name(o.object_id), object_id=o.object_id, group=o.group,
                    family=o.family, source="dexgraspnet", scale=o.scale, grasps=arrays_to_grasps(joints, rot, trans),
                    types=labels, field=field, pieces=o.pieces, metrics=metrics)
        keep = labels >= 0
        if "physics_success" in metrics:
            keep &= metrics["physics_success"]
        per_type = {t: int(np.sum(labels[keep] == k)) for k, t in enumerate(GRASP_TYPES) if np.any(labels[keep] == k)}
        index["objects"][o.object_id] = {
            "file": object_file_name(o.object_id), "group": o.group, "family": o.family, "scale": o.scale,
            "split": split_of(o.group), "source": "dexgraspnet", "grasps_per_type": per_type,
            "unlabelled": int(np.sum(labels < 0)), "grasps": int(len(labels)),
            "coupling_projection_rad": float(np.mean(coupling_error(g.joints[m]))) / 2 if m.any() else 0.0,
        }
        write_index(out, index)
    total = sum(sum(e["grasps_per_type"].values()) for e in index["objects"].values())
    print(f"{len(objects)} objects imported ({len(skipped)} skipped), {total} labelled grasps")
    return 0
