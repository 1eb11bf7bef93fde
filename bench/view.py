"""How long does a session take to turn into a shareable 3D view?

``semg-grasp view SESSION --save f.rrd`` of the default demo session (``semg-grasp demo`` with its
default script, made first with a fixed ``--start-time``), timed as a user runs it: a fresh process
each time, Python start-up and imports included. Recorded per run: wall and CPU seconds, the
seconds spent after the imports (the command prints them), the size of the ``.rrd`` and the load
average of the machine just before; then the median of the runs against the 10 s target.

    python bench/view.py                                  # -> bench/results/view.json
    python bench/view.py --session runs/demo-20260101-090000 --repeats 5 --json /tmp/view.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGET_WALL_S = 10.0
START_TIME = "2026-01-01T09:00:00Z"


def _cli(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "semg_grasp_ros.cli", *args], capture_output=True, text=True,
                          cwd=REPO)
    if done.returncode:
        raise RuntimeError(f"semg-grasp {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def time_view(session: Path, rrd: Path) -> dict:
    """One ``view SESSION --save rrd`` in a fresh process."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = _cli("view", str(session), "--save", str(rrd))
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_imports = re.search(r"topics, ([0-9.]+) s\)", done.stdout)
    return {"wall_s": round(wall, 2),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
            "after_imports_s": float(after_imports.group(1)) if after_imports else None,
            "rrd_mb": round(rrd.stat().st_size / 1e6, 2), "load_average_1min": round(load, 2)}


def main() -> int:
    from bench.common import machine_info

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--session", type=Path, help="a session folder (default: make the default demo session)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "view.json")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    result = {"machine": machine_info("rerun")}
    with tempfile.TemporaryDirectory() as tmp:
        session = args.session
        if session is None:
            session = Path(tmp) / "demo"
            _cli("demo", "--out", str(session), "--start-time", START_TIME)
        summary = json.loads((session / "summary.json").read_text())
        runs = [time_view(session, Path(tmp) / f"view{k}.rrd") for k in range(args.repeats)]
    result["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    wall = statistics.median(r["wall_s"] for r in runs)
    result["view"] = {"session": "default demo" if args.session is None else str(args.session),
                      "session_s": summary["session_s"], "messages": sum(summary["messages"].values()),
                      "runs": runs, "median_wall_s": wall,
                      "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                      "median_load_average_1min": statistics.median(r["load_average_1min"] for r in runs),
                      "target_wall_s": TARGET_WALL_S, "target_met": wall <= TARGET_WALL_S}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result["view"].items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
