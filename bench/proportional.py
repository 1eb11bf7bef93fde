"""Proportional closing on simulated users whose activation is known.

    python bench/proportional.py --out bench/results/proportional.json

For each Sapsanis subject's fitted simulated user (``models/emg_simulator_<subject>.json``): the
user calibrates (2 s rest, 3 s strongest contraction), then holds one grasp with the effort
stepping through ``EFFORTS`` (``pipeline.proportional``: the activation is the effort times the
simulator's envelope without its onset burst, constant while the effort is); the grasp is one
that stands clear of the user's rest (male_1's palmar plateau is below his rest noise, so his
hook is held: no amplitude estimate can follow a contraction weaker than the noise); the grasp classifier (node defaults, shipped
model, ``max_rms`` from the calibration) and the hand controller (node defaults, the grasp from
the start) run at their rates. Reported: Pearson correlation of the commanded closure (the
commanded joints projected on pregrasp -> grasp -> squeeze, 0-2) with the activation over the
close phase; per constant-effort segment (after 1.5 s of settling) the largest joint's standard
deviation of the command (jitter, rad) and the mean closure; the same with proportional closing
off (the hand closes fully whatever the effort).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros.config import load_config  # noqa: E402
from semg_grasp_ros.emg.simulator.model import SimulatorModel  # noqa: E402
from semg_grasp_ros.intent.models import load_model  # noqa: E402
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifierConfig  # noqa: E402
from semg_grasp_ros.pipeline.hand_controller import HandControllerConfig  # noqa: E402
from semg_grasp_ros.pipeline.proportional import closure_metrics, run_closing  # noqa: E402

#: the grasp each simulated user holds: its plateau RMS at least 3x the rest RMS on every channel
SUBJECTS = {"female_1": "cylindrical", "female_2": "spherical", "male_1": "hook"}
#: (effort, seconds) held in turn after 2 s of rest.
EFFORTS = [(0.3, 4.0), (0.6, 4.0), (1.0, 4.0), (0.45, 4.0), (0.8, 4.0)]
REST_S, SETTLE_S = 2.0, 1.5
TARGETS = {"correlation": 0.9, "jitter_rad": 0.02}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    classifier = load_config(GraspClassifierConfig, "grasp_classifier")
    controller = replace(load_config(HandControllerConfig, "hand_controller"), preshape_on_intent=False)
    model = load_model(classifier.model)
    result = {"machine": machine_info(), "efforts": EFFORTS, "rest_s": REST_S, "settle_s": SETTLE_S,
              "classifier_level_settings": {f"level_{k}": v for k, v in asdict(classifier.decoder.level).items()
                                            if k != "max_rms"},
              "controller": {k: getattr(controller, k) for k in ("proportional_closing", "grasp_level", "closure_rate")},
              "per_subject": {}}
    for subject, grasp in SUBJECTS.items():
        user = SimulatorModel.shipped(subject)
        plateau = np.asarray(user.plateau_rms)[user.class_names.index(grasp)]
        if np.any(plateau < 3 * np.asarray(user.rest_rms)):
            raise SystemExit(f"{subject}'s {grasp} (plateau RMS {plateau}) does not stand clear of rest {user.rest_rms}")
        on = closure_metrics(run_closing(user, grasp, EFFORTS, args.seed, classifier, controller, intent_model=model),
                             EFFORTS, REST_S, SETTLE_S)
        off = closure_metrics(run_closing(user, grasp, EFFORTS, args.seed, classifier,
                                          replace(controller, proportional_closing=False), intent_model=model),
                              EFFORTS, REST_S, SETTLE_S)
        result["per_subject"][subject] = {"grasp": grasp, "proportional": on, "proportional_off": off}
        print(subject, round(on["correlation"], 3), round(on["max_jitter_rad"], 4), flush=True)
    per = result["per_subject"].values()
    result["correlation_min"] = round(min(p["proportional"]["correlation"] for p in per), 3)
    result["max_jitter_rad"] = round(max(p["proportional"]["max_jitter_rad"] for p in per), 4)
    result["targets"] = {**TARGETS, "met": {"correlation": result["correlation_min"] >= TARGETS["correlation"],
                                            "jitter_rad": result["max_jitter_rad"] < TARGETS["jitter_rad"]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("correlation_min", "max_jitter_rad", "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
