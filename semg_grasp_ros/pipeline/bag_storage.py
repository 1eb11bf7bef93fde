"""Crash-safe bag storage: periodic flushing while recording, recovery after a crash.

``rosbags`` keeps an MCAP chunk in memory until it holds 1 MiB and writes the summary
(the index every reader starts from) only at close; its sqlite3 storage commits only at
close. A recorder killed at any moment (a crash, ``kill -9``, a power cut) would lose the
whole session. Here:

* ``FlushingMcapWriter`` closes its chunk as soon as it spans ``FLUSH_INTERVAL_S`` of bag
  time or is that old on the wall clock, hands it to the operating system at once (a
  killed process loses nothing written) and calls ``fsync`` at most once per interval (a
  power cut loses at most about one interval).
* ``CommittingSqlite3Writer`` commits on the same schedule.
* ``recover(path)`` rebuilds a bag whose writer died: the MCAP file is cut after its last
  complete, checksum-valid chunk (with its message indexes), then the summary, footer and
  ``metadata.yaml`` are written as a normal close would (``ros2 bag reindex`` for MCAP);
  for sqlite3 the committed messages are counted into ``metadata.yaml``.

While a writer is open it holds an advisory lock (``flock``) on its storage file, which the
kernel releases when the process dies however it dies: recovery refuses a locked bag.
"""

from __future__ import annotations

import fcntl
import logging
import mmap
import os
import sqlite3
import struct
import time
from binascii import crc32
from collections import defaultdict
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.metadata import parse_qos
from rosbags.rosbag2.storage_mcap import (
    DECOMPRESSORS, Channel, McapWriter, PendingChunk, Schema, get_qos, write_record,
)
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer
from ruamel.yaml import YAML

from ..errors import BagError

log = logging.getLogger(__name__)

#: Longest span of recorded messages (bag time, and wall-clock time) held in memory, s.
FLUSH_INTERVAL_S = 0.5
#: rosbag2 metadata version written: Humble reads 8 (its QoS profiles are a YAML string).
METADATA_VERSION = 8
#: ``custom_data`` key present in ``metadata.yaml`` only while a writer has the bag open.
OPEN_KEY = "semg_grasp.state"
#: ``custom_data`` key added by ``recover``: when, and what was cut.
RECOVERED_KEY = "semg_grasp.recovered"
MAGIC = b"\x89MCAP0\r\n"
_FOOTER_LEN = 1 + 8 + 20 + 8  # opcode, length, content, magic


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


# ---------------------------------------------------------------------------------------- recovery

@dataclass
class ChunkEntry:
    """An intact chunk record found by the scan, with the message indexes following it."""

    start: int  # offset of the chunk record
    length: int  # bytes of the record (opcode and length included)
    start_ns: int
    end_ns: int
    compression: str
    compressed_size: int
    uncompressed_size: int
    counts: dict[int, int]  # channel -> messages
    messages: dict[int, list[tuple[int, int]]] | None  # channel -> [(log time, offset in chunk)]; last chunk only
    index_offsets: dict[int, int] = field(default_factory=dict)  # channel -> message index record offset
    index_length: int = 0

    def index_record(self) -> BytesIO:
        """The summary's chunk index record content (MCAP opcode 0x08)."""
        rec = BytesIO()
        rec.write(struct.pack("<QQQQI", self.start_ns, self.end_ns, self.start, self.length,
                              10 * len(self.index_offsets)))
        for cid, offset in self.index_offsets.items():
            rec.write(struct.pack("<HQ", cid, offset))
        name = self.compression.encode()
        rec.write(struct.pack("<QI", self.index_length, len(name)) + name)
        rec.write(struct.pack("<QQ", self.compressed_size, self.uncompressed_size))
        return rec


