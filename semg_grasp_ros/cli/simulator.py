"""``semg-grasp simulator fit``: fit the sEMG simulator to the Sapsanis subjects."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..emg.simulator.fit import fit_sapsanis_models
from ..errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="Sapsanis folder (default: <data root>/emg/sapsanis/Database 1)")
    parser.add_argument("--out", help="output folder (default: the package's models/ folder)")
    parser.add_argument("--check-trials", type=int, default=30, help="simulated trials per class for the check")
    parser.add_argument("--seed", type=int, default=0, help="seed of the check simulation")


def _has_models_dir() -> bool:
    from ..paths import resource

    try:
        resource("models")
    except ConfigError:
        return False
    return True


def run(args) -> int:
    from ..paths import data_root, resource

    folder = Path(args.data) if args.data else data_root() / "emg" / "sapsanis" / "Database 1"
    out_dir = Path(args.out) if args.out else resource("models") if _has_models_dir() else Path("models")
    results = fit_sapsanis_models(folder, out_dir, args.check_trials, args.seed)
    for subject, r in results.items():
        rms = np.abs(np.array(r["rms_rel_error"])).max() * 100
        med = np.abs(np.array(r["median_hz_rel_error"])).max() * 100
        print(f"{subject}: {r['path']}  max |RMS error| {rms:.1f} %  max |median-frequency error| {med:.1f} %")
    return 0
