"""``semg-grasp record``: record sEMG from any source into a ROS 2 bag (MCAP by default).

Examples::

    semg-grasp record --source simulated --duration 5 --out runs/sim1
    semg-grasp record --source simulated --model female_2 --script rest:2,hook:3,rest:2 --out runs/hook
    semg-grasp record --source sapsanis --file "shared/data/emg/sapsanis/Database 1/male_1.mat" --out runs/m1
    semg-grasp record --source lsl --lsl-type EMG --duration 60 --out runs/live

Paced sources (simulated, files, bag) run on a simulated clock, faster than real time;
live sources (lsl, brainflow) record for ``--duration`` seconds of wall-clock time. The
bag is closed on any exit (an error or Ctrl-C included), so what was recorded is kept.
"""

from __future__ import annotations

import argparse
from argparse import ArgumentTypeError
from pathlib import Path

from tqdm import tqdm

from .. import provenance
from ..config import build_config, read_parameters
from ..emg.csvfile import CSV_FORMAT, read_csv
from ..emg.simulator.model import SimulatorModel
from ..errors import ConfigError
from ..pipeline.emg_acquisition import GENERIC_USER, SOURCE_KINDS, TOPIC, EmgAcquisition, EmgAcquisitionConfig
from .args import bag_dir, count, existing_file, new_path, number, positive