@dataclass
class McapScan:
    """What a record-by-record scan of an MCAP file found intact."""

    size: int = 0
    closed: bool = False  # ends in a valid footer: nothing to recover
    valid_end: int = 0  # offset after the last intact record: where the summary goes
    header: bool = False  # the magic and header record are intact
    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, tuple[int, Channel]] = field(default_factory=dict)  # id -> (schema id, channel)
    chunks: list[ChunkEntry] = field(default_factory=list)
    problem: str = ""  # why the scan stopped before the end of the file, if it did

    @property
    def counts(self) -> dict[int, int]:
        total: dict[int, int] = defaultdict(int)
        for chunk in self.chunks:
            for cid, n in chunk.counts.items():
                total[cid] += n
        return dict(total)


class _Damaged(Exception):
    """Where and why an MCAP file stops being intact."""


def _u(fmt: str, data, pos: int) -> tuple:
    if pos + struct.calcsize(fmt) > len(data):
        raise _Damaged(f"a field at byte {pos} runs past its record")
    return struct.unpack_from(fmt, data, pos)


def _string(data, pos: int) -> tuple[bytes, int]:
    (n,) = _u("<I", data, pos)
    if pos + 4 + n > len(data):
        raise _Damaged(f"a string at byte {pos} runs past its record")
    return bytes(data[pos + 4: pos + 4 + n]), pos + 4 + n


def _records(data, base: int = 0):
    """``(opcode, offset, content)`` of each record of ``data``; ``_Damaged`` at a cut."""
    pos = 0
    while pos < len(data):
        if pos + 9 > len(data):
            raise _Damaged(f"the file ends inside a record header at byte {base + pos}")
        op, n = data[pos], struct.unpack_from("<Q", data, pos + 1)[0]
        if n > len(data) - pos - 9:
            raise _Damaged(f"the record at byte {base + pos} is cut ({n} bytes announced, {len(data) - pos - 9} present)")
        yield op, base + pos, data[pos + 9: pos + 9 + n]
        pos += 9 + n


def _definition(scan: McapScan, op: int, content) -> None:
    """Keep a schema (0x03) or channel (0x04) record."""
    try:
        if op == 0x03:
            (sid,) = _u("<H", content, 0)
            name, p = _string(content, 2)
            enc, p = _string(content, p)
            text, p = _string(content, p)
            scan.schemas[sid] = Schema(sid, name.decode(), enc.decode(), text.decode())
        else:
            cid, sid = _u("<HH", content, 0)
            topic, p = _string(content, 4)
            enc, p = _string(content, p)
            meta, p = _string(content, p)
            schema = scan.schemas.get(sid)
            if schema is None:
                raise _Damaged(f"channel {cid} ({topic.decode(errors='replace')}) names unknown schema {sid}")
            scan.channels[cid] = (sid, Channel(cid, schema.name, topic.decode(), enc.decode(), meta))
    except UnicodeDecodeError as exc:
        raise _Damaged(f"a schema or channel record is not UTF-8: {exc}") from None


def _chunk(scan: McapScan, start: int, content) -> ChunkEntry | None:
    """Validate a chunk record (sizes, decompression, CRC, every record inside) and keep its
    definitions; None for a chunk without messages."""
    t0, t1, size, crc = _u("<QQQI", content, 0)
    compression, p = _string(content, 28)
    (n,) = _u("<Q", content, p)
    if p + 8 + n != len(content):
        raise _Damaged(f"chunk at byte {start}: its records do not fill the chunk")
    name = compression.decode(errors="replace")
    if name not in DECOMPRESSORS:
        raise _Damaged(f"chunk at byte {start}: unknown compression {name!r}")
    try:
        raw = DECOMPRESSORS[name](bytes(content[p + 8:]), size)
    except Exception as exc:  # a decompressor's own error types: a damaged chunk either way
        raise _Damaged(f"chunk at byte {start} does not decompress: {exc}") from None
    if len(raw) != size or (crc and crc32(raw) != crc):
        raise _Damaged(f"chunk at byte {start}: size or checksum mismatch")
    messages: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for op, offset, rec in _records(raw):
        if op in (0x03, 0x04):
            _definition(scan, op, rec)
        elif op == 0x05:
            cid, _, log_time = _u("<HIQ", rec, 0)
            if cid not in scan.channels:
                raise _Damaged(f"chunk at byte {start}: a message on unknown channel {cid}")
            messages[cid].append((log_time, offset))
    if not messages:
        return None
    times = [t for m in messages.values() for t, _ in m]
    return ChunkEntry(start, 9 + len(content), min(times), max(times), name, n, size,
                      {cid: len(m) for cid, m in messages.items()}, dict(messages))


