"""Real ROS 2 bags without ROS: write domain objects, read them back.

Bags are written with ``rosbags`` in MCAP (default) or sqlite3 storage, with the
package's own message definitions embedded, so ``ros2 bag play``, ``ros2 bag info`` and
Foxglove read them. Topic names are stored fully qualified (``/emg/chunks``) as
``ros2 bag record`` does; ``read_bag`` yields them relative again (``emg/chunks``).
Recording survives a crash (``bag_storage``, ``bag_recovery``): ``metadata.yaml`` is written when the bag
opens and rewritten at close, messages reach the file at least every
``FLUSH_INTERVAL_S`` (0.5 s), and a bag whose writer died (``kill -9``, power cut) is
recovered by ``recover`` -- automatically, with a warning, when it is read. The bag is also
closed on any exit from the ``with`` block, so an error in the pipeline loses nothing. ``BagSource``
replays a bag's ``EmgChunk``s as an sEMG source (``emg.sources``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin

from ..emg.sources import BlockSource
from ..errors import BagError, DataError
from ..msgs.convert import from_cdr, msgtype_of, supported_msgtypes, to_msg
from ..msgs.typestore import RosbagsFactory, typestore
from ..topics import EMG_CHUNKS, TOPICS, VIEWER_TOPICS
from ..types import EmgChunk
from .bag_recovery import needs_recovery, recover
from .bag_storage import SafeWriter, read_custom_data

log = logging.getLogger(__name__)

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


def _qos(kind: str) -> Qos:
    zero = QosTime(0, 0)
    reliable = kind != "sensor"
    return Qos(
        history=QosHistory.KEEP_LAST, depth=1 if kind == "latched" else 10,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if kind == "latched" else QosDurability.VOLATILE,
        deadline=zero, lifespan=zero, liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


class BagWriter:
    """Writes domain objects to a new ROS 2 bag directory.

    Usage::

        with BagWriter("session1") as bag:
            bag.write("emg/chunks", chunk, stamp_ns)

    Args:
        path: bag directory to create; must not exist.
        storage: ``"mcap"`` (default) or ``"sqlite3"``.
        custom_data: strings stored in ``metadata.yaml``'s ``custom_data`` from the start
            (provenance: versions, models, seeds, configuration).

    Raises:
        BagError: the path exists, or the storage is unknown.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", custom_data: dict[str, str] | None = None):
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; choose one of {sorted(STORAGES)}")
        if self.path.exists():
            raise BagError(f"output {self.path} already exists; choose a new path (nothing was overwritten)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._store = typestore()
        self._factory = RosbagsFactory(self._store)
        # Metadata version 8: Humble's rosbag2 reads offered_qos_profiles as a YAML string (version 9
        # writes a list, which Humble cannot parse); Jazzy reads both.
        self._writer = SafeWriter(self.path, version=8, storage_plugin=STORAGES[storage])
        for key, value in (custom_data or {}).items():
            self._writer.set_custom_data(key, value)
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, obj: Any, stamp_ns: int) -> None:
        """Append one message; ``stamp_ns`` is the receive time recorded in the bag."""
        msgtype = msgtype_of(obj)
        name = _absolute(topic)
        conn = self._connections.get(name)
        if conn is None:
            spec = TOPICS.get(name.lstrip("/")) or VIEWER_TOPICS.get(name.lstrip("/"))
            qos = [_qos(spec.qos if spec else "reliable")]
            conn = self._writer.add_connection(name, msgtype, typestore=self._store, offered_qos_profiles=qos)
            self._connections[name] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"topic {name} already carries {conn.msgtype}, cannot write {msgtype}")
        raw = self._store.serialize_cdr(to_msg(obj, self._factory), msgtype)
        self._writer.write(conn, int(stamp_ns), raw)
        self.counts[name] = self.counts.get(name, 0) + 1

    def flush(self, force: bool = False) -> None:
        """Write pending messages to the file when they are ``FLUSH_INTERVAL_S`` old on the
        wall clock (every ``write`` checks this too; loops call this when no message may
        come for a while), or now with ``force``."""
        if self._writer is not None:
            self._writer.flush(force)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reader(path: str | Path) -> AnyReader:
    """An open reader of bag ``path``, recovering the bag first when its writer died."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag {path} does not exist")
    if needs_recovery(path):
        log.warning("bag %s was not closed by its writer (a crash or a kill); recovering it "
                    "(`semg-grasp bag recover` does this explicitly)", path)
        recover(path)
    elif path.is_dir() and not (path / "metadata.yaml").exists():
        raise BagError(f"{path} is not a ROS 2 bag: it has no metadata.yaml (and no .mcap or .db3 file)")
    try:
        reader = AnyReader([path], default_typestore=typestore())
        reader.open()
    except Exception as exc:  # rosbags raises several unrelated types for unreadable bags
        raise BagError(f"cannot open bag {path}: {exc}") from exc
    return reader


def read_bag(path: str | Path, topics: Iterable[str] | None = None,
             keep: Callable[[str, int, bytes], bool] | None = None,
             missing_ok: bool = False) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(topic, stamp_ns, domain_object)`` in time order.

    Args:
        path: bag directory (or a single ``.mcap`` file).
        topics: relative or absolute topic names to read; all known ones when None.
        keep: ``(relative topic, stamp_ns, serialized CDR message) -> bool``; the messages it refuses
            are skipped without being decoded (decoding is most of the cost of reading).
        missing_ok: read those of ``topics`` the bag has (else a missing one is an error).

    Topics whose message type the pipeline does not use are skipped with a warning
    (an error when they were asked for by name). A message that fails to convert is
    logged and skipped.

    Raises:
        BagError: the bag cannot be opened, or a requested topic is missing or unusable.
    """
    wanted = None if topics is None else {_absolute(t) for t in topics}
    known = supported_msgtypes()
    reader = _reader(path)
    try:
        conns = []
        for c in reader.connections:
            if wanted is not None and c.topic not in wanted:
                continue
            if c.msgtype not in known:
                if wanted is not None:
                    raise BagError(f"topic {c.topic} carries {c.msgtype}, which the pipeline cannot use")
                log.warning("skipping topic %s of unknown type %s", c.topic, c.msgtype)
                continue
            conns.append(c)
        if wanted is not None and not missing_ok:
            missing = wanted - {c.topic for c in conns}
            if missing:
                raise BagError(f"bag {path} has no topic {sorted(missing)}; it has {sorted({c.topic for c in reader.connections})}")
        for conn, stamp, raw in _messages(reader, conns, path):
            if keep is not None and not keep(conn.topic.lstrip("/"), int(stamp), raw):
                continue
            try:
                obj = from_cdr(raw, conn.msgtype, reader.deserialize)
            except DataError as exc:
                log.warning("skipping a message on %s at %d: %s", conn.topic, stamp, exc)
                continue
            yield conn.topic.lstrip("/"), int(stamp), obj
    finally:
        reader.close()


