"""``semg-grasp demo``: ``semg-grasp run`` with a simulated user performing a script."""

from __future__ import annotations

import argparse
import math
import time

from ..errors import ConfigError
from ..pipeline.demo import DEFAULT_SCRIPT, DemoConfig
from .run import add_pipeline_arguments, execute, pipeline_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoConfig()
    parser.description = (
        "A simulated user (fitted to a real Sapsanis recording) performs a scripted session of grasps; "
        "a simulated depth camera sees an object on a table; the classifier decodes the intents online, "
        "the distance field is built, grasps are generated, checked in MuJoCo and executed by the hand "
        "controller. Writes the session bag (MCAP, every topic), a picture of each grasp, a plot of the EMG "
        "with the decoded intents and summary.json into --out. `semg-grasp run` does the same on any source."
    )
    parser.add_argument("--script", default=DEFAULT_SCRIPT,
                        help="the session, 'name:seconds,...' with rest and the six grasp types "
                             "(default %(default)s)")
    parser.add_argument("--subject", default=d.subject, help="Sapsanis subject the simulated user is fitted to")
    parser.add_argument("--emg-file", default="", help="replay a Sapsanis .mat instead of the simulated user")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="seconds of session (default: the script's length, 60 s for --emg-file)")
    add_pipeline_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.duration < 0 or not math.isfinite(args.duration):
        raise ConfigError(f"--duration must be >= 0 seconds (0 = the script's length), got {args.duration}")
    config = DemoConfig(script=args.script, subject=args.subject, emg_file=args.emg_file, duration=args.duration,
                        **pipeline_options(args))
    return execute(config, args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S"))
