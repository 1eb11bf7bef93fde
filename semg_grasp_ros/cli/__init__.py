"""The ``semg-grasp`` command.

Each command is a module of this package (named after its words: ``cli.demo``,
``cli.train_grasp``, ...) with ``add_arguments(parser)``, optionally ``validate(args)``
(checks that need several arguments or a file's content, run before any work) and
``run(args) -> int``; this
file only lists them, so ``semg-grasp --help`` stays fast (modules are imported when their command runs, and for
``--help`` of that command). User mistakes (a ``SemgGraspError``) print one clear line
and exit with status 2, never a traceback; so do bad arguments (``cli.args`` checks each
value as it is parsed).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import SemgGraspError

#: (command words, module, one-line help). Modules expose add_arguments(parser) and run(args).
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("demo",), "semg_grasp_ros.cli.demo", "run the whole pipeline in one process (no ROS needed)"),
    (("run",), "semg_grasp_ros.cli.run", "run the whole pipeline on any sEMG source: simulated, files, bags, live devices"),
    (("view",), "semg_grasp_ros.cli.view", "a recorded session in 3D on a timeline: sEMG, intents, cloud, field, grasps, the moving hand (Rerun)"),
    (("replay",), "semg_grasp_ros.cli.replay", "re-run the pipeline on a recorded session bag and report differences"),
    (("record",), "semg_grasp_ros.cli.record", "record sEMG from a source into a ROS 2 bag"),
    (("stream",), "semg_grasp_ros.cli.stream", "play a recording or the simulated user as a live LSL stream (a stand-in device)"),
    (("bag", "info"), "semg_grasp_ros.cli.bag", "show topics, types, counts and duration of a bag"),
    (("bag", "recover"), "semg_grasp_ros.cli.bag_recover", "rebuild the index and metadata of a bag whose writer died"),
    (("simulator", "fit"), "semg_grasp_ros.cli.simulator", "fit the sEMG simulator to the Sapsanis subjects (models/emg_simulator_*.json)"),
    (("sdf",), "semg_grasp_ros.cli.sdf", "build an object distance field (.npz) from a mesh or a cloud file"),
    (("train", "grasp"), "semg_grasp_ros.cli.train_grasp", "train a grasp diffusion model (paper or improved) from a YAML config"),
    (("eval", "grasps"), "semg_grasp_ros.cli.eval_grasps", "physics check (MuJoCo) of a grasp file: hold under six pushes, penetration, limits (JSON)"),
    (("eval", "generator"), "semg_grasp_ros.cli.eval_generator", "evaluate a grasp generator on an object mesh, all six types (JSON report)"),
    (("data", "synth"), "semg_grasp_ros.cli.data", "synthesise physics-checked, type-labelled grasps for the object set (resumable)"),
    (("data", "import"), "semg_grasp_ros.cli.data", "import DexGraspNet grasp files as a type-labelled grasp dataset"),
    (("train", "intent"), "semg_grasp_ros.cli.train_intent", "train a grasp-type classifier on Sapsanis-layout sEMG and save it (safetensors + JSON)"),
    (("calibrate",), "semg_grasp_ros.cli.calibrate", "guided session for a new user: record rest and each grasp, train a personal model from the pooled one"),
    (("eval", "closed-loop"), "semg_grasp_ros.cli.eval_closed_loop", "the headline: held-out EMG trials through the whole pipeline against objects on a table; first grasp closed: right type and holding?"),
    (("eval", "intent"), "semg_grasp_ros.cli.eval_intent", "cross-validate a grasp-type classifier (within-subject, leave-one-subject-out, pooled or few-shot; JSON, PNG)"),
    (("eval", "decoder"), "semg_grasp_ros.cli.eval_decoder", "the streaming decoder on held-out trials of each subject: first decision, grasps started, rest, delay (JSON)"),
]


def _selected(argv: list[str]) -> tuple[tuple[str, ...], str, str] | None:
    """The COMMANDS entry named by the leading words of ``argv`` (options skipped)."""
    words = [a for a in argv if not a.startswith("-")]
    for entry in COMMANDS:
        if words[: len(entry[0])] == list(entry[0]):
            return entry
    return None


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line: what is wrong and what is valid (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(selected: tuple[tuple[str, ...], str, str] | None = None) -> argparse.ArgumentParser:
    """The full parser; only the ``selected`` command's module is imported for its arguments."""
    parser = _Parser(
        prog="semg-grasp",
        description="Forearm sEMG -> grasp type -> ShadowHand grasp. Runs the pipeline in one "
        "process, records and replays ROS 2 bags (MCAP), trains and evaluates the models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    groups = {(): parser.add_subparsers(dest="command", metavar="COMMAND")}
    for entry in COMMANDS:
        words, module, help_text = entry
        for depth in range(1, len(words)):
            prefix = words[:depth]
            if prefix not in groups:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                groups[prefix] = sub.add_subparsers(dest="_".join(prefix), metavar="COMMAND")
        sub = groups[words[:-1]].add_parser(words[-1], help=help_text, description=help_text)
        sub.set_defaults(_entry=entry)
        if entry is selected:
            importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    selected = _selected(argv)
    parser = build_parser(selected)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad argument (one line printed), --help or --version
        return int(exc.code or 0)
    if selected is None:
        parser.print_help()
        return 0 if not argv else 2
    words, module_name, _ = selected
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        module = importlib.import_module(module_name)
        if hasattr(module, "validate"):
            module.validate(args)
        return int(module.run(args) or 0)
    except SemgGraspError as exc:
        print(f"semg-grasp {' '.join(words)}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
