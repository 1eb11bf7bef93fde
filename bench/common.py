"""What every benchmark records about the machine it ran on (imported by the bench scripts)."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path


def machine_info(*packages: str) -> dict:
    """CPU model, cores, load average at the start, platform, Python and the versions of
    numpy, torch and ``packages`` (module names)."""
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                    if line.startswith("model name")), cpu)
    info = {"cpu": cpu, "cores": os.cpu_count(), "load_average_start": [round(v, 2) for v in os.getloadavg()],
            "platform": platform.platform(), "python": platform.python_version()}
    for name in ("numpy", "torch", *packages):
        info[name] = importlib.import_module(name).__version__
    if "torch" in info:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.is_available()
    return info


def split_objects(split: str, per_family: int, objects_per_family: int = 64, seed: int = 0) -> list:
    """The procedural objects of ``split`` (``grasp.data.dataset.split_of``: train, val, test) of the
    object set (``grasp.data.objects.object_set``), at most ``per_family`` of each family, in set order."""
    from collections import Counter

    from semg_grasp_ros.grasp.data.dataset import split_of
    from semg_grasp_ros.grasp.data.objects import DEFAULT_COUNTS, object_set

    objects, _ = object_set(seed, dict.fromkeys(DEFAULT_COUNTS, objects_per_family))
    chosen, count = [], Counter()
    for o in objects:
        if split_of(o.group) == split and count[o.family] < per_family:
            chosen.append(o)
            count[o.family] += 1
    return chosen


def write_result(out: dict, path, start: float) -> None:
    """Finish a benchmark's JSON: the load average at its end and its wall time (from ``start``,
    ``time.perf_counter()``), written to ``path`` (folders made)."""
    import json
    import os
    import time
    from pathlib import Path

    out.setdefault("machine", {})["load_average_end"] = list(os.getloadavg())
    out["seconds"] = time.perf_counter() - start
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"written {path} ({out['seconds'] / 60:.1f} min)")
