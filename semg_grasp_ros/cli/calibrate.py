"""``semg-grasp calibrate``: a guided session that makes a personal grasp-type model.

Examples::

    semg-grasp calibrate --source lsl --out runs/p01/model                 # a live armband, 2 holds per grasp
    semg-grasp calibrate --source sapsanis --file "Database 1/female_2.mat" --repetitions 2 --out runs/f2/model
    semg-grasp calibrate --source simulated --model male_1 --out runs/sim/model --realtime

The terminal prompts rest and each grasp in turn ("cylindrical: grasp and hold", a countdown and
a progress bar), ``--repetitions`` holds of every grasp (default 2: 82 s). Everything is recorded
to a session bag (``<out>_session/``: ``emg/chunks`` and the prompts on ``calibration/cue``); the
personal model is fitted starting from ``--pretrained`` (the classifier node's default model),
its leave-one-repetition-out accuracy and confusion matrix are printed, and it is written as an
ordinary checkpoint (``<out>.json`` + ``<out>.safetensors``) that ``semg-grasp demo --intent-model``,
``ros2 param set /grasp_classifier_node model <out>.json`` and the classifier node's ``model``
parameter load.

File sources are reproducible: ``--source sapsanis --file F.mat --repetitions K`` plays the
first K repetitions of every grasp of F (each hold is one 6 s trial) with rest between, in the
session's order. Paced sources (simulated, files, bag) run faster than real time unless
``--realtime``; live sources (lsl, brainflow) follow the wall clock.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import BagError, ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..pipeline.calibration import CalibrationConfig
    from ..pipeline.emg_acquisition import SOURCE_KINDS
    from ..pipeline.grasp_classifier import GraspClassifierConfig
    from .record import add_stream_arguments, add_user_arguments

    defaults = CalibrationConfig()
    parser.add_argument("--out", type=Path, required=True,
                        help="personal model: writes <out>.json and <out>.safetensors")
    parser.add_argument("--bag", type=Path, help="session bag directory to create (default <out>_session)")
    parser.add_argument("--source", choices=[s for s in SOURCE_KINDS if s != "ninapro"], default="simulated",
                        help="where samples come from (default simulated)")
    parser.add_argument("--pretrained", default=GraspClassifierConfig().model,
                        help="pooled model to start from: its filter, window and features (default: the classifier "
                        "node's model, %(default)s)")
    parser.add_argument("--repetitions", type=int, default=defaults.repetitions, help="holds of every grasp (default 2)")
    parser.add_argument("--hold-s", type=float, default=defaults.hold_s,
                        help="seconds of each hold (default 4; file sources: the trial length)")
    parser.add_argument("--rest-s", type=float, default=defaults.rest_s, help="seconds of rest before each hold")
    parser.add_argument("--lead-s", type=float, default=defaults.lead_s, help="seconds of rest before the first hold")
    parser.add_argument("--realtime", action="store_true", help="pace a simulated or file source by the wall clock")
    parser.add_argument("--file", help="sapsanis .mat file, csv folder/file or bag directory")
    parser.add_argument("--seed", type=int, help="seed of the simulated user")
    add_user_arguments(parser)
    add_stream_arguments(parser)


def session_source(args, acquisition_config, steps, class_names):
    """The source of the session: a file's first repetitions in the session's order, a
    simulated user following the prompts, or the configured stream."""
    from ..emg import sources
    from ..emg.datasets import load_sapsanis
    from ..pipeline.calibration import protocol_script
    from ..pipeline.emg_acquisition import open_source

    if args.source == "sapsanis":
        trials = load_sapsanis(args.file)
        keep = trials.repetitions < args.repetitions
        subset = type(trials)(trials.data[keep], trials.labels[keep], trials.repetitions[keep], trials.class_names,
                              trials.channel_names, trials.sample_rate, trials.subject, trials.units)
        if tuple(subset.class_names) != tuple(class_names):
            raise ConfigError(f"{args.file} has classes {subset.class_names}; the model {class_names}")
        recording = sources.trials_recording(subset, "interleaved", args.rest_s, acquisition_config.seed,
                                             sources.subject_rest_model(subset))
        return sources.recording_source(recording)
    if args.source == "simulated":
        acquisition_config = replace(acquisition_config, script=protocol_script(steps))
    return open_source(acquisition_config)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..config import build_config
    from ..intent.models import load_model
    from ..intent.metrics import format_confusion
    from ..pipeline.bag import BagWriter
    from ..pipeline.calibration import CUE_TOPIC, CalibrationConfig, CalibrationSession, finish
    from ..pipeline.emg_acquisition import TOPIC, EmgAcquisition, EmgAcquisitionConfig
    from ..pipeline.graph import Graph
    from ..pipeline.session import record
    from .record import _OPTIONS

    torch.set_num_threads(1)
    bag_path = args.bag or args.out.with_name(args.out.name + "_session")
    if bag_path.exists():
        raise BagError(f"session bag {bag_path} already exists; choose a new --out or --bag (nothing was overwritten)")
    if args.source in ("sapsanis", "csv", "bag") and not args.file:
        raise ConfigError(f"--source {args.source} needs --file")
    pretrained = load_model(args.pretrained)
    hold_s = args.hold_s
    if args.source == "sapsanis":
        from ..emg.datasets import load_sapsanis

        trials = load_sapsanis(args.file)
        hold_s = trials.n_samples / trials.sample_rate  # one trial per hold
        if args.repetitions > int(trials.repetitions.max()) + 1:
            raise ConfigError(f"{args.file} has {int(trials.repetitions.max()) + 1} repetitions per grasp, "
                              f"--repetitions {args.repetitions} asked")
    lead_s = args.rest_s if args.source == "sapsanis" else args.lead_s
    config = CalibrationConfig(repetitions=args.repetitions, hold_s=hold_s, rest_s=args.rest_s, lead_s=lead_s)
    session = CalibrationSession(pretrained, config)
    overrides = {f: getattr(args, o) for o, f in _OPTIONS.items() if getattr(args, o, None) is not None}
    acquisition_config = build_config(EmgAcquisitionConfig, {}, **overrides)
    source = session_source(args, acquisition_config, session.steps, pretrained.class_names)
    acq = EmgAcquisition(acquisition_config, source=source)
    live = acq.source.live
    graph = Graph(realtime=live or args.realtime)
    graph.add(acq)
    graph.add(session)
    interactive = (live or args.realtime) and sys.stdout.isatty()
    print(f"calibration: {config.repetitions} hold(s) of each of {len(pretrained.class_names)} grasps, "
          f"{session.duration_s:.0f} s; follow the prompts")
    try:
        with BagWriter(bag_path) as bag:
            record(graph, bag, [TOPIC, CUE_TOPIC])
            shown = -1
            while not session.finished and not acq.finished:
                graph.run(duration=0.1)
                p = session.prompt()
                if interactive:
                    bar = "#" * int(30 * p.progress)
                    sys.stdout.write(f"\r[{p.step + 1:2d}/{p.steps}] {p.text:<32} {p.remaining_s:4.1f} s "
                                     f"|{bar:<30}| {100 * p.progress:3.0f} %")
                    sys.stdout.flush()
                elif p.step != shown:
                    print(f"[{p.step + 1:2d}/{p.steps}] {p.text} ({session.steps[p.step].duration_s:g} s)")
                shown = p.step
    finally:
        acq.close()
    if interactive:
        print()
    if not session.finished:
        raise ConfigError(f"the {args.source} source ended after {session.elapsed_s:.1f} s of the "
                          f"{session.duration_s:.1f} s session; the session bag {bag_path} keeps what was recorded")
    result, path = finish(session, args.out, session_bag=bag_path,
                          source=args.source + (f" {args.file}" if args.file else ""))
    print(f"session recorded to {bag_path} ({session.duration_s:.0f} s); personal model trained in "
          f"{result.train_seconds:.2f} s on {result.windows} windows")
    if result.cross_validation:
        cv = result.cross_validation
        print(f"cross-validated accuracy ({cv['protocol']}): {100 * cv['accuracy']:.1f} % "
              f"(macro F1 {100 * cv['macro_f1']:.1f} %)")
        print(format_confusion(cv["confusion"], result.model.class_names))
    for note in result.notes:
        print(note)
    print(f"personal model written to {path}")
    return 0
