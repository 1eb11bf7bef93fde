"""Proportional closing on a simulated user whose activation is known.

A simulated user (``SimulatorModel``) holds one grasp with a scripted effort profile: the signal
is the model's rest (noise, hum, offset) plus ``effort(t)`` times its grasp activity alone
(without the fitted trials' onset burst), so the activation is ``effort(t) x envelope(t)``, known
sample by sample, and constant while the effort is (the envelope is 1 after its onset ramp).
The user first calibrates (``calibration_s`` of rest, then their strongest contraction, effort 1, for ``mvc_s``: the
per-channel RMS of its held part, after its first 0.5 s, sets the decoder's ``level.max_rms``). The grasp classifier decodes the session; the
hand controller executes one grasp of the held type from the start (the type's posture, its
pregrasp ``preshape`` of it, its squeeze ``2 grasp - pregrasp``; no intent pre-shape) and closes it
as the intents' level says.

``run_closing`` returns the time series; ``closure_metrics`` the correlation of the commanded
closure with the activation and the jitter of the joints while the activation is constant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import REST
from ..config import override
from ..emg.filters import filter_trials
from ..emg.simulator.model import SimulatorModel
from ..emg.simulator.render import EmgSimulator, SimulatorConfig
from ..grasp.representation import SPECS
from ..hand.convert import arrays_to_hand_grasp
from ..types import EmgChunk, Header
from .grasp_classifier import GraspClassifier, GraspClassifierConfig
from .hand_controller import HandController, HandControllerConfig


@dataclass(frozen=True)
class ClosingRun:
    """Time series of one run (ticks of the controller at its rate).

    Attributes:
        t: (n,) s since the session start.
        activation: (n,) known activation (effort x envelope) at each tick.
        level: (n,) level of the latest intent.
        closure: (n,) commanded closure (0 = pregrasp, 1 = grasp, 2 = squeeze; projection of the
            commanded joints on the close path).
        joints: (n, 22) commanded joints, rad.
        close_start: s when the close phase began.
    """

    t: np.ndarray
    activation: np.ndarray
    level: np.ndarray
    closure: np.ndarray
    joints: np.ndarray
    close_start: float


def effort_signal(model: SimulatorModel, grasp: str, efforts: list[tuple[float, float]], seed: int,
                  rest_s: float) -> tuple[np.ndarray, np.ndarray]:
    """``rest_s`` of rest, then ``grasp`` held with effort ``e`` for ``d`` s for each ``(e, d)``.

    Returns:
        (n, n_channels) signal and (n,) activation (0 during the rest).
    """
    total = rest_s + sum(d for _, d in efforts)
    config = SimulatorConfig(seed=seed, modulation_depth=0.0)  # the activation is exactly effort x envelope
    rest = EmgSimulator(model, config).render([(REST, total)])
    # the activity alone, without the onset burst (the fitted trials' overshoot): a held effort is a constant activation
    quiet = replace(model, rest_rms=np.zeros_like(model.rest_rms), sensor_noise_rms=np.zeros_like(model.sensor_noise_rms),
                    overshoot=np.zeros_like(model.overshoot))
    active = EmgSimulator(quiet, replace(config, seed=seed + 1, hum=False, sensor_noise=False, dc_offset=False))
    block = active.render([(REST, rest_s), (grasp, total - rest_s + 1.0)])  # its release ramp after the end
    fs = active.sample_rate
    effort = np.concatenate([np.zeros(int(round(rest_s * fs)))] +
                            [np.full(int(round(d * fs)), e) for e, d in efforts])
    n = min(len(effort), rest.data.shape[0], block.data.shape[0])
    data = rest.data[:n].astype(np.float64) + effort[:n, None] * block.data[:n]
    return data, effort[:n] * block.activation[:n]


def run_closing(model: SimulatorModel, grasp: str, efforts: list[tuple[float, float]], seed: int = 0,
                classifier: GraspClassifierConfig | None = None, controller: HandControllerConfig | None = None,
                calibration_s: float = 2.0, mvc_s: float = 3.0, intent_model=None) -> ClosingRun:
    """Calibrate, then run the classifier and the controller over the effort session (module docstring)."""
    classifier = classifier or GraspClassifierConfig()
    cal, _ = effort_signal(model, grasp, [(1.0, mvc_s)], seed + 100, calibration_s)
    clf = GraspClassifier(classifier, model=intent_model)
    spec = clf.model.spec
    n_rest = int(round(calibration_s * spec.sample_rate))
    filtered = filter_trials(cal[None], spec.sos())[0]
    pieces = filtered[n_rest + int(round(0.5 * spec.sample_rate)):]
    max_rms = np.sqrt(np.mean(pieces ** 2, axis=0))  # the held part of the contraction (after its first 0.5 s)
    # the rest level is calibrated from the session's own start (calibration_s of rest), as the node does
    clf = GraspClassifier(override(classifier, {"decoder.level.max_rms": tuple(max_rms)}), model=clf.model)
    # the grasp is executed from the start (no intent pre-shape replacing it): what is measured is the closing
    ctrl = HandController(controller or HandControllerConfig(preshape_on_intent=False))
    data, activation = effort_signal(model, grasp, efforts, seed, calibration_s)
    fs, chunk = spec.sample_rate, int(round(classifier.stride_ms * spec.sample_rate / 1e3))
    tick = int(round(spec.sample_rate / ctrl.config.rate_hz))
    q_type = np.clip(SPECS[grasp].preshape_vector(), ctrl.lower, ctrl.upper)
    q_pre = ctrl.q_open + ctrl.config.trajectory.preshape * (q_type - ctrl.q_open)
    q_sq = np.clip(2 * q_type - q_pre, ctrl.lower, ctrl.upper)
    hand_grasp = arrays_to_hand_grasp(q_type, np.eye(3), np.zeros(3), Header(0, "object"), grasp,
                                      pregrasp_positions=q_pre, squeeze_positions=q_sq)
    ctrl.on_timer(0)
    ctrl.on_grasp(hand_grasp)
    names = tuple(f"ch{i + 1}" for i in range(data.shape[1]))
    t, act, lev, joints, level = [], [], [], [], 1.0
    for i in range(0, data.shape[0] - chunk + 1, chunk):
        stamp = int(round(i * 1e9 / fs))
        for intent in clf.on_emg(EmgChunk(Header(stamp, "emg"), fs, names, i, data[i:i + chunk], "V")):
            ctrl.on_intent(intent)
            level = intent.level
        end = i + chunk
        if end % int(fs) == 0:  # the grasp re-published every second keeps it fresh (the controller's timeout)
            ctrl.on_grasp(replace(hand_grasp, header=Header(int(round(end * 1e9 / fs)), "object")))
        if end % tick == 0:
            ctrl.on_timer(int(round(end * 1e9 / fs)))
            t.append(end / fs)
            act.append(activation[end - 1])
            lev.append(level)
            joints.append(ctrl.command.copy())
    joints = np.array(joints)
    close_start = (ctrl._closing[0] * 1e-9) if ctrl._closing is not None else float("nan")
    return ClosingRun(np.array(t), np.array(act), np.array(lev), closure_along(joints, q_pre, q_type, q_sq),
                      joints, close_start)


def closure_along(joints: np.ndarray, q_pre: np.ndarray, q_grasp: np.ndarray, q_squeeze: np.ndarray) -> np.ndarray:
    """(n,) closure of commanded joints (n, 22): projection on pregrasp -> grasp (0-1), beyond the
    grasp on grasp -> squeeze (1-2)."""
    a, b = q_grasp - q_pre, q_squeeze - q_grasp
    first = (joints - q_pre) @ a / max(float(a @ a), 1e-12)
    second = (joints - q_grasp) @ b / max(float(b @ b), 1e-12)
    return np.where(first < 1.0, np.clip(first, 0.0, 1.0), 1.0 + np.clip(second, 0.0, 1.0))


def closure_metrics(run: ClosingRun, efforts: list[tuple[float, float]], rest_s: float,
                    settle_s: float = 1.0) -> dict:
    """Correlation of the commanded closure with the activation over the close phase, and the
    joint jitter (per joint standard deviation of the command, rad, the largest joint) in each
    constant-effort segment after ``settle_s``."""
    closing = run.t >= run.close_start
    c, a = run.closure[closing], run.activation[closing]
    r = float(np.corrcoef(c, a)[0, 1]) if c.size > 1 and c.std() > 0 and a.std() > 0 else None  # None: not moved
    jitter, start = [], rest_s
    for e, d in efforts:
        seg = (run.t >= max(start + settle_s, run.close_start + settle_s)) & (run.t < start + d)
        if seg.sum() > 5:
            jitter.append({"effort": e, "max_joint_std_rad": float(run.joints[seg].std(axis=0).max()),
                           "closure_mean": float(run.closure[seg].mean())})
        start += d
    return {"correlation": r, "jitter": jitter,
            "max_jitter_rad": max((j["max_joint_std_rad"] for j in jitter), default=None)}
