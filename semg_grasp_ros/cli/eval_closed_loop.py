"""``semg-grasp eval closed-loop``: the right grasp, holding, at the first try.

For each subject of ``--data`` (Sapsanis layout), a model of the shipped recipe is calibrated
on the subject's first ``--calibration-repetitions`` repetitions of every grasp; the remaining
trials stream through the whole standalone pipeline with the subject's simulated rest between
them, each performed grasp aimed at an object of ``--objects`` (a folder with one subfolder or
mesh file per object, laid out like ``objects/ycb`` of the data folder: ``model.urdf`` naming a
collision mesh, or a convex decomposition ``.obj``) standing on a table at one of ``--poses``
yaw angles, seen by one simulated depth view. Success: the first grasp the hand controller
closes is of the performed type and holds under the physics check against the true object.
Writes the JSON (overall, per subject, grasp type and object, every performed grasp and
execution) and a PNG plot beside it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .args import count, existing_dir, number, output_file


def add_arguments(parser) -> None:
    from ..pipeline.closed_loop import ClosedLoopConfig

    d = ClosedLoopConfig()
    parser.add_argument("--data", type=existing_dir, default=None,
                        help="folder of Sapsanis-layout .mat subjects (default: emg/sapsanis/Database 1 of the data folder)")
    parser.add_argument("--subjects", nargs="+", default=None, help="subject names (file stems; default: all in --data)")
    parser.add_argument("--objects", type=existing_dir, default=None,
                        help="object folder (default: objects/ycb of the data folder)")
    parser.add_argument("--json", type=output_file(".json"), required=True, help="output JSON (the plot is written beside it as .png)")
    parser.add_argument("--views", type=int, choices=(1,), default=1, help="depth views of the object (1, as the pipeline has)")
    parser.add_argument("--calibration-repetitions", type=count(1, 1000), default=d.calibration_repetitions,
                        help=f"first repetitions per grasp that calibrate the subject's model (default {d.calibration_repetitions})")
    parser.add_argument("--max-trials", type=count(0), default=d.max_trials,
                        help="streamed trials per subject, spread over the grasps (default 0 = all remaining)")
    parser.add_argument("--poses", type=count(1, 36), default=d.poses, help=f"yaw poses per object (default {d.poses})")
    parser.add_argument("--rest-s", type=number(float, 1.0, 60.0), default=d.rest_s, help=f"seconds of rest before each trial (default {d.rest_s})")
    parser.add_argument("--physics", choices=("standard", "lenient"), default=d.physics,
                        help="physics protocol of the holding check (default: the standard benchmark protocol)")
    parser.add_argument("--closing", choices=("proportional", "full"),
                        default="proportional" if d.proportional_closing else "full",
                        help="how far the hand closes a generated grasp: as far as the contraction level says "
                             "(proportional, the node's default) or fully on the decision (full: the recorded users "
                             "never saw the hand, so they never squeezed harder to close it)")
    parser.add_argument("--verify-budget", type=number(float, 0.0, 60.0), default=d.verify_budget_s,
                        help=f"seconds per request the generator tries its ranked grasps in simulation (default the "
                             f"node's {d.verify_budget_s:g}; 60 tries every candidate whatever the machine's load; 0: off)")
    parser.add_argument("--intent-model", default=d.intent_model, help="shipped model whose recipe is calibrated per subject")
    parser.add_argument("--grasp-model", default=d.grasp_model, help="grasp generator model (name in models/ or a folder)")
    parser.add_argument("--seed", type=count(0), default=d.seed, help="trial order, poses, camera noise, grasp sampling")
    parser.add_argument("--cache", type=Path, default=Path("runs") / "closed_loop_models",
                        help="folder where calibrated models are kept between runs (default runs/closed_loop_models)")


def run(args) -> int:
    from ..intent.evaluation import load_subjects
    from ..paths import data_root
    from ..pipeline.closed_loop import ClosedLoopConfig, evaluate, load_object_set, plot

    config = ClosedLoopConfig(calibration_repetitions=args.calibration_repetitions, max_trials=args.max_trials,
                              rest_s=args.rest_s, poses=args.poses, intent_model=args.intent_model,
                              grasp_model=args.grasp_model, physics=args.physics, seed=args.seed,
                              proportional_closing=args.closing == "proportional", verify_budget_s=args.verify_budget)
    objects = load_object_set(args.objects or data_root() / "objects" / "ycb")
    subjects = load_subjects(args.data, args.subjects)
    result = evaluate(subjects, objects, config, cache_dir=args.cache, progress=lambda s: print(s, file=sys.stderr))
    result["config"] = {**vars(config), "objects": [o.name for o in objects], "views": 1}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.json.with_suffix(".png"))
    o = result["overall"]
    print(f"first-try success {o['success_rate']:.1%} of {o['performed']} performed grasps "
          f"(intent-limited {o['intent_limited_rate']:.1%}, closing-limited {o['closing_limited_rate']:.1%}, "
          f"grasp-limited {o['grasp_limited_rate']:.1%}); "
          f"median onset to holding grasp {o['median_onset_to_holding_grasp_s']} s; "
          f"{o['closed_per_performed_grasp']:.2f} closed per performed grasp, {o['closed_during_rest']} during rest "
          f"-> {args.json}")
    return 0
