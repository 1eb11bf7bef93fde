"""Crash-safe bag writing: periodic flushing while recording.

``rosbags`` keeps an MCAP chunk in memory until it holds 1 MiB and writes the summary
(the index every reader starts from) only at close; its sqlite3 storage commits only at
close. A recorder killed at any moment (a crash, ``kill -9``, a power cut) would lose the
whole session. Here:

* ``FlushingMcapWriter`` closes its chunk as soon as it spans ``FLUSH_INTERVAL_S`` of bag
  time or is that old on the wall clock, hands it to the operating system at once (a
  killed process loses nothing written) and calls ``fsync`` at most once per interval (a
  power cut loses at most about one interval).
* ``CommittingSqlite3Writer`` commits on the same schedule.
* ``SafeWriter`` writes ``metadata.yaml`` from the start, marked open (``OPEN_KEY``) until
  its close rewrites it.

While a writer is open it holds an advisory lock (``flock``) on its storage file, which the
kernel releases when the process dies however it dies: recovery (``bag_recovery``) refuses
a locked bag and rebuilds one whose writer died.
"""

from __future__ import annotations

import fcntl
import os
import time
from io import BytesIO
from pathlib import Path

from rosbags.interfaces import Connection
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer
from ruamel.yaml import YAML

from ..errors import BagError

#: Longest span of recorded messages (bag time, and wall-clock time) held in memory, s.
FLUSH_INTERVAL_S = 0.5
#: rosbag2 metadata version written: Humble reads 8 (its QoS profiles are a YAML string).
METADATA_VERSION = 8
#: ``custom_data`` key present in ``metadata.yaml`` only while a writer has the bag open.
OPEN_KEY = "semg_grasp.state"


def lock(path: Path) -> int:
    """An exclusive ``flock`` on ``path`` (a descriptor to close to release it).

    Raises:
        BagError: another process (a running recorder) holds it.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BagError(f"{path.parent} is being recorded by a running process; wait for it to finish") from None
    return fd


class _Schedule:
    """When to flush: data older than the interval in bag time or on the wall clock."""

    def __init__(self, interval_s: float):
        self.interval_ns = int(interval_s * 1e9)
        self.interval_s = interval_s
        self.first_stamp: int | None = None
        self.opened = time.monotonic()
        self.synced = time.monotonic()

    def add(self, stamp_ns: int) -> None:
        if self.first_stamp is None:
            self.first_stamp, self.opened = stamp_ns, time.monotonic()

    def due(self, stamp_ns: int | None = None) -> bool:
        if self.first_stamp is None:
            return False
        late = stamp_ns is not None and stamp_ns - self.first_stamp >= self.interval_ns
        return late or time.monotonic() - self.opened >= self.interval_s

    def flushed(self, fd: int) -> None:
        """Forget the pending data; ``fsync`` ``fd`` when the last one is an interval old."""
        self.first_stamp = None
        if time.monotonic() - self.synced >= self.interval_s:
            os.fsync(fd)
            self.synced = time.monotonic()


class FlushingMcapWriter(McapWriter):
    """rosbags' MCAP storage with time-bounded chunks written through to the file."""

    interval_s = FLUSH_INTERVAL_S

    def __init__(self, path: Path, compression) -> None:
        super().__init__(path, compression)
        self.bio.flush()  # the header: a file killed now is a valid, empty MCAP prefix
        self.schedule = _Schedule(self.interval_s)

    def write(self, connection, timestamp: int, data) -> None:
        self.schedule.add(timestamp)
        super().write(connection, timestamp, data)  # closes the chunk itself at 1 MiB
        if self.schedule.due(timestamp):
            self.flush()

    def close_chunk(self) -> None:
        super().close_chunk()
        self.bio.flush()
        self.schedule.flushed(self.bio.fileno())

    def flush(self, force: bool = True) -> None:
        """Write the pending chunk to the file (``force=False``: only when it is due)."""
        if self.chunk.msgs and (force or self.schedule.due()):
            self.close_chunk()


class CommittingSqlite3Writer(Sqlite3Writer):
    """rosbags' sqlite3 storage committing at least every interval (sqlite syncs on commit)."""

    interval_s = FLUSH_INTERVAL_S

    def __init__(self, path: Path, compression) -> None:
        super().__init__(path, compression)
        self.conn.commit()
        self.schedule = _Schedule(self.interval_s)

    def write(self, connection, timestamp: int, data) -> None:
        self.schedule.add(timestamp)
        super().write(connection, timestamp, data)
        if self.schedule.due(timestamp):
            self.flush()

    def flush(self, force: bool = True) -> None:
        if self.schedule.first_stamp is not None and (force or self.schedule.due()):
            self.conn.commit()
            self.schedule.first_stamp = None


class SafeWriter(Writer):
    """rosbags' ``Writer`` with the flushing storages and ``metadata.yaml`` from the start."""

    STORAGE_PLUGINS = {StoragePlugin.MCAP: FlushingMcapWriter, StoragePlugin.SQLITE3: CommittingSqlite3Writer}

    def open(self) -> None:
        super().open()
        self._lock = lock(self.storage.path)
        self.custom_data[OPEN_KEY] = "recording"
        write_metadata(self.path, self.storage_plugin.name.lower(), self.storage.path.name, [], {}, self.custom_data)
        del self.custom_data[OPEN_KEY]

    def flush(self, force: bool = True) -> None:
        self.storage.flush(force)

    def close(self) -> None:
        try:
            super().close()
        finally:
            os.close(self._lock)


def write_metadata(path: Path, storage: str, file_name: str, connections: list[Connection],
                   counts: dict[int, int], custom_data: dict[str, str], start_ns: int = 0, end_ns: int = 0) -> None:
    """``path/metadata.yaml`` for one storage file, as rosbags' ``Writer.close`` writes it
    (atomically replaced, so a reader never sees half of it)."""
    from rosbags.rosbag2.metadata import dump_qos_v8

    count = sum(counts.values())
    duration = max(0, end_ns - start_ns) if count else 0
    start_ns = start_ns if count else 0
    info = {
        "version": METADATA_VERSION, "storage_identifier": storage, "relative_file_paths": [file_name],
        "duration": {"nanoseconds": duration}, "starting_time": {"nanoseconds_since_epoch": start_ns},
        "message_count": count,
        "topics_with_message_count": [
            {"topic_metadata": {"name": c.topic, "type": c.msgtype, "serialization_format": c.ext.serialization_format,
                                "offered_qos_profiles": dump_qos_v8(c.ext.offered_qos_profiles),
                                "type_description_hash": c.digest},
             "message_count": counts.get(c.id, 0)}
            for c in connections
        ],
        "compression_format": "", "compression_mode": "",
        "files": [{"path": file_name, "starting_time": {"nanoseconds_since_epoch": start_ns},
                   "duration": {"nanoseconds": duration}, "message_count": count}],
        "custom_data": dict(custom_data) or None, "ros_distro": "rosbags",
    }
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    stream = BytesIO()
    yaml.dump({"rosbag2_bagfile_information": info}, stream)
    tmp = path / "metadata.yaml.tmp"
    tmp.write_bytes(stream.getvalue())
    tmp.replace(path / "metadata.yaml")


def read_custom_data(path: Path) -> dict[str, str]:
    """``custom_data`` of ``path/metadata.yaml`` ({} when absent or unreadable)."""
    try:
        info = YAML(typ="safe").load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        data = info.get("custom_data") or {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except Exception:  # any unreadable metadata: recovery rebuilds it
        return {}
