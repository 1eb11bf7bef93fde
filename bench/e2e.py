"""End-to-end benchmark: latency from sEMG to the hand, controller delay, real-time headroom,
and the decoding accuracy of the decoder settings.

    python bench/e2e.py --out bench/results/e2e.json [--repetitions 3] [--skip-accuracy]

The whole pipeline of ``semg-grasp demo`` runs in one process (every component from its
``config/<node>.yaml``; a simulated user fitted to each Sapsanis subject performs every grasp
``--repetitions`` times with rest between; the simulated depth camera at its configured rate;
every message recorded to an MCAP bag), as fast as the CPU allows, with each handler call
timed (``Graph.trace``).

processing_latency_ms
    For every decision that starts a grasp (the published intent changes to a grasp type with
    the controller's confidence): wall time from the start of the acquisition tick that
    publishes the EMG chunk completing the deciding window to the first hand command (the
    ``hand/joint_trajectory`` the controller publishes for that intent: the decided type's
    pre-shape). ``to_generated_grasp``: from the chunk completing the window of the decision the
    generator grasps on (its type intended for ``commit_s``) to the trajectory of the generated,
    object-specific grasp (classifier -> generator -> controller). p50 / p95 / max, and by stage.
controller_delay_ms
    half the analysis window + chunk wait + processing p95 (to the first command) + decision lag,
    each term explained in ``controller_delay_terms``; also to the generated grasp (+ the
    generator's ``commit_s``), and the delays observed on simulated sessions from the muscles'
    half-activation to the decided intent and to the generated grasp of the right type.
realtime_factor
    session seconds / wall seconds of the whole pipeline (simulated sensors, processing,
    recorder, the demo's monitors) run as fast as possible, without the latency trace; also the
    processing components alone, and with the simulated camera at its node's rate.
decoding
    ``semg-grasp eval decoder`` (``pipeline.decoder_evaluation``) with the decoder settings side by
    side (``vote``: the vote decoder of the previous node defaults; ``node_defaults``): on held-out
    real trials (Sapsanis repetitions 24-29 of every subject, decoded by a model of the shipped
    recipe trained on that subject's repetitions 0-23, rest between trials from the recording's
    quiet parts or simulated), and on simulated sessions decoded by the shipped model; the
    controller delay of each with the pipeline's processing p95.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info  # noqa: E402
from semg_grasp_ros import GRASP_TYPES  # noqa: E402
from semg_grasp_ros.config import load_config  # noqa: E402
from semg_grasp_ros.emg.simulator.model import SimulatorModel  # noqa: E402
from semg_grasp_ros.emg.simulator.render import EmgSimulator, SimulatorConfig  # noqa: E402
from semg_grasp_ros.emg.simulator.script import default_script  # noqa: E402
from semg_grasp_ros.intent.decoder import DecoderConfig  # noqa: E402
from semg_grasp_ros.pipeline.decoder_evaluation import (  # noqa: E402
    buffering_ms, controller_delay, decision_lag_ms, evaluate_decoder, mean_scores, run_stream, score)
from semg_grasp_ros.intent.evaluation import load_subjects  # noqa: E402
from semg_grasp_ros.intent.models import load_model  # noqa: E402
from semg_grasp_ros.pipeline.demo import Demo, DemoConfig  # noqa: E402
from semg_grasp_ros.pipeline.depth_camera import DepthCameraSimConfig  # noqa: E402
from semg_grasp_ros.pipeline.emg_acquisition import EmgAcquisitionConfig  # noqa: E402
from semg_grasp_ros.pipeline.grasp_classifier import GraspClassifierConfig  # noqa: E402
from semg_grasp_ros.pipeline.grasp_diffusion import GraspDiffusionConfig  # noqa: E402
from semg_grasp_ros.types import EmgChunk, GraspIntent, HandGrasp, JointTrajectory, PointCloud  # noqa: E402

log = logging.getLogger("bench.e2e")

SUBJECTS = ("female_1", "female_2", "male_1")
PROCESSING = ("grasp_classifier", "object_sdf", "grasp_diffusion", "hand_controller")
#: The vote decoder (the node defaults before the onset decoder).
VOTE = Path(__file__).resolve().parent / "decoder_vote.yaml"
TARGETS = {"processing_latency_p95_ms": 50.0, "controller_delay_ms": 125.0, "realtime_factor": 10.0}
#: Held-out split of the real trials: repetitions >= this are the test trials.
TEST_FROM_REPETITION = 24


def _stats(values) -> dict:
    v = np.asarray(values, dtype=float) * 1e3
    if v.size == 0:
        return {"n": 0}
    return {"p50": round(float(np.percentile(v, 50)), 3), "p95": round(float(np.percentile(v, 95)), 3),
            "max": round(float(v.max()), 3), "n": int(v.size)}


# --------------------------------------------------------------------------- pipeline runs


class Chains:
    """Follows each EMG chunk through the handler calls of a graph (``Graph.trace``) and keeps the
    wall times of each stage on the way to the hand: for every intent that starts a grasp (to its
    pre-shape, ``events``) and for every intent the generator grasps on (to the generated grasp's
    trajectory, ``grasp_events``)."""

    def __init__(self, min_confidence: float):
        self.min_confidence = min_confidence
        self.acquired: dict[int, tuple[float, float]] = {}  # id(chunk) -> (start, end) of its acquisition tick
        self.intents: dict[int, dict] = {}  # id(actionable intent) -> chain so far
        self.grasps: dict[int, dict] = {}  # id(HandGrasp) -> chain
        self.events: list[dict] = []
        self.grasp_events: list[dict] = []
        self.sdf_seconds: list[float] = []
        self._last_type: str | None = None
        self._keep: list = []  # the traced objects stay alive so their ids stay unique

    def __call__(self, name, arg, outputs, start, end) -> None:
        if name == "emg_acquisition":
            for out in outputs:
                if isinstance(out, EmgChunk):
                    self.acquired[id(out)] = (start, end)
                    self._keep.append(out)
        elif name == "grasp_classifier" and isinstance(arg, EmgChunk):
            acq = self.acquired.pop(id(arg), None)
            for out in outputs:
                if not isinstance(out, GraspIntent):
                    continue
                if out.class_index < 0:
                    self._last_type = None
                if out.class_index < 0 or out.confidence < self.min_confidence or acq is None:
                    continue
                # the window's last sample waited in the device's chunk until the chunk was complete
                complete = arg.header.stamp_ns + arg.sample_count * 1e9 / arg.sample_rate
                chain = {"t": out.header.stamp_ns * 1e-9, "grasp_type": out.grasp_type, "arrival": acq[0],
                         "buffering": (complete - out.header.stamp_ns) * 1e-9,
                         "acquisition": acq[1] - acq[0], "classifier": end - start}
                self.intents[id(out)] = chain
                self._keep.append(out)
                if out.grasp_type != self._last_type:
                    self._last_type = out.grasp_type
                    self.events.append(chain)
        elif name == "object_sdf" and isinstance(arg, PointCloud):
            self.sdf_seconds.append(end - start)
        elif name == "hand_controller" and isinstance(arg, GraspIntent) and id(arg) in self.intents:
            chain = self.intents[id(arg)]
            if any(isinstance(o, JointTrajectory) for o in outputs):
                chain["controller"] = end - start
                chain["first_command"] = end - chain["arrival"]
        elif name == "grasp_diffusion" and isinstance(arg, GraspIntent) and id(arg) in self.intents:
            for out in outputs:
                if isinstance(out, HandGrasp):
                    chain = {**self.intents[id(arg)], "diffusion": end - start}
                    self.grasps[id(out)] = chain
                    self.grasp_events.append(chain)
                    self._keep.append(out)
        elif name == "hand_controller" and isinstance(arg, HandGrasp) and id(arg) in self.grasps:
            chain = self.grasps.pop(id(arg))
            if any(isinstance(o, JointTrajectory) for o in outputs):
                chain["grasp_controller"] = end - start
                chain["generated_grasp"] = end - chain["arrival"]


def run_pipeline(subject: str, repetitions: int, seed: int, out_dir: Path, camera_rate_hz: float | None = None,
                 trace: bool = True) -> dict:
    """One simulated session through the demo's pipeline (no physics check, no pictures),
    recorded; per-decision stage timings when ``trace``."""
    script = ",".join(f"{n}:{d:g}" for n, d in default_script(repetitions, 3.0, 2.0, GRASP_TYPES, seed))
    config = DemoConfig(script=script, subject=subject, seed=seed, physics=False, render=False)
    if camera_rate_hz is not None:
        config = replace(config, camera_rate_hz=camera_rate_hz)
    demo = Demo(config, out_dir / f"session_{subject}_{config.camera_rate_hz:g}hz_{'traced' if trace else 'plain'}")
    chains = Chains(max(demo.hand.config.intent_min_confidence, demo.generator.config.min_confidence))
    if trace:
        demo.graph.trace(chains)
    summary = demo.run()
    busy = {name: float(np.sum(demo.graph.timings[name])) for name in demo.graph.timings}
    spec = demo.classifier.model.spec
    return {"subject": subject, "session_s": summary["session_s"], "wall_s": summary["wall_s"],
            "messages": sum(summary["messages"].values()), "busy_s": busy, "events": chains.events,
            "grasp_events": chains.grasp_events,
            "sdf_seconds": chains.sdf_seconds, "errors": summary["errors"], "decoding": summary["decoding"],
            "camera_rate_hz": config.camera_rate_hz, "window_s": spec.window / spec.sample_rate,
            "decoder": asdict(demo.classifier.decoder.config)}


def latency_section(runs: list[dict]) -> dict:
    events = [e for r in runs for e in r["events"]]
    first = [e for e in events if "first_command" in e]
    full = [e for r in runs for e in r["grasp_events"] if "generated_grasp" in e]
    stages = {
        "acquisition": _stats([e["acquisition"] for e in first]),
        "classifier": _stats([e["classifier"] for e in first]),
        "sdf": {"on_the_path": False, "per_cloud": _stats([s for r in runs for s in r["sdf_seconds"]]),
                "note": "the distance field is prepared ahead from the camera stream; a decision uses the latest "
                        "field, so its computation is not on the path from the EMG chunk to the hand"},
        "controller": _stats([e["controller"] for e in first]),
    }
    return {
        "decisions": len(events),
        "p50": _stats([e["first_command"] for e in first]).get("p50"),
        "p95": _stats([e["first_command"] for e in first]).get("p95"),
        "max": _stats([e["first_command"] for e in first]).get("max"),
        "n": len(first),
        "what": "EMG chunk completing the deciding window (start of its acquisition tick) -> first hand command "
                "(the controller's pre-shape trajectory of the decided type)",
        "stages_to_first_command": stages,
        "to_generated_grasp": {
            **_stats([e["generated_grasp"] for e in full]),
            "what": "same start -> the trajectory of the generated, object-specific grasp",
            "stages": {"acquisition": _stats([e["acquisition"] for e in full]),
                       "classifier": _stats([e["classifier"] for e in full]),
                       "sdf": 0.0,
                       "diffusion": _stats([e["diffusion"] for e in full]),
                       "controller": _stats([e["grasp_controller"] for e in full])},
        },
        "other_ms_p95": round(float(np.percentile(
            [1e3 * (e["first_command"] - e["acquisition"] - e["classifier"] - e["controller"]) for e in first],
            95)), 3) if first else None,
        "other_is": "graph dispatch and the bag recorder between the stages",
    }


# --------------------------------------------------------------------------- decoder settings


def _simulated_sessions(seed: int = 100):
    """Per subject: its fitted simulated user performing every grasp 5 times (3 s, 2 s rest)."""
    out = []
    for i, subject in enumerate(SUBJECTS):
        sim = EmgSimulator(SimulatorModel.shipped(subject), SimulatorConfig(seed=seed + i))
        block = sim.render(default_script(5, 3.0, 2.0, GRASP_TYPES, seed + i))
        out.append((subject, block.data, block.labels, block.activation))
    return out


def decoding_section(settings: dict[str, DecoderConfig], model: str, chunk_ms: float,
                     processing_ms: float) -> dict:
    """``settings`` side by side (``semg-grasp eval decoder`` on the held-out real trials, and
    the simulated sessions decoded by the shipped model); the controller delay with the
    pipeline's processing p95 (``processing_ms``)."""
    gen = load_config(GraspDiffusionConfig, "grasp_diffusion")
    out = evaluate_decoder(load_subjects(), settings, model, TEST_FROM_REPETITION, None, 2.5, chunk_ms,
                           gen.commit_s, gen.min_confidence)
    shipped = load_model(model)
    sessions = _simulated_sessions()
    chunk = round(chunk_ms * shipped.spec.sample_rate / 1e3)
    stride = {n: round(c.stride_ms * shipped.spec.sample_rate / 1e3) for n, c in settings.items()}
    for name, config in settings.items():
        sim = [score(run_stream(shipped, config, data, chunk), labels, shipped.spec.sample_rate, gen.commit_s,
                     gen.min_confidence, act) for _, data, labels, act in sessions]
        out[name]["simulated_sessions"] = {"overall": mean_scores(sim), "per_subject": dict(zip(SUBJECTS, sim))}
        out[name]["controller_delay"] = controller_delay(
            shipped.spec.window_ms, decision_lag_ms(config), processing_ms,
            buffering_ms(shipped.spec.window, stride[name], chunk, shipped.spec.sample_rate))
        log.info("decoding %s: %s", name, out[name]["overall"])
    return out


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    parser.add_argument("--repetitions", type=int, default=3, help="grasps of each type per simulated session")
    parser.add_argument("--skip-accuracy", action="store_true", help="latency and throughput only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("semg_grasp_ros").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    result: dict = {"machine": machine_info()}
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as tmp:
        runs = []
        for i, subject in enumerate(SUBJECTS):
            runs.append(run_pipeline(subject, args.repetitions, i, Path(tmp)))
            r = runs[-1]
            log.info("%s: %.0f s of session in %.1f s, %d grasp decisions", subject, r["session_s"], r["wall_s"],
                     len(r["events"]))
        plain = [run_pipeline(subject, args.repetitions, i, Path(tmp), trace=False)
                 for i, subject in enumerate(SUBJECTS)]
        camera_hz = load_config(DepthCameraSimConfig, "depth_camera_sim").rate_hz
        fast_camera = run_pipeline(SUBJECTS[0], args.repetitions, 0, Path(tmp), camera_rate_hz=camera_hz, trace=False)
        latency = latency_section(runs)
        session = sum(r["session_s"] for r in plain)
        wall = sum(r["wall_s"] for r in plain)
        busy = {n: sum(r["busy_s"].get(n, 0.0) for r in plain) for n in plain[0]["busy_s"]}
        window_ms = 1e3 * runs[0]["window_s"]
        decoder = runs[0]["decoder"]
        spec = load_model(load_config(GraspClassifierConfig, "grasp_classifier").model).spec
        chunk = round(load_config(EmgAcquisitionConfig, "emg_acquisition").chunk_ms * spec.sample_rate / 1e3)
        buffering = buffering_ms(spec.window, round(decoder["stride_ms"] * spec.sample_rate / 1e3), chunk,
                                 spec.sample_rate)
        measured_buffering = 1e3 * float(np.mean([e["buffering"] for r in runs for e in r["events"]]))
        lag = decision_lag_ms(load_config(GraspClassifierConfig, "grasp_classifier").decoder)
        delay = controller_delay(window_ms, lag, latency["p95"], buffering)
        commit_ms = 1e3 * load_config(GraspDiffusionConfig, "grasp_diffusion").commit_s
        delay_grasp = controller_delay(window_ms, lag, latency["to_generated_grasp"]["p95"] + commit_ms, buffering)
        result.update({
            "processing_latency_ms": {"p50": latency["p50"], "p95": latency["p95"]},
            "controller_delay_ms": delay["total_ms"],
            "realtime_factor": round(session / wall, 2),
            "latency": latency,
            "controller_delay_terms": {
                **delay,
                "window_ms": window_ms,
                "decoder": decoder,
                "explanation": {
                    "half_window_ms": "an analysis window is centred half a window before its last sample: on "
                                      "average the signal that decides is that old when the window completes "
                                      "(Farrell & Weir 2007)",
                    "buffering_ms": "mean age of the window's last sample when the EMG chunk holding it is "
                                    "complete and sent (chunks of chunk_ms; measured on the decisions)",
                    "processing_ms": "p95 wall time from the arrival of the chunk completing the deciding window "
                                     "to the first hand command (processing_latency_ms)",
                    "decision_lag_ms": "vote decoder: the majority vote over vote_window decisions (ties to the most "
                                       "recent) names a new class ceil(n/2) - 1 strides after its first window, the "
                                       "debounce adds debounce - 1 strides, and a change waits on average half a "
                                       "stride for the next decision: (ceil(n/2) - 1 + debounce - 1 + 1/2) x stride; "
                                       "onset decoder: (onset_windows - 1 + 1/2) x stride, then the evidence it "
                                       "waits for (decoding: onset_to_decision_ms_median)",
                },
                "to_generated_grasp_ms": delay_grasp["total_ms"],
                "to_generated_grasp_is": "the same terms with the generator's commit_s "
                                         f"({commit_ms:g} ms) and the processing p95 to the generated grasp",
                "buffering_ms_measured_on_the_decisions": round(measured_buffering, 2),
            },
            "realtime": {
                "session_s": session, "wall_s": round(wall, 2),
                "what": "the demo's pipeline (semg-grasp demo without the physics check and pictures) in one "
                        "process as fast as possible: simulated user and depth camera (the demo's camera rate), "
                        "every processing component, the MCAP recorder and the demo's monitors (with_timing_trace: "
                        "the latency runs, which also time every handler call); "
                        "processing_only_factor: session time / time spent in the processing components "
                        "(classifier, distance field, generator, controller)",
                "camera_rate_hz": runs[0]["camera_rate_hz"],
                "processing_only_factor": round(session / sum(busy.get(n, 0.0) for n in PROCESSING), 2),
                "with_camera_at_node_rate": {
                    "camera_rate_hz": camera_hz, "subject": SUBJECTS[0],
                    "realtime_factor": round(fast_camera["session_s"] / fast_camera["wall_s"], 2),
                    "processing_only_factor": round(fast_camera["session_s"] / sum(
                        fast_camera["busy_s"].get(n, 0.0) for n in PROCESSING), 2),
                    "busy_s_per_component": {n: round(v, 3) for n, v in sorted(fast_camera["busy_s"].items())},
                },
                "busy_s_per_component": {n: round(v, 3) for n, v in sorted(busy.items())},
                "messages_recorded": sum(r["messages"] for r in plain),
                "with_timing_trace": round(sum(r["session_s"] for r in runs) / sum(r["wall_s"] for r in runs), 2),
                "errors": {r["subject"]: r["errors"] for r in runs},
            },
            "pipeline_decoding": {r["subject"]: r["decoding"] for r in runs},
            "sessions": {"subjects": list(SUBJECTS), "repetitions": args.repetitions,
                         "script": "rest 2 s, then every grasp type `repetitions` times (3 s each, 2 s rest after)"},
        })
        if not args.skip_accuracy:
            node = load_config(GraspClassifierConfig, "grasp_classifier")
            vote = load_config(GraspClassifierConfig, "grasp_classifier", VOTE)
            settings = {"vote": vote.decoder, "node_defaults": node.decoder}
            result["decoding"] = decoding_section(settings, node.model, chunk * 1e3 / spec.sample_rate, latency["p95"])
    result["targets"] = {
        **TARGETS,
        "met": {"processing_latency_p95_ms":
                result["processing_latency_ms"]["p95"] <= TARGETS["processing_latency_p95_ms"],
                "controller_delay_ms": result["controller_delay_ms"] <= TARGETS["controller_delay_ms"],
                "realtime_factor": result["realtime_factor"] >= TARGETS["realtime_factor"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("processing_latency_ms", "controller_delay_ms", "realtime_factor",
                                             "targets")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
