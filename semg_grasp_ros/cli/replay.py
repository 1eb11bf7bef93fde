"""``semg-grasp replay BAG``: re-run the pipeline on a recorded session and report differences.

The sensor topics of the bag (``emg/chunks``, ``object/points``) are played on the
recording's own clock into the components downstream of them (classifier, distance
field, grasp generator, hand controller, each from its YAML file and the named models);
every output is compared with what the bag recorded (equal within ``TOLERANCE``). Identical outputs show the
pipeline is deterministic for that session and those models; differences are listed
per topic (count and largest numeric difference). A bag with sensor topics only (from
``semg-grasp record`` or ``ros2 bag record /emg/chunks``) is re-run all the same and what
the pipeline makes of it is counted (``semg-grasp run --source bag`` adds the simulated camera).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import BagError
from ..msgs.convert import from_msg, to_msg
from ..msgs.typestore import RosbagsFactory
from ..pipeline.bag import read_bag
from ..pipeline.demo import DemoConfig, processing_components
from ..pipeline.graph import Graph
from ..pipeline.session import play
from ..topics import (EMG_CHUNKS, GRASP_CANDIDATES, GRASP_INTENT, GRASP_POSE, GRASP_SELECTED, HAND_TRAJECTORY,
                      JOINT_STATES, OBJECT_MARKER, OBJECT_POINTS, OBJECT_SDF, TF)
from .args import bag_dir, count, output_file

INPUTS = (EMG_CHUNKS, OBJECT_POINTS)
#: Outputs computed from the inputs alone: a deterministic pipeline reproduces them exactly.
EVENT_OUTPUTS = (GRASP_INTENT, OBJECT_SDF, OBJECT_MARKER, GRASP_CANDIDATES, GRASP_SELECTED)
#: Outputs of the hand controller's timer: they also depend on where the timer's phase
#: falls among the replayed messages, so they are reported but not required to match.
TIMER_OUTPUTS = (HAND_TRAJECTORY, GRASP_POSE, JOINT_STATES, TF)
OUTPUTS = EVENT_OUTPUTS + TIMER_OUTPUTS
#: Outputs closer than this (in their own units) count as the same: float32 message fields
#: and BLAS summation order leave differences of ~1e-7.
TOLERANCE = 1e-5


def difference(a, b) -> float:
    """Largest absolute numeric difference between two domain objects; ``inf`` when their
    structure, strings or shapes differ; 0 when identical."""
    if type(a) is not type(b):
        return float("inf")
    if hasattr(a, "__dataclass_fields__"):
        return max((difference(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__), default=0.0)
    if isinstance(a, dict):
        return float("inf") if a.keys() != b.keys() else max((difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return float("inf")
        return max((difference(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, str):
        return 0.0 if a == b else float("inf")
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return float("inf")
    both_nan = np.isnan(x) & np.isnan(y)
    return float(np.max(np.where(both_nan, 0.0, np.abs(x - y)), initial=0.0))


def replay(bag: str | Path, intent_model: str, grasp_model: str, seed: int = 0) -> dict:
    """Re-run ``bag`` and compare.

    Returns:
        ``{topic: {recorded_messages, replayed_messages, identical_messages, must_match,
        max_difference_si, structure_differs}}``: ``max_difference_si`` is the largest absolute
        difference over the numeric fields of paired messages, each field in its own SI unit
        (m, rad, s; header stamps in ns; probabilities and scores unitless), None when a pair
        differs in structure (strings, lengths: ``structure_differs``).
    """
    recorded: dict[str, list] = defaultdict(list)
    inputs, start_ns, end_ns = set(), None, 0
    for topic, stamp, obj in read_bag(bag):
        start_ns = stamp if start_ns is None else min(start_ns, stamp)
        end_ns = max(end_ns, stamp)
        if topic in OUTPUTS:
            recorded[topic].append(obj)
        elif topic in INPUTS:
            inputs.add(topic)
    if not inputs:
        raise BagError(f"{bag} holds none of the pipeline's sensor topics {INPUTS}")
    # the session's clock started at its first message (a session bag opens with its static topics)
    graph = Graph(start_ns=start_ns)
    for component in processing_components(intent_model, grasp_model, seed):
        graph.add(component)
    replayed: dict[str, list] = defaultdict(list)
    factory = RosbagsFactory()

    def keep(topic: str, obj, now_ns: int) -> None:
        if topic in OUTPUTS:  # through a message, as the recording was (float32 fields)
            replayed[topic].append(from_msg(to_msg(obj, factory)))

    graph.tap(keep)
    play(graph, bag, topics=sorted(inputs), recorded_times=True)
    graph.run(until_ns=end_ns)  # the components' timers run for ever: stop where the recording stopped
    report = {}
    for topic in OUTPUTS:
        old, new = recorded.get(topic, []), replayed.get(topic, [])
        if not old and not new:
            continue
        diffs = [difference(a, b) for a, b in zip(old, new)]
        largest = max(diffs, default=0.0)
        report[topic] = {"recorded_messages": len(old), "replayed_messages": len(new),
                         "identical_messages": sum(d <= TOLERANCE for d in diffs), "must_match": topic in EVENT_OUTPUTS,
                         "max_difference_si": largest if np.isfinite(largest) else None,
                         "structure_differs": not np.isfinite(largest)}
    return report


def session_settings(bag: str | Path, intent_model: str | None, grasp_model: str | None,
                     seed: int | None) -> tuple[str, str, int, list[str]]:
    """The models and seed to re-run ``bag`` with: those given, else those its provenance
    names (else the demo's defaults); with one line per setting saying where it came from and
    whether the model's files match the recorded SHA-256."""
    from .. import provenance
    from ..grasp.diffusion.checkpoint import model_files
    from ..intent import checkpoint as intent_checkpoint
    from ..pipeline.bag import bag_info

    record = provenance.from_custom_data(bag_info(bag).custom_data) or {}
    models = record.get("models", {})
    chosen, notes = {}, []
    for role, given, default, files in (("intent", intent_model, DemoConfig.intent_model, intent_checkpoint.files),
                                        ("grasp", grasp_model, DemoConfig.grasp_model, model_files)):
        recorded = models.get(role, {})
        name = given or recorded.get("name") or default
        source = "given" if given else "from the bag's provenance" if recorded.get("name") else "the demo's default: the bag records no provenance"
        note = f"{role} model {name} ({source})"
        if recorded.get("files"):
            here = provenance.model_entry(name, files(name))["files"]
            note += (": files match the recording's SHA-256" if here == recorded["files"] else
                     ": its files differ from the recording's (SHA-256), so outputs may differ")
        chosen[role] = name
        notes.append(note)
    recorded_seed = record.get("seeds", {}).get("seed")
    if seed is None:
        seed = int(recorded_seed) if recorded_seed is not None else 0
        notes.append(f"seed {seed} ({'from the bag' + chr(39) + 's provenance' if recorded_seed is not None else 'default'})")
    else:
        notes.append(f"seed {seed} (given)")
    return chosen["intent"], chosen["grasp"], seed, notes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", type=bag_dir, help="a bag of `semg-grasp demo`, `run` or `record`, or of `ros2 bag record` "
                                    "(any bag with emg/chunks; with object/points and the pipeline's outputs, "
                                    "they are compared)")
    parser.add_argument("--intent-model", help="classifier to re-run with (default: the one the bag's provenance "
                        "names, else the demo's)")
    parser.add_argument("--grasp-model", help="grasp generator to re-run with (default: the bag's, else the demo's)")
    parser.add_argument("--seed", type=count(0), help="grasp sampling seed (default: the bag's, else 0)")
    parser.add_argument("--json", type=output_file(".json"), help="write the report to this file")


