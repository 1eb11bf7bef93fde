"""``semg-grasp eval generator``: evaluate a grasp generator on an object, all six types.

Example::

    semg-grasp eval generator --mesh mug.obj --scale 0.1 --json mug_eval.json
    semg-grasp eval generator --mesh DexGraspBench/assets/example_object/<object>/mesh/coacd.obj \
        --scale 0.06 --views 1 --json eval.json --export-dexgraspbench DexGraspBench/output/project_shadow/graspdata

Also the evaluation shared with ``bench/grasp.py`` (``evaluate_generator``): for every
object and requested type, sample ``num_candidates`` grasps (refined and ranked when the
sampler has a refiner), then measure on the top-ranked one the physics check (``grasp.physics``:
its pregrasp -> grasp -> squeeze under the standard protocol, the lenient one beside it;
object and finger-finger penetration, rejection of a pregrasp penetrating > 1 cm), the palm-to-surface
distance, and the type consistency (``grasp.data.labels.classify`` of its hand pose equals the
requested type, with the contact descriptors on the object's field); over all candidates
the type consistency and the diversity (per-joint standard deviation); and the wall time
of each request (sampling + refinement + ranking; the object is encoded once beforehand,
as the generator component does).

A mesh given on the command line is used as its closed convex pieces in the physics check
(``grasp.data.objects.mesh_pieces``: a V-HACD / CoACD decomposition as it comes, any other mesh
as its bodies' convex hulls; MuJoCo collides convex shapes); a mesh inside a DexGraspBench object
folder (``<object>/mesh/coacd.obj``) uses that folder's pieces (``urdf/meshes``), as the benchmark
does. Its distance field (50³, object size + 3 cm) comes from the full mesh (``--views 0``) or from
one simulated depth view of the object standing on a table (``--views 1``: ``perception.camera``,
the pipeline's segmentation and field; the grasps are made in the camera frame and checked in the
object's). ``--export-dexgraspbench DIR`` writes the evaluated grasps as DexGraspBench grasp files
(``grasp.data.dexgraspbench``; the object must be in a benchmark object folder) so the benchmark
itself can check them.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .. import GRASP_TYPES
from ..errors import DataError
from ..grasp.data.energy import GraspEnergy
from ..grasp.data.labels import classify
from ..grasp.diffusion.checkpoint import model_folder
from ..grasp.diffusion.sampler import GraspSampler
from ..grasp.physics import preset, resolve_hand
from ..grasp.physics_batch import evaluate_postures
from ..grasp.posture import GraspPostures, HandPosture
from ..grasp.refine import GraspRefiner, RefineConfig
from ..grasp.verify import GraspVerifier, VerifyConfig
from ..hand.model import coupling_error
from ..perception.sdf import DistanceField, GridSpec, sdf_from_mesh
from ..pipeline.grasp_diffusion import GraspDiffusionConfig
from .args import count

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class EvalObject:
    """An object to evaluate on.

    Attributes:
        name: for reports.
        field: its distance field (in the object frame unless ``field_to_object`` says otherwise).
        pieces: convex pieces [(vertices (V, 3) m, faces (F, 3))] for the physics check, object frame.
        types: the grasp types to request.
        field_to_object: (4, 4) transform from the field's frame to the object frame (None: the same).
        benchmark_folder: the DexGraspBench object folder of the mesh, if any; scale: mesh units -> m.
    """

    name: str
    field: DistanceField
    pieces: tuple
    types: tuple[str, ...] = GRASP_TYPES
    field_to_object: np.ndarray | None = None
    benchmark_folder: Path | None = None
    scale: float = 1.0


def object_from_mesh(path: str | Path, scale: float = 1.0, types: tuple[str, ...] = GRASP_TYPES,
                     views: int = 0, seed: int = 0) -> EvalObject:
    """An object from a mesh file (scaled to metres by ``scale``), its field from the full mesh
    (``views`` 0) or one simulated depth view (``views`` 1, noise seeded by ``seed``).

    Raises:
        DataError: unreadable or empty mesh, a non-positive scale, nothing graspable, an unknown
            ``views``, or a view in which the object cannot be found.
    """
    from ..grasp.data.dexgraspbench import object_folder, object_pieces
    from ..grasp.data.objects import close_pieces, mesh_pieces

    pieces, mesh = mesh_pieces(path, scale)
    folder = object_folder(path)
    if folder is not None:
        pieces = close_pieces(object_pieces(folder, scale), folder.name)
    return eval_object(Path(path).name, mesh, pieces, types, views, seed, folder, scale)


def eval_object(name: str, mesh, pieces, types: tuple[str, ...] = GRASP_TYPES, views: int = 0, seed: int = 0,
                folder: Path | None = None, scale: float = 1.0, sdf_config=None) -> EvalObject:
    """An object from its mesh (``trimesh.Trimesh``, metres, object frame) and convex pieces, its
    field from the full mesh (``views`` 0) or one simulated depth view of it standing on a table
    (``views`` 1, noise seeded by ``seed``, the field as the object distance-field node with
    ``sdf_config`` (``ObjectSdfConfig``, default its defaults) computes it).

    Raises:
        DataError: an unknown ``views``, or a view in which the object cannot be found.
    """
    if views not in (0, 1):
        raise DataError(f"views must be 0 (full mesh) or 1 (one depth view), got {views}")
    if views == 0:
        return EvalObject(name, sdf_from_mesh(mesh, GridSpec()), tuple(pieces), tuple(types),
                          benchmark_folder=folder, scale=scale)
    from ..perception.camera import DepthCamera, TableScene
    from ..pipeline.object_sdf import ObjectSdfComponent

    scene = TableScene(mesh)
    camera = DepthCamera(scene)
    component = ObjectSdfComponent() if sdf_config is None else ObjectSdfComponent(sdf_config)
    field = component.compute(camera.render(seed).cloud())
    to_object = np.linalg.inv(scene.object_pose()) @ camera.pose
    return EvalObject(f"{name} (1 view)", field, tuple(pieces), tuple(types), to_object, folder, scale)


def objects_from_dataset(root: str | Path, split: str = "test", limit: int | None = None) -> list[EvalObject]:
    """The objects of a dataset split (``grasp.data.dataset``), each with the types it holds grasps of."""
    from ..grasp.data.dataset import load_object, read_index

    index = read_index(root)
    out = []
    for oid, entry in sorted(index["objects"].items()):
        if entry.get("split") != split or not sum(entry.get("grasps_per_type", {}).values()):
            continue
        rec = load_object(Path(root) / "objects" / entry["file"])
        present = set(np.unique(rec.types).tolist())
        types = tuple(t for i, t in enumerate(GRASP_TYPES) if i in present)
        field = DistanceField(rec.sdf, rec.sdf_origin, rec.sdf_voxel_size, True, rec.centroid, rec.extent)
        out.append(EvalObject(oid, field, tuple(rec.pieces), types))
        if limit and len(out) >= limit:
            break
    return out


def _palm_distance(energy: GraspEnergy, field: DistanceField, joints, rot, trans) -> np.ndarray:
    """(B,) distance of the palm's grasping face (its nearest patch point) to the surface, metres."""
    palm = [i for i, p in enumerate(energy.patches) if p.link == "rh_palm"]
    with torch.no_grad():
        _, patch = energy.hand_points(torch.as_tensor(joints), torch.as_tensor(rot), torch.as_tensor(trans))
    valid = energy.patch_valid[palm].numpy()
    pts = patch[:, palm].numpy()  # (B, p, K, 3)
    d = np.abs(field.sample(pts))
    return np.where(valid[None], d, np.inf).reshape(len(d), -1).min(1)