def scan_mcap(path: Path) -> McapScan:
    """Scan ``path`` record by record, keeping what is intact before the first damage.

    Raises:
        BagError: the file cannot be read or does not start as an MCAP file.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(8)
            if head != MAGIC[: len(head)]:
                raise BagError(f"{path} is not an MCAP file (no MCAP magic at its start)")
            if size < 8 + 9:  # killed before the header reached the file
                return McapScan(size=size, problem="the file ends before its header")
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise BagError(f"cannot read {path}: {exc.strerror}") from None
    scan = McapScan(size=size)
    view = memoryview(data)
    try:
        if size >= 8 + _FOOTER_LEN and view[-8:] == MAGIC and view[-_FOOTER_LEN] == 0x02:
            scan.closed = True
        else:
            _scan_records(scan, view)
    finally:
        view.release()
        data.close()
    return scan


def _scan_records(scan: McapScan, view: memoryview) -> None:
    last: ChunkEntry | None = None
    scan.valid_end = 8
    try:
        for op, start, content in _records(view[8:], base=8):
            if op == 0x01 and start == 8:  # header
                scan.header, last = True, None
            elif op in (0x03, 0x04):
                _definition(scan, op, content)
                last = None
            elif op == 0x06:
                entry = _chunk(scan, start, content)
                if entry is not None:
                    if scan.chunks:
                        scan.chunks[-1].messages = None  # complete: only the last one's indexes may be cut
                    scan.chunks.append(entry)
                last = entry
            elif op == 0x07:  # message index of the chunk before it
                if last is not None and start == last.start + last.length + last.index_length:
                    (cid,) = _u("<H", content, 0)
                    last.index_offsets[cid] = start
                    last.index_length += 9 + len(content)
            elif op == 0x0C:  # a metadata record: rewritten at close
                last = None
            else:  # data end, summary or footer (a close cut short), or anything unknown
                if op != 0x0F:
                    scan.problem = f"record 0x{op:02x} at byte {start} ends the data"
                break
            scan.valid_end = start + 9 + len(content)
    except _Damaged as exc:
        scan.problem = str(exc)


def storage_file(path: Path) -> Path:
    """The one storage file (``.mcap`` or ``.db3``) of bag directory ``path``.

    Raises:
        BagError: none, or several (split bags are not recovered here).
    """
    files = sorted(p for p in path.iterdir() if p.suffix in (".mcap", ".db3") and p.is_file())
    if not files:
        raise BagError(f"{path} holds no metadata.yaml and no .mcap or .db3 file: not a ROS 2 bag")
    if len(files) > 1:
        raise BagError(f"{path} holds several storage files ({', '.join(f.name for f in files)}); "
                       "recovery handles bags of one file")
    return files[0]


def needs_recovery(path: Path) -> bool:
    """Whether bag directory ``path`` was left open by a writer that died (or is still
    recording): no ``metadata.yaml``, one marked open, or an MCAP file without its footer."""
    if not path.is_dir():
        return False
    if not (path / "metadata.yaml").is_file():
        return any(p.suffix in (".mcap", ".db3") for p in path.iterdir())
    if OPEN_KEY in read_custom_data(path):
        return True
    for mcap in path.glob("*.mcap"):
        with open(mcap, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8 + _FOOTER_LEN:
                return True
            f.seek(size - _FOOTER_LEN)
            tail = f.read()
            if tail[0] != 0x02 or tail[-8:] != MAGIC:
                return True
    return False


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did."""

    path: str
    messages: int  # messages kept
    bytes_dropped: int  # damaged or incomplete bytes cut from the end of the storage file
    problem: str  # why the data ended where it did ('' when it ended cleanly)


