"""``semg-grasp run``: the whole pipeline on any sEMG source, in one process, no ROS needed.

Examples::

    semg-grasp run --source sapsanis --file "../shared/data/emg/sapsanis/Database 1/male_1.mat" --out runs/m1
    semg-grasp run --source bag --file runs/rec1 --out runs/rec1-pipeline      # a bag of record, demo or ros2 bag record
    semg-grasp run --source lsl --lsl-type EMG --out runs/live                 # a live device, until Ctrl-C
    semg-grasp run --source csv --file emg.csv --rate 1000 --realtime --out runs/paced

Files, bags and the simulated user run as fast as the machine allows (``--realtime`` paces
them by the wall clock); live devices (LSL, BrainFlow) are always paced by the wall clock. A
paced session that falls behind the clock says so, and by how much. Ctrl-C ends the session:
the bag is closed and the pictures and summary are written. ``semg-grasp demo`` is this
command with the simulated user performing a script.
"""

from __future__ import annotations

import argparse
import math
import time
from datetime import datetime, timezone

from ..errors import ConfigError
from ..pipeline.demo import Demo, DemoConfig
from .args import count, new_path, number, positive
from .record import add_source_arguments, source_config, validate_source


def parse_start_time(text: str) -> int:
    """``--start-time``: ISO 8601 (``2026-01-01T09:00:00Z``; no zone = UTC) or seconds since the
    Unix epoch -> nanoseconds since the epoch."""
    try:
        return int(round(float(text) * 1e9))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"--start-time {text!r} is neither ISO 8601 (2026-01-01T09:00:00Z) nor seconds "
                          "since the Unix epoch") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(round(when.timestamp() * 1e9))


