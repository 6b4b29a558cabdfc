"""Reads any rosbag2 recording (sqlite3 or MCAP; a bag folder or a single .mcap/.db3 file) and
says exactly where a damaged one stops being readable.

Why not rosbags alone: rosbags reads complete bags well, but a damaged one fails as a whole or
mid-iteration with an error that names neither the bag nor how far it got. Here every failure
is a :class:`BagReadError` naming the file and the bad record, raised only after every message
before it has been yielded, so a caller (the replay) can use what was readable and report the
rest. A bag folder whose metadata.yaml is missing (the recorder never closed it) is read from
its storage file; an MCAP whose footer is missing or cut off is read record by record up to the
damage (see :mod:`mlkd_tracker.data.mcap_salvage`). A damaged sqlite3 file cannot be read past
its damage by SQLite at all, so it is reported with what its header says the file should be.

Torch- and rclpy-free: messages come out as CDR bytes; :meth:`BagReader.deserialize` decodes
them with rosbags' typestore for callers that have no rclpy.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat, Qos
from rosbags.rosbag2 import Reader, ReaderError

from mlkd_tracker.data.bag_types import typestore_for_definitions
from mlkd_tracker.data.mcap_salvage import McapSalvage

__all__ = ["BagReadError", "TopicInfo", "BagMessage", "BagReader"]

_NO_DEFINITION = MessageDefinition(MessageDefinitionFormat.NONE, "")


class BagReadError(RuntimeError):
    """A bag (or a record in it) that cannot be read; the message names the file and record."""


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int
    msgdef: MessageDefinition = _NO_DEFINITION
    digest: str = ""
    qos: list[Qos] = field(default_factory=list)


@dataclass(frozen=True)
class BagMessage:
    index: int      # position among the messages read in this pass (0-based)
    topic: str
    msgtype: str
    timestamp: int  # ns: when the recorder received it (rosbag2 log time)
    data: bytes     # CDR, exactly as recorded

    def describe(self) -> str:
        return f"message #{self.index} on {self.topic} at t={self.timestamp} ns"


class BagReader:
    """An open rosbag2. ``storage`` is "mcap" or "sqlite3"; ``damage`` is set when the bag is
    known to be incomplete from the start (then :meth:`messages` raises it at the end)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damage: str | None = None
        self._reader: Reader | None = None
        self._salvage: list[McapSalvage] = []
        if not self.path.exists():
            raise BagReadError(f"{self.path}: no such bag (folder or .mcap/.db3 file)")
        files = self._files = self._storage_files()
        self.storage = "mcap" if any(f.suffix == ".mcap" for f in files) else "sqlite3"
        try:
            target = self.path if (self.path / "metadata.yaml").is_file() or self.path.is_file() \
                else files[0]
            if self.path.is_dir() and not (self.path / "metadata.yaml").is_file() and len(files) > 1:
                raise ReaderError("metadata.yaml is missing and there are several storage files")
            self._reader = Reader(target)
            self._reader.open()
        except (ReaderError, OSError, KeyError, ValueError) as exc:
            self._reader = None
            if self.storage != "mcap":
                raise BagReadError(_sqlite_problem(files, exc)) from exc
            self._open_salvage(files, exc)
        self.topics = self._topic_infos()
        self.typestore = typestore_for_definitions((t.msgtype, t.msgdef) for t in self.topics.values())

    # ---- opening --------------------------------------------------------------------------------
    def _storage_files(self) -> list[Path]:
        if self.path.is_file():
            if self.path.suffix not in (".mcap", ".db3"):
                raise BagReadError(f"{self.path}: not a rosbag2 storage file (.mcap or .db3)")
            return [self.path]
        files = sorted(p for p in self.path.iterdir() if p.suffix in (".mcap", ".db3"))
        if not files:
            raise BagReadError(f"{self.path}: no .mcap or .db3 storage file in this folder")
        return files

    def _open_salvage(self, files: list[Path], exc: Exception) -> None:
        """Read the MCAP file(s) record by record; count what is readable now, so the topics
        and their counts are known before anyone iterates."""
        self._salvage = [McapSalvage(f) for f in files if f.suffix == ".mcap"]
        self._counts: dict[str, int] = {}
        for scan in self._salvage:
            for channel, _, _ in scan.messages():
                self._counts[channel.topic] = self._counts.get(channel.topic, 0) + 1
            if scan.damage:
                self.damage = scan.damage
                break
        if self.damage is None:
            self.damage = f"{self.path}: {exc}"

    def _topic_infos(self) -> dict[str, TopicInfo]:
        if self._reader is not None:
            out = {}
            for c in self._reader.connections:
                prev = out.get(c.topic)
                out[c.topic] = TopicInfo(c.topic, c.msgtype, c.msgcount + (prev.count if prev else 0),
                                         c.msgdef, c.digest,
                                         list(getattr(c.ext, "offered_qos_profiles", [])))
            return out
        return {ch.topic: TopicInfo(ch.topic, ch.msgtype, self._counts.get(ch.topic, 0), ch.msgdef,
                                    "", ch.qos)
                for scan in self._salvage for ch in scan.channels.values()}

    # ---- reading --------------------------------------------------------------------------------
    def topics_of_type(self, *msgtypes: str) -> list[str]:
        return sorted(t.name for t in self.topics.values() if t.msgtype in msgtypes)

    def messages(self, topics: Collection[str] | None = None) -> Iterator[BagMessage]:
        """Messages of ``topics`` (all if None) in log-time order (file order for a salvaged
        MCAP). Raises :class:`BagReadError` after the last readable message of a damaged bag."""
        wanted = None if topics is None else set(topics)
        unknown = set() if wanted is None else wanted - set(self.topics)
        if unknown:
            raise BagReadError(f"{self.path}: no topic {', '.join(sorted(unknown))} in this bag; "
                               f"it has {', '.join(sorted(self.topics)) or 'no topics'}")
        if self._reader is not None:
            yield from self._indexed(wanted)
        else:
            yield from self._salvaged(wanted)

    def _indexed(self, wanted: set[str] | None) -> Iterator[BagMessage]:
        assert self._reader is not None
        conns = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        source = self._reader.messages(connections=conns) if conns else iter(())
        index, last = 0, None
        while True:
            try:
                conn, timestamp, data = next(source)
            except StopIteration:
                return
            except Exception as exc:  # rosbags/apsw/zstd errors: all mean "unreadable from here"
                after = f"after {last.describe()}" if last else "before the first message"
                where = self._locate_damage()
                raise BagReadError(f"{self.path}: the record {after} is unreadable "
                                   f"({type(exc).__name__}: {exc})"
                                   + (f"; {where}" if where else "")
                                   + f"; {index} messages were read") from exc
            last = BagMessage(index, conn.topic, conn.msgtype, timestamp, bytes(data))
            index += 1
            yield last

    def _locate_damage(self) -> str | None:
        """Where an MCAP's data section breaks, by file offset (rosbags only says where inside a
        chunk); None for sqlite3 or damage a record walk cannot see."""
        for f in self._files:
            if f.suffix == ".mcap":
                scan = McapSalvage(f)
                for _ in scan.messages():
                    pass
                if scan.damage:
                    return scan.damage
        return None

    def _salvaged(self, wanted: set[str] | None) -> Iterator[BagMessage]:
        index = 0
        for scan in self._salvage:
            for channel, timestamp, data in scan.messages():
                if wanted is None or channel.topic in wanted:
                    yield BagMessage(index, channel.topic, channel.msgtype, timestamp, data)
                    index += 1
            if scan.damage:
                raise BagReadError(f"{scan.damage}; {index} messages before it were read")
        if self.damage:
            raise BagReadError(f"{self.damage}; {index} messages were read")

    def deserialize(self, msg: BagMessage) -> object:
        """The message as a rosbags object (field names as in the .msg); BagReadError naming the
        message if its bytes do not decode as its type."""
        try:
            return self.typestore.deserialize_cdr(msg.data, msg.msgtype)
        except Exception as exc:
            raise BagReadError(f"{self.path}: {msg.describe()} does not decode as {msg.msgtype}: "
                               f"{type(exc).__name__}: {exc}") from exc

    # ---- life cycle -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sqlite_problem(files: list[Path], exc: Exception) -> str:
    """Why a sqlite3 bag cannot be opened, with what its header says the file should hold."""
    db = next((f for f in files if f.suffix == ".db3"), files[0])
    detail = ""
    try:
        with db.open("rb") as f:
            head = f.read(100)
        if not head.startswith(b"SQLite format 3\x00"):
            detail = " (its first bytes are not an SQLite header)"
        else:
            page = int.from_bytes(head[16:18], "big") or 65536
            page = 65536 if page == 1 else page
            pages = int.from_bytes(head[28:32], "big")
            size = db.stat().st_size
            if pages and size < pages * page:
                detail = (f" (it is truncated: its header declares {pages} pages of {page} bytes "
                          f"= {pages * page} bytes, but the file has {size} bytes)")
    except OSError:
        pass
    return (f"{db}: cannot read this sqlite3 bag: {exc}{detail}. SQLite cannot read a damaged "
            "database past the damage; record as MCAP (the default) to keep partial recordings "
            "readable")