def _connection(cid: int, topic: str, msgtype: str, msgdef: MessageDefinition, encoding: str, qos) -> Connection:
    from ..msgs.typestore import typestore

    store = typestore()
    digest = store.hash_rihs01(msgtype) if msgtype in store.types else ""
    return Connection(cid, topic, msgtype, msgdef, digest, 0, ConnectionExtRosbag2(encoding, qos), None)


def recover(path: str | Path) -> Recovery:
    """Rebuild bag directory ``path`` after its writer died.

    MCAP: the file is cut after its last intact chunk and closed as the writer would have
    closed it (summary, footer, ``metadata.yaml``); sqlite3: the committed messages are
    counted into ``metadata.yaml``. ``custom_data`` written at the start (provenance) is
    kept, with ``semg_grasp.recovered`` added.

    Raises:
        BagError: not a bag directory, a writer still holds it, or the file is no MCAP/sqlite3 bag.
    """
    path = Path(path)
    if not path.is_dir():
        raise BagError(f"{path} is not a bag directory" + (" (it is a file)" if path.exists() else " (it does not exist)"))
    file = storage_file(path)
    custom = read_custom_data(path)
    custom.pop(OPEN_KEY, None)
    fd = lock(file)
    try:
        if file.suffix == ".db3":
            result = _recover_sqlite(path, file, custom)
        else:
            result = _recover_mcap(path, file, custom)
    finally:
        os.close(fd)
    log.warning("recovered bag %s: %d messages kept, %d damaged or incomplete bytes cut%s", path, result.messages,
                result.bytes_dropped, f" ({result.problem})" if result.problem else "")
    return result


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _recover_sqlite(path: Path, file: Path, custom: dict[str, str]) -> Recovery:
    try:
        db = sqlite3.connect(file)  # read-write: sqlite rolls back what the killed writer left uncommitted
        try:
            topics = db.execute("SELECT id, name, type, serialization_format, offered_qos_profiles FROM topics").fetchall()
            defs = dict(db.execute("SELECT topic_type, encoded_message_definition FROM message_definitions").fetchall())
            stats = db.execute("SELECT topic_id, COUNT(*), MIN(timestamp), MAX(timestamp) FROM messages "
                               "GROUP BY topic_id").fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BagError(f"{file} is not a readable rosbag2 sqlite3 database: {exc}") from None
    conns = [_connection(cid, name, msgtype, MessageDefinition(MessageDefinitionFormat.MSG, defs.get(msgtype, "")),
                         fmt, parse_qos(qos)) for cid, name, msgtype, fmt, qos in topics]
    counts = {cid: n for cid, n, _, _ in stats}
    start = min((s[2] for s in stats), default=0)
    end = max((s[3] for s in stats), default=0)
    custom[RECOVERED_KEY] = f"{_stamp()}: {sum(counts.values())} committed messages kept"
    write_metadata(path, "sqlite3", file.name, conns, counts, custom, start, end)
    return Recovery(str(path), sum(counts.values()), 0, "")


