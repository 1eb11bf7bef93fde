"""Live sEMG devices: Lab Streaming Layer inlets and BrainFlow boards.

Both libraries are optional (``pip install semg_grasp_ros[devices]``); they are imported
when a device is opened, and a missing one raises a ``DeviceError`` that says so.
Reads never block: each returns what has arrived since the last one.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
import warnings
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from ..errors import DeviceError
from .sources import EmgSource

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install semg_grasp_ros[devices]"
#: Unit names (as LSL stream descriptions write them) -> factor to volts.
_TO_VOLTS = {
    "v": 1.0, "volt": 1.0, "volts": 1.0,
    "mv": 1e-3, "millivolt": 1e-3, "millivolts": 1e-3,
    "uv": 1e-6, "µv": 1e-6, "microvolt": 1e-6, "microvolts": 1e-6,
}


@contextmanager
def _quiet_pkg_resources():
    # brainflow loads its library through the deprecated pkg_resources; nothing a user can act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        yield


def _import(module: str, what: str):
    try:
        with _quiet_pkg_resources():
            return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise DeviceError(f"{what} needs the optional package {package!r}: {INSTALL_HINT} ({exc})") from exc


class LslSource(EmgSource):
    """An LSL inlet on the first stream matching ``name`` (or else ``stream_type``).

    Channel names and units come from the stream description (``desc/channels/channel``
    with ``label`` and ``unit``); microvolts and millivolts are scaled to volts, other
    units are passed on as ``"raw"``. The sample rate is the stream's nominal rate.
    When the outlet goes away the source ends (logged).

    Args:
        name: stream name to resolve (``""``: any).
        stream_type: stream type when no name is given (``"EMG"``).
        timeout: seconds to wait for the stream when opening (the only blocking call).
        max_buffer_s: seconds the inlet buffers while it is not read.

    Raises:
        DeviceError: pylsl is missing, no matching stream, or an irregular-rate stream.
    """

    live = True

    def __init__(self, name: str = "", stream_type: str = "EMG", timeout: float = 5.0, max_buffer_s: int = 60):
        pylsl = _import("pylsl", "the LSL source")
        self._lost_error = pylsl.util.LostError
        prop, value = ("name", name) if name else ("type", stream_type)
        found = pylsl.resolve_byprop(prop, value, 1, timeout)
        if not found:
            raise DeviceError(f"no LSL stream with {prop} {value!r} found within {timeout} s")
        info = found[0]
        if not info.nominal_srate() > 0:
            raise DeviceError(f"LSL stream {info.name()!r} has an irregular rate; sEMG needs a nominal rate")
        self._inlet = pylsl.StreamInlet(info, max_buflen=int(max_buffer_s), recover=False)
        try:
            full = self._inlet.info(timeout)
            self._inlet.open_stream(timeout)  # connect now: samples pushed from here on are kept
        except pylsl.util.TimeoutError as exc:
            raise DeviceError(f"LSL stream {info.name()!r} did not answer within {timeout} s") from exc
        self.sample_rate = float(info.nominal_srate())
        k = info.channel_count()
        labels, units = self._channels(full, k)
        self.channel_names = tuple(labels)
        self._scale = _TO_VOLTS.get(units.lower(), None) if units else None
        self.units = "V" if self._scale is not None else "raw"
        self._ended = False
        self.stream_name = info.name()
        log.info("LSL stream %r: %d channels at %.1f Hz (%s)", self.stream_name, k, self.sample_rate,
                 units or "no unit")

    @staticmethod
    def _channels(info, k: int) -> tuple[list[str], str]:
        labels, units = [], ""
        ch = info.desc().child("channels").child("channel")
        while not ch.empty() and len(labels) < k:
            labels.append(ch.child_value("label") or f"ch{len(labels) + 1}")
            units = units or ch.child_value("unit")
            ch = ch.next_sibling()
        if len(labels) != k:
            labels = [f"ch{i + 1}" for i in range(k)]
        return labels, units

    def read(self, max_samples: int) -> np.ndarray:
        if self._ended or max_samples <= 0:
            return np.zeros((0, self.n_channels), np.float32)
        try:
            data, _ = self._inlet.pull_chunk(timeout=0.0, max_samples=int(max_samples))
        except self._lost_error:
            log.warning("LSL stream %r was lost; the source ends", self.stream_name)
            self._ended = True
            return np.zeros((0, self.n_channels), np.float32)
        out = np.asarray(data, dtype=np.float64).reshape(-1, self.n_channels)
        if self._scale is not None:
            out = out * self._scale
        return out.astype(np.float32)

    @property
    def ended(self) -> bool:
        return self._ended

    def close(self) -> None:
        if getattr(self, "_inlet", None) is not None:
            self._inlet.close_stream()
            self._inlet = None
            self._ended = True


def stream_to_lsl(source: EmgSource, name: str, stream_type: str = "EMG", duration: float = math.inf,
                  chunk_s: float = 0.02, wait_s: float = 30.0, linger_s: float = 1.0) -> int:
    """Play a paced source (simulated user, dataset file, bag) into an LSL outlet at its sample
    rate on the wall clock: a stand-in device for trying the live path without hardware.

    The outlet describes its channels (``label``) and unit (volts for a source in ``V``), waits
    for a first consumer (``wait_s``), then pushes one block every ``chunk_s`` until ``duration``
    seconds of signal are sent or the source ends, and closes ``linger_s`` later (time for
    consumers to pull the last blocks).

    Returns:
        the number of samples sent.

    Raises:
        DeviceError: pylsl is missing, or no consumer connected within ``wait_s``.
    """
    pylsl = _import("pylsl", "the LSL outlet")
    rate, k = float(source.sample_rate), source.n_channels
    info = pylsl.StreamInfo(name, stream_type, k, rate, "float32", name)
    channels = info.desc().append_child("channels")
    for label in source.channel_names:
        ch = channels.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", "volts" if source.units == "V" else source.units)
    outlet = pylsl.StreamOutlet(info)
    if not outlet.wait_for_consumers(wait_s):
        raise DeviceError(f"no consumer connected to LSL stream {name!r} within {wait_s} s")
    total = math.inf if math.isinf(duration) else int(round(duration * rate))
    sent, t0 = 0, time.monotonic()
    while sent < total and not source.ended:
        due = min(int((time.monotonic() - t0) * rate), total) - sent
        if due > 0:
            block = np.asarray(source.read(due), dtype=np.float32)
            if len(block):
                outlet.push_chunk(block)
                sent += len(block)
        time.sleep(chunk_s)
    log.info("LSL stream %r: %d samples sent in %.1f s", name, sent, time.monotonic() - t0)
    time.sleep(linger_s)  # a consumer that sees the outlet vanish drops what it has not yet pulled
    return sent


class BrainFlowSource(EmgSource):
    """A BrainFlow board streaming its EMG channels (BrainFlow reports them in microvolts;
    they are passed on in volts).

    Args:
        board_id: BrainFlow board id (-1 = the synthetic board, for plumbing tests).
        serial_port, ip_address, ip_port, mac_address, serial_number, other_info:
            connection parameters (``BrainFlowInputParams``); only those the board needs.
        channels: indices into the board's EMG channels to keep (empty = all).
        buffer_s: seconds the board's ring buffer holds between reads.

    Raises:
        DeviceError: brainflow is missing, or the board cannot be opened.
    """

    live = True

    def __init__(
        self,
        board_id: int = -1,
        serial_port: str = "",
        ip_address: str = "",
        ip_port: int = 0,
        mac_address: str = "",
        serial_number: str = "",
        other_info: str = "",
        channels: Sequence[int] = (),
        buffer_s: float = 60.0,
    ):
        bf = _import("brainflow.board_shim", "the BrainFlow source")
        params = bf.BrainFlowInputParams()
        for key, value in dict(serial_port=serial_port, ip_address=ip_address, ip_port=ip_port,
                               mac_address=mac_address, serial_number=serial_number,
                               other_info=other_info).items():
            if value:
                setattr(params, key, value)
        self._board = None
        self._error = bf.BrainFlowError
        self.board_id = board_id
        try:
            with _quiet_pkg_resources():
                bf.BoardShim.disable_board_logger()
                emg_rows = list(bf.BoardShim.get_emg_channels(board_id))
                self.sample_rate = float(bf.BoardShim.get_sampling_rate(board_id))
                board = bf.BoardShim(board_id, params)
                board.prepare_session()
                board.start_stream(max(1, int(buffer_s * self.sample_rate)))
        except bf.BrainFlowError as exc:
            raise DeviceError(f"cannot open BrainFlow board {board_id}: {exc}") from exc
        self._board = board
        if channels:
            bad = [c for c in channels if not 0 <= c < len(emg_rows)]
            if bad:
                self.close()
                raise DeviceError(f"board {board_id} has {len(emg_rows)} EMG channels; indices {bad} out of range")
            emg_rows = [emg_rows[c] for c in channels]
        self._rows = emg_rows
        self.channel_names = tuple(f"emg{i + 1}" for i in range(len(emg_rows)))
        self.units = "V"
        log.info("BrainFlow board %d: %d EMG channels at %.1f Hz", board_id, len(emg_rows), self.sample_rate)

    def read(self, max_samples: int) -> np.ndarray:
        if self._board is None or max_samples <= 0:
            return np.zeros((0, self.n_channels), np.float32)
        try:
            data = self._board.get_board_data(int(max_samples))
        except self._error as exc:
            log.warning("BrainFlow board %d failed (%s); the source ends", self.board_id, exc)
            self.close()
            return np.zeros((0, self.n_channels), np.float32)
        return (data[self._rows].T * 1e-6).astype(np.float32)

    @property
    def ended(self) -> bool:
        return self._board is None

    def close(self) -> None:
        board, self._board = self._board, None
        if board is not None:
            try:
                board.stop_stream()
                board.release_session()
            except self._error as exc:  # already released by the library after a failure
                log.debug("BrainFlow release: %s", exc)
