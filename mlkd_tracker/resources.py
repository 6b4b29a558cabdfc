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