def candidate_postures(obj: EvalObject, candidates, i: int = 0) -> GraspPostures:
    """Candidate ``i`` of ``candidates`` (``GraspCandidates``, field frame; default the top-ranked)
    as postures in the object frame (pregrasp and squeeze left to the physics check to derive
    when the sampler gave none)."""
    t = np.eye(4) if obj.field_to_object is None else obj.field_to_object

    def moved(p):
        return None if p is None else HandPosture(p.joints, t[:3, :3] @ p.rot, t[:3, :3] @ p.trans + t[:3, 3])

    post = candidates.postures(i)
    return GraspPostures(moved(post.grasp), moved(post.pregrasp), moved(post.squeeze))


def evaluate_generator(sampler: GraspSampler, objects: list[EvalObject], seed: int = 0,
                       protocols: tuple[str, ...] = ("standard", "lenient"), workers: int = 2, progress: bool = True,
                       repeats: int = 1, export: Path | None = None, pictures: tuple[Path, int] | None = None) -> dict:
    """Evaluate ``sampler`` on ``objects`` (see the module docstring); each (object, type) is
    requested ``repeats`` times (fresh noise each time: less variance on a few objects). The
    physics check runs each of ``protocols`` (``grasp.physics.PRESETS``; the first gives the
    top-level figures); ``export``: a folder to write the top-ranked grasps to as DexGraspBench
    grasp files (``<object>/<type>_<k>.npy``); ``pictures``: (folder, N) draws N of the top-ranked
    grasps with their verdict (``grasp.render.picture_sample``).

    Returns:
        JSON-ready dict: ``requests``, ``success_rate``, ``rejected_rate`` (pregrasp penetrating > 1 cm),
        ``mean_finger_penetration_mm`` and ``finger_penetration_over_1mm_rate`` (the physics check's
        finger-finger overlap of each top-ranked grasp), ``max_coupling_error_rad`` (largest |J2 - J1|
        over every candidate and its postures: 0 on the hand's coupled set),
        ``mean_penetration_mm``, ``palm_distance_mm``, ``verified_rate`` (the executed grasp held in
        simulation against the field's object, ``grasp.verify``; None without verification),
        ``success_given_verified``, ``type_consistency`` (top-ranked),
        ``type_consistency_all``, ``diversity_joint_std_rad``, ``diversity_translation_std_m``,
        ``latency_ms`` {p50, p95, mean}, ``encode_ms``, ``per_type`` {type: {n, success_rate,
        type_consistency}}, ``per_object``, ``protocols`` {name: {success_rate, rejected_rate,
        per_type, per_object}}, and the sampler settings.

    Raises:
        DataError: bad ``repeats``, an unknown protocol, or ``export`` for an object outside a
            DexGraspBench object folder.
    """
    from tqdm import tqdm

    energy = GraspEnergy()
    gen = torch.Generator().manual_seed(seed)
    top = {"joints": [], "rot": [], "trans": [], "obj": [], "type": [], "label": [], "postures": [], "verified": []}
    latency, encode, consistent_all, joint_std, trans_std, palm = [], [], [], [], [], []
    coupling = 0.0
    if not isinstance(repeats, int) or repeats < 1:
        raise DataError(f"repeats must be a positive integer, got {repeats!r}")
    configs = {name: preset(name) for name in protocols}
    if not configs:
        raise DataError("evaluate_generator needs at least one physics protocol")
    if export is not None and any(o.benchmark_folder is None for o in objects):
        raise DataError("--export-dexgraspbench needs objects inside DexGraspBench object folders "
                        "(<object>/mesh/coacd.obj beside <object>/urdf/meshes)")
    total = repeats * sum(len(o.types) for o in objects)
    bar = tqdm(total=total, desc="sample", unit="request", disable=not progress)
    for k, obj in enumerate(objects):
        t0 = time.perf_counter()
        cond = sampler.prepare(obj.field)
        encode.append(time.perf_counter() - t0)
        for grasp_type in (t for t in obj.types for _ in range(repeats)):
            c = sampler.generate(cond, grasp_type, generator=gen)
            latency.append(c.seconds)
            coupling = max(coupling, float(coupling_error(np.concatenate([c.joints, c.pregrasp, c.squeeze])).max()
                                           if c.pregrasp is not None else coupling_error(c.joints).max()))
            top["joints"].append(c.joints[0])
            top["rot"].append(c.rot[0])
            top["trans"].append(c.trans[0])
            top["obj"].append(k)
            top["type"].append(grasp_type)
            top["postures"].append(candidate_postures(obj, c))
            top["verified"].append(np.nan if c.verified is None else float(c.verified[0]))
            labels = classify(c.joints, c.rot, c.trans, obj.field)
            top["label"].append(int(labels[0]))
            consistent_all.append(float(np.mean(labels == GRASP_TYPES.index(grasp_type))))
            joint_std.append(float(c.joints.std(0).mean()))
            trans_std.append(float(c.trans.std(0).mean()))
            palm.append(float(_palm_distance(energy, obj.field, c.joints[:1], c.rot[:1], c.trans[:1])[0]))
            bar.update(1)
    bar.close()
    joints = np.array(top["joints"]).reshape(-1, 22)
    runs = {}
    for name, config in configs.items():
        bar = tqdm(total=len(joints), desc=f"physics ({name})", unit="grasp", disable=not progress)
        runs[name] = evaluate_postures(top["postures"], [o.pieces for o in objects], np.array(top["obj"], dtype=int),
                                       config, workers, progress=bar.update)
        bar.close()
    results = runs[next(iter(configs))]
    if export is not None:
        _export(export, objects, top)
    if pictures is not None:
        from ..grasp.render import picture_sample, verdict

        first = next(iter(configs))
        picture_sample([
            (f"{Path(objects[k].name).stem}_{t}_{i:03d}", p.grasp.joints, p.grasp.rot, p.grasp.trans, objects[k].pieces,
             f"{t} grasp of {objects[k].name} (top-ranked; its shape reads as {GRASP_TYPES[c]})\n"
             f"physics ({first}): " + (verdict(r.to_dict()) if r is not None else "not evaluated"))
            for i, (k, t, c, p, r) in enumerate(zip(top["obj"], top["type"], top["label"], top["postures"], results))],
            *pictures)
    labels = np.array(top["label"], dtype=int)
    want = np.array([GRASP_TYPES.index(t) for t in top["type"]], dtype=int)
    success = np.array([bool(r is not None and r.success) for r in results])
    rejected = np.array([bool(r is not None and r.rejected) for r in results])
    finger = np.array([r.finger_penetration_mm if r is not None else np.nan for r in results])
    pen = np.array([r.penetration_mm if r is not None else np.nan for r in results])
    lat = np.array(latency) * 1e3

    def stat(x) -> float | None:
        x = np.asarray(x, dtype=float)
        return float(np.nanmean(x)) if x.size and np.isfinite(x).any() else None

    per_type = {}
    for t in GRASP_TYPES:
        m = np.array([tt == t for tt in top["type"]], dtype=bool)
        if m.any():
            per_type[t] = {"n": int(m.sum()), "success_rate": float(success[m].mean()),
                           "type_consistency": float((labels[m] == want[m]).mean())}
    by_protocol = {}
    for name, res in runs.items():
        ok = np.array([bool(r is not None and r.success) for r in res])
        by_protocol[name] = {
            "success_rate": stat(ok),
            "rejected_rate": stat([bool(r is not None and r.rejected) for r in res]),
            "per_type": {t: stat(ok[np.array([tt == t for tt in top["type"]])]) for t in per_type},
            "per_object": {o.name: stat(ok[np.array(top["obj"]) == k]) for k, o in enumerate(objects)
                           if k in top["obj"]},
        }
    per_object = {}
    for k, obj in enumerate(objects):
        m = np.array(top["obj"]) == k
        if m.any():
            per_object[obj.name] = {"n": int(m.sum()), "success_rate": float(success[m].mean())}
    return {
        "requests": int(len(joints)),
        "objects": len(objects),
        "success_rate": stat(success),
        "rejected_rate": stat(rejected),
        "mean_finger_penetration_mm": stat(finger),
        "finger_penetration_over_1mm_rate": stat(finger[np.isfinite(finger)] > 1.0),
        "max_coupling_error_rad": coupling,
        "mean_penetration_mm": stat(pen),
        "palm_distance_mm": stat(np.array(palm) * 1e3),
        "verified_rate": stat(np.array(top["verified"]) == 1.0) if np.isfinite(top["verified"]).any() else None,
        "success_given_verified": stat(success[np.array(top["verified"]) == 1.0]),
        "type_consistency": stat(labels == want),
        "type_consistency_all": stat(consistent_all),
        "diversity_joint_std_rad": stat(joint_std),
        "diversity_translation_std_m": stat(trans_std),
        "latency_ms": {"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
                       "mean": float(lat.mean())} if lat.size else None,
        "encode_ms": float(np.median(encode) * 1e3) if encode else None,
        "num_candidates": sampler.config.num_candidates,
        "repeats": repeats,
        "sampler": asdict(sampler.config),
        "refine": asdict(sampler.refiner.config) if sampler.refiner is not None else None,
        "per_type": per_type,
        "per_object": per_object,
        "protocols": by_protocol,
        "physics_hand": {name: resolve_hand(c.hand) for name, c in configs.items()},
    }