def _recover_mcap(path: Path, file: Path, custom: dict[str, str]) -> Recovery:
    scan = scan_mcap(file)
    if scan.closed:  # the storage was closed; only metadata.yaml was not (re)written
        return _metadata_from_closed_mcap(path, file, custom)
    dropped = scan.size - (scan.valid_end if scan.header else 0)
    count = sum(scan.counts.values())
    custom[RECOVERED_KEY] = (f"{_stamp()}: {count} messages in {len(scan.chunks)} chunks kept, "
                             f"{dropped} bytes cut" + (f" ({scan.problem})" if scan.problem else ""))
    storage = McapWriter.__new__(McapWriter)  # rosbags' writer, resumed on the cut file to close it
    storage.path = file
    storage.bio = open(file, "r+b")
    storage.bio.truncate(scan.valid_end if scan.header else 0)
    storage.bio.seek(0, 2)
    if not scan.header:  # cut inside the header: write it again (profile ros2, as rosbags does)
        storage.bio.write(MAGIC)
        header = BytesIO()
        header.write(struct.pack("<I", 4) + b"ros2" + struct.pack("<I", 7) + b"rosbags")
        write_record(storage.bio, 0x01, header)
    storage.schemas = sorted(scan.schemas.values())
    storage.channels = [ch for _, ch in sorted(scan.channels.values(), key=lambda c: c[1].id)]
    if scan.chunks and set(scan.chunks[-1].index_offsets) != set(scan.chunks[-1].counts):
        _rewrite_message_indexes(storage.bio, scan.chunks[-1])  # the kill cut them
    storage.chunks = [c.index_record() for c in scan.chunks]
    storage.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))
    storage.compression, storage.compressor = "", lambda x: x
    storage.channel_stats = {cid: scan.counts.get(cid, 0) for cid in scan.channels}
    storage.message_start_time = min((c.start_ns for c in scan.chunks), default=2**63 - 1)
    storage.message_end_time = max((c.end_ns for c in scan.chunks), default=0)
    writer = Writer.__new__(Writer)  # its close() writes the summary, footer and metadata.yaml
    writer.path, writer.metapath, writer.version = path, path / "metadata.yaml", METADATA_VERSION
    writer.storage_plugin, writer.storage = StoragePlugin.MCAP, storage
    writer.compression_mode, writer.compression_format = CompressionMode.NONE, ""
    formats = {"ros2msg": MessageDefinitionFormat.MSG, "ros2idl": MessageDefinitionFormat.IDL}
    writer.connections = []
    for sid, ch in sorted(scan.channels.values(), key=lambda c: c[1].id):
        schema = scan.schemas[sid]
        msgdef = MessageDefinition(formats.get(schema.encoding, MessageDefinitionFormat.NONE), schema.data)
        writer.connections.append(_connection(ch.id, ch.topic, ch.schema, msgdef, ch.message_encoding,
                                              get_qos(ch.metadata)))
    writer.counts = {c.id: scan.counts.get(c.id, 0) for c in writer.connections}
    writer.custom_data, writer.added_types = custom, set()
    writer.min_timestamp, writer.max_timestamp = storage.message_start_time, storage.message_end_time
    writer.close()
    return Recovery(str(path), count, dropped, scan.problem)


def _rewrite_message_indexes(bio, chunk: ChunkEntry) -> None:
    """Cut the file after ``chunk`` and write its message index records again."""
    bio.truncate(chunk.start + chunk.length)
    bio.seek(chunk.start + chunk.length)
    chunk.index_offsets, chunk.index_length = {}, 0
    for cid, messages in sorted(chunk.messages.items()):
        rec = BytesIO()
        rec.write(struct.pack("<HI", cid, 16 * len(messages)))
        for log_time, offset in messages:
            rec.write(struct.pack("<QQ", log_time, offset))
        chunk.index_offsets[cid] = bio.tell()
        write_record(bio, 0x07, rec)
        chunk.index_length += 9 + rec.tell()


def _metadata_from_closed_mcap(path: Path, file: Path, custom: dict[str, str]) -> Recovery:
    from rosbags.rosbag2.storage_mcap import McapReader

    reader = McapReader(file)
    try:
        reader.open()
    except Exception as exc:  # rosbags' reader raises several types for a damaged summary
        raise BagError(f"{file} has an MCAP footer but an unreadable summary: {exc}") from None
    try:
        conns = list(reader.connections)
        counts = {c.id: c.msgcount for c in conns}
        meta = reader.metadata
        count = sum(counts.values())
        custom[RECOVERED_KEY] = f"{_stamp()}: metadata.yaml rebuilt from the closed MCAP file ({count} messages)"
        write_metadata(path, "mcap", file.name, conns, counts, custom, meta.start_time, max(meta.end_time - 1, 0))
    finally:
        reader.close()
    return Recovery(str(path), count, 0, "")
