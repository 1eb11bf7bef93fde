"""``semg-grasp eval decoder``: the streaming decoder on held-out trials of each subject.

Examples::

    semg-grasp eval decoder --subjects female_1 male_1 --json out/decoder.json
    semg-grasp eval decoder --data "/data/sapsanis/Database 1" --json out/decoder.json
    semg-grasp eval decoder --params config/grasp_classifier.yaml my_settings.yaml --json out/both.json
    semg-grasp eval decoder --recipes old_recipe.yaml config/intent_150ms.yaml --json out/recipes.json

Per subject a model of the training recipe of the node's model (``--params``' ``model``; or of each
``--recipes`` file) is trained on the repetitions below ``--test-from`` and the decoder with the
node's settings runs over the repetitions from ``--test-from`` (to ``--test-to``) played as a
session with rest between trials (``pipeline.decoder_evaluation``). Several ``--params`` files (and
recipes: every recipe with every ``--params``) are evaluated side by side.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROWS = (("first decided type correct", "first_decided_type_correct", 100, "%"),
        ("grasps started / performed", "grasps_started_per_performed_grasp", 1, ""),
        ("grasps out of rest (rest time)", "rest_grasp_fraction", 100, "%"),
        ("rest time, a grasp held over", "rest_time_with_a_grasp", 100, "%"),
        ("release (median)", "release_ms_median", 1, " ms"),
        ("correct while held", "correct_while_held", 100, "%"),
        ("onset to decision (median)", "onset_to_decision_ms_median", 1, " ms"),
        ("never decided (trials)", "never_decided", 1, ""),
        ("generated grasps / performed", "generated_grasps_per_performed_grasp", 1, ""))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, help="folder of subject .mat files (default <data>/emg/sapsanis/Database 1)")
    parser.add_argument("--subjects", nargs="+", metavar="NAME", help="subjects (file stems); default all in --data")
    parser.add_argument("--params", nargs="+", type=Path, metavar="YAML",
                        help="grasp_classifier parameter files to compare (default config/grasp_classifier.yaml)")
    parser.add_argument("--recipes", nargs="+", type=Path, metavar="YAML",
                        help="training recipes to compare (config/intent_*.yaml; default: the recipe stored in "
                             "the node model's JSON)")
    parser.add_argument("--test-from", type=int, default=24, help="first held-out repetition (training: those below)")
    parser.add_argument("--test-to", type=int, help="held-out repetitions end before this one (default: all)")
    parser.add_argument("--rest-s", type=float, default=2.5, help="seconds of rest before each trial")
    parser.add_argument("--seed", type=int, default=0, help="trial order, rest splicing and training seed")
    parser.add_argument("--json", type=Path, help="write the result JSON here")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..config import load_config, load_config_file
    from ..errors import ConfigError
    from ..pipeline.emg_acquisition import EmgAcquisitionConfig
    from ..pipeline.grasp_classifier import GraspClassifierConfig
    from ..pipeline.grasp_diffusion import GraspDiffusionConfig
    from ..pipeline.decoder_evaluation import evaluate_decoder
    from ..intent.evaluation import load_subjects
    from ..intent.models import TrainRecipe

    torch.set_num_threads(max(1, args.threads))
    files = args.params or [None]
    nodes = {(p.stem if p else "node_defaults"): load_config(GraspClassifierConfig, "grasp_classifier", p)
             for p in files}
    if len(nodes) != len(files):
        raise ConfigError("--params files need distinct names")
    if len({n.model for n in nodes.values()}) != 1:
        raise ConfigError("the compared settings must name the same model")
    recipes = {p.stem: load_config_file(TrainRecipe, p) for p in args.recipes or []}
    if len(recipes) != len(args.recipes or []):
        raise ConfigError("--recipes files need distinct names")
    subjects = load_subjects(args.data, args.subjects)
    model = next(iter(nodes.values())).model
    gen = load_config(GraspDiffusionConfig, "grasp_diffusion")
    result = evaluate_decoder(
        subjects, {name: n.decoder for name, n in nodes.items()}, model,
        args.test_from, args.test_to, args.rest_s, load_config(EmgAcquisitionConfig, "emg_acquisition").chunk_ms,
        gen.commit_s, gen.min_confidence, args.seed, recipes)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"model recipe {model}; held-out repetitions from {args.test_from}; mean over "
          f"{len(subjects)} subject(s)")
    columns = [k for k in result if isinstance(result[k], dict) and "overall" in result[k]]
    for row in zip(*(name.split("+") if "+" in name else ("", name) for name in columns)):  # recipe, setting
        if any(row):
            print(f"{'':<30}" + "".join(f"{part[:19]:>20}" for part in row))
    for label, key, scale, unit in ROWS:
        cells = [result[name]["overall"].get(key) for name in columns]
        print(f"{label:<30}" + "".join(f"{'n/a':>20}" if v is None else f"{v * scale:>{20 - len(unit)}.3g}{unit}"
                                       for v in cells))
    print(f"{'controller delay':<30}" + "".join(f"{result[n]['controller_delay']['total_ms']:>17.1f} ms"
                                                for n in columns))
    if args.json:
        print(f"\nresult written to {args.json}")
    return 0
