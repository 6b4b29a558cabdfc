"""Writes a rosbag2 (MCAP or sqlite3) with rosbags, one connection per topic, and always closes
it properly.

Why a wrapper: rosbags' ``Writer`` used as a context manager *aborts* on an exception, which
leaves an MCAP without its index or a bag folder without metadata.yaml. A recorder hit by
Ctrl-C or a replay hit by a damaged input must keep everything written so far, so this closes
(index, statistics, metadata.yaml) in every case. It is also safe to write from several threads
(ROS callbacks and a main loop), and it fills in each type's definition and hash from the
typestore (see :mod:`mlkd_tracker.data.bag_types`) so ``ros2 bag info`` and Foxglove open the
result.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from rosbags.interfaces import Connection, MessageDefinition, MessageDefinitionFormat, Qos
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys.store import Typestore

from mlkd_tracker.data.bag_types import ensure_type, standard_typestore

__all__ = ["STORAGES", "BagWriter"]

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}


class BagWriter:
    """A bag being written at ``path`` (a new folder, like ``ros2 bag record -o``)."""

    def __init__(self, path: str | Path, storage: str = "mcap",
                 typestore: Typestore | None = None) -> None:
        if storage not in STORAGES:
            raise ValueError(f"unknown bag storage '{storage}'; use one of {', '.join(STORAGES)}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already; a bag is never written over "
                                  "another one (choose a new --out)")
        self.storage = storage
        self.typestore = typestore or standard_typestore()
        self._writer = Writer(self.path, version=Writer.VERSION_LATEST,
                              storage_plugin=STORAGES[storage])
        self._writer.open()
        self._lock = threading.Lock()
        self._connections: dict[str, Connection] = {}
        self.counts: dict[str, int] = {}
        self.closed = False

    def has_topic(self, topic: str) -> bool:
        return topic in self._connections

    def add_topic(self, topic: str, msgtype: str, *, msgdef: MessageDefinition | None = None,
                  digest: str = "", qos: Sequence[Qos] = ()) -> None:
        """Declare ``topic`` (once; later calls are ignored). Without ``msgdef``/``digest``
        (a copied connection carries them) the type comes from the typestore."""
        with self._lock:
            if topic in self._connections:
                return
            if msgdef is not None and msgdef.format != MessageDefinitionFormat.NONE and digest:
                conn = self._writer.add_connection(topic, msgtype, msgdef=msgdef.data, rihs01=digest,
                                                   offered_qos_profiles=list(qos))
            else:
                ensure_type(self.typestore, msgtype)
                conn = self._writer.add_connection(topic, msgtype, typestore=self.typestore,
                                                   offered_qos_profiles=list(qos))
            self._connections[topic] = conn
            self.counts[topic] = 0

    def write(self, topic: str, timestamp: int, data: bytes) -> None:
        """Append one CDR message received at ``timestamp`` (ns); the topic must be declared."""
        with self._lock:
            if self.closed:
                return  # late callbacks after close: the bag is final
            self._writer.write(self._connections[topic], int(timestamp), data)
            self.counts[topic] += 1

    def close(self) -> None:
        """Write index and metadata.yaml; idempotent."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self._writer.close()

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