def add_pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the pipeline around the source (``run`` and ``demo``)."""
    d = DemoConfig()
    parser.add_argument("--out", type=new_path, help="output folder, must not exist (default: runs/<command>-<date>-<time>)")
    parser.add_argument("--object", default=d.object,
                        help="object: 'cylinder:R,H', 'sphere:R', 'box:X,Y,Z' (m), a mesh file or a DexGraspNet "
                             "sample code or part of one (mug, banana, plate, bottle); default %(default)s")
    parser.add_argument("--scale", type=positive(), default=d.scale, help="mesh units -> metres (default %(default)s)")
    parser.add_argument("--realtime", action="store_true",
                        help="pace a file or the simulated user by the wall clock (live devices always are)")
    parser.add_argument("--start-time", type=parse_start_time,
                        help="clock of the first stamp: ISO 8601 or Unix seconds (default: the wall clock); "
                             "gives reproducible bags")
    parser.add_argument("--intent-model", default=d.intent_model, help="classifier folder in models/ or a path")
    parser.add_argument("--grasp-model", default=d.grasp_model, help="grasp generator folder in models/ or a path")
    parser.add_argument("--seed", type=count(0), default=0, help="seed of the simulated user, camera noise and grasp sampling")
    parser.add_argument("--no-physics", action="store_true", help="skip the MuJoCo check of each grasp")
    parser.add_argument("--no-render", action="store_true", help="skip the grasp pictures")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage")
    parser.add_argument("--view", action="store_true",
                        help="watch the session live in the Rerun viewer (web viewer without a display; "
                             "listens on 127.0.0.1; `semg-grasp view` replays it later)")


def validate_pipeline(args: argparse.Namespace) -> None:
    """The models and the object of ``add_pipeline_arguments``, checked before the pipeline is built."""
    from ..grasp.diffusion.checkpoint import model_folder
    from ..intent.checkpoint import resolve as resolve_checkpoint
    from ..pipeline.demo import check_graspable

    resolve_checkpoint(args.intent_model)
    model_folder(args.grasp_model)
    check_graspable(args.object, args.scale)


def pipeline_options(args: argparse.Namespace) -> dict:
    """DemoConfig fields of the options of ``add_pipeline_arguments``."""
    return dict(object=args.object, scale=args.scale, realtime=args.realtime, start_time_ns=args.start_time,
                intent_model=args.intent_model, grasp_model=args.grasp_model, seed=args.seed,
                physics=not args.no_physics, render=not args.no_render, storage=args.storage)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The whole pipeline on an sEMG source: the classifier decodes the intents online, a simulated depth "
        "camera sees the object on a table, the distance field is built, grasps are generated, checked in "
        "MuJoCo and executed by the hand controller. Writes the session bag (MCAP, every topic, with TF and "
        "the URDF for Foxglove and RViz), a picture of each grasp, a plot of the EMG with the decoded intents "
        "and summary.json into --out. Files and bags run as fast as possible, live devices by the wall clock; "
        "Ctrl-C ends the session cleanly."
    )
    add_source_arguments(parser)
    parser.add_argument("--duration", type=number(float, 0, unit="s"), default=0.0,
                        help="seconds of session (default: until the source ends, or Ctrl-C)")
    add_pipeline_arguments(parser)


def validate(args: argparse.Namespace) -> None:
    validate_source(source_config(args))
    validate_pipeline(args)


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(source=source_config(args), duration=args.duration, **pipeline_options(args))
    return execute(config, args.out or time.strftime("runs/run-%Y%m%d-%H%M%S"), args.view)


def execute(config: DemoConfig, out: str, view: bool = False) -> int:
    """Build the pipeline for ``config``, run the session into ``out`` (streamed to a Rerun viewer
    with ``view``), print its timeline."""
    from tqdm import tqdm

    print(f"building the pipeline (object {config.object}) ...")
    demo = Demo(config, out)
    session_view = None
    if view:
        from ..pipeline.view import live_view
        from ..pipeline.viewer import stop_viewer

        session_view, viewer, web = live_view(demo.hand.config.root_link)
        demo.graph.tap(lambda topic, obj, now_ns: session_view.log(topic, obj, now_ns))
        print(f"streaming to the Rerun viewer{' at ' + web if web else ''}")
    length = config.session_length()
    source = demo.acquisition.config.source
    if demo.live:
        print(f"live {source} source: {len(demo.acquisition.channel_names)} channels at "
              f"{demo.acquisition.sample_rate:g} Hz; Ctrl-C ends the session")
    total = None if math.isinf(length) else length
    with tqdm(total=total, unit="s", desc="session", bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} s "
              "[{elapsed}<{remaining}]" if total else "{desc}: {n:.1f} s [{elapsed}]") as bar:
        def progress(done: float) -> None:
            bar.update(done - bar.n)
            if session_view is not None:
                session_view.flush()

        summary = demo.run(progress=progress)
    if session_view is not None:
        session_view.flush(final=True)
        session_view.rec.flush()
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
    first = summary.get("first_try")
    if first:
        print(f"first try: {round(first['success_rate'] * first['performed'])} of {first['performed']} performed grasps "
              f"closed the right type and held (wrong type or none {100 * first['intent_limited_rate']:.0f} %, "
              f"right type, hand stopped short {100 * first['closing_limited_rate']:.0f} %, "
              f"right type not holding {100 * first['grasp_limited_rate']:.0f} %)")
    ended = " (stopped by Ctrl-C)" if summary["interrupted"] else ""
    print(f"{summary['session_s']:.1f} s of session{ended} in {summary['wall_s']:.1f} s; processing at "
          f"{summary['realtime_factor']}x real time; {summary['grasps']} grasps")
    if summary["paced"]:
        lag = summary["max_lag_s"]
        print(f"paced by the wall clock: at most {lag:.3f} s behind it" + (
            f" (reported {len(summary['lag_warnings'])} times: this machine cannot keep up)"
            if summary["lag_warnings"] else ""))
    print(f"wrote {out}/: session/ (bag), emg_intents.png, grasp_*.png, summary.json")
    if session_view is not None:
        print("the viewer stays open; Ctrl-C closes it")
        try:
            viewer.wait()
        except KeyboardInterrupt:
            stop_viewer(viewer)
    return 0
