"""Where things live: the shared data folder and the package's own resources.

Resources (``msg``, ``config``, ``urdf``, ``models``, ``launch``) are found, in order,
in the installed package (``semg_grasp_ros/share/<kind>``, copied there by setup.py),
in the source tree (``<repo>/<kind>``, editable installs) and in an ament prefix
(``<prefix>/share/semg_grasp_ros/<kind>``, colcon installs).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError, DatasetError

PACKAGE_DIR = Path(__file__).resolve().parent
#: Environment variable naming the data folder (Sapsanis, DexGraspNet samples, hand models).
DATA_ENV = "SEMG_GRASP_DATA"


def data_root(path: str | os.PathLike | None = None, must_exist: bool = True) -> Path:
    """Return the data folder: ``path`` if given, else ``$SEMG_GRASP_DATA``, else
    ``../shared/data`` relative to the repository root.

    Raises:
        DatasetError: ``must_exist`` and the folder does not exist.
    """
    if path is None:
        path = os.environ.get(DATA_ENV) or PACKAGE_DIR.parent.parent / "shared" / "data"
    root = Path(path).expanduser().resolve()
    if must_exist and not root.is_dir():
        raise DatasetError(
            f"data folder {root} does not exist; set ${DATA_ENV} or pass --data to point at "
            "a folder laid out like shared/data (emg/sapsanis, grasps/, hand/)"
        )
    return root


def resource(kind: str, name: str = "") -> Path:
    """Path of a package resource, e.g. ``resource("msg", "EmgChunk.msg")``.

    Raises:
        ConfigError: no candidate location holds it.
    """
    candidates = [PACKAGE_DIR / "share" / kind, PACKAGE_DIR.parent / kind]
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        candidates.append(Path(prefix) / "share" / "semg_grasp_ros" / kind)
    for base in candidates:
        target = base / name if name else base
        if target.exists():
            return target
    raise ConfigError(f"resource {kind}/{name} not found in {[str(c) for c in candidates]}")
