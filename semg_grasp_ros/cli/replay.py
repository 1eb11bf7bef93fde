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

INPUTS = ("emg/chunks", "object/points")
#: Outputs computed from the inputs alone: a deterministic pipeline reproduces them exactly.
EVENT_OUTPUTS = ("grasp/intent", "object/sdf", "object/marker", "grasp/candidates", "grasp/selected")
#: Outputs of the hand controller's timer: they also depend on where the timer's phase
#: falls among the replayed messages, so they are reported but not required to match.
TIMER_OUTPUTS = ("hand/joint_trajectory", "grasp/pose", "joint_states", "tf")
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
    """Re-run ``bag`` and compare; returns ``{topic: {recorded, replayed, identical, max_difference}}``."""
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
        report[topic] = {"recorded": len(old), "replayed": len(new), "must_match": topic in EVENT_OUTPUTS,
                         "identical": sum(d <= TOLERANCE for d in diffs),
                         "max_difference": max(diffs, default=0.0)}
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="a bag of `semg-grasp demo`, `run` or `record`, or of `ros2 bag record` "
                                    "(any bag with emg/chunks; with object/points and the pipeline's outputs, "
                                    "they are compared)")
    parser.add_argument("--intent-model", default=DemoConfig.intent_model,
                        help="classifier the session was run with (default: the demo's)")
    parser.add_argument("--grasp-model", default="grasp_improved", help="grasp generator the session was run with")
    parser.add_argument("--seed", type=int, default=0, help="grasp sampling seed the session was run with")
    parser.add_argument("--json", help="write the report to this file")


def run(args: argparse.Namespace) -> int:
    report = replay(args.bag, args.intent_model, args.grasp_model, args.seed)
    print(f"{'topic':<24} {'recorded':>8} {'replayed':>8} {'identical':>9}  max difference")
    same = True
    for topic, r in report.items():
        if r["must_match"]:
            same &= r["recorded"] == r["replayed"] == r["identical"]
        note = "" if r["must_match"] else "  (timer phase dependent)"
        print(f"{topic:<24} {r['recorded']:>8} {r['replayed']:>8} {r['identical']:>9}  "
              f"{r['max_difference']:.3g}{note}")
    compared = any(r["recorded"] for r in report.values())
    if not compared:
        print("the bag records no outputs of the pipeline: the counts above are what it makes of the sensor data")
    else:
        print("the re-run reproduces every decision of the session exactly" if same
              else "the re-run differs from the session")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0 if same or not compared else 1
