"""Where the package's launch/, config/ and models/ live: the ament share directory when the
package is installed (colcon or a wheel), else the source tree (editable install, tests)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "mlkd_tracker"


def share_dir() -> Path:
    try:
        from ament_index_python.packages import get_package_share_directory
        share = Path(get_package_share_directory(PACKAGE))
        if (share / "config").is_dir():
            return share
    except Exception:  # not installed through ament, or AMENT_PREFIX_PATH unset
        pass
    source = Path(__file__).resolve().parents[1]
    if (source / "package.xml").is_file():
        return source
    raise FileNotFoundError(f"cannot find the {PACKAGE} share directory; install the package "
                            "(colcon build / pip install) or run from the source tree")


def executable(pkg: str, name: str) -> Path:
    """``lib/<pkg>/<name>`` under this interpreter's prefix or an AMENT_PREFIX_PATH entry,
    where ament_python installs node executables (what ``ros2 run`` looks for)."""
    prefixes = [sys.prefix, *filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep))]
    for prefix in prefixes:
        path = Path(prefix) / "lib" / pkg / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"no executable '{name}' of package '{pkg}' under lib/{pkg} in "
                            f"{', '.join(prefixes)}")


def resolve_model(path: str) -> str:
    """A relative model path as given (from the working directory) if it exists there, else
    inside the package share directory, so params files can say ``models/<name>``."""
    if not path or os.path.isabs(path):
        return path
    here = Path(path)
    if here.exists() or any(here.parent.glob(here.name + ".*")):
        return path
    shared = share_dir() / path
    return str(shared) if shared.exists() or any(shared.parent.glob(shared.name + ".*")) else path
