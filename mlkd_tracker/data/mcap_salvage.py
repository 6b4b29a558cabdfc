"""Reads an MCAP file that was never finished, up to the first record that is cut off or broken.

rosbags opens an MCAP through its footer and summary. A recording that was killed (SIGKILL, power
loss) or a copy that was cut short has neither, so rosbags refuses the whole file although every
complete record before the damage is intact. This walks the records from the start with rosbags'
own record helpers, yields every message it can read, and remembers where and why it stopped, in
terms a person can check with a hex viewer: the record's byte offset, its kind and its size.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from rosbags.interfaces import MessageDefinition, Qos
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import (Schema, decompress, get_msgdef, get_qos, read_bytes,
                                          read_string)

__all__ = ["MAGIC", "McapChannel", "McapSalvage"]

MAGIC = b"\x89MCAP0\r\n"
_RECORD_NAMES = {0x01: "header", 0x02: "footer", 0x03: "schema", 0x04: "channel", 0x05: "message",
                 0x06: "chunk", 0x07: "message index", 0x08: "chunk index", 0x09: "attachment",
                 0x0A: "attachment index", 0x0B: "statistics", 0x0C: "metadata",
                 0x0D: "metadata index", 0x0E: "summary offset", 0x0F: "data end"}
_OP_FOOTER, _OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE, _OP_CHUNK, _OP_DATA_END = 0x02, 0x03, 0x04, 0x05, 0x06, 0x0F
_U16, _U64 = struct.Struct("<H"), struct.Struct("<Q")
_MESSAGE_HEAD = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
_CHUNK_HEAD = struct.Struct("<QQQI")    # start time, end time, uncompressed size, crc


@dataclass(frozen=True)
class McapChannel:
    id: int
    topic: str
    msgtype: str
    msgdef: MessageDefinition
    qos: list[Qos]


class _Broken(Exception):
    """A record that cannot be read; the message says which and why."""


@dataclass
class McapSalvage:
    """One pass over ``path``'s records. Iterate :meth:`messages`; afterwards ``damage`` says
    where reading stopped (None if the data section ended cleanly)."""

    path: Path
    channels: dict[int, McapChannel] = field(default_factory=dict)
    damage: str | None = None
    _schemas: dict[int, Schema] = field(default_factory=dict)

    def messages(self) -> Iterator[tuple[McapChannel, int, bytes]]:
        """Yield (channel, log time ns, CDR bytes) in file order until the data ends or breaks."""
        self.damage = None
        size = self.path.stat().st_size
        with self.path.open("rb") as bio:
            if bio.read(8) != MAGIC:
                self.damage = f"{self.path}: not an MCAP file (bad magic bytes at offset 0)"
                return
            while True:
                offset = bio.tell()
                head = bio.read(9)
                if not head:
                    self.damage = (f"{self.path}: the file ends at byte {size} without an MCAP "
                                   "footer (the recording was not closed or the copy is incomplete)")
                    return
                op = head[0]
                name = _RECORD_NAMES.get(op, f"unknown opcode 0x{op:02x}")
                if len(head) < 9:
                    self.damage = (f"{self.path}: {name} record at byte {offset} is cut off: only "
                                   f"{len(head)} of its 9 header bytes remain (file size {size})")
                    return
                (length,) = _U64.unpack_from(head, 1)
                if offset + 9 + length > size:
                    self.damage = (f"{self.path}: {name} record at byte {offset} is cut off: it "
                                   f"declares {length} bytes but the file ends at byte {size}")
                    return
                if op in (_OP_FOOTER, _OP_DATA_END):
                    return  # the data section is complete
                if op == 0 or 0x10 <= op < 0x80:
                    self.damage = (f"{self.path}: record at byte {offset} has {name}: the file is "
                                   "corrupt from there on")
                    return
                try:
                    yield from self._record(op, bio, length)
                except (_Broken, ReaderError, struct.error, UnicodeDecodeError, KeyError) as exc:
                    self.damage = f"{self.path}: {name} record at byte {offset} is corrupt: {exc}"
                    return

    def _record(self, op: int, bio: BinaryIO, length: int) -> Iterator[tuple[McapChannel, int, bytes]]:
        if op == _OP_CHUNK:
            yield from self._chunk(bio.read(length))
        elif op in (_OP_SCHEMA, _OP_CHANNEL, _OP_MESSAGE):
            item = self._inner(op, bio.read(length))
            if item is not None:
                yield item
        else:
            bio.seek(length, 1)

    def _chunk(self, content: bytes) -> Iterator[tuple[McapChannel, int, bytes]]:
        rec = BytesIO(content)
        _, _, uncompressed_size, crc = _CHUNK_HEAD.unpack(rec.read(_CHUNK_HEAD.size))
        compression = read_string(rec)
        (compressed_size,) = _U64.unpack(rec.read(8))
        data = rec.read(compressed_size)
        if len(data) != compressed_size:
            raise _Broken(f"its records declare {compressed_size} bytes, {len(data)} present")
        records = decompress(data, compression, uncompressed_size, crc)
        pos = 0
        while pos < len(records):
            if pos + 9 > len(records):
                raise _Broken(f"inner record at chunk offset {pos} is cut off")
            op = records[pos]
            (length,) = _U64.unpack_from(records, pos + 1)
            if pos + 9 + length > len(records):
                raise _Broken(f"inner {_RECORD_NAMES.get(op, hex(op))} record at chunk offset "
                              f"{pos} declares {length} bytes beyond the chunk's end")
            item = self._inner(op, records[pos + 9:pos + 9 + length])
            if item is not None:
                yield item
            pos += 9 + length

    def _inner(self, op: int, content: bytes) -> tuple[McapChannel, int, bytes] | None:
        rec = BytesIO(content)
        if op == _OP_SCHEMA:
            (sid,) = _U16.unpack(rec.read(2))
            self._schemas[sid] = Schema(sid, read_string(rec), read_string(rec), read_string(rec))
        elif op == _OP_CHANNEL:
            cid, sid = struct.unpack("<HH", rec.read(4))
            topic, _encoding = read_string(rec), read_string(rec)
            schema = self._schemas.get(sid)
            if schema is None:
                raise _Broken(f"channel {cid} ({topic}) refers to schema {sid}, never defined")
            self.channels[cid] = McapChannel(cid, topic, schema.name, get_msgdef(schema),
                                             get_qos(read_bytes(rec)))
        elif op == _OP_MESSAGE:
            cid, _, log_time, _ = _MESSAGE_HEAD.unpack(rec.read(_MESSAGE_HEAD.size))
            if cid not in self.channels:
                raise _Broken(f"message on channel {cid}, which was never defined")
            return self.channels[cid], log_time, content[_MESSAGE_HEAD.size:]
        return None
