"""Message types for rosbag2 files, without rclpy.

rosbags ships the standard ROS 2 Kilted messages but not vision_msgs or any other package, and
it needs a type's full definition to write a bag that ``ros2 bag`` and Foxglove can open (the
definition text and its RIHS01 hash go into the file). Two sources cover everything else:

- a bag being read carries its types (MCAP schemas, the sqlite3 ``message_definitions`` table);
  :func:`typestore_for_definitions` builds a store from them, like rosbags' ``AnyReader``;
- for recording, every installed interface package (distro, wheels or the venv's own
  vision_msgs build) has its ``share/<pkg>/msg/<Name>.msg`` files; :func:`ensure_type` loads a
  type and everything it nests from there. rosbags hashes those texts exactly like rclpy does,
  so the bag announces the same type hash as the publishers on the wire.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from rosbags.interfaces import MessageDefinition, MessageDefinitionFormat, Nodetype
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

__all__ = ["UnknownTypeError", "standard_typestore", "ensure_type", "typestore_for_definitions",
           "nested_types"]

_IDL_SEPARATOR = "=" * 80 + "\n"


class UnknownTypeError(LookupError):
    """No definition for a message type: not in the bag, not in rosbags, not installed."""


def standard_typestore() -> Typestore:
    """rosbags' Kilted types (std, sensor, geometry, diagnostic, ... messages)."""
    return get_typestore(Stores.ROS2_KILTED)


def nested_types(store: Typestore, msgtype: str) -> set[str]:
    """Message types that ``msgtype``'s fields refer to directly."""
    out: set[str] = set()

    def visit(desc) -> None:
        kind, arg = desc
        if kind == Nodetype.NAME:
            out.add(arg)
        elif kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
            visit(arg[0])

    for _, desc in store.fielddefs[msgtype][1]:
        visit(desc)
    return out


def _prefixes() -> list[Path]:
    """Install prefixes whose share/ may hold interface definitions (ament's search order)."""
    paths = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(p) for p in dict.fromkeys([*paths, sys.prefix])]


def _msg_file(msgtype: str) -> Path:
    pkg, kind, name = msgtype.split("/") if msgtype.count("/") == 2 else ("", "", msgtype)
    tried = []
    for prefix in _prefixes():
        path = prefix / "share" / pkg / kind / f"{name}.msg"
        if path.is_file():
            return path
        tried.append(str(path.parent))
    raise UnknownTypeError(f"message type '{msgtype}' is unknown: rosbags does not ship it and no "
                           f"{name}.msg was found in {', '.join(tried) or 'any install prefix'} "
                           "(set AMENT_PREFIX_PATH to the install that provides it)")


def ensure_type(store: Typestore, msgtype: str, standard: Typestore | None = None) -> None:
    """Make ``msgtype`` and every type it nests known to ``store``, taking missing ones from
    ``standard`` when it has them, else from installed ``.msg`` files; raises
    :class:`UnknownTypeError` naming what cannot be found."""
    pending, seen = [msgtype], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in store.fielddefs:
            if standard is not None and name in standard.fielddefs:
                store.register({name: standard.fielddefs[name]})
            else:
                store.register(get_types_from_msg(_msg_file(name).read_text(encoding="utf-8"), name))
        pending.extend(nested_types(store, name) - seen)


def _parse_definition(msgtype: str, msgdef: MessageDefinition) -> dict:
    if msgdef.format == MessageDefinitionFormat.MSG:
        return get_types_from_msg(msgdef.data, msgtype)
    types: dict = {}
    if msgdef.data.startswith(f"{_IDL_SEPARATOR}IDL: "):
        for part in msgdef.data.split(_IDL_SEPARATOR)[1:]:
            types.update(get_types_from_idl(part.split("\n", 1)[1]))
    else:
        types.update(get_types_from_idl(msgdef.data))
    return types


def typestore_for_definitions(definitions: Iterable[tuple[str, MessageDefinition]]) -> Typestore:
    """A store holding the types a bag defines (its own definitions win: they are what was
    recorded), completed from rosbags' standard types and installed ``.msg`` files.

    Types that are defined nowhere are left out; reading them raises a clear error later, while
    the rest of the bag stays readable.
    """
    store = get_typestore(Stores.EMPTY)
    wanted = []
    for msgtype, msgdef in definitions:
        wanted.append(msgtype)
        if msgdef.format == MessageDefinitionFormat.NONE or msgtype in store.fielddefs:
            continue
        try:
            store.register(_parse_definition(msgtype, msgdef))
        except (TypesysError, ValueError):
            pass  # an unparsable definition: fall back to the standard/installed one below
    standard = standard_typestore()
    for msgtype in wanted:
        try:
            ensure_type(store, msgtype, standard)
        except (UnknownTypeError, TypesysError):
            continue
    return store