def validate(args: argparse.Namespace) -> None:
    """The models named or recorded exist (before the pipeline is built)."""
    args.intent_model, args.grasp_model, args.seed, args.settings = session_settings(
        args.bag, args.intent_model, args.grasp_model, args.seed)


def run(args: argparse.Namespace) -> int:
    for line in args.settings:
        print(f"re-run with {line}")
    report = replay(args.bag, args.intent_model, args.grasp_model, args.seed)
    print(f"{'topic':<24} {'recorded':>8} {'replayed':>8} {'identical':>9}  max difference (SI)")
    same = True
    for topic, r in report.items():
        if r["must_match"]:
            same &= r["recorded_messages"] == r["replayed_messages"] == r["identical_messages"]
        note = "" if r["must_match"] else "  (timer phase dependent)"
        diff = "structure differs" if r["structure_differs"] else f"{r['max_difference_si']:.3g}"
        print(f"{topic:<24} {r['recorded_messages']:>8} {r['replayed_messages']:>8} {r['identical_messages']:>9}  "
              f"{diff}{note}")
    compared = any(r["recorded_messages"] for r in report.values())
    if not compared:
        print("the bag records no outputs of the pipeline: the counts above are what it makes of the sensor data")
    else:
        print("the re-run reproduces every decision of the session exactly" if same
              else "the re-run differs from the session")
    if args.json:
        result = {"bag": str(args.bag), "settings": args.settings, "compared": compared, "reproduced": same and compared,
                  "topics": report}
        Path(args.json).write_text(json.dumps(result, indent=2, allow_nan=False))
    return 0 if same or not compared else 1
