"""``semg-grasp stream``: play a recording or the simulated user as a live LSL stream.

A stand-in device for the live path (``semg-grasp run --source lsl``, ``record --source lsl``, a
ROS launch with ``emg_source:=lsl``) without hardware: any paced source (simulated, sapsanis,
ninapro, csv, bag) is pushed into an LSL outlet at its sample rate on the wall clock::

    semg-grasp stream --source sapsanis --file "../shared/data/emg/sapsanis/Database 1/male_1.mat" --lsl-name emg
    semg-grasp run --source lsl --lsl-name emg --out runs/live          # in another terminal
"""

from __future__ import annotations

import argparse
import math

from ..errors import ConfigError
from .record import add_source_arguments, source_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--seed", type=int, help="seed of the simulator and trial shuffling")
    parser.add_argument("--duration", type=float, default=0.0,
                        help="seconds of signal to send (default: until the source ends)")
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a consumer (default 30)")


def run(args: argparse.Namespace) -> int:
    from ..emg.devices import stream_to_lsl
    from ..pipeline.emg_acquisition import open_source

    config = source_config(args)
    if config.source in ("lsl", "brainflow"):
        raise ConfigError(f"stream plays a recording or the simulated user; --source {config.source} is live already")
    if args.duration < 0 or not math.isfinite(args.duration) or not args.wait > 0:
        raise ConfigError("--duration must be >= 0 seconds (0 = until the source ends) and --wait positive")
    name = config.lsl_name or "semg_grasp"
    with open_source(config) as source:
        print(f"LSL stream {name!r} (type {config.lsl_type}): {source.n_channels} channels at "
              f"{source.sample_rate:g} Hz; waiting for a consumer ...", flush=True)
        sent = stream_to_lsl(source, name, config.lsl_type, args.duration or math.inf, wait_s=args.wait)
    print(f"sent {sent} samples ({sent / source.sample_rate:.2f} s)", flush=True)
    return 0
