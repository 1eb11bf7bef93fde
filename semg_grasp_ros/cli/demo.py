"""``semg-grasp demo``: ``semg-grasp run`` with a simulated user performing a script."""

from __future__ import annotations

import argparse
import time

from ..pipeline.demo import DEFAULT_SCRIPT, DemoConfig
from .args import existing_file, number
from .run import add_pipeline_arguments, execute, pipeline_options, validate_pipeline


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
    parser.add_argument("--subject", default=d.subject,
                        help="Sapsanis subject the simulated user is fitted to (female_1, female_2, male_1)")
    parser.add_argument("--emg-file", type=existing_file(".mat"), default=None,
                        help="replay a Sapsanis .mat instead of the simulated user")
    parser.add_argument("--duration", type=number(float, 0, unit="s"), default=0.0,
                        help="seconds of session (default: the script's length, 60 s for --emg-file)")
    add_pipeline_arguments(parser)


def validate(args: argparse.Namespace) -> None:
    """Everything the session needs, checked before the pipeline is built (15-20 s)."""
    from .. import GRASP_TYPES, REST
    from ..emg.simulator.model import SimulatorModel
    from ..emg.simulator.script import parse_script
    from ..errors import ConfigError

    if not args.emg_file:
        SimulatorModel.shipped(args.subject)
        for name, _ in parse_script(args.script):
            if name not in (REST, *GRASP_TYPES):
                raise ConfigError(f"--script: unknown grasp {name!r}; valid: {REST}, {', '.join(GRASP_TYPES)}")
    validate_pipeline(args)


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(script=args.script, subject=args.subject, emg_file=str(args.emg_file or ""),
                        duration=args.duration,
                        **pipeline_options(args))
    return execute(config, args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S"), args.view)
