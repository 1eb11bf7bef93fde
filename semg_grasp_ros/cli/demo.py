"""``semg-grasp demo``: the whole pipeline in one process, no ROS needed."""

from __future__ import annotations

import argparse
import time

from ..pipeline.demo import DEFAULT_SCRIPT, Demo, DemoConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    parser.description = (
        "A simulated user (fitted to a real Sapsanis recording) performs a scripted session of grasps; "
        "a simulated depth camera sees an object on a table; the classifier decodes the intents online, "
        "the distance field is built, grasps are generated, checked in MuJoCo and executed by the hand "
        "controller. Writes the session bag (MCAP, every topic), a picture of each grasp, a plot of the EMG "
        "with the decoded intents and summary.json into --out."
    )
    parser.add_argument("--out", help="output folder, must not exist (default: runs/demo-<date>-<time>)")
    parser.add_argument("--object", default=d.object,
                        help="object: 'cylinder:R,H', 'sphere:R', 'box:X,Y,Z' (m), a mesh file or a DexGraspNet "
                             "sample code or part of one (mug, banana, plate, bottle); default %(default)s")
    parser.add_argument("--scale", type=float, default=d.scale, help="mesh units -> metres (default %(default)s)")
    parser.add_argument("--script", default=DEFAULT_SCRIPT,
                        help="the session, 'name:seconds,...' with rest and the six grasp types "
                             "(default %(default)s)")
    parser.add_argument("--subject", default=d.subject, help="Sapsanis subject the simulated user is fitted to")
    parser.add_argument("--emg-file", default="", help="replay a Sapsanis .mat instead of the simulated user")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="seconds of session (default: the script's length, 60 s for --emg-file)")
    parser.add_argument("--realtime", action="store_true", help="pace by the wall clock (default: as fast as possible)")
    parser.add_argument("--intent-model", default=d.intent_model, help="classifier folder in models/ or a path")
    parser.add_argument("--grasp-model", default=d.grasp_model, help="grasp generator folder in models/ or a path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user, camera noise and grasp sampling")
    parser.add_argument("--no-physics", action="store_true", help="skip the MuJoCo check of each grasp")
    parser.add_argument("--no-render", action="store_true", help="skip the grasp pictures")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    config = DemoConfig(object=args.object, scale=args.scale, script=args.script, subject=args.subject,
                        emg_file=args.emg_file, duration=args.duration, realtime=args.realtime,
                        intent_model=args.intent_model, grasp_model=args.grasp_model, seed=args.seed,
                        physics=not args.no_physics, render=not args.no_render, storage=args.storage)
    out = args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S")
    print(f"building the pipeline (object {config.object}) ...")
    demo = Demo(config, out)
    length = config.session_length()
    with tqdm(total=length, unit="s", desc="session", bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s "
              "[{elapsed}<{remaining}]") as bar:
        summary = demo.run(progress=lambda done: bar.update(done - bar.n))
    print("\n  time  event")
    for e in summary["timeline"]:
        if e["event"] == "intent":
            print(f"{e['t']:6.2f}  intent {e['grasp_type']:<12} confidence {e['confidence']:.2f}")
        else:
            physics = ""
            if "physics_success" in e:
                verdict = "held" if e["physics_success"] else "slipped"
                physics = f"  physics: {'rejected (pregrasp penetrates)' if e['physics_rejected'] else verdict}"
            print(f"{e['t']:6.2f}  grasp  {e['grasp_type']:<12} penetration {e['penetration_mm']:.1f} mm{physics}")
    dec = summary["decoding"]
    if dec.get("active_accuracy") is not None:
        print(f"\ndecoded intents during grasps: {100 * dec['active_accuracy']:.1f} % correct, "
              f"{100 * dec['active_rejected']:.1f} % held back; false grasps during rest "
              f"{100 * (dec['rest_false_grasp_rate'] or 0):.1f} %")
    print(f"{summary['session_s']:.1f} s of session in {summary['wall_s']:.1f} s "
          f"({summary['realtime_factor']}x real time); {summary['grasps']} grasps")
    print(f"wrote {out}/: session/ (bag), emg_intents.png, grasp_*.png, summary.json")
    return 0