def _export(folder: Path, objects: list[EvalObject], top: dict) -> None:
    """Write the top-ranked grasps as DexGraspBench grasp files, postures derived where missing."""
    from ..grasp.data.dexgraspbench import write_grasp
    from ..grasp.physics import GraspSimulator

    sims: dict[int, GraspSimulator] = {}
    counts: dict[tuple[int, str], int] = {}
    for k, t, post in zip(top["obj"], top["type"], top["postures"]):
        obj = objects[k]
        if not post.complete:
            post = sims.setdefault(k, GraspSimulator(obj.pieces)).derive_postures(post.grasp)
        n = counts[(k, t)] = counts.get((k, t), -1) + 1
        name = obj.benchmark_folder.name + ("_1view" if obj.field_to_object is not None else "")
        write_grasp(folder / name / f"scale{round(obj.scale * 1000):03d}" / f"{t}_{n}.npy", post,
                    obj.benchmark_folder, obj.scale)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mesh", type=Path, required=True, help="object mesh file (obj, ply, stl, off, glb ...)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the mesh by this to get metres")
    parser.add_argument("--json", type=Path, required=True, help="output JSON file")
    parser.add_argument("--model", default=GraspDiffusionConfig.model,
                        help=f"model folder, or a folder name under models/ (default {GraspDiffusionConfig.model})")
    parser.add_argument("--types", nargs="+", choices=GRASP_TYPES, default=list(GRASP_TYPES),
                        help="grasp types to request (default all six)")
    parser.add_argument("--refine-steps", type=int, default=RefineConfig.steps,
                        help=f"refinement steps (default {RefineConfig.steps})")
    parser.add_argument("--no-refine", action="store_true", help="no refinement or ranking: candidates as sampled")
    parser.add_argument("--verify-budget", type=float, default=GraspDiffusionConfig.verify_budget_s, metavar="S",
                        help="seconds per request for trying the ranked grasps in simulation against the field's "
                             f"object, the first that holds on top (0: off; default {GraspDiffusionConfig.verify_budget_s}, "
                             "the generator node's)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--repeats", type=int, default=1, help="requests per type (fresh noise each)")
    parser.add_argument("--workers", type=int, default=2, help="physics-check processes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--views", type=int, choices=(0, 1), default=0,
                        help="0: the field from the full mesh (default); 1: from one simulated depth view on a table")
    parser.add_argument("--protocols", nargs="+", choices=("standard", "tabletop", "lenient"),
                        default=["standard", "lenient"], help="physics protocols (first = headline figures)")
    parser.add_argument("--pictures", type=count(0), default=0,
                        help="draw N of the top-ranked grasps (1280x720 with the verdict) into <json>_pictures/")
    parser.add_argument("--export-dexgraspbench", type=Path, default=None, metavar="DIR",
                        help="write the evaluated grasps as DexGraspBench grasp files under DIR")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    path = model_folder(args.model)
    refiner = None if args.no_refine else GraspRefiner(RefineConfig(steps=args.refine_steps))
    sampler = GraspSampler.from_pretrained(path, refiner=refiner,
                                           verifier=GraspVerifier(VerifyConfig(budget_s=args.verify_budget)))
    obj = object_from_mesh(args.mesh, args.scale, tuple(args.types), args.views, args.seed)
    report = evaluate_generator(sampler, [obj], seed=args.seed, protocols=tuple(args.protocols), workers=args.workers,
                                progress=not args.no_progress, repeats=args.repeats,
                                export=args.export_dexgraspbench,
                                pictures=(args.json.with_name(args.json.stem + "_pictures"), args.pictures))
    report = {"model": str(path), "mesh": str(args.mesh), "scale": args.scale, "views": args.views, **report}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    pen = report["mean_penetration_mm"]
    print(f"{obj.name}: success {report['success_rate']:.0%} ({args.protocols[0]}; "
          + ", ".join(f"{k} {v['success_rate']:.0%}" for k, v in report["protocols"].items()) + "), penetration "
          f"{'n/a' if pen is None else f'{pen:.1f} mm'}, type consistency {report['type_consistency']:.0%}, "
          f"latency p95 {report['latency_ms']['p95']:.0f} ms")
    for t, m in report["per_type"].items():
        print(f"  {t:12s} success {m['success_rate']:.0%}  type {m['type_consistency']:.0%}")
    print(f"report written to {args.json}")
    return 0