def _messages(reader: AnyReader, connections: list, path) -> Iterator[tuple[Any, int, bytes]]:
    """``reader.messages`` with rosbags' errors on a damaged storage file as ``BagError``."""
    messages = reader.messages(connections=connections)
    while True:
        try:
            item = next(messages)
        except StopIteration:
            return
        except Exception as exc:  # rosbags raises its ReaderError, struct and value errors mid-file
            raise BagError(f"bag {path} is damaged: {type(exc).__name__}: {exc}") from None
        yield item


@dataclass(frozen=True)
class BagInfo:
    path: str
    start_ns: int
    end_ns: int
    message_count: int
    topics: tuple[tuple[str, str, int], ...]  # (topic, msgtype, count)
    custom_data: dict[str, str]  # metadata.yaml's custom_data (provenance, recovery notes)

    @property
    def duration(self) -> float:
        """Seconds between the first and last message."""
        return (self.end_ns - self.start_ns) * 1e-9 if self.message_count else 0.0


def bag_info(path: str | Path) -> BagInfo:
    """Topics, types, counts and time span of a bag."""
    reader = _reader(path)
    try:
        topics = tuple(sorted((c.topic, c.msgtype, c.msgcount) for c in reader.connections))
        count = sum(t[2] for t in topics)
        # rosbags reports end_time one past the last stamp.
        custom = read_custom_data(Path(path)) if Path(path).is_dir() else {}
        return BagInfo(str(path), reader.start_time if count else 0, reader.end_time - 1 if count else 0, count,
                       topics, custom)
    finally:
        reader.close()


class BagSource(BlockSource):
    """Replays the ``EmgChunk``s of a ROS 2 bag as a paced sample stream.

    Rate, channel names and units come from the first chunk. A gap in
    ``first_sample_index`` (lost samples in the recording) is logged and the stream
    continues with the next recorded sample; a chunk with another rate is skipped
    (logged); a chunk with another channel count is passed on at a block boundary.

    Raises:
        BagError: the bag cannot be read or has no such topic.
        DataError: the topic carries no ``EmgChunk``.
    """

    def __init__(self, path, topic: str = EMG_CHUNKS, loop: bool = False):
        self.path, self.topic = Path(path), topic
        first = next(read_bag(path, [topic]), None)
        if first is None or not isinstance(first[2], EmgChunk):
            kind = "no messages" if first is None else f"{type(first[2]).__name__} messages"
            raise DataError(f"bag {path} topic {topic!r} has {kind}; expected EmgChunk")
        chunk = first[2]
        self.gaps = 0

        def blocks():
            while True:
                expected = None
                for _, _, c in read_bag(path, [topic]):
                    if abs(c.sample_rate - chunk.sample_rate) > 1e-6 * chunk.sample_rate:
                        log.warning("%s: skipping a chunk at %.1f Hz in a %.1f Hz stream", path, c.sample_rate,
                                    chunk.sample_rate)
                        continue
                    if expected is not None and c.first_sample_index != expected:
                        self.gaps += 1
                        log.warning("%s: sample index jumps from %d to %d; replaying without the missing samples",
                                    path, expected, c.first_sample_index)
                    expected = c.next_sample_index
                    yield c.data, None
                if not loop:
                    return

        super().__init__(blocks(), chunk.sample_rate, chunk.channel_names, chunk.units)
