"""``SimulatorModel``: the parameters of a simulated sEMG user, stored as JSON (a few kB)."""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, dataclass, field
from pathlib import Path

import numpy as np

from ... import GRASP_TYPES, REST
from ...errors import ConfigError, ModelError

MODEL_FORMAT = "semg_grasp_ros.emg_simulator"
MODEL_VERSION = 1
#: Welch segment length of the stored spectral shapes (500 Hz: 33 bins of 7.8 Hz).
PSD_NPERSEG = 64


def _arr(value, dtype=np.float64) -> np.ndarray:
    a = np.array(value, dtype=dtype, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class SimulatorModel:
    """Parameters of a simulated user (``C`` grasp classes, ``K`` channels, ``F`` frequencies).

    Attributes:
        sample_rate: Hz the model was built or fitted at.
        channel_names: (K,) names.
        class_names: (C,) grasp classes (rest is implicit).
        units: unit of the simulated values (``"V"``).
        freqs: (F,) Hz, grid of the spectral shapes, 0 .. sample_rate / 2.
        rest_rms: (K,) RMS of the shaped baseline component (without sensor noise and hum).
        rest_psd: (K, F) unit-area spectral shape of the baseline, 1/Hz.
        plateau_rms: (C, K) RMS of the activation component once the grasp has settled.
        psd: (C, K, F) unit-area spectral shape of each class's activation, 1/Hz.
        gain_sigma: (C, K) standard deviation of the per-trial log gain.
        gain_correlation: (C,) correlation of the log gains between channels, [0, 1].
        overshoot: (C,) initial burst above the settled level (relative).
        decay_s: (C,) time constant of the burst's decay.
        channel_correlation: (C, K, K) zero-lag correlation matrix of each class's activation
            across channels (cross-talk); identity = independent channels (the default when a
            model file has none).
        onset_s, offset_s: raised-cosine ramp lengths, seconds.
        reaction_s, reaction_sd_s: mean and spread of the cue-to-onset delay, seconds.
        sensor_noise_rms: (K,) white noise RMS.
        hum_hz: mains frequency.
        hum_rms: (K, H) RMS of the mains interference at ``h * hum_hz``, h = 1..H.
        dc_offset: (K,) constant offset.
        source: provenance (dataset, subject, statistics of the fitted recording).
    """

    sample_rate: float
    channel_names: tuple[str, ...]
    class_names: tuple[str, ...]
    units: str
    freqs: np.ndarray
    rest_rms: np.ndarray
    rest_psd: np.ndarray
    plateau_rms: np.ndarray
    psd: np.ndarray
    gain_sigma: np.ndarray
    gain_correlation: np.ndarray
    overshoot: np.ndarray
    decay_s: np.ndarray
    onset_s: float = 0.3
    offset_s: float = 0.3
    reaction_s: float = 0.3
    reaction_sd_s: float = 0.1
    sensor_noise_rms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hum_hz: float = 50.0
    hum_rms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dc_offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    channel_correlation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    source: dict = field(default_factory=dict)

    _SHAPES = {
        "freqs": ("F",),
        "rest_rms": ("K",),
        "rest_psd": ("K", "F"),
        "plateau_rms": ("C", "K"),
        "psd": ("C", "K", "F"),
        "gain_sigma": ("C", "K"),
        "gain_correlation": ("C",),
        "overshoot": ("C",),
        "decay_s": ("C",),
        "sensor_noise_rms": ("K",),
        "hum_rms": ("K", "H"),
        "dc_offset": ("K",),
        "channel_correlation": ("C", "K", "K"),
    }

    def __post_init__(self):
        hum = np.atleast_2d(np.asarray(self.hum_rms, dtype=np.float64).T).T if np.size(self.hum_rms) else None
        dims = {"C": len(self.class_names), "K": len(self.channel_names), "F": np.size(self.freqs),
                "H": 1 if hum is None else hum.shape[1]}
        object.__setattr__(self, "hum_rms", np.zeros((dims["K"], 1)) if hum is None else hum)
        object.__setattr__(self, "channel_names", tuple(self.channel_names))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if REST in self.class_names or not self.class_names or not self.channel_names:
            raise ModelError(f"simulator model needs >= 1 class (not {REST!r}) and >= 1 channel")
        for name, shape in self._SHAPES.items():
            value = getattr(self, name)
            if name in ("sensor_noise_rms", "dc_offset") and np.size(value) == 0:
                value = np.zeros(dims["K"])
            if name == "channel_correlation" and np.size(value) == 0:
                value = np.broadcast_to(np.eye(dims["K"]), (dims["C"], dims["K"], dims["K"]))
            a = _arr(value)
            want = tuple(dims[d] for d in shape)
            if a.shape != want:
                raise ModelError(f"simulator model field {name} has shape {a.shape}, expected {want} ({shape})")
            if not np.all(np.isfinite(a)):
                raise ModelError(f"simulator model field {name} contains NaN or inf")
            object.__setattr__(self, name, a)
        scalars = ("sample_rate", "onset_s", "offset_s", "reaction_s", "reaction_sd_s", "hum_hz")
        for name in scalars:
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0 or (name == "sample_rate" and v <= 0):
                raise ModelError(f"simulator model field {name} must be finite and >= 0, got {v}")
            object.__setattr__(self, name, v)
        if (self.rest_rms < 0).any() or (self.plateau_rms < 0).any() or (self.gain_sigma < 0).any():
            raise ModelError("simulator model amplitudes and gain spreads must be >= 0")
        if (self.psd < 0).any() or (self.rest_psd < 0).any():
            raise ModelError("simulator model spectral shapes must be >= 0")
        r = self.channel_correlation
        if (not np.allclose(r, r.transpose(0, 2, 1), atol=1e-6) or not np.allclose(np.diagonal(r, axis1=1, axis2=2), 1.0)
                or (np.abs(r) > 1).any()):
            raise ModelError("simulator model channel_correlation must hold symmetric matrices with unit diagonal "
                             "and entries in [-1, 1]")

    @property
    def n_channels(self) -> int:
        return len(self.channel_names)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def default(cls, n_channels: int = 2, sample_rate: float = 500.0, seed: int = 2013) -> "SimulatorModel":
        """A generic user: Sapsanis-like amplitudes (amplified volts), power grasps
        stronger than precision grasps, each grasp a distinct pattern across channels
        (drawn once from ``seed``), a Shwedyk-type spectrum peaking near 80-100 Hz."""
        if n_channels < 1 or not sample_rate > 0:
            raise ConfigError(f"need n_channels >= 1 and sample_rate > 0, got {n_channels}, {sample_rate}")
        rng = np.random.default_rng(seed)
        freqs = np.linspace(0.0, sample_rate / 2, PSD_NPERSEG // 2 + 1)
        effort = np.array([1.0, 0.8, 0.9, 0.45, 0.35, 0.3])  # power grasps > precision grasps
        pattern = effort[:, None] * (0.25 + 0.75 * rng.uniform(size=(len(GRASP_TYPES), n_channels)))
        # Shwedyk et al. (1977) shape, shifted a little per class (different muscle mixes).
        shift = 1.0 + 0.15 * rng.uniform(-1, 1, size=(len(GRASP_TYPES), n_channels))
        psd = np.stack([[_shwedyk(freqs, 50.0 * s, 110.0 * s) for s in row] for row in shift])
        rest = np.stack([_shwedyk(freqs, 50.0, 110.0)] * n_channels)
        return cls(
            sample_rate=sample_rate,
            channel_names=tuple(f"ch{i + 1}" for i in range(n_channels)),
            class_names=GRASP_TYPES,
            units="V",
            freqs=freqs,
            rest_rms=np.full(n_channels, 0.05),
            rest_psd=_unit_area(rest, freqs),
            plateau_rms=pattern,
            psd=_unit_area(psd, freqs),
            gain_sigma=np.full((len(GRASP_TYPES), n_channels), 0.15),
            gain_correlation=np.full(len(GRASP_TYPES), 0.5),
            overshoot=np.full(len(GRASP_TYPES), 0.3),
            decay_s=np.full(len(GRASP_TYPES), 1.5),
            sensor_noise_rms=np.full(n_channels, 0.01),
            hum_rms=np.full((n_channels, 1), 0.01),
            dc_offset=np.zeros(n_channels),
            source={"kind": "default", "seed": seed},
        )

    # ---- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        out = {"format": MODEL_FORMAT, "version": MODEL_VERSION}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = _significant(value.tolist()) if isinstance(value, np.ndarray) else value
        out["channel_names"] = list(self.channel_names)
        out["class_names"] = list(self.class_names)
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "simulator model") -> "SimulatorModel":
        if not isinstance(d, dict) or d.get("format") != MODEL_FORMAT:
            raise ModelError(f"{where}: not a simulator model (expected \"format\": {MODEL_FORMAT!r})")
        if d.get("version") != MODEL_VERSION:
            raise ModelError(f"{where}: model version {d.get('version')} not supported (expected {MODEL_VERSION})")
        fields_ = cls.__dataclass_fields__
        names = list(fields_)
        required = [n for n in names if fields_[n].default is MISSING and fields_[n].default_factory is MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ModelError(f"{where}: missing fields {missing}")
        try:
            return cls(**{n: d[n] for n in names if n in d})
        except ModelError as exc:
            raise ModelError(f"{where}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{where}: malformed field ({exc})") from exc

    def save(self, path) -> Path:
        """Write the model as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One line per field: small, diffable, still valid JSON.
        body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in self.to_dict().items())
        path.write_text("{\n" + body + "\n}\n")
        return path

    @classmethod
    def load(cls, path) -> "SimulatorModel":
        """Read a model written by ``save``.

        Raises:
            ModelError: missing file, invalid JSON, wrong format or shapes.
        """
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ModelError(f"{path}: simulator model not found") from exc
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: not a readable JSON simulator model ({exc})") from exc
        return cls.from_dict(d, where=str(path))

    @classmethod
    def shipped(cls, subject: str) -> "SimulatorModel":
        """The shipped fit to a Sapsanis subject (``models/emg_simulator_<subject>.json``).

        Raises:
            ModelError: no such subject (the message lists the shipped ones).
        """
        subjects = shipped_subjects()
        if subject not in subjects:
            raise ModelError(f"no simulated user fitted to subject {subject!r}; valid subjects: {', '.join(subjects)}")
        return cls.load(subjects[subject])


def shipped_subjects() -> dict[str, Path]:
    """``{subject: models/emg_simulator_<subject>.json}`` of the shipped simulator fits."""
    from ...paths import resource

    try:
        folder = resource("models")
    except ConfigError:
        return {}
    prefix = "emg_simulator_"
    return {p.stem[len(prefix):]: p for p in sorted(folder.glob(f"{prefix}*.json"))}


def _significant(value, digits: int = 7):
    """Nested lists of floats rounded to ``digits`` significant digits (compact JSON)."""
    if isinstance(value, list):
        return [_significant(v, digits) for v in value]
    return float(f"{value:.{digits}g}")


def _shwedyk(f: np.ndarray, fl: float, fh: float) -> np.ndarray:
    """Shwedyk et al. (1977) sEMG power spectrum shape ``fh^4 f^2 / ((f^2+fl^2)(f^2+fh^2)^2)``."""
    return fh**4 * f**2 / ((f**2 + fl**2) * (f**2 + fh**2) ** 2)


def _unit_area(p: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    df = freqs[1] - freqs[0]
    area = p.sum(axis=-1, keepdims=True) * df
    return np.where(area > 0, p / np.where(area > 0, area, 1.0), 1.0 / (freqs[-1] + df))

