"""Where a session came from: versions, models (with checksums), seeds and configuration.

Stored as JSON in the bag's ``metadata.yaml`` (``custom_data["semg_grasp.provenance"]``),
written when the bag opens (so a crashed recording keeps it) and again at close;
``semg-grasp bag info`` prints it and ``semg-grasp replay`` re-runs with what it names.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from . import __version__
from .paths import PACKAGE_DIR

KEY = "semg_grasp.provenance"


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision() -> str | None:
    """The source tree's commit (``+dirty`` with uncommitted changes), None outside a git checkout."""
    repo = PACKAGE_DIR.parent
    if not (repo / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


def model_entry(name: str, files: list[Path]) -> dict[str, Any]:
    """``{"name": name, "files": {file name: sha256}}`` of a model's files (``intent.checkpoint.files``,
    ``grasp.diffusion.checkpoint.model_files``)."""
    return {"name": str(name), "files": {Path(f).name: sha256(f) for f in files}}


def provenance(config: dict[str, Any], models: dict[str, dict[str, Any]], seeds: dict[str, int]) -> dict[str, Any]:
    """The provenance record of a session (JSON-ready)."""
    return {"package": "semg_grasp_ros", "version": __version__, "git_revision": git_revision(),
            "python": platform.python_version(), "models": models, "seeds": seeds, "config": config}


def custom_data(record: dict[str, Any]) -> dict[str, str]:
    """The ``custom_data`` entry holding ``record``."""
    return {KEY: json.dumps(record, sort_keys=True, allow_nan=False, default=str)}


def from_custom_data(data: dict[str, str]) -> dict[str, Any] | None:
    """The provenance record in a bag's ``custom_data``, None when absent or unreadable."""
    try:
        record = json.loads(data[KEY])
    except (KeyError, ValueError, TypeError):
        return None
    return record if isinstance(record, dict) else None
