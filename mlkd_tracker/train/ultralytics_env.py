"""Offline guards for Ultralytics: set them before ``import ultralytics``, then import it.

Why a module of its own: Ultralytics decides at *import* time whether it is online (it resolves
public DNS names unless ``YOLO_OFFLINE`` is set), where its settings live and whether it may
``pip install`` missing packages; on every train/val it looks for an ``Arial.ttf`` font and
downloads one if missing; and a weight name such as ``yolov8n.pt`` makes it download the
weights. None of that may happen here (nothing is downloaded at run time), and
setting the variables after the import is too late. So every project module that uses
Ultralytics imports it through :func:`import_ultralytics`, and every model source goes through
:func:`check_model_source`.

The fonts are matplotlib's DejaVuSans (matplotlib is a project dependency) copied under the
names Ultralytics asks for; DejaVu Sans covers Latin, Greek and Cyrillic, which is all the
class names of this project need (Ultralytics asks for ``Arial.Unicode.ttf`` only for
non-ASCII names, and would fall back to it anyway).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["DEFAULT_CONFIG_DIR", "FONT_NAMES", "check_model_source", "ensure_offline",
           "import_ultralytics"]

DEFAULT_CONFIG_DIR = Path("runs/ultralytics_config")  # git-ignored (runs/), relative to the cwd
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_MODEL_CONFIG_SUFFIXES = (".yaml", ".yml")
_SUB_DIR = "Ultralytics"  # Ultralytics' USER_CONFIG_DIR = $YOLO_CONFIG_DIR/Ultralytics


def _truthy(value: str | None) -> bool:
    """Ultralytics' env_bool: 1/true/yes/on/y/t, case-insensitive."""
    return value is not None and value.strip().lower() in {"1", "true", "yes", "on", "y", "t"}


def _install_fonts(user_dir: Path) -> None:
    import matplotlib

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not src.is_file():
        raise FileNotFoundError(f"matplotlib's DejaVuSans.ttf is missing ({src}); Ultralytics "
                                "would try to download Arial.ttf without a local font")
    user_dir.mkdir(parents=True, exist_ok=True)
    for name in FONT_NAMES:
        dst = user_dir / name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            tmp = dst.with_suffix(".tmp")  # atomic: parallel runs may share the folder
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)


def _check_already_imported(config_dir: Path) -> None:
    """Ultralytics read its settings at import: refuse if that happened without the guards."""
    utils = sys.modules.get("ultralytics.utils")
    online = getattr(utils, "ONLINE", None)
    autoinstall = getattr(utils, "AUTOINSTALL", None)
    user_dir = getattr(utils, "USER_CONFIG_DIR", None)
    if online is False and autoinstall is False and user_dir is not None \
            and Path(user_dir).resolve() == (config_dir / _SUB_DIR).resolve():
        return
    raise RuntimeError(
        "ultralytics was imported before mlkd_tracker.train.ultralytics_env.ensure_offline() "
        f"(online={online}, autoinstall={autoinstall}, config dir={user_dir}); it may download "
        "fonts, weights or packages. Import it through import_ultralytics() only, in a fresh "
        "process.")


def ensure_offline(config_dir: Path | str | None = None) -> Path:
    """Set Ultralytics' offline environment and install its fonts; returns the config folder.

    Sets ``YOLO_OFFLINE=1`` and ``YOLO_AUTOINSTALL=False`` (always), and ``YOLO_CONFIG_DIR`` to
    ``config_dir``, else to an already set ``YOLO_CONFIG_DIR``, else to :data:`DEFAULT_CONFIG_DIR`
    (absolute, so a later ``chdir`` does not move it). Copies a local TTF font to
    ``$YOLO_CONFIG_DIR/Ultralytics/{Arial,Arial.Unicode}.ttf``. Idempotent. Raises
    ``RuntimeError`` if Ultralytics is already imported with other settings, because then the
    guards come too late.
    """
    if config_dir is None:
        config_dir = os.environ.get("YOLO_CONFIG_DIR") or DEFAULT_CONFIG_DIR
    config_dir = Path(config_dir).expanduser().resolve()
    if "ultralytics" in sys.modules:
        _check_already_imported(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    _install_fonts(config_dir / _SUB_DIR)
    return config_dir


def import_ultralytics(config_dir: Path | str | None = None) -> ModuleType:
    """``ensure_offline(config_dir)``, then ``import ultralytics``; returns the module."""
    ensure_offline(config_dir)
    import ultralytics

    return ultralytics


def check_model_source(name: str | os.PathLike) -> str:
    """Return ``name`` if building/loading it cannot trigger a download, else raise ValueError.

    Allowed: a model config (``*.yaml``: a local file, or a name Ultralytics ships such as
    ``yolov8n.yaml``, which only builds an untrained network), or a checkpoint file that exists
    locally (this project's own training output). Refused: URLs and any other name, e.g.
    ``yolov8n.pt``, which Ultralytics would fetch from the internet.
    """
    text = os.fspath(name).strip()
    if not text:
        raise ValueError("empty model source; pass a model .yaml (e.g. yolov8n.yaml)")
    if "://" in text or text.lower().startswith(("hub/", "ul://")):
        raise ValueError(f"refusing model source {text!r}: it is a URL and would be downloaded. "
                         "Build models from .yaml files (e.g. yolov8n.yaml) or pass a local "
                         "checkpoint file from your own training run.")
    if text.lower().endswith(_MODEL_CONFIG_SUFFIXES):
        return text
    if Path(text).expanduser().is_file():
        return text
    raise ValueError(
        f"refusing model source {text!r}: it is not a model .yaml and no such local file exists, "
        "so Ultralytics would try to download pretrained weights by that name (nothing is "
        "downloaded in this project). Build the model from its .yaml (e.g. "
        f"{Path(text).stem}.yaml) or pass the path to a checkpoint your own run wrote.")
