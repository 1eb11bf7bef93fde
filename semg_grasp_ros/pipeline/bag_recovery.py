"""Recovery of a bag whose writer died (a crash, ``kill -9``, a power cut).

``recover(path)`` cuts the MCAP file after its last complete, checksum-valid chunk (with its
message indexes, ``mcap_scan``), then writes the summary, footer and ``metadata.yaml`` as a
normal close would (``ros2 bag reindex`` for MCAP); for sqlite3 the committed messages are
counted into ``metadata.yaml``. A bag whose writer is still running (its ``flock`` held,
``bag_storage``) is refused.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import struct
import time
from collections import defaultdict
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.metadata import parse_qos
from rosbags.rosbag2.storage_mcap import McapWriter, PendingChunk, get_qos, write_record

from ..errors import BagError
from .bag_storage import METADATA_VERSION, OPEN_KEY, lock, read_custom_data, write_metadata
from .mcap_scan import FOOTER_LEN, MAGIC, ChunkEntry, scan_mcap

log = logging.getLogger(__name__)

#: ``custom_data`` key added by ``recover``: when, and what was cut.
RECOVERED_KEY = "semg_grasp.recovered"


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
            if size < 8 + FOOTER_LEN:
                return True
            f.seek(size - FOOTER_LEN)
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
