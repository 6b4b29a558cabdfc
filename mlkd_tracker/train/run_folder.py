"""Where a training run writes, and when it may continue an old one (Ultralytics' discipline).

The rules, in one place for every trainer:

* every run folder holds the resolved config (``config.yaml``), written before training starts,
  so a folder always says what trained in it;
* a new run never overwrites an old one: when the asked-for folder already exists, the run
  goes to the next free name (``name``, ``name2``, ``name3``, ...) and says so;
* an old run continues only when asked (``resume=true``), and only if its stored config is the
  current one. The keys that may differ are ``resume`` itself, ``epochs`` (extending a finished
  run is allowed: the warm-up + cosine schedule is recomputed for the new length, so the
  learning rate jumps at the join), and the keys that only say where the folder is (``out`` and
  the name key). Any other difference is refused, naming the keys, because checkpoints of a
  changed config would silently mix two experiments.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "config.yaml"
ALWAYS_IGNORED = ("resume", "epochs", "out")


class RunFolderError(ValueError):
    """A run folder cannot be used as asked (nothing to resume, or its config differs)."""


@dataclass(frozen=True)
class RunFolder:
    path: Path
    resume: bool   # True: continue the run whose last.pt (if any) lies in ``path``


def next_free(path: Path) -> Path:
    """``path`` itself if it does not exist, else the first of ``path2``, ``path3``, ... that
    does not (Ultralytics' ``increment_path``: the number goes after the asked-for name)."""
    path = Path(path)
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.name}{n}")
        n += 1
    return candidate


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 1}}`` -> ``{"optim.lr": 1}``; lists index by position
    (``students.0.name``), so a changed student names the field that changed."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= flatten(value, f"{name}.")
        elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, Mapping) for v in value):
            flat |= flatten({str(i): v for i, v in enumerate(value)}, f"{name}.")
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def differences(stored: Mapping[str, Any], current: Mapping[str, Any],
                ignore: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ (or that only one side has), top-level ``ignore`` keys
    and their sub-keys left out; sorted."""
    ignore = set(ignore)
    a, b = flatten(stored), flatten(current)
    keys = {k for k in a.keys() | b.keys() if k.split(".", 1)[0] not in ignore}
    return sorted(k for k in keys if a.get(k, "<absent>") != b.get(k, "<absent>"))


def read_config(path: Path) -> dict[str, Any]:
    return yaml.safe_load((Path(path) / CONFIG_FILE).read_text()) or {}


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    out = path / CONFIG_FILE
    out.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return out


def _renamed(config: Mapping[str, Any], name_key: str | None, path: Path) -> dict[str, Any]:
    """The config with its name key pointing at ``path`` (relative to ``out`` when it can)."""
    config = dict(config)
    if name_key and name_key in config:
        try:
            config[name_key] = str(path.relative_to(Path(config.get("out", ""))))
        except ValueError:
            config[name_key] = path.name
    return config


def prepare(requested: Path, config: Mapping[str, Any], resume: bool = False,
            name_key: str | None = "name", ignore: Iterable[str] = ()) -> RunFolder:
    """Resolve the run folder for ``config`` and write its ``config.yaml``.

    ``resume``: ``requested`` must be a run folder (it has a ``config.yaml``) whose stored
    config equals ``config`` except for :data:`ALWAYS_IGNORED`, ``name_key`` and ``ignore``;
    otherwise :class:`RunFolderError`. Without ``resume`` the run gets the next free folder
    name; ``config[name_key]`` is stored as that folder's name, so the stored config says
    where the run is and ``resume=true name=<that>`` continues it."""
    requested = Path(requested)
    ignored = {*ALWAYS_IGNORED, *ignore, *([name_key] if name_key else [])}
    if resume:
        if not (requested / CONFIG_FILE).is_file():
            raise RunFolderError(f"cannot resume {requested}: it holds no {CONFIG_FILE} "
                                 "(not a run folder); drop resume=true to start a new run")
        changed = differences(read_config(requested), config, ignored)
        if changed:
            raise RunFolderError(
                f"cannot resume {requested}: its {CONFIG_FILE} differs from this config in "
                f"{', '.join(changed)}; use the stored values or start a new run "
                "(drop resume=true)")
        write_config(requested, _renamed(config, name_key, requested))
        return RunFolder(requested, resume=True)
    path = next_free(requested)
    if path != requested:
        print(f"{requested} already exists: this run writes to {path} "
              f"(resume=true continues the old one)")
    write_config(path, _renamed(config, name_key, path))
    return RunFolder(path, resume=False)
