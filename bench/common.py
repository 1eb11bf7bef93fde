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
