"""A record-by-record scan of an MCAP file: what is intact before the first damage.

A writer killed mid-session leaves an MCAP file without its summary and footer, possibly cut
inside a record. ``scan_mcap`` walks the records from the start, validating each chunk
(sizes, decompression, CRC, every record inside) and keeping the schemas, channels, chunks
and message indexes found intact; ``bag_recovery`` closes the file after the last of them.
"""

from __future__ import annotations

import mmap
import os
import struct
from binascii import crc32
from collections import defaultdict
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from rosbags.rosbag2.storage_mcap import DECOMPRESSORS, Channel, Schema

from ..errors import BagError

#: The magic bytes an MCAP file starts and ends with.
MAGIC = b"\x89MCAP0\r\n"
#: Bytes of the footer record and the closing magic.
FOOTER_LEN = 1 + 8 + 20 + 8  # opcode, length, content, magic


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
        if size >= 8 + FOOTER_LEN and view[-8:] == MAGIC and view[-FOOTER_LEN] == 0x02:
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