#: command-line option -> EmgAcquisitionConfig field
_OPTIONS = {
    "source": "source", "file": "file", "script": "script", "seed": "seed", "model": "simulator_model",
    "channels": "channels", "rate": "sample_rate_hz", "chunk_ms": "chunk_ms", "loop": "loop",
    "order": "trial_order", "rest_s": "rest_s", "repetitions": "repetitions", "grasp_s": "grasp_s",
    "bag_topic": "bag_topic", "lsl_name": "lsl_name", "lsl_type": "lsl_type", "timeout": "timeout_s",
    "board_id": "board_id", "serial_port": "serial_port", "ip_address": "ip_address", "ip_port": "ip_port",
}


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of replayed bags and live devices (shared with ``calibrate``)."""
    parser.add_argument("--bag-topic", help="topic of the EmgChunks in a replayed bag (default emg/chunks)")
    parser.add_argument("--lsl-name", help="LSL stream name (default: resolve by --lsl-type)")
    parser.add_argument("--lsl-type", help="LSL stream type (default EMG)")
    parser.add_argument("--timeout", type=positive("s"), help="seconds to wait for a live device (default 5)")
    parser.add_argument("--board-id", type=int, help="BrainFlow board id (default -1, synthetic)")
    parser.add_argument("--serial-port", help="BrainFlow serial port")
    parser.add_argument("--ip-address", help="BrainFlow IP address")
    parser.add_argument("--ip-port", type=count(1, 65535), help="BrainFlow IP port")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = CSV_FORMAT
    parser.add_argument("--out", type=new_path, required=True, help="bag directory to create (must not exist)")
    parser.add_argument("--duration", type=positive("s"), default=5.0,
                        help="seconds to record (signal time; wall-clock time for live sources); default 5")
    add_source_arguments(parser)
    parser.add_argument("--seed", type=count(0), help="seed of the simulator and trial shuffling")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="bag storage (default mcap)")


def add_user_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulated user and the sampling of the stream (shared with ``calibrate``)."""
    parser.add_argument("--model", help="simulated user: a Sapsanis subject (female_1, female_2, male_1) "
                        "or a model .json (default female_1), or 'generic'")
    parser.add_argument("--channels", type=count(1, 256), help="channels of the generic simulated user (default 2)")
    parser.add_argument("--rate", type=number(float, 0, 100_000, above=True, unit="Hz"),
                        help="sample rate in Hz (simulator; a CSV file that does not state it; NinaPro without "
                        "'frequency')")
    parser.add_argument("--chunk-ms", type=number(float, 1, 1000, unit="ms"), help="milliseconds per EmgChunk (default 20)")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The options choosing and configuring the sEMG source (``record`` and ``run``)."""
    parser.add_argument("--source", choices=SOURCE_KINDS, help="where samples come from (default simulated)")
    parser.add_argument("--file", help="dataset file/folder (sapsanis, ninapro, csv) or bag directory (bag)")
    parser.add_argument("--script", help="simulator script, e.g. rest:2,spherical:3,rest:2")
    add_user_arguments(parser)
    parser.add_argument("--loop", action="store_true", default=None, help="restart a paced source at its end")
    parser.add_argument("--order", choices=("shuffled", "sequential", "interleaved"), help="order of dataset trials")
    parser.add_argument("--rest-s", type=number(float, 0, unit="s"), help="seconds of rest between grasps / dataset trials")
    parser.add_argument("--repetitions", type=count(1), help="default simulator script: repetitions of each grasp")
    parser.add_argument("--grasp-s", type=positive("s"), help="default simulator script: seconds per grasp")
    add_stream_arguments(parser)
    parser.add_argument("--params-file", type=existing_file(".yaml", ".yml"), help="emg_acquisition parameter YAML (options given here override it)")


def source_config(args: argparse.Namespace, defaults: dict | None = None) -> EmgAcquisitionConfig:
    """The acquisition config of the source options: ``--params-file`` (if given), then
    ``defaults``, then the options given on the command line."""
    params = read_parameters("emg_acquisition", args.params_file) if args.params_file else {}
    overrides = {field: getattr(args, opt) for opt, field in _OPTIONS.items() if getattr(args, opt) is not None}
    return build_config(EmgAcquisitionConfig, params, **{**(defaults or {}), **overrides})


#: What ``--file`` must be for each source: (folder allowed, file suffixes).
_FILES = {"sapsanis": (False, (".mat",)), "ninapro": (False, (".mat",)), "csv": (True, (".csv", ".txt")),
          "bag": (True, ())}


def validate_source(config: EmgAcquisitionConfig) -> None:
    """The source's file (or simulated user), checked before the source opens (``record``, ``run``).

    Raises:
        ConfigError, ModelError: what is wrong, and what is valid.
    """
    if config.source in _FILES:
        folder_ok, suffixes = _FILES[config.source]
        path = Path(config.file)
        if config.source == "bag":
            try:
                bag_dir(config.file)
            except ArgumentTypeError as exc:
                raise ConfigError(f"--file: {exc}") from None
        elif path.is_dir() and not folder_ok:
            raise ConfigError(f"--file {path} is a folder; the {config.source} source reads one {suffixes[0]} file")
        elif not path.exists():
            raise ConfigError(f"--file {path} does not exist")
        elif path.is_file() and path.suffix.lower() not in suffixes:
            raise ConfigError(f"--file {path}: the {config.source} source reads {', '.join(suffixes)} files")
        if config.source == "csv" and path.is_file() and not config.sample_rate_hz and read_csv(path).sample_rate is None:
            raise ConfigError(f"--file {path} does not state its sample rate: give --rate HZ ({CSV_FORMAT})")
    if (config.source == "simulated" and config.simulator_model not in GENERIC_USER
            and not config.simulator_model.endswith(".json")):
        SimulatorModel.shipped(config.simulator_model)


def validate(args) -> None:
    validate_source(source_config(args))


def _provenance(config: EmgAcquisitionConfig) -> dict:
    from dataclasses import asdict

    from ..emg.simulator.model import shipped_subjects

    models = {}
    if config.source == "simulated" and config.simulator_model not in GENERIC_USER:
        path = shipped_subjects().get(config.simulator_model, config.simulator_model)
        models["emg_simulator"] = provenance.model_entry(config.simulator_model, [Path(path)])
    return provenance.provenance({"emg_acquisition": asdict(config)}, models, {"seed": config.seed})


def run(args) -> int:
    from ..pipeline.bag import BagWriter
    from ..pipeline.graph import Graph
    from ..pipeline.session import record

    out = Path(args.out)
    config = source_config(args)

    acq = EmgAcquisition(config)
    try:
        graph = Graph(realtime=acq.source.live)
        graph.add(acq)
        with BagWriter(out, storage=args.storage, custom_data=provenance.custom_data(_provenance(config))) as bag:
            record(graph, bag, [TOPIC])
            step = 0.1
            with tqdm(total=round(args.duration, 3), unit="s", desc="recording", disable=None) as bar:
                elapsed = 0.0
                while elapsed < args.duration - 1e-9 and not acq.finished:
                    dt = min(step, args.duration - elapsed)
                    graph.run(duration=dt)
                    bag.flush()
                    elapsed += dt
                    bar.update(round(dt, 3))
    finally:
        acq.close()
    seconds = acq.stats["samples"] / acq.sample_rate
    print(f"wrote {acq.stats['chunks']} EmgChunks ({acq.stats['samples']} samples = {seconds:.2f} s, "
          f"{len(acq.channel_names)} channels at {acq.sample_rate:g} Hz, {acq.source.units}) to {out} on /{TOPIC}")
    if acq.finished and elapsed < args.duration - 1e-9:
        print(f"the {config.source} source ended after {seconds:.2f} s")
    for key in ("nonfinite_samples", "dropped_samples", "reanchors"):
        if acq.stats[key]:
            print(f"{key.replace('_', ' ')}: {acq.stats[key]}")
    return 0
